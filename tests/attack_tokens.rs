//! Attack tokens, as a table: each is refused with its own error kind by a client that trusts
//! a JWKS on 127.0.0.1 (RS256, PS256, ES256, ES384 and EdDSA keys), and none is ever accepted.
//! The cases come from the hardening probe (issue 16): structure, algorithms, keys, signatures,
//! claims and critical headers. After the table the client still verifies a good token.

mod support;

use jwks::{Client, ClientOptions, ErrorKind};
use serde_json::{json, Value};
use support::keys::{b64, jwks, now, TestKey};
use support::server::TestServer;

const ISS: &str = "https://issuer.test";

struct Keys {
    rs: TestKey,
    ps: TestKey,
    ec: TestKey,
    ec384: TestKey,
    ed: TestKey,
}

fn base() -> Value {
    json!({"sub": "u", "iss": ISS, "aud": "api", "iat": now(), "exp": now() + 3600})
}

fn with(changes: Value) -> Value {
    let mut c = base();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn header(key: &TestKey, extra: Value) -> Value {
    let mut h = key.header();
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            h.as_object_mut().unwrap().remove(k);
        } else {
            h[k] = v.clone();
        }
    }
    h
}

/// A token's segments, with one replaced.
fn replace_segment(token: &str, i: usize, segment: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[i] = segment;
    parts.join(".")
}

fn signature(token: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.rsplit('.').next().unwrap())
        .unwrap()
}

