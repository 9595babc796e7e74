//! The JWS algorithms libjwks knows, and what each needs from a key.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind};

/// A JWS signature algorithm (RFC 7518 §3, RFC 8037 for `EdDSA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// Ed25519 (the only `EdDSA` curve supported).
    EdDSA,
    /// HMAC with SHA-256; only with `oct` keys, which are refused unless enabled.
    HS256,
    /// HMAC with SHA-384; see [`Algorithm::HS256`].
    HS384,
    /// HMAC with SHA-512; see [`Algorithm::HS256`].
    HS512,
}

/// The kind of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Rsa,
    Ec(Curve),
    Ed25519,
    Hmac,
}

/// The elliptic curves of the `ES*` algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
}

impl Algorithm {
    /// Every algorithm, in a fixed order.
    pub const ALL: [Algorithm; 13] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
    ];

    /// The asymmetric algorithms (every one but HMAC, which `ALL` lists last): the default
    /// allow-list.
    pub const ASYMMETRIC: &'static [Algorithm] = Algorithm::ALL.split_at(10).0;

    /// The name used in JWS headers and JWKs, e.g. `"RS256"`.
    pub fn name(self) -> &'static str {
        let c = self.c_name();
        &c[..c.len() - 1]
    }

    /// The name followed by a NUL, as the C ABI lends it.
    pub(crate) fn c_name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256\0",
            Algorithm::RS384 => "RS384\0",
            Algorithm::RS512 => "RS512\0",
            Algorithm::PS256 => "PS256\0",
            Algorithm::PS384 => "PS384\0",
            Algorithm::PS512 => "PS512\0",
            Algorithm::ES256 => "ES256\0",
            Algorithm::ES384 => "ES384\0",
            Algorithm::ES512 => "ES512\0",
            Algorithm::EdDSA => "EdDSA\0",
            Algorithm::HS256 => "HS256\0",
            Algorithm::HS384 => "HS384\0",
            Algorithm::HS512 => "HS512\0",
        }
    }

    /// Whether this is an HMAC (symmetric) algorithm.
    pub fn is_hmac(self) -> bool {
        self.family() == Family::Hmac
    }

    pub(crate) fn family(self) -> Family {
        match self {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Family::Rsa,
            Algorithm::ES256 => Family::Ec(Curve::P256),
            Algorithm::ES384 => Family::Ec(Curve::P384),
            Algorithm::ES512 => Family::Ec(Curve::P521),
            Algorithm::EdDSA => Family::Ed25519,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    /// Parses a header/JWK `alg` name (case-sensitive, as RFC 7515 requires).
    fn from_str(s: &str) -> Result<Self, Error> {
        // Matched as bytes: every token names one, so no string comparison per candidate.
        let alg = match s.as_bytes() {
            b"RS256" => Some(Algorithm::RS256),
            b"RS384" => Some(Algorithm::RS384),
            b"RS512" => Some(Algorithm::RS512),
            b"PS256" => Some(Algorithm::PS256),
            b"PS384" => Some(Algorithm::PS384),
            b"PS512" => Some(Algorithm::PS512),
            b"ES256" => Some(Algorithm::ES256),
            b"ES384" => Some(Algorithm::ES384),
            b"ES512" => Some(Algorithm::ES512),
            b"EdDSA" => Some(Algorithm::EdDSA),
            b"HS256" => Some(Algorithm::HS256),
            b"HS384" => Some(Algorithm::HS384),
            b"HS512" => Some(Algorithm::HS512),
            _ => None,
        };
        alg.ok_or_else(|| {
                Error::new(
                    ErrorKind::UnsupportedAlgorithm,
                    "algorithm is not supported (expected one of RS256..RS512, PS256..PS512, ES256..ES512, EdDSA, HS256..HS512)",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::Algorithm;

    #[test]
    fn the_asymmetric_list_is_every_algorithm_but_hmac() {
        assert_eq!(Algorithm::ASYMMETRIC.len(), 10);
        assert!(Algorithm::ASYMMETRIC.iter().all(|a| !a.is_hmac()));
        let hmac: Vec<_> = Algorithm::ALL.iter().filter(|a| a.is_hmac()).collect();
        assert_eq!(
            hmac.len() + Algorithm::ASYMMETRIC.len(),
            Algorithm::ALL.len()
        );
    }

    #[test]
    fn every_name_parses_back_and_nothing_else_does() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.name().parse::<Algorithm>().unwrap(), alg);
            assert_eq!(alg.c_name(), format!("{}\0", alg.name()));
        }
        for other in ["rs256", "RS256 ", "", "none", "ES256K", "Ed25519"] {
            assert!(other.parse::<Algorithm>().is_err(), "{other}");
        }
    }
}
