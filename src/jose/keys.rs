//! JWK Set parsing and the verification-ready [`Key`].
//!
//! A set is parsed as JSON values and each key on its own, so one odd key (unknown `kty`, numeric
//! `kid`, private material, an RSA key of 1024 bits) is skipped and counted instead of failing the
//! whole set. Every usable key is turned into parsed aws-lc-rs public keys once, here, for each
//! algorithm it may verify; a verify is then a lookup plus the signature check.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey};
use base64::Engine;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::jose::alg::{Algorithm, Curve, Family};
use crate::jose::der;

/// RSA moduli outside this range are refused (RFC 7518 §3.3 asks for at least 2048 bits; the
/// upper bound keeps a hostile set from costing seconds of CPU per verify).
pub const RSA_MIN_BITS: usize = 2048;
/// See [`RSA_MIN_BITS`].
pub const RSA_MAX_BITS: usize = 8192;

const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// What a set may contain, from the client's configuration.
#[derive(Debug, Clone)]
pub(crate) struct KeyPolicy {
    pub allowed: Vec<Algorithm>,
    pub allow_oct: bool,
    pub max_keys: usize,
}

enum Verifier {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

/// One usable signing key from a JWK Set, ready to verify.
///
/// Keys are immutable and shared (`Arc<Key>`); a key handed out stays valid after the set it
/// came from has been replaced.
pub struct Key {
    kid: Option<String>,
    alg: Option<Algorithm>,
    kty: String,
    key_use: Option<String>,
    jwk_json: String,
    spki_der: Vec<u8>,
    pem: String,
    verifiers: Vec<(Algorithm, Verifier)>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("kty", &self.kty)
            .field("use", &self.key_use)
            .field("algorithms", &self.algorithms().collect::<Vec<_>>())
            .finish()
    }
}

impl Key {
    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The JWK's own `alg`, if it names one.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// The JWK's `kty`: `"RSA"`, `"EC"`, `"OKP"` or `"oct"`.
    pub fn kty(&self) -> &str {
        &self.kty
    }

    /// The JWK's `use`, if present (always `"sig"` when present, since other uses are skipped).
    pub fn key_use(&self) -> Option<&str> {
        self.key_use.as_deref()
    }

    /// This key's JWK as compact JSON.
    pub fn jwk_json(&self) -> &str {
        &self.jwk_json
    }

    /// The public key as DER SubjectPublicKeyInfo; empty for `oct` keys.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`); empty for `oct` keys.
    pub fn public_key_pem(&self) -> &str {
        &self.pem
    }

    /// The algorithms this key may verify (fitting its type, curve, JWK `alg` and the client's
    /// allow-list).
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.verifiers.iter().map(|(a, _)| *a)
    }

    /// Whether this key may verify `alg`.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.verifiers.iter().any(|(a, _)| *a == alg)
    }

    /// Checks `signature` over `message` with `alg`.
    ///
    /// Fails with `AlgorithmNotAllowed` when the key may not verify `alg`, and with
    /// `BadSignature` when the signature is wrong.
    pub fn verify_signature(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Result<()> {
        let verifier = self
            .verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::AlgorithmNotAllowed,
                    format!(
                        "token alg {alg} does not fit the key (kty {}{})",
                        self.kty,
                        self.alg.map(|a| format!(", alg {a}")).unwrap_or_default()
                    ),
                )
            })?;
        let ok = match verifier {
            Verifier::Public(key) => key.verify_sig(message, signature).is_ok(),
            Verifier::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::BadSignature,
                "signature does not verify",
            ))
        }
    }
}

/// A key the parser left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the set's `keys` array.
    pub index: usize,
    /// The key's `kid`, when it has a string one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

/// A parsed JWK Set: the usable signing keys, the skipped ones and the raw JSON.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<Arc<Key>>,
    skipped: Vec<SkippedKey>,
    json: String,
}

impl KeySet {
    /// The usable signing keys, in the order the set lists them.
    pub fn keys(&self) -> &[Arc<Key>] {
        &self.keys
    }

    /// Keys left out (unsupported type, private material, `use` other than `sig`, ...).
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// The JSON text as the server sent it.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The first key with this `kid` (PyJWT's `match_kid`).
    pub fn find(&self, kid: &str) -> Option<&Arc<Key>> {
        match_kid(&self.keys, kid)
    }

