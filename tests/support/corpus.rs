//! The differential corpus of tokens (45 cases): what RFC 7515, RFC 7519, RFC 8725 and RFC 6750
//! call right for each, run through the Envoy module beside jwt_authn, and through nginx
//! against the library's own outcome for each token.
#![allow(dead_code)]

use serde_json::{json, Value};

use super::keys::{b64, now, TestKey};

impl DiffKeys {
    /// The keys of the corpus: RSA, PS, EC P-256 and P-384, Ed25519, and an RSA key published
    /// for encryption.
    pub fn new() -> DiffKeys {
        let mut enc = TestKey::rsa("enc", "RS256");
        enc.jwk["use"] = json!("enc");
        DiffKeys {
            rsa: TestKey::rsa("rsa", "RS256"),
            ps: TestKey::rsa("ps", "PS256"),
            ec: TestKey::ec("ec", "ES256"),
            ec384: TestKey::ec("ec384", "ES384"),
            ed: TestKey::ed25519("ed"),
            enc,
        }
    }

    pub fn all(&self) -> [&TestKey; 6] {
        [
            &self.rsa,
            &self.ps,
            &self.ec,
            &self.ec384,
            &self.ed,
            &self.enc,
        ]
    }
}

/// What RFC 7515, RFC 7519, RFC 8725 (and RFC 6750 for the header) call right for a case.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    Accept,
    Reject,
    /// The RFCs allow either answer; the flag is libjwks's choice (true: accept).
    Either(bool),
}

pub struct Case {
    pub name: &'static str,
    pub path: String,
    pub authorization: Option<String>,
    pub verdict: Verdict,
    pub why: &'static str,
}

