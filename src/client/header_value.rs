//! The header-safe rendering of claims: the one rule for every value that leaves the library
//! for a protocol line (an HTTP header, a server variable, a log field).
//!
//! Claims are data chosen in part by users (names, emails), and JSON strings can hold any
//! character: `"x\r\nX-Admin: true"` is a valid name. Put raw into a header, it becomes a
//! header of the user's choosing, or a second request. The rule here:
//!
//! - No rendered value ever holds a byte 0x00-0x1F other than HTAB, nor 0x7F.
//! - Text (a string claim, a string in an array, a header field such as `kid`) has exactly
//!   those bytes and the backslash written `\xHH` (two uppercase hex digits), so a user cannot
//!   type a look-alike of an escape (`\` itself becomes `\x5C`). Every other byte, UTF-8
//!   included, stays as it is: the value keeps its presence and the rest of its text.
//! - JSON (an object claim, an object or array inside an array, the whole payload) stays valid
//!   JSON of the same value: compact, with no whitespace outside strings, and those bytes
//!   inside strings written with JSON's own `\u00XX` escapes.
//!
//! Nothing here turns a present value into an empty or absent one.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Whether `b` must not appear raw in a header value: a C0 control byte other than HTAB, or
/// DEL.
pub(crate) fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// `text` with every control byte (0x00-0x1F but HTAB, and 0x7F) and every backslash written
/// `\xHH`; every other byte, UTF-8 included, kept. Borrowed when nothing needed escaping.
pub fn escape_header_text(text: &str) -> Cow<'_, str> {
    let needs = |b: u8| is_control(b) || b == b'\\';
    let Some(first) = text.bytes().position(needs) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    // Every byte escaped is ASCII, so the runs between them are whole UTF-8 sequences.
    let mut run = first;
    for (i, b) in text.bytes().enumerate().skip(first) {
        if needs(b) {
            out.push_str(&text[run..i]);
            let _ = write!(out, "\\x{b:02X}");
            run = i + 1;
        }
    }
    out.push_str(&text[run..]);
    Cow::Owned(out)
}

/// A JSON text made header-safe without changing its value: whitespace outside strings
/// dropped, and control bytes inside strings (DEL, the one JSON allows raw; C0 bytes, which a
/// valid text never has raw) written `\u00XX`. Member order, numbers and escapes are kept as
/// written.
pub(crate) fn compact_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut run = 0;
    for (i, b) in json.bytes().enumerate() {
        let drop = if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            false
        } else {
            in_string = b == b'"';
            matches!(b, b' ' | b'\t' | b'\n' | b'\r')
        };
        // Outside strings, valid JSON has no other control byte; one is escaped anyway, so
        // that no input can put it into a header.
        if drop || is_control(b) {
            out.push_str(&json[run..i]);
            if !drop {
                let _ = write!(out, "\\u{b:04x}");
            }
            run = i + 1;
        }
    }
    out.push_str(&json[run..]);
    out
}

/// `value` as compact, header-safe JSON (serde_json escapes C0 bytes; DEL is the one left).
fn json_of(value: &Value) -> String {
    let text = value.to_string();
    if text.contains('\u{7f}') {
        text.replace('\u{7f}', "\\u007f")
    } else {
        text
    }
}

/// Whether `pointer` is an RFC 6901 JSON Pointer: "" (the whole document), or reference
/// tokens each after a "/", in which every "~" is followed by "0" (for "~") or "1" (for "/").
pub(crate) fn is_json_pointer(pointer: &str) -> bool {
    (pointer.is_empty() || pointer.starts_with('/'))
        && pointer
            .split('~')
            .skip(1)
            .all(|after| after.starts_with(['0', '1']))
}

/// The claim at `pointer` in `claims` (RFC 6901; not ""), or None when absent (or when
/// `pointer` is no JSON Pointer).
pub(super) fn lookup<'a>(claims: &'a Map<String, Value>, pointer: &str) -> Option<&'a Value> {
    if !is_json_pointer(pointer) {
        return None;
    }
    let rest = pointer.strip_prefix('/')?;
    let unescape = |token: &str| token.replace("~1", "/").replace("~0", "~");
    match rest.split_once('/') {
        None => claims.get(&unescape(rest)),
        Some((first, _)) => claims.get(&unescape(first))?.pointer(&rest[first.len()..]),
    }
}