    /// The first key with this `kid` that may verify `alg`, else the first with this `kid`.
    pub(crate) fn find_for(&self, kid: &str, alg: Algorithm) -> Option<&Arc<Key>> {
        self.keys
            .iter()
            .find(|k| k.kid() == Some(kid) && k.supports(alg))
            .or_else(|| self.find(kid))
    }

    /// Why the key with this `kid` was skipped, if it was.
    pub(crate) fn skip_reason(&self, kid: &str) -> Option<&str> {
        self.skipped
            .iter()
            .find(|s| s.kid.as_deref() == Some(kid))
            .map(|s| s.reason.as_str())
    }
}

/// The first key in `keys` whose `kid` equals `kid`.
pub fn match_kid<'a>(keys: &'a [Arc<Key>], kid: &str) -> Option<&'a Arc<Key>> {
    keys.iter().find(|k| k.kid() == Some(kid))
}

/// Parses a JWK Set document. Fails only when the document as a whole is unusable: not JSON,
/// no `keys` array, more keys than allowed, or no usable signing key.
pub(crate) fn parse_jwk_set(body: &[u8], policy: &KeyPolicy) -> Result<KeySet> {
    let json = std::str::from_utf8(body)
        .map_err(|_| Error::new(ErrorKind::InvalidJwks, "JWKS response is not UTF-8"))?;
    let doc: Value = serde_json::from_str(json).map_err(|e| {
        Error::new(
            ErrorKind::InvalidJwks,
            format!("JWKS response is not JSON: {e}"),
        )
    })?;
    // serde_json keeps the last of duplicate members; a set that says "keys" twice is refused
    // (as token headers with duplicate members are), since two parsers could pick different
    // ones.
    #[derive(serde::Deserialize)]
    struct KeysOnce {
        #[serde(default)]
        #[allow(dead_code)]
        keys: serde::de::IgnoredAny,
    }
    if doc.is_object() && serde_json::from_str::<KeysOnce>(json).is_err() {
        return Err(Error::new(
            ErrorKind::InvalidJwks,
            "JWKS response has more than one \"keys\" member",
        ));
    }
    let entries = doc
        .as_object()
        .and_then(|o| o.get("keys"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidJwks,
                "JWKS response has no \"keys\" array",
            )
        })?;
    if entries.len() > policy.max_keys {
        return Err(Error::new(
            ErrorKind::InvalidJwks,
            format!(
                "JWKS holds {} keys, more than the limit of {}",
                entries.len(),
                policy.max_keys
            ),
        ));
    }
    let mut keys = Vec::with_capacity(entries.len());
    let mut skipped = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match parse_jwk(entry, policy) {
            Ok(key) => keys.push(Arc::new(key)),
            Err(reason) => skipped.push(SkippedKey {
                index,
                kid: entry.get("kid").and_then(Value::as_str).map(str::to_owned),
                reason,
            }),
        }
    }
    if keys.is_empty() {
        let mut msg = format!(
            "JWKS has no usable signing key ({} present, {} skipped)",
            entries.len(),
            skipped.len()
        );
        if let Some(first) = skipped.first() {
            msg.push_str(&format!("; key {}: {}", first.index, first.reason));
        }
        return Err(Error::new(ErrorKind::NoSigningKeys, msg));
    }
    Ok(KeySet {
        keys,
        skipped,
        json: json.to_owned(),
    })
}

fn b64(obj: &Map<String, Value>, member: &str) -> std::result::Result<Vec<u8>, String> {
    let text = obj
        .get(member)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("member \"{member}\" missing or not a string"))?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| format!("member \"{member}\" is not base64url"))
}

fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    member: &str,
) -> std::result::Result<Option<&'a str>, String> {
    match obj.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("member \"{member}\" is not a string")),
    }
}