/// An ECDSA signature r||s as DER (what RFC 7518 3.4 forbids in a JWS).
fn ecdsa_der(raw: &[u8]) -> Vec<u8> {
    let int = |b: &[u8]| {
        let mut v: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
        if v.first().is_none_or(|x| x & 0x80 != 0) {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let (r, s) = raw.split_at(raw.len() / 2);
    let body = [int(r), int(s)].concat();
    let mut der = vec![0x30, body.len() as u8];
    der.extend(body);
    der
}

/// The differential corpus: each case through this filter and through Envoy's jwt_authn, on
/// the same JWKS, issuer and audience.
pub fn corpus(k: &DiffKeys) -> Vec<Case> {
    let iss = "https://issuer.test";
    let base = json!({"sub": "u", "iss": iss, "aud": "api", "iat": now(), "exp": now() + 3600});
    let with = |changes: Value| {
        let mut c = base.clone();
        for (key, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(key);
            } else {
                c[key] = v.clone();
            }
        }
        c
    };
    let hdr = |key: &TestKey, extra: Value| {
        let mut h = key.header();
        for (n, v) in extra.as_object().unwrap() {
            h[n] = v.clone();
        }
        h
    };
    let signed = |key: &TestKey, claims: &Value| key.token(claims);
    let bearer_of = |t: &str| Some(format!("Bearer {t}"));
    let case = |name, token: String, verdict, why| Case {
        name,
        path: "/api/x".into(),
        authorization: bearer_of(&token),
        verdict,
        why,
    };
    let good = signed(&k.rsa, &base);
    let parts: Vec<&str> = good.split('.').collect();
    let mut tampered_payload = with(json!({"sub": "admin"}));
    tampered_payload["iat"] = base["iat"].clone();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(tampered_payload.to_string().as_bytes()),
        parts[2]
    );
    let impostor = TestKey::rsa("rsa", "RS256");
    let hs = TestKey::hmac("rsa", "HS256", &k.rsa.public_key_bytes());
    let ec_raw = signed(&k.ec, &base);
    let ec_parts: Vec<&str> = ec_raw.split('.').collect();
    let ec_sig = base64_decode(ec_parts[2]);
    let ec_der = format!(
        "{}.{}.{}",
        ec_parts[0],
        ec_parts[1],
        b64(&ecdsa_der(&ec_sig))
    );
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(base.to_string().as_bytes())
    );
    let header_json = hdr(&k.rsa, json!({})).to_string();
    let dup_alg = header_json.replacen('{', r#"{"alg":"HS256","#, 1);
    let claims_json = base.to_string();
    let dup_exp = claims_json.replacen('{', &format!(r#"{{"exp":{},"#, now() - 7200), 1);
    let padded = format!("{}=.{}=.{}", parts[0], parts[1], parts[2]);
    let json_serialization = json!({
        "protected": parts[0], "payload": parts[1], "signature": parts[2]
    })
    .to_string();
    use Verdict::*;
    vec![
        case("RS256", good.clone(), Accept, "RFC 7518 3.3"),
        case("PS256", signed(&k.ps, &base), Accept, "RFC 7518 3.5"),
        case("ES256", ec_raw.clone(), Accept, "RFC 7518 3.4"),
        case("ES384", signed(&k.ec384, &base), Accept, "RFC 7518 3.4"),
        case("EdDSA", signed(&k.ed, &base), Accept, "RFC 8037 3.1"),
        case(
            "aud an array holding the audience",
            signed(&k.rsa, &with(json!({"aud": ["other", "api"]}))),
            Accept,
            "RFC 7519 4.1.3",
        ),
        case(
            "typ at+jwt",
            k.rsa
                .sign_with("RS256", &hdr(&k.rsa, json!({"typ": "at+jwt"})), &base),
            Accept,
            "RFC 7519 5.1: typ is informational unless the application asks for one",
        ),
        case(
            "iat an hour ahead",
            signed(&k.rsa, &with(json!({"iat": now() + 3600}))),
            Accept,
            "RFC 7519 4.1.6: iat is informational",
        ),
        case(
            "expired 30 s ago (within the 60 s skew)",
            signed(&k.rsa, &with(json!({"exp": now() - 30}))),
            Accept,
            "RFC 7519 4.1.4 allows a small leeway",
        ),
        case(
            "nbf 30 s ahead (within the 60 s skew)",
            signed(&k.rsa, &with(json!({"nbf": now() + 30}))),
            Accept,
            "RFC 7519 4.1.5 allows a small leeway",
        ),
        case(
            "expired 2 h ago",
            signed(&k.rsa, &with(json!({"exp": now() - 7200}))),
            Reject,
            "RFC 7519 4.1.4",
        ),
        case(
            "nbf 2 h ahead",
            signed(&k.rsa, &with(json!({"nbf": now() + 7200}))),
            Reject,
            "RFC 7519 4.1.5",
        ),
        case(
            "another audience",
            signed(&k.rsa, &with(json!({"aud": "other"}))),
            Reject,
            "RFC 7519 4.1.3",
        ),
        case(
            "no aud",
            signed(&k.rsa, &with(json!({"aud": null}))),
            Reject,
            "RFC 8725 3.9: the audience must be validated",
        ),
        case(
            "another issuer",
            signed(&k.rsa, &with(json!({"iss": "https://evil.test"}))),
            Reject,
            "RFC 8725 3.8",
        ),
        case(
            "no iss",
            signed(&k.rsa, &with(json!({"iss": null}))),
            Reject,
            "RFC 8725 3.8: the issuer must be validated",
        ),
        case(
            "no exp",
            signed(&k.rsa, &with(json!({"exp": null}))),
            Either(false),
            "RFC 7519 4.1.4 makes exp optional; libjwks requires it (a token that never expires)",
        ),
        case(
            "exp a string",
            signed(&k.rsa, &with(json!({"exp": (now() + 3600).to_string()}))),
            Reject,
            "RFC 7519 2: NumericDate is a JSON number",
        ),
        case(
            "payload changed after signing",
            tampered,
            Reject,
            "RFC 7515 5.2",
        ),
        case(
            "signed by another key with the same kid",
            signed(&impostor, &base),
            Reject,
            "RFC 7515 5.2",
        ),
        case(
            "unknown kid",
            signed(&TestKey::rsa("nobody", "RS256"), &base),
            Reject,
            "RFC 7515 5.2: no key validates it",
        ),
        case(
            "no kid, six keys in the set",
            k.rsa
                .sign_with("RS256", &json!({"alg": "RS256", "typ": "JWT"}), &base),
            Either(false),
            "RFC 7515 4.1.4 makes kid optional; libjwks does not try every key",
        ),
        case("alg none", none, Reject, "RFC 8725 3.1, RFC 7518 3.6"),
        case(
            "HS256 keyed with the RSA public key",
            hs.sign_with("HS256", &json!({"alg": "HS256", "kid": "rsa"}), &base),
            Reject,
            "RFC 8725 2.1, 3.1: algorithm confusion",
        ),
        case(
            "RS256 header naming the EC key",
            k.rsa
                .sign_with("RS256", &json!({"alg": "RS256", "kid": "ec"}), &base),
            Reject,
            "RFC 8725 3.1: the key's type must fit the algorithm",
        ),
        case(
            "ES384 header naming the ES256 key",
            k.ec384
                .sign_with("ES384", &json!({"alg": "ES384", "kid": "ec"}), &base),
            Reject,
            "RFC 7517 4.4: the key's alg",
        ),
        case(
            "a key published for encryption (use enc)",
            signed(&k.enc, &base),
            Reject,
            "RFC 7517 4.2",
        ),
        case(
            "crit naming an unknown extension",
            k.rsa.sign_with(
                "RS256",
                &hdr(&k.rsa, json!({"crit": ["exp-ext"], "exp-ext": 1})),
                &base,
            ),
            Reject,
            "RFC 7515 4.1.11",
        ),
        case(
            "b64 false (RFC 7797) in crit",
            k.rsa.sign_with(
                "RS256",
                &hdr(&k.rsa, json!({"crit": ["b64"], "b64": false})),
                &base,
            ),
            Reject,
            "RFC 7515 4.1.11, RFC 7797 6: JWTs never use it",
        ),
        case(
            "crit not an array",
            k.rsa
                .sign_with("RS256", &hdr(&k.rsa, json!({"crit": "b64"})), &base),
            Reject,
            "RFC 7515 4.1.11",
        ),
        case(
            "two segments",
            format!("{}.{}", parts[0], parts[1]),
            Reject,
            "RFC 7515 7.1",
        ),
        case(
            "four segments",
            format!("{good}.{}", parts[2]),
            Reject,
            "RFC 7515 7.1",
        ),
        case(
            "empty signature",
            format!("{}.{}.", parts[0], parts[1]),
            Reject,
            "RFC 7515 5.2",
        ),
        case(
            "padded base64url",
            padded,
            Reject,
            "RFC 7515 2: base64url without padding",
        ),
        case(
            "payload not JSON",
            k.rsa.sign_raw("RS256", header_json.as_bytes(), b"not json"),
            Reject,
            "RFC 7519 7.2",
        ),
        case(
            "payload a JSON array",
            k.rsa.sign_raw("RS256", header_json.as_bytes(), b"[1,2]"),
            Reject,
            "RFC 7519 4: the claims are a JSON object",
        ),
        case(
            "header not JSON",
            k.rsa
                .sign_raw("RS256", b"{alg: RS256}", claims_json.as_bytes()),
            Reject,
            "RFC 7515 5.2",
        ),
        case(
            "alg twice in the header (HS256, then RS256)",
            k.rsa
                .sign_raw("RS256", dup_alg.as_bytes(), claims_json.as_bytes()),
            Either(false),
            "RFC 7515 4: reject, or take the last; libjwks rejects",
        ),
        case(
            "exp twice (expired, then valid)",
            k.rsa
                .sign_raw("RS256", header_json.as_bytes(), dup_exp.as_bytes()),
            Either(false),
            "RFC 7519 4: reject, or take the last; libjwks rejects",
        ),
        case(
            "ES256 signature in DER",
            ec_der,
            Reject,
            "RFC 7518 3.4: R || S, 64 bytes",
        ),
        case(
            "JWS JSON serialization",
            json_serialization,
            Reject,
            "RFC 7519 1: JWTs use the compact serialization",
        ),
        Case {
            name: "scheme in lower case (bearer)",
            path: "/api/x".into(),
            authorization: Some(format!("bearer {good}")),
            verdict: Accept,
            why: "RFC 7235 2.1: the scheme is case-insensitive",
        },
        Case {
            name: "two spaces after Bearer",
            path: "/api/x".into(),
            authorization: Some(format!("Bearer  {good}")),
            verdict: Accept,
            why: "RFC 6750 2.1: \"Bearer\" 1*SP b64token",
        },
        Case {
            name: "token in the access_token query parameter",
            path: format!("/api/x?access_token={good}"),
            authorization: None,
            verdict: Either(false),
            why: "RFC 6750 2.3 allows it, 5.3 advises against; libjwks reads headers only",
        },
        Case {
            name: "no token",
            path: "/api/x".into(),
            authorization: None,
            verdict: Reject,
            why: "RFC 6750 3.1",
        },
    ]
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

pub struct DiffKeys {
    pub rsa: TestKey,
    pub ps: TestKey,
    pub ec: TestKey,
    pub ec384: TestKey,
    pub ed: TestKey,
    pub enc: TestKey,
}
