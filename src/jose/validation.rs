//! What a token must satisfy besides its signature: the client's [`Validation`] and the per-call
//! [`VerifyOptions`] that override it.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::jose::alg::Algorithm;

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
                    return Err(Error::invalid_argument(
                        "per-call algorithms share none with the client's allowed algorithms",
                    ));
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
