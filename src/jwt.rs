//! Compact JWS parsing and the claim checks. No key lookup and no network here.

use std::time::Duration;

use base64::Engine;
use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::error::{Error, ErrorKind, Result};
use crate::validation::Validation;

/// A token split and decoded, not yet verified.
pub(crate) struct Parsed<'a> {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub signing_input: &'a [u8],
    pub signature: Vec<u8>,
    pub payload: String,
    pub claims: Map<String, Value>,
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Error::malformed(format!("token {what} is not unpadded base64url")))
}

fn header_str(header: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    match header.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::malformed(format!(
            "token header \"{name}\" is not a string"
        ))),
    }
}

/// Splits, decodes and screens a token: everything that can be refused without a key.
/// `allow_hmac` says whether HMAC keys can exist at all (the client enabled `oct` keys).
pub(crate) fn parse<'a>(
    token: &'a str,
    max_len: usize,
    validation: &Validation,
    allow_hmac: bool,
) -> Result<Parsed<'a>> {
    if token.len() > max_len {
        return Err(Error::new(
            ErrorKind::TokenTooLarge,
            format!(
                "token is {} bytes, over the limit of {max_len}",
                token.len()
            ),
        ));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() == 5 {
        return Err(Error::malformed(
            "token is a JWE (five parts); only signed tokens (JWS) are supported",
        ));
    }
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        return Err(Error::malformed(format!(
            "token has {} dot-separated parts, expected 3",
            parts.len()
        )));
    };
    let header_bytes = decode_part(header_b64, "header")?;
    let header: Map<String, Value> = serde_json::from_slice(&header_bytes)
        .map_err(|_| Error::malformed("token header is not a JSON object"))?;

    // RFC 7515 §4.1.11: a recipient must reject a token whose crit names anything it does not
    // understand; libjwks implements no extension, so any crit is refused.
    if header.contains_key("crit") {
        return Err(Error::new(
            ErrorKind::UnsupportedCritical,
            "token header lists critical extensions (crit) that libjwks does not implement",
        ));
    }
    let alg_name = header_str(&header, "alg")?
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
    let typ = header_str(&header, "typ")?;
    check_typ(typ.as_deref(), &validation.typ)?;
    let kid = header_str(&header, "kid")?;

    let signature = decode_part(signature_b64, "signature")?;
    let payload_bytes = decode_part(payload_b64, "payload")?;
    let payload = String::from_utf8(payload_bytes)
        .map_err(|_| Error::malformed("token payload is not UTF-8"))?;
    let claims: Map<String, Value> = serde_json::from_str(&payload)
        .map_err(|_| Error::malformed("token payload is not a JSON object"))?;

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

/// Reads only the header's `kid` (for `get_signing_key_from_jwt`).
pub(crate) fn header_kid(token: &str, max_len: usize) -> Result<Option<String>> {
    if token.len() > max_len {
        return Err(Error::new(
            ErrorKind::TokenTooLarge,
            format!(
                "token is {} bytes, over the limit of {max_len}",
                token.len()
            ),
        ));
    }
    let header_b64 = token
        .split('.')
        .next()
        .filter(|_| token.contains('.'))
        .ok_or_else(|| Error::malformed("token has no dot-separated parts"))?;
    let header: Map<String, Value> = serde_json::from_slice(&decode_part(header_b64, "header")?)
        .map_err(|_| Error::malformed("token header is not a JSON object"))?;
    header_str(&header, "kid")
}

fn normalize_typ(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    match lower.strip_prefix("application/") {
        Some(rest) => rest.to_owned(),
        None => lower,
    }
}

fn check_typ(typ: Option<&str>, allowed: &[String]) -> Result<()> {
    if allowed.is_empty() {
        return Ok(());
    }
    let Some(typ) = typ else {
        return Err(Error::new(ErrorKind::WrongTyp, "token has no typ header"));
    };
    let typ = normalize_typ(typ);
    if allowed.iter().any(|a| normalize_typ(a) == typ) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::WrongTyp,
            format!(
                "token typ is not one of the allowed values ({})",
                allowed.join(", ")
            ),
        ))
    }
}

fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| Error::malformed(format!("claim \"{name}\" is not a number"))),
    }
}

fn missing(name: &str) -> Error {
    Error::new(
        ErrorKind::MissingClaim,
        format!("required claim \"{name}\" is missing"),
    )
}

/// The claim checks, run after the signature has verified.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    v: &Validation,
    now: Duration,
) -> Result<()> {
    let now = now.as_secs_f64();
    let leeway = v.leeway.as_secs_f64();
    let exp = numeric_date(claims, "exp")?;
    if v.verify_exp {
        let exp = exp.ok_or_else(|| missing("exp"))?;
        if now >= exp + leeway {
            return Err(Error::new(ErrorKind::Expired, "token has expired"));
        }
    }
    let nbf = numeric_date(claims, "nbf")?;
    if v.verify_nbf {
        if let Some(nbf) = nbf {
            if now + leeway < nbf {
                return Err(Error::new(
                    ErrorKind::NotYetValid,
                    "token is not valid yet (nbf)",
                ));
            }
        }
    }
    if v.verify_iss {
        if let Some(expected) = &v.issuer {
            match claims.get("iss") {
                None => return Err(missing("iss")),
                Some(Value::String(iss)) if iss == expected => {}
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::WrongIssuer,
                        format!("token iss is not the expected issuer {expected:?}"),
                    ))
                }
            }
        }
    }
    if v.verify_aud && !v.audience.is_empty() {
        let matches = |a: &Value| {
            a.as_str()
                .is_some_and(|a| v.audience.iter().any(|e| e == a))
        };
        let ok = match claims.get("aud") {
            None => return Err(missing("aud")),
            Some(Value::Array(list)) => list.iter().any(matches),
            Some(single) => matches(single),
        };
        if !ok {
            return Err(Error::new(
                ErrorKind::WrongAudience,
                "token aud contains none of the expected audiences",
            ));
        }
    }
    if let Some(name) = v.required_claims.iter().find(|c| !claims.contains_key(*c)) {
        return Err(missing(name));
    }
    Ok(())
}
