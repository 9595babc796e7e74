//! What a token must satisfy besides its signature: the client's [`Validation`], the per-call
//! [`VerifyOptions`] that override it, and the checks themselves (`check_typ` before any key
//! lookup, `check_claims` after the signature).

use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::jose::alg::Algorithm;
use crate::jose::jwt::Claims;

/// Claim and header checks. The defaults follow DESIGN.md: `exp` required and checked, `nbf`
/// checked when present, 60 s leeway, `aud`/`iss` checked when configured, `typ` unchecked unless
/// configured, every asymmetric algorithm allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Validation {
    /// Allowed clock skew for `exp` and `nbf`.
    pub leeway: Duration,
    /// Require `exp` and reject expired tokens (PyJWT's `verify_exp`).
    pub verify_exp: bool,
    /// Reject tokens whose `nbf` is in the future (PyJWT's `verify_nbf`).
    pub verify_nbf: bool,
    /// Reject tokens whose `iat` is in the future beyond the leeway (PyJWT's `verify_iat`).
    /// Off by default: RFC 7519 gives `iat` no validity meaning. A non-numeric `iat` is a
    /// malformed token either way.
    pub verify_iat: bool,
    /// Check `aud` against [`Validation::audience`] when that is not empty.
    pub verify_aud: bool,
    /// Check `iss` against [`Validation::issuer`] when that is set.
    pub verify_iss: bool,
    /// Accepted audiences: a token passes when its `aud` contains any one of them.
    pub audience: Vec<String>,
    /// The expected issuer (exact match).
    pub issuer: Option<String>,
    /// Allowed signature algorithms.
    pub algorithms: Vec<Algorithm>,
    /// Allowed `typ` header values (compared case-insensitively, `application/` prefix ignored);
    /// empty means `typ` is not checked.
    pub typ: Vec<String>,
    /// Claims that must be present.
    pub required_claims: Vec<String>,
}

impl Default for Validation {
    fn default() -> Self {
        Validation {
            leeway: Duration::from_secs(60),
            verify_exp: true,
            verify_nbf: true,
            verify_iat: false,
            verify_aud: true,
            verify_iss: true,
            audience: Vec::new(),
            issuer: None,
            algorithms: Algorithm::ASYMMETRIC.to_vec(),
            typ: Vec::new(),
            required_claims: Vec::new(),
        }
    }
}

/// Per-call overrides of the client's [`Validation`]: each field that is `Some` replaces the
/// client's value, except `algorithms`, which can only narrow the client's list (it is
/// intersected with it), so a route can never switch on an algorithm — HMAC included — that the
/// client does not allow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Replaces [`Validation::leeway`].
    pub leeway: Option<Duration>,
    /// Replaces [`Validation::verify_exp`].
    pub verify_exp: Option<bool>,
    /// Replaces [`Validation::verify_nbf`].
    pub verify_nbf: Option<bool>,
    /// Replaces [`Validation::verify_iat`].
    pub verify_iat: Option<bool>,
    /// Replaces [`Validation::verify_aud`].
    pub verify_aud: Option<bool>,
    /// Replaces [`Validation::verify_iss`].
    pub verify_iss: Option<bool>,
    /// Replaces [`Validation::audience`].
    pub audience: Option<Vec<String>>,
    /// Replaces [`Validation::issuer`].
    pub issuer: Option<String>,
    /// Narrows [`Validation::algorithms`].
    pub algorithms: Option<Vec<Algorithm>>,
    /// Replaces [`Validation::typ`].
    pub typ: Option<Vec<String>>,
    /// Replaces [`Validation::required_claims`].
    pub required_claims: Option<Vec<String>>,
}

