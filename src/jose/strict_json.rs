//! The one reading of a token's JSON texts (its header and its payload): serde_json, with a
//! visitor that refuses what serde_json alone would let through.
//!
//! Every claim any caller sees comes from this reading, the same one the checks used, so no
//! second reader can disagree with it (issue 22). On top of serde_json's own rules (strict
//! RFC 8259 syntax, numbers within an f64, nesting below 128 levels, nothing after the value)
//! it refuses a member name given twice in any object at any depth: each reader of a
//! duplicate picks its own winner, which is how two readers of one token come to see two
//! different tokens.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a text was refused.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Valid JSON, but not an object.
    NotObject,
    /// Not JSON, a name twice, too deep, or a number out of range: serde_json's message
    /// (a line and a column, never the text).
    Invalid(serde_json::Error),
}

/// Reads `text` as a JSON object, refusing duplicate names at every level.
pub(crate) fn object(text: &str) -> Result<Map<String, Value>, Refused> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict.deserialize(&mut de).map_err(Refused::Invalid)?;
    de.end().map_err(Refused::Invalid)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Refused::NotObject),
    }
}

/// The JOSE header members libjwks reads, borrowed from the text where they hold no escape.
/// Every other member is read too (so checked, duplicates included) and dropped.
#[derive(Default)]
pub(crate) struct Header<'a> {
    pub alg: Option<Cow<'a, str>>,
    pub kid: Option<Cow<'a, str>>,
    pub typ: Option<Cow<'a, str>>,
    pub crit: bool,
}

/// Reads `text` as a token's header: a JSON object with no name twice at any level, whose
/// `alg`, `kid` and `typ` are strings when present (null counts as absent). The same rules as
/// [`object`], without building a map of a text that has three members to read.
pub(crate) fn header(text: &str) -> Result<Header<'_>, Refused> {
    if !text.trim_start().starts_with('{') {
        // Valid JSON of another type or not JSON at all: either way no object.
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Refused::NotObject,
            Err(e) => Refused::Invalid(e),
        });
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let header = de
        .deserialize_map(HeaderVisitor)
        .map_err(Refused::Invalid)?;
    de.end().map_err(Refused::Invalid)?;
    Ok(header)
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header<'de>, A::Error> {
        let mut header = Header::default();
        // The three members read are marked in `seen`; other names are kept only when there
        // are any (a typical header has none, so nothing is allocated).
        let (mut seen, mut others) = (0u8, Vec::<Cow<'de, str>>::new());
        let twice = || de::Error::custom("a member name given twice");
        while let Some(name) = map.next_key_seed(Text)? {
            let (slot, bit) = match &*name {
                "alg" => (&mut header.alg, 1),
                "kid" => (&mut header.kid, 2),
                "typ" => (&mut header.typ, 4),
                _ => {
                    if others.contains(&name) {
                        return Err(twice());
                    }
                    header.crit |= name == "crit";
                    map.next_value_seed(Strict)?;
                    others.push(name);
                    continue;
                }
            };
            if seen & bit != 0 {
                return Err(twice());
            }
            seen |= bit;
            *slot = map.next_value_seed(Optional(Text))?;
        }
        Ok(header)
    }
}

/// A JSON string, borrowed from the text when it holds no escape.
#[derive(Clone, Copy)]
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_any(self)
    }
}

/// The error for a member that must be a string and is not. Visitor's default for it would
/// quote the value, and a message never holds token bytes.
fn not_text<E: de::Error>() -> E {
    E::custom("alg, kid and typ must be strings")
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Cow<'de, str>, E> {
        Err(not_text())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Cow<'de, str>, E> {
        Err(not_text())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Cow<'de, str>, E> {
        Err(not_text())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Cow<'de, str>, E> {
        Err(not_text())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Cow<'de, str>, A::Error> {
        Err(not_text())
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Cow<'de, str>, A::Error> {
        Err(not_text())
    }
}

