//! A verified token and its claims as text.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::header_value::{header_value_in, lookup, render, Rendering};
use crate::jose::alg::Algorithm;
use crate::jose::jwt::Texts;
use crate::jose::keys::Key;

/// A verified token: its claims and the header fields callers route on.
#[derive(Debug, Clone)]
pub struct Verified {
    pub(super) texts: Texts,
    /// The claims as the one reading of the payload gave them, the same the checks used.
    pub(super) claims: Map<String, Value>,
    pub(super) alg: Algorithm,
    pub(super) key: Arc<Key>,
    pub(super) stale: bool,
}

impl Verified {
    /// The claims as the token's decoded JSON payload, byte for byte. It may hold raw CR, LF
    /// and TAB as whitespace, and its strings any character: `header_value("")` gives the
    /// same JSON compact and safe for a header.
    pub fn claims_json(&self) -> &str {
        self.texts.payload()
    }

    /// The claims, as the one reading of the payload that verification used gave them.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The claim at `pointer` (RFC 6901 JSON Pointer: `/sub`, `/realm_access/roles`,
    /// `/https:~1~1example.com~1roles`) rendered as text, as servers put claims into headers
    /// and variables: see [`claim_text`]. None when absent or null.
    ///
    /// The text is the claim's own: users choose some claims (names, emails), and a claim may
    /// hold any character, CR, LF and NUL included. Before it goes into a header, a log line
    /// or any protocol, escape it: [`Verified::header_value`] does.
    pub fn claim(&self, pointer: &str) -> Option<String> {
        claim_in(self.claims(), pointer)
    }

    /// The claim at `pointer` rendered safe for an HTTP header (or any line-based protocol),
    /// by the one rule every module and binding uses: no byte 0x00-0x1F but HTAB, nor 0x7F,
    /// ever appears. Text (a string, a string in an array) has those bytes and the backslash
    /// written `\xHH`, every other byte (UTF-8 included) kept; JSON (an object, the whole
    /// payload for `pointer` "") stays valid compact JSON of the same value, with those bytes
    /// as `\u00XX`. None when the claim is absent or null; a present claim is never dropped.
    pub fn header_value(&self, pointer: &str) -> Option<String> {
        header_value_in(self.claims(), self.texts.payload(), pointer)
    }

    /// The token's protected header as its decoded JSON, byte for byte (`alg`, `kid`, `typ` and
    /// whatever else the issuer put there). Like the payload it may hold any character: render
    /// a field for a header with [`crate::claims_header_value`] on this text.
    pub fn header_json(&self) -> &str {
        self.texts.header()
    }

    /// The texts with their NULs, for the C ABI.
    #[cfg(feature = "capi")]
    pub(crate) fn texts(&self) -> &Texts {
        &self.texts
    }

    /// The header's `kid` (absent only when `allow_missing_kid` let a kid-less token through).
    pub fn kid(&self) -> Option<&str> {
        self.texts.kid()
    }

    /// The header's `alg`.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The header's `typ`, if any.
    pub fn typ(&self) -> Option<&str> {
        self.texts.typ()
    }

    /// The key that verified the signature.
    pub fn key(&self) -> &Arc<Key> {
        &self.key
    }

    /// Whether the key came from a stale set: past its lifespan (within `max_stale`), serving
    /// while it is refreshed in the background or because refreshing it failed. The token is
    /// valid; a caller may still choose to treat it differently.
    pub fn stale(&self) -> bool {
        self.stale
    }
}

/// [`claim_text`] on the claims as a map, without building a `Value` of the whole document.
fn claim_in(claims: &Map<String, Value>, pointer: &str) -> Option<String> {
    if pointer.is_empty() {
        // "" is the whole document.
        return Some(Value::Object(claims.clone()).to_string());
    }
    render(lookup(claims, pointer)?, Rendering::Text)
}

/// The value at `pointer` in `claims` (RFC 6901 JSON Pointer; "" is the whole document) as
/// text: a string as it is; a number or boolean as its JSON text; an array as its elements so
/// rendered, joined by commas; an object as JSON. None when absent or null.
///
/// The text is the claim's own: it may hold any character, CR, LF and NUL included. Escape it
/// before it goes into a protocol, or use [`claims_header_value`](crate::claims_header_value).
pub fn claim_text(claims: &Value, pointer: &str) -> Option<String> {
    render(claims.pointer(pointer)?, Rendering::Text)
}

#[cfg(test)]
mod tests {
    use super::{claim_in, claim_text};
    use serde_json::json;

    #[test]
    fn claims_render_as_text_by_json_pointer() {
        let c = json!({
            "sub": "u", "n": 1.5, "b": false, "nil": null, "list": ["a", 2, {"k": 1}],
            "nested": {"deep": ["x"]}, "a/b": "slash", "m~n": "tilde"
        });
        assert_eq!(claim_text(&c, "/sub").as_deref(), Some("u"));
        assert_eq!(claim_text(&c, "/n").as_deref(), Some("1.5"));
        assert_eq!(claim_text(&c, "/b").as_deref(), Some("false"));
        assert_eq!(claim_text(&c, "/list").as_deref(), Some(r#"a,2,{"k":1}"#));
        assert_eq!(claim_text(&c, "/nested/deep").as_deref(), Some("x"));
        assert_eq!(
            claim_text(&c, "/nested").as_deref(),
            Some(r#"{"deep":["x"]}"#)
        );
        assert_eq!(claim_text(&c, "/a~1b").as_deref(), Some("slash"));
        assert_eq!(claim_text(&c, "/m~0n").as_deref(), Some("tilde"));
        assert_eq!(claim_text(&c, "/nil"), None);
        assert_eq!(claim_text(&c, "/absent"), None);
        assert_eq!(claim_text(&c, "sub"), None, "a pointer starts with /");
        let map = c.as_object().unwrap();
        for pointer in [
            "",
            "/sub",
            "/n",
            "/b",
            "/nil",
            "/list",
            "/list/0",
            "/list/2/k",
            "/nested",
            "/nested/deep",
            "/nested/deep/0",
            "/a~1b",
            "/m~0n",
            "/absent",
            "/absent/x",
            "sub",
            "/list/9",
            "//",
            "/sub/",
        ] {
            assert_eq!(
                claim_in(map, pointer),
                claim_text(&c, pointer),
                "{pointer:?}"
            );
        }
    }
}
