//! Compact JWS parsing and the claim checks. No key lookup and no network here.

use std::borrow::Cow;

use base64::Engine;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::jose::alg::Algorithm;
use crate::jose::validation::Validation;

/// A token split and decoded, not yet verified.
pub(crate) struct Parsed<'a> {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub signing_input: &'a [u8],
    pub signature: Vec<u8>,
    pub payload: String,
    pub claims: Claims,
}

/// The registered claims the checks need, read before any key lookup so a malformed payload
/// never causes a fetch.
pub(crate) struct Claims {
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
    pub(crate) iat: Option<f64>,
    pub iss: Option<String>,
    pub(crate) aud: Option<Value>,
}

/// The header members libjwks reads; others are skipped without being stored.
#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow, default)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Present,
}

/// Whether a member was there at all (even as `null`).
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// The registered claims the checks read.
#[derive(Deserialize)]
struct Registered<'a> {
    #[serde(default)]
    exp: Option<Value>,
    #[serde(default)]
    nbf: Option<Value>,
    #[serde(default)]
    iat: Option<Value>,
    #[serde(borrow, default)]
    iss: Option<Cow<'a, str>>,
    #[serde(default)]
    aud: Option<Value>,
}

/// Parses a JSON object (and only an object: serde would take an array for a struct too).
pub(crate) fn parse_object<'a, T: Deserialize<'a>>(json: &'a str, what: &str) -> Result<T> {
    if !json.trim_start().starts_with('{') {
        return Err(Error::malformed(format!(
            "token {what} is not a JSON object"
        )));
    }
    serde_json::from_str(json).map_err(|_| {
        Error::malformed(format!(
            "token {what} is not a valid JSON object (bad JSON, duplicate or mistyped member)"
        ))
    })
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Error::malformed(format!("token {what} is not unpadded base64url")))
}

/// Refuses a token over `max_len` bytes before any work on it.
fn check_size(token: &str, max_len: usize) -> Result<()> {
    if token.len() > max_len {
        return Err(Error::new(
            ErrorKind::TokenTooLarge,
            format!(
                "token is {} bytes, over the limit of {max_len}",
                token.len()
            ),
        ));
    }
    Ok(())
}

/// Splits, decodes and screens a token: everything that can be refused without a key.
/// `allow_hmac` says whether HMAC keys can exist at all (the client enabled `oct` keys).
pub(crate) fn parse<'a>(
    token: &'a str,
    max_len: usize,
    validation: &Validation,
    allow_hmac: bool,
) -> Result<Parsed<'a>> {
    check_size(token, max_len)?;
    let mut parts = token.splitn(4, '.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        let count = token.split('.').count();
        if count == 5 {
            return Err(Error::malformed(
                "token is a JWE (five parts); only signed tokens (JWS) are supported",
            ));
        }
        return Err(Error::malformed(format!(
            "token has {count} dot-separated parts, expected 3"
        )));
    };
    let header_bytes = decode_part(header_b64, "header")?;
    let header_json = std::str::from_utf8(&header_bytes)
        .map_err(|_| Error::malformed("token header is not UTF-8"))?;
    let header: RawHeader<'_> = parse_object(header_json, "header")?;

    // RFC 7515 §4.1.11: a recipient must reject a token whose crit names anything it does not
    // understand; libjwks implements no extension, so any crit is refused.
    if header.crit.0 {
        return Err(Error::new(
            ErrorKind::UnsupportedCritical,
            "token header lists critical extensions (crit) that libjwks does not implement",
        ));
    }
    let alg_name = header
        .alg
        .ok_or_else(|| Error::malformed("token header has no \"alg\""))?;
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(Error::new(
            ErrorKind::AlgorithmNotAllowed,
            "unsigned tokens (alg none) are never accepted",
        ));
    }
    let alg: Algorithm = alg_name.parse()?;
    if alg.is_hmac() && !allow_hmac {
        return Err(Error::new(
            ErrorKind::AlgorithmNotAllowed,
            format!("{alg} (HMAC) tokens never verify against public keys"),
        ));
    }
    if !validation.algorithms.contains(&alg) {
        return Err(Error::new(
            ErrorKind::AlgorithmNotAllowed,
            format!("algorithm {alg} is not in the allowed list"),
        ));
    }
    crate::jose::validation::check_typ(header.typ.as_deref(), &validation.typ)?;
    let typ = header.typ.map(Cow::into_owned);
    let kid = header.kid.map(Cow::into_owned);

    let signature = decode_part(signature_b64, "signature")?;
    let payload_bytes = decode_part(payload_b64, "payload")?;
    let payload = String::from_utf8(payload_bytes)
        .map_err(|_| Error::malformed("token payload is not UTF-8"))?;
    let registered: Registered<'_> = parse_object(&payload, "payload")?;
    // RFC 7519 §4.1.3: a string or an array of strings (null counts as absent).
    let aud_shaped = match &registered.aud {
        None | Some(Value::Null | Value::String(_)) => true,
        Some(Value::Array(list)) => list.iter().all(Value::is_string),
        Some(_) => false,
    };
    if !aud_shaped {
        return Err(Error::malformed(
            "token aud is neither a string nor an array of strings",
        ));
    }
    let claims = Claims {
        exp: numeric_date(&registered.exp, "exp")?,
        nbf: numeric_date(&registered.nbf, "nbf")?,
        iat: numeric_date(&registered.iat, "iat")?,
        iss: registered.iss.map(Cow::into_owned),
        aud: registered.aud,
    };

    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    Ok(Parsed {
        alg,
        kid,
        typ,
        signing_input: &token.as_bytes()[..signing_input_len],
        signature,
        payload,
        claims,
    })
}

/// Reads the header's `kid` and the payload's `iss` without verifying anything (for
/// `get_signing_key_from_jwt`).
pub(crate) fn peek(token: &str, max_len: usize) -> Result<(Option<String>, Option<String>)> {
    check_size(token, max_len)?;
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64)) = (parts.next(), parts.next()) else {
        return Err(Error::malformed("token has no dot-separated parts"));
    };
    let bytes = decode_part(header_b64, "header")?;
    let json =
        std::str::from_utf8(&bytes).map_err(|_| Error::malformed("token header is not UTF-8"))?;
    let header: RawHeader<'_> = parse_object(json, "header")?;
    let bytes = decode_part(payload_b64, "payload")?;
    let json =
        std::str::from_utf8(&bytes).map_err(|_| Error::malformed("token payload is not UTF-8"))?;
    let claims: Registered<'_> = parse_object(json, "payload")?;
    Ok((
        header.kid.map(Cow::into_owned),
        claims.iss.map(Cow::into_owned),
    ))
}

fn numeric_date(value: &Option<Value>, name: &str) -> Result<Option<f64>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| Error::malformed(format!("claim \"{name}\" is not a number"))),
    }
}