fn parse_jwk(entry: &Value, policy: &KeyPolicy) -> std::result::Result<Key, String> {
    let obj = entry.as_object().ok_or("entry is not a JSON object")?;
    let kty = optional_str(obj, "kty")?.ok_or("member \"kty\" missing")?;
    let kid = optional_str(obj, "kid")?.map(str::to_owned);
    let key_use = optional_str(obj, "use")?;
    if let Some(u) = key_use {
        if u != "sig" {
            return Err(format!("use is \"{u}\", not \"sig\""));
        }
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops.as_array().ok_or("key_ops is not an array")?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err("key_ops does not include \"verify\"".into());
        }
    }
    let jwk_alg = match optional_str(obj, "alg")? {
        None => None,
        Some(name) => Some(
            name.parse::<Algorithm>()
                .map_err(|_| format!("alg \"{name}\" is not a supported signature algorithm"))?,
        ),
    };
    if kty != "oct" && PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
        return Err("holds private key material".into());
    }

    // The key's public material in the forms aws-lc-rs and DER callers want.
    let (family, material, spki) = match kty {
        "RSA" => {
            let n = b64(obj, "n")?;
            let e = b64(obj, "e")?;
            let bits = bit_length(&n);
            if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                return Err(format!(
                    "RSA modulus of {bits} bits is outside {RSA_MIN_BITS}..{RSA_MAX_BITS}"
                ));
            }
            let pkcs1 = der::rsa_public_key(&n, &e);
            let spki = der::rsa_spki(&pkcs1);
            (Family::Rsa, pkcs1, spki)
        }
        "EC" => {
            let crv = optional_str(obj, "crv")?.ok_or("member \"crv\" missing")?;
            let (curve, size, oid) = match crv {
                "P-256" => (Curve::P256, 32, der::OID_P256),
                "P-384" => (Curve::P384, 48, der::OID_P384),
                "P-521" => (Curve::P521, 66, der::OID_P521),
                other => return Err(format!("EC curve \"{other}\" is not supported")),
            };
            let x = b64(obj, "x")?;
            let y = b64(obj, "y")?;
            if x.len() != size || y.len() != size {
                return Err(format!("EC coordinates are not {size} bytes for {crv}"));
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let spki = der::ec_spki(oid, &point);
            (Family::Ec(curve), point, spki)
        }
        "OKP" => {
            let crv = optional_str(obj, "crv")?.ok_or("member \"crv\" missing")?;
            if crv != "Ed25519" {
                return Err(format!("OKP curve \"{crv}\" is not supported"));
            }
            let x = b64(obj, "x")?;
            if x.len() != 32 {
                return Err("Ed25519 public key is not 32 bytes".into());
            }
            let spki = der::ed25519_spki(&x);
            (Family::Ed25519, x, spki)
        }
        "oct" => {
            if !policy.allow_oct {
                return Err("symmetric (oct) keys are refused unless enabled".into());
            }
            let k = b64(obj, "k")?;
            (Family::Hmac, k, Vec::new())
        }
        other => return Err(format!("kty \"{other}\" is not supported")),
    };

    let mut verifiers = Vec::new();
    let mut last_rejection = None;
    for alg in policy.allowed.iter().copied() {
        if alg.family() != family || jwk_alg.is_some_and(|a| a != alg) {
            continue;
        }
        match make_verifier(alg, &material) {
            Ok(v) => verifiers.push((alg, v)),
            Err(reason) => last_rejection = Some(reason),
        }
    }
    if verifiers.is_empty() {
        return Err(last_rejection.unwrap_or_else(|| match jwk_alg {
            Some(a) => format!("its alg {a} is not allowed, or does not fit kty {kty}"),
            None => format!("no allowed algorithm fits kty {kty}"),
        }));
    }
    let pem = if spki.is_empty() {
        String::new()
    } else {
        der::spki_pem(&spki)
    };
    Ok(Key {
        kid,
        alg: jwk_alg,
        kty: kty.to_owned(),
        key_use: key_use.map(str::to_owned),
        jwk_json: entry.to_string(),
        spki_der: spki,
        pem,
        verifiers,
    })
}

fn bit_length(magnitude: &[u8]) -> usize {
    let start = magnitude.iter().take_while(|b| **b == 0).count();
    match magnitude.get(start) {
        None => 0,
        Some(first) => (magnitude.len() - start) * 8 - first.leading_zeros() as usize,
    }
}

fn make_verifier(alg: Algorithm, material: &[u8]) -> std::result::Result<Verifier, String> {
    let public: &'static dyn signature::VerificationAlgorithm = match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            let (hmac_alg, min) = match alg {
                Algorithm::HS256 => (hmac::HMAC_SHA256, 32),
                Algorithm::HS384 => (hmac::HMAC_SHA384, 48),
                _ => (hmac::HMAC_SHA512, 64),
            };
            // RFC 7518 §3.2: the key must be at least as long as the hash output.
            if material.len() < min {
                return Err(format!(
                    "oct key is shorter than {min} bytes, too short for {alg}"
                ));
            }
            return Ok(Verifier::Hmac(Box::new(hmac::Key::new(hmac_alg, material))));
        }
    };
    ParsedPublicKey::new(public, material)
        .map(Verifier::Public)
        .map_err(|e| format!("public key rejected by the crypto library for {alg}: {e}"))
}