/// `T`, or None for null.
struct Optional<T>(T);

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for Optional<T> {
    type Value = Option<T::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T::Value>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T: DeserializeSeed<'de>> Visitor<'de> for Optional<T> {
    type Value = Option<T::Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("null or a value")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

/// Deserializes one JSON value into a `Value`, refusing a name given twice in any object.
/// serde_json's deserializer counts the nesting, so the depth limit holds here too.
#[derive(Clone, Copy)]
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json refuses a number beyond an f64's range before it gets here.
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(Strict)?;
            if members.insert(name, value).is_some() {
                return Err(de::Error::custom("a member name given twice"));
            }
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::{header, object, Refused};
    use serde_json::json;
    use std::borrow::Cow;

    #[test]
    fn objects_read_as_serde_json_reads_them() {
        let text = r#"{ "s":"\u00fc\ud83d\ude00","n":-0,"f":2.5e3,"b":true,"z":null,
                        "a":[1,{"k":"v"}],"o":{"p":{"q":[]}},"big":18446744073709551615 }"#;
        let ours = object(text).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::Value::Object(ours), theirs);
    }

    #[test]
    fn a_name_twice_is_refused_at_every_level() {
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":1,"\u0061":2}"#,
            r#"{"o":{"k":1,"k":1}}"#,
            r#"{"l":[{"x":[{"k":1,"k":2}]}]}"#,
        ] {
            assert!(matches!(object(text), Err(Refused::Invalid(_))), "{text}");
        }
        // Equal names in different objects are fine.
        assert!(object(r#"{"k":{"k":{"k":1}},"l":[{"k":1},{"k":2}]}"#).is_ok());
    }

    #[test]
    fn headers_read_their_three_members_and_check_the_rest() {
        let h =
            header(r#"{"alg":"RS256","kid":"k\u0031","typ":null,"x":{"y":[1]},"crit":["b64"]}"#)
                .unwrap();
        assert!(matches!(h.alg, Some(Cow::Borrowed("RS256"))));
        assert!(matches!(h.kid.as_deref(), Some("k1")));
        assert!(h.typ.is_none() && h.crit);
        for bad in [
            r#"{"alg":"RS256","alg":"none"}"#,
            r#"{"typ":null,"typ":null}"#,
            r#"{"x":1,"y":2,"x":3}"#,
            r#"{"alg":"RS256","\u0061lg":"none"}"#,
            r#"{"x":{"k":1,"k":2}}"#,
            r#"{"alg":1}"#,
            r#"{"kid":["k"]}"#,
            r#"{"alg":"RS256"} x"#,
            r#"{"n":1e400}"#,
            "{",
            "nope",
        ] {
            assert!(matches!(header(bad), Err(Refused::Invalid(_))), "{bad}");
        }
        for other in ["[]", " 1", "\"s\"", "null"] {
            assert!(matches!(header(other), Err(Refused::NotObject)), "{other}");
        }
        // A message says what is wrong and where, never the token's text.
        for (text, secret) in [
            (r#"{"alg":12345}"#, "12345"),
            (r#"{"kid":true}"#, "true"),
            (r#"{"typ":{"s3cret":1}}"#, "s3cret"),
        ] {
            let Err(Refused::Invalid(e)) = header(text) else {
                panic!("{text}")
            };
            assert!(!e.to_string().contains(secret), "{e}");
        }
    }

    #[test]
    fn what_serde_json_refuses_is_refused() {
        let deep = |n: usize| format!("{{\"d\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert!(
            object(&deep(126)).is_ok(),
            "127 levels, the object included"
        );
        assert!(object(&deep(127)).is_err(), "128 levels");
        for text in [
            "",
            "{",
            r#"{"a":1} x"#,
            r#"{"n":1.7976931348623158e309}"#,
            r#"{"n":1e400}"#,
            r#"{"n":-1e400}"#,
            r#"{"a":01}"#,
            "{\"s\":\"\u{1}\"}",
            r#"{"s":"\ud800"}"#,
            r#"{'a':1}"#,
            r#"{"a":1,}"#,
        ] {
            assert!(matches!(object(text), Err(Refused::Invalid(_))), "{text:?}");
        }
        for text in ["[]", "1", "\"s\"", "null"] {
            assert!(matches!(object(text), Err(Refused::NotObject)), "{text}");
        }
        // The largest finite number is a number.
        let max = object(r#"{"n":1.7976931348623157e308}"#).unwrap();
        assert_eq!(max["n"], json!(f64::MAX));
    }
}