impl VerifyOptions {
    /// The validation that results from applying these overrides to `base`.
    pub fn apply(&self, base: &Validation) -> Result<Validation> {
        let algorithms = match &self.algorithms {
            None => base.algorithms.clone(),
            Some(narrow) => {
                let kept: Vec<Algorithm> = base
                    .algorithms
                    .iter()
                    .copied()
                    .filter(|a| narrow.contains(a))
                    .collect();
                if kept.is_empty() {
                    let list = |algs: &[Algorithm]| {
                        algs.iter()
                            .map(|a| a.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    return Err(Error::invalid_argument(format!(
                        "per-call algorithms ({}) share none with the client's allowed algorithms ({})",
                        list(narrow),
                        list(&base.algorithms)
                    )));
                }
                kept
            }
        };
        Ok(Validation {
            leeway: self.leeway.unwrap_or(base.leeway),
            verify_exp: self.verify_exp.unwrap_or(base.verify_exp),
            verify_nbf: self.verify_nbf.unwrap_or(base.verify_nbf),
            verify_iat: self.verify_iat.unwrap_or(base.verify_iat),
            verify_aud: self.verify_aud.unwrap_or(base.verify_aud),
            verify_iss: self.verify_iss.unwrap_or(base.verify_iss),
            audience: self
                .audience
                .clone()
                .unwrap_or_else(|| base.audience.clone()),
            issuer: self.issuer.clone().or_else(|| base.issuer.clone()),
            algorithms,
            typ: self.typ.clone().unwrap_or_else(|| base.typ.clone()),
            required_claims: self
                .required_claims
                .clone()
                .unwrap_or_else(|| base.required_claims.clone()),
        })
    }
}

fn normalize_typ(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    match lower.strip_prefix("application/") {
        Some(rest) => rest.to_owned(),
        None => lower,
    }
}

pub(crate) fn check_typ(typ: Option<&str>, allowed: &[String]) -> Result<()> {
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

fn missing(name: &str) -> Error {
    Error::new(
        ErrorKind::MissingClaim,
        format!("required claim \"{name}\" is missing"),
    )
}

/// The claim checks, run after the signature has verified.
pub(crate) fn check_claims(claims: &Claims, v: &Validation, now: Duration) -> Result<()> {
    let now = now.as_secs_f64();
    let leeway = v.leeway.as_secs_f64();
    if v.verify_exp {
        let exp = claims.exp.ok_or_else(|| missing("exp"))?;
        if now >= exp + leeway {
            return Err(Error::new(ErrorKind::Expired, "token has expired"));
        }
    }
    // nbf, and iat when asked: a time still ahead beyond the leeway is not valid yet.
    let ahead = |on: bool, at: Option<f64>, message: &str| match at {
        Some(at) if on && now + leeway < at => Err(Error::new(ErrorKind::NotYetValid, message)),
        _ => Ok(()),
    };
    ahead(v.verify_nbf, claims.nbf, "token is not valid yet (nbf)")?;
    ahead(
        v.verify_iat,
        claims.iat,
        "token was issued in the future (iat)",
    )?;
    if v.verify_iss {
        if let Some(expected) = &v.issuer {
            match claims.iss() {
                None => return Err(missing("iss")),
                Some(iss) if iss == expected => {}
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::WrongIssuer,
                        format!("token iss is not the expected issuer {expected:?}"),
                    ))
                }
            }
        }
    }
    let aud = claims.aud();
    if v.verify_aud && v.audience.is_empty() && aud.is_some() {
        // RFC 7519 §4.1.3: a recipient that does not identify itself with a value of a
        // present aud must reject the token (PyJWT does too); a token minted for another
        // service must not be accepted by a client that forgot to say who it is.
        return Err(Error::new(
            ErrorKind::WrongAudience,
            "token has an aud claim but no audience is configured (configure the expected audience, or switch verify_aud off)",
        ));
    }
    if v.verify_aud && !v.audience.is_empty() {
        let aud = aud.ok_or_else(|| missing("aud"))?;
        let expected = |a: &Value| {
            a.as_str()
                .is_some_and(|a| v.audience.iter().any(|e| e == a))
        };
        let matches = match aud {
            Value::Array(items) => items.iter().any(expected),
            one => expected(one),
        };
        if !matches {
            return Err(Error::new(
                ErrorKind::WrongAudience,
                "token aud contains none of the expected audiences",
            ));
        }
    }
    if !v.required_claims.is_empty() {
        // A claim whose value is null counts as absent.
        let present: Vec<bool> = v
            .required_claims
            .iter()
            .map(|name| claims.map.get(name).is_some_and(|c| !c.is_null()))
            .collect();
        if let Some(i) = present.iter().position(|p| !p) {
            return Err(missing(&v.required_claims[i]));
        }
    }
    Ok(())
}
