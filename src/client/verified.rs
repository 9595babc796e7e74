//! A verified token and its claims as text.

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::jose::alg::Algorithm;
use crate::jose::jwt::Texts;
use crate::jose::keys::Key;

/// A verified token: its claims and the header fields callers route on.
#[derive(Debug, Clone)]
pub struct Verified {
    pub(super) texts: Texts,
    pub(super) claims: OnceLock<Map<String, Value>>,
    pub(super) alg: Algorithm,
    pub(super) key: Arc<Key>,
    pub(super) stale: bool,
}

impl Verified {
    /// The claims as the token's decoded JSON payload, byte for byte.
    pub fn claims_json(&self) -> &str {
        self.texts.payload()
    }

    /// The claims, parsed (on first use: C callers and a warm verify never pay for it).
    pub fn claims(&self) -> &Map<String, Value> {
        self.claims
            .get_or_init(|| serde_json::from_str(self.texts.payload()).unwrap_or_default())
    }

    /// The claim at `pointer` (RFC 6901 JSON Pointer: `/sub`, `/realm_access/roles`,
    /// `/https:~1~1example.com~1roles`) rendered as text, as servers put claims into headers
    /// and variables: see [`claim_text`]. None when absent or null.
    pub fn claim(&self, pointer: &str) -> Option<String> {
        claim_in(self.claims(), pointer)
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
    let Some(rest) = pointer.strip_prefix('/') else {
        // "" is the whole document; anything else is not a pointer.
        return pointer
            .is_empty()
            .then(|| Value::Object(claims.clone()).to_string());
    };
    let unescape = |token: &str| token.replace("~1", "/").replace("~0", "~");
    match rest.split_once('/') {
        None => render(claims.get(&unescape(rest))?),
        Some((first, _)) => render(
            claims
                .get(&unescape(first))?
                .pointer(&rest[first.len()..])?,
        ),
    }
}

/// The value at `pointer` in `claims` (RFC 6901 JSON Pointer; "" is the whole document) as
/// text: a string as it is; a number or boolean as its JSON text; an array as its elements so
/// rendered, joined by commas; an object as JSON. None when absent or null.
pub fn claim_text(claims: &Value, pointer: &str) -> Option<String> {
    render(claims.pointer(pointer)?)
}

/// A claim's value as [`claim_text`] writes it.
fn render(value: &Value) -> Option<String> {
    fn scalar(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
    match value {
        Value::Null => None,
        Value::Array(items) => Some(items.iter().map(scalar).collect::<Vec<_>>().join(",")),
        other => Some(scalar(other)),
    }
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
