//! The one reading of a token's JSON texts (its header and its payload): serde_json, with a
//! visitor that refuses what serde_json alone would let through.
//!
//! Every claim any caller sees comes from this reading, the same one the checks used, so no
//! second reader can disagree with it (issue 22). On top of serde_json's own rules (strict
//! RFC 8259 syntax, numbers within an f64, nesting below 128 levels, nothing after the value)
//! it refuses a member name given twice in any object at any depth: each reader of a
//! duplicate picks its own winner, which is how two readers of one token come to see two
//! different tokens.

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
    use super::{object, Refused};
    use serde_json::json;

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
