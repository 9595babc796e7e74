//! Test signing keys (generated with aws-lc-rs) and token minting.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Value};

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

/// A key that signs tokens, with its public JWK.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub alg: &'static str,
    pub jwk: Value,
    signer: Arc<Signer>,
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl TestKey {
    pub fn rsa(kid: &str, alg: &'static str) -> TestKey {
        Self::rsa_sized(kid, alg, KeySize::Rsa2048)
    }

    pub fn rsa_sized(kid: &str, alg: &'static str, size: KeySize) -> TestKey {
        let kp = RsaKeyPair::generate(size).expect("RSA keygen");
        let public = kp.public_key();
        let jwk = json!({
            "kty": "RSA", "kid": kid, "use": "sig", "alg": alg,
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        });
        TestKey {
            kid: kid.into(),
            alg,
            jwk,
            signer: Arc::new(Signer::Rsa(kp)),
        }
    }

    pub fn ec(kid: &str, alg: &'static str) -> TestKey {
        let (signing, crv, size): (&'static signature::EcdsaSigningAlgorithm, _, _) = match alg {
            "ES256" => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
            "ES384" => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
            "ES512" => (&signature::ECDSA_P521_SHA512_FIXED_SIGNING, "P-521", 66),
            other => panic!("no EC alg {other}"),
        };
        let kp = EcdsaKeyPair::generate(signing).expect("EC keygen");
        let point = kp.public_key().as_ref().to_vec();
        assert_eq!(point.len(), 1 + 2 * size);
        let jwk = json!({
            "kty": "EC", "kid": kid, "crv": crv, "alg": alg,
            "x": b64(&point[1..1 + size]), "y": b64(&point[1 + size..]),
        });
        TestKey {
            kid: kid.into(),
            alg,
            jwk,
            signer: Arc::new(Signer::Ec(kp)),
        }
    }

    pub fn ed25519(kid: &str) -> TestKey {
        let kp = Ed25519KeyPair::generate().expect("Ed25519 keygen");
        let jwk = json!({
            "kty": "OKP", "kid": kid, "crv": "Ed25519", "alg": "EdDSA",
            "x": b64(kp.public_key().as_ref()),
        });
        TestKey {
            kid: kid.into(),
            alg: "EdDSA",
            jwk,
            signer: Arc::new(Signer::Ed(kp)),
        }
    }

    pub fn hmac(kid: &str, alg: &'static str, secret: &[u8]) -> TestKey {
        let jwk = json!({ "kty": "oct", "kid": kid, "alg": alg, "k": b64(secret) });
        TestKey {
            kid: kid.into(),
            alg,
            jwk,
            signer: Arc::new(Signer::Hmac(secret.to_vec())),
        }
    }

    /// The public key in the form aws-lc-rs verifies with (PKCS#1 DER for RSA, the uncompressed
    /// point for EC, the raw key for Ed25519), for baselines.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        match &*self.signer {
            Signer::Rsa(kp) => kp.public_key().as_ref().to_vec(),
            Signer::Ec(kp) => kp.public_key().as_ref().to_vec(),
            Signer::Ed(kp) => kp.public_key().as_ref().to_vec(),
            Signer::Hmac(secret) => secret.clone(),
        }
    }

    /// The JWK with its `alg` member removed.
    pub fn without_alg(mut self) -> TestKey {
        self.jwk.as_object_mut().unwrap().remove("alg");
        self
    }

    /// Signs `header.claims` with this key using `alg` (which need not be the key's own).
    pub fn sign_with(&self, alg: &str, header: &Value, claims: &Value) -> String {
        self.sign_raw(
            alg,
            header.to_string().as_bytes(),
            claims.to_string().as_bytes(),
        )
    }

    /// Signs a header and payload given as bytes (which need not be valid JSON) with `alg`.
    pub fn sign_raw(&self, alg: &str, header: &[u8], payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let rng = SystemRandom::new();
        let sig = match &*self.signer {
            Signer::Rsa(kp) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    other => panic!("RSA cannot sign {other}"),
                };
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(padding, &rng, input.as_bytes(), &mut sig).unwrap();
                sig
            }
            Signer::Ec(kp) => kp.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            Signer::Ed(kp) => kp.sign(input.as_bytes()).as_ref().to_vec(),
            Signer::Hmac(secret) => {
                use aws_lc_rs::hmac;
                let a = match alg {
                    "HS256" => hmac::HMAC_SHA256,
                    "HS384" => hmac::HMAC_SHA384,
                    _ => hmac::HMAC_SHA512,
                };
                hmac::sign(&hmac::Key::new(a, secret), input.as_bytes())
                    .as_ref()
                    .to_vec()
            }
        };
        format!("{input}.{}", b64(&sig))
    }

    /// The standard header for this key: alg, kid, typ JWT.
    pub fn header(&self) -> Value {
        json!({ "alg": self.alg, "kid": self.kid, "typ": "JWT" })
    }

    /// Issue 22's defect: a token with `aud` and a valid `exp`, whose other claims include a
    /// number beyond an f64's range (which the old JSON reader accepted and serde_json
    /// refuses) beside `"role":"admin"`, signed as written.
    pub fn out_of_range_token(&self, aud: &str) -> String {
        let payload = format!(
            r#"{{"sub":"user-1","aud":"{aud}","exp":{},"role":"admin","note":1.7976931348623158e308}}"#,
            now() + 3600
        );
        self.sign_raw(
            self.alg,
            self.header().to_string().as_bytes(),
            payload.as_bytes(),
        )
    }

    /// A token with these claims and the standard header.
    pub fn token(&self, claims: &Value) -> String {
        self.sign_with(self.alg, &self.header(), claims)
    }
}

/// Claims valid for an hour from now, with no audience (tests that check aud add one).
pub fn claims() -> Value {
    json!({ "sub": "user-1", "iss": "https://issuer.test", "iat": now(), "exp": now() + 3600 })
}

/// A JWK Set document holding these keys' public JWKs.
pub fn jwks(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string()
}