fn cases(k: &Keys) -> Vec<(&'static str, String, ErrorKind)> {
    use ErrorKind::*;
    let good = k.rs.token(&base());
    let p: Vec<String> = good.split('.').map(str::to_owned).collect();
    let raw = |h: &[u8], c: &[u8]| k.rs.sign_raw("RS256", h, c);
    let rs_header = header(&k.rs, json!({})).to_string();
    let claims = base().to_string();
    let es = k.ec.token(&base());
    let es_sig = signature(&es);
    let ed = k.ed.token(&base());
    let attacker = TestKey::rsa("rs", "RS256");
    let mut t: Vec<(&'static str, String, ErrorKind)> = vec![
        // Structure.
        ("empty", String::new(), MalformedToken),
        ("one dot", ".".into(), MalformedToken),
        ("two dots", "..".into(), MalformedToken),
        ("one segment", p[0].clone(), MalformedToken),
        ("two segments", format!("{}.{}", p[0], p[1]), MalformedToken),
        ("four segments", format!("{good}.{}", p[2]), MalformedToken),
        (
            "five segments (JWE shape)",
            format!("{good}.x.y"),
            MalformedToken,
        ),
        (
            "empty header",
            replace_segment(&good, 0, ""),
            MalformedToken,
        ),
        (
            "empty payload",
            replace_segment(&good, 1, ""),
            MalformedToken,
        ),
        (
            "empty signature",
            replace_segment(&good, 2, ""),
            BadSignature,
        ),
        (
            "padded header",
            replace_segment(&good, 0, &format!("{}=", p[0])),
            MalformedToken,
        ),
        (
            "standard base64 in the signature",
            replace_segment(&good, 2, "ab+/"),
            MalformedToken,
        ),
        ("space inside", good.replacen('.', ". ", 1), MalformedToken),
        (
            "non-ASCII inside",
            format!("{}é.{}.{}", p[0], p[1], p[2]),
            MalformedToken,
        ),
        (
            "NUL inside",
            format!("{}\0.{}.{}", p[0], p[1], p[2]),
            MalformedToken,
        ),
        ("leading dot", format!(".{good}"), MalformedToken),
        ("trailing dot", format!("{good}."), MalformedToken),
        (
            "header not JSON",
            raw(b"{alg:RS256}", claims.as_bytes()),
            MalformedToken,
        ),
        (
            "header a JSON array",
            raw(b"[\"RS256\"]", claims.as_bytes()),
            MalformedToken,
        ),
        (
            "header a JSON string",
            raw(b"\"RS256\"", claims.as_bytes()),
            MalformedToken,
        ),
        (
            "header null",
            raw(b"null", claims.as_bytes()),
            MalformedToken,
        ),
        (
            "header not UTF-8",
            raw(b"{\"alg\":\"RS256\xff\"}", claims.as_bytes()),
            MalformedToken,
        ),
        (
            "payload not JSON",
            raw(rs_header.as_bytes(), b"sub=u"),
            MalformedToken,
        ),
        (
            "payload a JSON array",
            raw(rs_header.as_bytes(), b"[]"),
            MalformedToken,
        ),
        (
            "payload a number",
            raw(rs_header.as_bytes(), b"42"),
            MalformedToken,
        ),
        (
            "payload null",
            raw(rs_header.as_bytes(), b"null"),
            MalformedToken,
        ),
        (
            "payload not UTF-8",
            raw(rs_header.as_bytes(), b"{\"sub\":\"\xff\"}"),
            MalformedToken,
        ),
        (
            "payload nested 10,000 deep",
            raw(
                rs_header.as_bytes(),
                format!("{{\"a\":{}", "[".repeat(10_000)).as_bytes(),
            ),
            MalformedToken,
        ),
        (
            "alg twice in the header",
            raw(
                rs_header.replacen('{', "{\"alg\":\"HS256\",", 1).as_bytes(),
                claims.as_bytes(),
            ),
            MalformedToken,
        ),
        (
            "exp twice in the payload",
            raw(
                rs_header.as_bytes(),
                claims.replacen('{', "{\"exp\":1,", 1).as_bytes(),
            ),
            MalformedToken,
        ),
        (
            "no alg",
            k.rs.sign_with("RS256", &header(&k.rs, json!({"alg": null})), &base()),
            MalformedToken,
        ),
        (
            "alg a number",
            k.rs.sign_with("RS256", &header(&k.rs, json!({"alg": 256})), &base()),
            MalformedToken,
        ),
        (
            "kid a number",
            k.rs.sign_with("RS256", &header(&k.rs, json!({"kid": 1})), &base()),
            MalformedToken,
        ),
        (
            "typ a number",
            k.rs.sign_with("RS256", &header(&k.rs, json!({"typ": 1})), &base()),
            MalformedToken,
        ),
        (
            "exp a string",
            k.rs.token(&with(json!({"exp": (now() + 3600).to_string()}))),
            MalformedToken,
        ),
        (
            "exp a boolean",
            k.rs.token(&with(json!({"exp": true}))),
            MalformedToken,
        ),
        (
            "exp an array",
            k.rs.token(&with(json!({"exp": [now() + 3600]}))),
            MalformedToken,
        ),
        (
            "nbf a string",
            k.rs.token(&with(json!({"nbf": "0"}))),
            MalformedToken,
        ),
        (
            "iat a string",
            k.rs.token(&with(json!({"iat": "abc"}))),
            MalformedToken,
        ),
        (
            "aud a number",
            k.rs.token(&with(json!({"aud": 1}))),
            MalformedToken,
        ),
        (
            "aud an array of numbers",
            k.rs.token(&with(json!({"aud": [1, 2]}))),
            MalformedToken,
        ),
        (
            "iss a number",
            k.rs.token(&with(json!({"iss": 1}))),
            MalformedToken,
        ),
        (
            "signature not base64url",
            replace_segment(&good, 2, "!!!!"),
            MalformedToken,
        ),
        (
            "a megabyte",
            format!("{}.{}.{}", p[0], "A".repeat(1 << 20), p[2]),
            TokenTooLarge,
        ),
        // Algorithms.
        (
            "alg none",
            format!("{}.{}.", b64(br#"{"alg":"none","kid":"rs"}"#), p[1]),
            AlgorithmNotAllowed,
        ),
        (
            "alg None",
            format!("{}.{}.", b64(br#"{"alg":"None","kid":"rs"}"#), p[1]),
            AlgorithmNotAllowed,
        ),
        (
            "alg NONE",
            format!("{}.{}.", b64(br#"{"alg":"NONE","kid":"rs"}"#), p[1]),
            AlgorithmNotAllowed,
        ),
        (
            "alg rs256 (lower case)",
            k.rs.sign_with("RS256", &header(&k.rs, json!({"alg": "rs256"})), &base()),
            UnsupportedAlgorithm,
        ),
        (
            "alg RS1",
            k.rs.sign_with("RS256", &header(&k.rs, json!({"alg": "RS1"})), &base()),
            UnsupportedAlgorithm,
        ),
        (
            "alg ES256K",
            k.rs.sign_with("RS256", &header(&k.rs, json!({"alg": "ES256K"})), &base()),
            UnsupportedAlgorithm,
        ),
        (
            "alg with a trailing NUL",
            k.rs.sign_with(
                "RS256",
                &header(&k.rs, json!({"alg": "RS256\u{0}"})),
                &base(),
            ),
            UnsupportedAlgorithm,
        ),
        (
            "HS256 keyed with the RSA public key",
            TestKey::hmac("rs", "HS256", &k.rs.public_key_bytes()).sign_with(
                "HS256",
                &json!({"alg": "HS256", "kid": "rs"}),
                &base(),
            ),
            AlgorithmNotAllowed,
        ),
        (
            "HS512 keyed with the JWK's n",
            TestKey::hmac("rs", "HS512", k.rs.jwk["n"].as_str().unwrap().as_bytes()).sign_with(
                "HS512",
                &json!({"alg": "HS512", "kid": "rs"}),
                &base(),
            ),
            AlgorithmNotAllowed,
        ),
        (
            "PS256 naming the RS256 key",
            k.rs.sign_with("PS256", &header(&k.rs, json!({"alg": "PS256"})), &base()),
            AlgorithmNotAllowed,
        ),
        (
            "RS256 naming the PS256 key",
            k.ps.sign_with("RS256", &header(&k.ps, json!({"alg": "RS256"})), &base()),
            AlgorithmNotAllowed,
        ),
        (
            "RS256 naming the EC key",
            k.rs.sign_with("RS256", &json!({"alg": "RS256", "kid": "ec"}), &base()),
            AlgorithmNotAllowed,
        ),
        (
            "ES384 naming the P-256 key",
            k.ec384
                .sign_with("ES384", &json!({"alg": "ES384", "kid": "ec"}), &base()),
            AlgorithmNotAllowed,
        ),
        (
            "EdDSA naming the RSA key",
            k.ed.sign_with("EdDSA", &json!({"alg": "EdDSA", "kid": "rs"}), &base()),
            AlgorithmNotAllowed,
        ),
        // Keys.
        (
            "unknown kid",
            TestKey::rsa("nobody", "RS256").token(&base()),
            KeyNotFound,
        ),
        (
            "empty kid",
            k.rs.sign_with("RS256", &header(&k.rs, json!({"kid": ""})), &base()),
            KeyNotFound,
        ),
        (
            "kid ../../etc/passwd",
            k.rs.sign_with(
                "RS256",
                &header(&k.rs, json!({"kid": "../../etc/passwd"})),
                &base(),
            ),
            KeyNotFound,
        ),
        (
            "kid 10,000 bytes",
            k.rs.sign_with(
                "RS256",
                &header(&k.rs, json!({"kid": "k".repeat(10_000)})),
                &base(),
            ),
            KeyNotFound,
        ),
        (
            "kid with a NUL",
            k.rs.sign_with("RS256", &header(&k.rs, json!({"kid": "rs\u{0}"})), &base()),
            KeyNotFound,
        ),
        (
            "no kid",
            k.rs.sign_with("RS256", &header(&k.rs, json!({"kid": null})), &base()),
            MissingKid,
        ),
        (
            "the attacker's key embedded as jwk",
            attacker.sign_with(
                "RS256",
                &header(&k.rs, json!({"jwk": attacker.jwk})),
                &base(),
            ),
            BadSignature,
        ),
        (
            "the attacker's key set named by jku",
            attacker.sign_with(
                "RS256",
                &header(&k.rs, json!({"jku": "http://127.0.0.1:1/jwks"})),
                &base(),
            ),
            BadSignature,
        ),
        (
            "the attacker's certificate named by x5u",
            attacker.sign_with(
                "RS256",
                &header(&k.rs, json!({"x5u": "http://127.0.0.1:1/cert"})),
                &base(),
            ),
            BadSignature,
        ),
        // Signatures.
        (
            "payload changed after signing",
            replace_segment(
                &good,
                1,
                &b64(with(json!({"sub": "admin"})).to_string().as_bytes()),
            ),
            BadSignature,
        ),
        (
            "header changed after signing",
            replace_segment(
                &good,
                0,
                &b64(header(&k.rs, json!({"typ": "at+jwt"}))
                    .to_string()
                    .as_bytes()),
            ),
            BadSignature,
        ),
        (
            "signed by another key under the same kid",
            attacker.token(&base()),
            BadSignature,
        ),
        (
            "RSA signature cut short",
            replace_segment(&good, 2, &b64(&signature(&good)[..255])),
            BadSignature,
        ),
        (
            "RSA signature one byte long",
            replace_segment(&good, 2, &b64(&[signature(&good), vec![0]].concat())),
            BadSignature,
        ),
        (
            "RSA signature all zeros",
            replace_segment(&good, 2, &b64(&[0u8; 256])),
            BadSignature,
        ),
        (
            "RSA signature all ones",
            replace_segment(&good, 2, &b64(&[0xffu8; 256])),
            BadSignature,
        ),
        (
            "RSA signature of another token",
            replace_segment(
                &good,
                2,
                &b64(&signature(&k.rs.token(&with(json!({"sub": "v"}))))),
            ),
            BadSignature,
        ),
        (
            "ECDSA r and s zero",
            replace_segment(&es, 2, &b64(&[0u8; 64])),
            BadSignature,
        ),
        (
            "ECDSA 63 bytes",
            replace_segment(&es, 2, &b64(&es_sig[..63])),
            BadSignature,
        ),
        (
            "ECDSA 65 bytes",
            replace_segment(&es, 2, &b64(&[es_sig.clone(), vec![1]].concat())),
            BadSignature,
        ),
        (
            "ECDSA r and s swapped",
            replace_segment(&es, 2, &b64(&[&es_sig[32..], &es_sig[..32]].concat())),
            BadSignature,
        ),
        (
            "Ed25519 signature all zeros",
            replace_segment(&ed, 2, &b64(&[0u8; 64])),
            BadSignature,
        ),
        (
            "Ed25519 signature with S past the group order",
            replace_segment(
                &ed,
                2,
                &b64(&[&signature(&ed)[..32], &[0xffu8; 32][..]].concat()),
            ),
            BadSignature,
        ),
        (
            "Ed25519 signature cut short",
            replace_segment(&ed, 2, &b64(&signature(&ed)[..63])),
            BadSignature,
        ),
        // Claims.
        (
            "expired an hour ago",
            k.rs.token(&with(json!({"exp": now() - 3600}))),
            Expired,
        ),
        (
            "expired past the leeway",
            k.rs.token(&with(json!({"exp": now() - 120}))),
            Expired,
        ),
        ("exp zero", k.rs.token(&with(json!({"exp": 0}))), Expired),
        (
            "exp negative",
            k.rs.token(&with(json!({"exp": -1}))),
            Expired,
        ),
        (
            "not valid for an hour",
            k.rs.token(&with(json!({"nbf": now() + 3600}))),
            NotYetValid,
        ),
        (
            "no exp",
            k.rs.token(&with(json!({"exp": null}))),
            MissingClaim,
        ),
        (
            "another audience",
            k.rs.token(&with(json!({"aud": "other"}))),
            WrongAudience,
        ),
        (
            "audiences none of which is ours",
            k.rs.token(&with(json!({"aud": ["a", "b"]}))),
            WrongAudience,
        ),
        (
            "empty audience list",
            k.rs.token(&with(json!({"aud": []}))),
            WrongAudience,
        ),
        (
            "no aud",
            k.rs.token(&with(json!({"aud": null}))),
            MissingClaim,
        ),
        (
            "another issuer",
            k.rs.token(&with(json!({"iss": "https://evil.test"}))),
            WrongIssuer,
        ),
        (
            "issuer with a trailing slash",
            k.rs.token(&with(json!({"iss": format!("{ISS}/")}))),
            WrongIssuer,
        ),
        (
            "no iss",
            k.rs.token(&with(json!({"iss": null}))),
            MissingClaim,
        ),
        // Critical headers (RFC 7515 4.1.11).
        (
            "crit naming an unknown extension",
            k.rs.sign_with(
                "RS256",
                &header(&k.rs, json!({"crit": ["x"], "x": 1})),
                &base(),
            ),
            UnsupportedCritical,
        ),
        (
            "crit b64",
            k.rs.sign_with(
                "RS256",
                &header(&k.rs, json!({"crit": ["b64"], "b64": false})),
                &base(),
            ),
            UnsupportedCritical,
        ),
        (
            "crit empty",
            k.rs.sign_with("RS256", &header(&k.rs, json!({"crit": []})), &base()),
            UnsupportedCritical,
        ),
        (
            "crit not an array",
            k.rs.sign_with("RS256", &header(&k.rs, json!({"crit": "x"})), &base()),
            UnsupportedCritical,
        ),
        (
            "crit naming a registered header",
            k.rs.sign_with("RS256", &header(&k.rs, json!({"crit": ["alg"]})), &base()),
            UnsupportedCritical,
        ),
    ];
    // The same token signed by each algorithm, with the signature of another algorithm's key.
    for (name, donor) in [
        ("RS256 token, PS256 key's signature", &k.ps),
        ("RS256 token, ES256 key's signature", &k.ec),
    ] {
        let other = donor.token(&base());
        t.push((
            name,
            replace_segment(&good, 2, other.rsplit('.').next().unwrap()),
            BadSignature,
        ));
    }
    t
}

#[test]
fn every_attack_token_is_refused_with_its_own_error() {
    let k = Keys {
        rs: TestKey::rsa("rs", "RS256"),
        ps: TestKey::rsa("ps", "PS256"),
        ec: TestKey::ec("ec", "ES256"),
        ec384: TestKey::ec("ec384", "ES384"),
        ed: TestKey::ed25519("ed"),
    };
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&k.rs, &k.ps, &k.ec, &k.ec384, &k.ed]));
    let mut o = ClientOptions::new(server.url("/jwks"));
    o.validation.audience = vec!["api".into()];
    o.validation.issuer = Some(ISS.into());
    let client = Client::new(o).unwrap();
    client.warm_up().unwrap();

    let table = cases(&k);
    assert!(table.len() >= 89, "{} cases", table.len());
    let mut wrong = Vec::new();
    for (name, token, expected) in &table {
        match client.verify(token) {
            Ok(_) => wrong.push(format!("{name}: ACCEPTED")),
            Err(e) if e.kind() != *expected => wrong.push(format!(
                "{name}: {:?} ({}), expected {expected:?}",
                e.kind(),
                e.message()
            )),
            Err(_) => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cases went wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Unknown kids cost at most one refetch in the interval, and the good keys still verify.
    assert!(
        server.hits("/jwks") <= 2,
        "{} fetches",
        server.hits("/jwks")
    );
    client
        .verify(&k.rs.token(&base()))
        .expect("a good token after the attacks");
    client
        .verify(&k.ed.token(&base()))
        .expect("a good EdDSA token after the attacks");
}