/// How a value is written: as text (strings as they are) or header-safe.
#[derive(Clone, Copy)]
pub(super) enum Rendering {
    Text,
    HeaderSafe,
}

/// A claim's value as text: a string as it is; a number or boolean as its JSON text; an array
/// as its elements so written, joined by commas; an object as JSON. None when null. With
/// [`Rendering::HeaderSafe`], strings are escaped by [`escape_header_text`] and JSON is
/// written as [`compact_json`] writes it.
pub(super) fn render(value: &Value, how: Rendering) -> Option<String> {
    let scalar = |v: &Value| -> String {
        match (v, how) {
            (Value::String(s), Rendering::Text) => s.clone(),
            (Value::String(s), Rendering::HeaderSafe) => escape_header_text(s).into_owned(),
            (other, Rendering::Text) => other.to_string(),
            (other, Rendering::HeaderSafe) => json_of(other),
        }
    };
    match value {
        Value::Null => None,
        Value::Array(items) => Some(items.iter().map(scalar).collect::<Vec<_>>().join(",")),
        other => Some(scalar(other)),
    }
}

/// The header-safe value of the claim at `pointer` in the JSON object `claims_json` (a
/// token's payload), as [`Verified::header_value`](crate::Verified::header_value) renders it:
/// "" is the whole payload, compact (no whitespace outside strings; member order and numbers
/// as written) with control bytes in strings as `\u00XX`. `Ok(None)` when the claim is absent
/// or null. The text is read as a token's payload is (serde_json, no name twice at any level):
/// [`ErrorKind::MalformedToken`](crate::ErrorKind::MalformedToken) when that refuses it.
pub fn claims_header_value(claims_json: &str, pointer: &str) -> crate::Result<Option<String>> {
    let claims = crate::jose::jwt::read_object(claims_json, "payload")?;
    Ok(header_value_in(&claims, claims_json, pointer))
}

/// [`claims_header_value`] on claims already read from `payload`.
pub(super) fn header_value_in(
    claims: &Map<String, Value>,
    payload: &str,
    pointer: &str,
) -> Option<String> {
    if pointer.is_empty() {
        return Some(compact_json(payload));
    }
    render(lookup(claims, pointer)?, Rendering::HeaderSafe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// No byte that may not stand raw in a header value.
    fn header_safe(s: &str) -> bool {
        !s.bytes().any(is_control)
    }

    #[test]
    fn text_escapes_exactly_control_bytes_del_and_backslash() {
        assert!(matches!(
            escape_header_text("Zoë 漢字"),
            Cow::Borrowed("Zoë 漢字")
        ));
        assert_eq!(escape_header_text("tab\tkept"), "tab\tkept");
        assert_eq!(
            escape_header_text("x\r\nX-Admin: true"),
            "x\\x0D\\x0AX-Admin: true"
        );
        assert_eq!(escape_header_text("a\0b\x1bc\x7f"), "a\\x00b\\x1Bc\\x7F");
        // A typed look-alike of an escape stays distinguishable from a real one.
        assert_eq!(escape_header_text("\\x0D"), "\\x5Cx0D");
        assert_eq!(escape_header_text("é\n"), "é\\x0A");
        for b in 0u8..=0x7f {
            let s = (b as char).to_string();
            let e = escape_header_text(&s);
            assert!(header_safe(&e), "{b:#x}");
            let expect_escaped = is_control(b) || b == b'\\';
            assert_eq!(e.len() != 1, expect_escaped, "{b:#x}");
        }
    }

    #[test]
    fn compact_json_keeps_the_value_and_drops_raw_whitespace() {
        let raw = "{\r\n\t\"name\" :\n \"a b\\r\\nc\u{7f}\",\r\"n\": 1.50 ,\"q\":\"\\\"\\\\\"}";
        let out = compact_json(raw);
        assert_eq!(
            out,
            "{\"name\":\"a b\\r\\nc\\u007f\",\"n\":1.50,\"q\":\"\\\"\\\\\"}"
        );
        assert!(header_safe(&out));
        let a: Value = serde_json::from_str(raw).unwrap();
        let b: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(a, b);
        // Spaces inside strings stay; order stays as written.
        assert_eq!(
            compact_json(r#"{"z": "a b", "a": 1}"#),
            r#"{"z":"a b","a":1}"#
        );
        // Not JSON a verified token can carry, but still nothing raw gets out.
        assert!(header_safe(&compact_json("{\"a\":\"\0\x01\"}\x0b")));
    }

    #[test]
    fn claims_render_header_safe_by_pointer() {
        let payload = "{\"sub\":\"u\\r\\nContent-Length: 0\",\n \"n\":2, \"b\":true, \"nil\":null,\
             \"roles\":[\"a\\nb\",\"c\\\\d\",3,{\"k\":\"\u{7f}\"}],\"org\":{\"id\":\"x\\u0000y\"},\
             \"name\":\"Zoë 漢字\"}";
        let v = |p: &str| claims_header_value(payload, p).unwrap();
        assert_eq!(v("/sub").as_deref(), Some("u\\x0D\\x0AContent-Length: 0"));
        assert_eq!(v("/n").as_deref(), Some("2"));
        assert_eq!(v("/b").as_deref(), Some("true"));
        assert_eq!(v("/nil"), None);
        assert_eq!(v("/absent"), None);
        assert_eq!(
            v("/roles").as_deref(),
            Some(r#"a\x0Ab,c\x5Cd,3,{"k":"\u007f"}"#)
        );
        assert_eq!(v("/roles/0").as_deref(), Some("a\\x0Ab"));
        assert_eq!(v("/org/id").as_deref(), Some("x\\x00y"));
        assert_eq!(v("/org").as_deref(), Some(r#"{"id":"x\u0000y"}"#));
        assert_eq!(v("/name").as_deref(), Some("Zoë 漢字"));
        let whole = v("").unwrap();
        assert_eq!(
            whole,
            "{\"sub\":\"u\\r\\nContent-Length: 0\",\"n\":2,\"b\":true,\"nil\":null,\
             \"roles\":[\"a\\nb\",\"c\\\\d\",3,{\"k\":\"\\u007f\"}],\"org\":{\"id\":\"x\\u0000y\"},\
             \"name\":\"Zoë 漢字\"}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&whole).unwrap(),
            serde_json::from_str::<Value>(payload).unwrap()
        );
        assert!(claims_header_value("[1]", "/0").is_err());
        assert!(claims_header_value("{", "").is_err());
    }

    #[test]
    fn json_pointers_are_checked_as_rfc_6901_says() {
        for good in ["", "/", "/sub", "/a~0b", "/a~1b/c", "/~01", "//"] {
            assert!(is_json_pointer(good), "{good}");
        }
        for bad in ["sub", "/~", "/a~", "/~2", "/a~b", "~0"] {
            assert!(!is_json_pointer(bad), "{bad}");
        }
        let claims = json!({"~": 1, "a~b": 2}).as_object().unwrap().clone();
        assert_eq!(lookup(&claims, "/~0"), Some(&json!(1)));
        assert_eq!(lookup(&claims, "/~"), None);
        assert_eq!(lookup(&claims, "/a~0b"), Some(&json!(2)));
    }

    #[test]
    fn every_rendering_of_every_character_is_header_safe() {
        let all: String = (0u32..0x800).filter_map(char::from_u32).collect();
        let c = json!({"s": all, "a": [all, {"k": all}], "o": {"k": all}});
        let payload = c.to_string();
        for p in ["", "/s", "/a", "/a/0", "/a/1", "/o", "/o/k"] {
            let out = claims_header_value(&payload, p).unwrap().unwrap();
            assert!(header_safe(&out), "{p}");
        }
    }
}
