//! Verification against a real JWKS server on 127.0.0.1: every algorithm, and every way a token
//! can be wrong, each with its own error kind.

mod support;

use std::sync::Arc;
use std::time::Duration;

use jwks::{Algorithm, Client, ClientOptions, ErrorKind, ManualClock, VerifyOptions};
use serde_json::json;
use support::keys::{claims, jwks, now, TestKey};
use support::server::TestServer;

fn client_for(server: &TestServer) -> Client {
    Client::new(ClientOptions::new(server.url("/jwks"))).unwrap()
}

fn serve(keys: &[&TestKey]) -> TestServer {
    let server = TestServer::start();
    server.set_jwks(&jwks(keys));
    server
}

fn kind(result: jwks::Result<jwks::Verified>) -> ErrorKind {
    result.expect_err("token must be rejected").kind()
}

#[test]
fn every_supported_algorithm_verifies() {
    let mut keys = Vec::new();
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        keys.push(TestKey::rsa(&format!("k-{alg}"), alg));
    }
    for alg in ["ES256", "ES384", "ES512"] {
        keys.push(TestKey::ec(&format!("k-{alg}"), alg));
    }
    keys.push(TestKey::ed25519("k-EdDSA"));
    let server = serve(&keys.iter().collect::<Vec<_>>());
    let client = client_for(&server);
    for key in &keys {
        let v = client
            .verify(&key.token(&claims()))
            .unwrap_or_else(|e| panic!("{} failed: {e}", key.alg));
        assert_eq!(v.alg().name(), key.alg);
        assert_eq!(v.kid(), Some(key.kid.as_str()));
        assert_eq!(v.typ(), Some("JWT"));
        assert_eq!(v.claims()["sub"], "user-1");
    }
    assert_eq!(server.hits("/jwks"), 1, "one fetch serves every verify");
}

#[test]
fn claims_json_is_the_payload_byte_for_byte() {
    let key = TestKey::ec("e1", "ES256");
    let server = serve(&[&key]);
    let payload = json!({"sub": "ü", "exp": now() + 60, "n": [1, 2, 3]});
    let v = client_for(&server).verify(&key.token(&payload)).unwrap();
    assert_eq!(v.claims_json(), payload.to_string());
}

/// Claims are user data: `claim` gives the text as signed, `header_value` the same claim safe
/// for a header, by the rule the modules and bindings share; the whole payload compacts.
#[test]
fn header_json_is_the_protected_header_byte_for_byte() {
    let key = TestKey::ec("a", "ES256");
    let server = serve(&[&key]);
    let client = client_for(&server);
    // Any field the issuer set, in its order and layout, and any character in it.
    let header = r#"{ "alg":"ES256","kid":"a", "x5t":"abc","note":"line\r\nX-Admin: 1" }"#;
    let token = key.sign_raw("ES256", header.as_bytes(), claims().to_string().as_bytes());
    let v = client.verify(&token).unwrap();
    assert_eq!(v.header_json(), header);
    assert_eq!(
        jwks::claims_header_value(v.header_json(), "/x5t").unwrap(),
        Some("abc".to_owned())
    );
    assert_eq!(
        jwks::claims_header_value(v.header_json(), "/note").unwrap(),
        Some("line\\x0D\\x0AX-Admin: 1".to_owned())
    );
    assert_eq!(
        jwks::claims_header_value(v.header_json(), "/cty").unwrap(),
        None
    );
}

#[test]
fn header_values_escape_what_users_typed_and_drop_nothing() {
    use support::inject::{cases, is_control};

    let key = TestKey::ec("e1", "ES256");
    let server = serve(&[&key]);
    let client = client_for(&server);
    for case in cases() {
        let payload = case.payload("api", "https://issuer.test");
        let token = key.sign_raw("ES256", key.header().to_string().as_bytes(), &payload);
        let mut options = VerifyOptions::default();
        options.audience = Some(vec!["api".into()]);
        let v = client.verify_with(&token, &options).unwrap();
        let what = case.name;
        assert_eq!(v.claims_json().as_bytes(), &payload[..], "{what}");
        let signed: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(v.claim("/sub").as_deref(), signed["sub"].as_str(), "{what}");
        assert_eq!(v.header_value("/sub"), Some(case.header.clone()), "{what}");
        assert_eq!(
            v.header_value("/org/name").map(String::into_bytes),
            case.nested(),
            "{what}"
        );
        assert_eq!(
            v.header_value("/roles").map(String::into_bytes),
            case.roles(),
            "{what}"
        );
        let whole = v.header_value("").unwrap();
        assert!(!whole.bytes().any(is_control), "{what}");
        assert!(!whole.contains(['\r', '\n', '\t']), "{what}: compact");
        let reread: serde_json::Value = serde_json::from_str(&whole).unwrap();
        assert_eq!(reread, signed, "{what}");
        assert_eq!(v.header_value("/absent"), None);
    }
}

/// The payload is read by the library's own JSON reader: every layout of the same claims reads
/// the same, and a name given twice is refused whether the library reads it or not.
#[test]
fn payload_layouts_read_alike_and_a_name_twice_is_refused() {
    let key = TestKey::ec("e1", "ES256");
    let server = serve(&[&key]);
    let client = client_for(&server);
    let header = key.header().to_string();
    let exp = now() + 60;
    let layouts = [
        format!(r#"{{"sub":"u","exp":{exp},"n":-0,"t":true,"f":false,"z":null}}"#),
        format!("{{ \"sub\" : \"u\" ,\n\t\"exp\" : {exp} }}"),
        format!(r#"{{"s\u0075b":"u","exp":{exp}.0,"x":{{"y":[1,2.5e3,"\"q\""]}}}}"#),
        format!(r#"{{"sub":"\u00fc\ud83d\ude00","exp":{exp}e0}}"#),
    ];
    for payload in &layouts {
        let token = key.sign_raw("ES256", header.as_bytes(), payload.as_bytes());
        let v = client
            .verify(&token)
            .unwrap_or_else(|e| panic!("{payload}: {e}"));
        assert!(v.claims()["sub"].is_string(), "{payload}");
        assert_eq!(v.claims_json(), payload.as_str());
    }
    for payload in [
        format!(r#"{{"sub":"a","exp":{exp},"sub":"b"}}"#),
        format!(r#"{{"sub":"a","exp":{exp},"s\u0075b":"b"}}"#),
        format!(r#"{{"exp":{exp},"exp":{exp}}}"#),
        format!(r#"{{"exp":{exp},"x":1,"x":{{}}}}"#),
    ] {
        let token = key.sign_raw("ES256", header.as_bytes(), payload.as_bytes());
        let err = client.verify(&token).expect_err(&payload);
        assert_eq!(err.kind(), ErrorKind::MalformedToken, "{payload}");
        assert!(err.to_string().contains("duplicate"), "{err}");
    }
    let twice = key.sign_raw(
        "ES256",
        br#"{"alg":"ES256","kid":"e1","x":1,"x":2}"#,
        format!(r#"{{"exp":{exp}}}"#).as_bytes(),
    );
    assert_eq!(kind(client.verify(&twice)), ErrorKind::MalformedToken);
}

#[test]
fn rsa_key_without_alg_verifies_rs_and_ps() {
    let key = TestKey::rsa("r", "RS256").without_alg();
    let server = serve(&[&key]);
    let client = client_for(&server);
    for alg in ["RS256", "RS512", "PS256"] {
        let token = key.sign_with(alg, &json!({"alg": alg, "kid": "r"}), &claims());
        assert_eq!(client.verify(&token).unwrap().alg().name(), alg);
    }
}

#[test]
fn jwk_alg_must_match_token_alg() {
    let key = TestKey::rsa("r", "RS256");
    let server = serve(&[&key]);
    let token = key.sign_with("PS256", &json!({"alg": "PS256", "kid": "r"}), &claims());
    assert_eq!(
        kind(client_for(&server).verify(&token)),
        ErrorKind::AlgorithmNotAllowed
    );
}

#[test]
fn token_alg_must_fit_key_type() {
    let ec = TestKey::ec("e", "ES256").without_alg();
    let server = serve(&[&ec]);
    let token = ec.sign_with("ES256", &json!({"alg": "RS256", "kid": "e"}), &claims());
    assert_eq!(
        kind(client_for(&server).verify(&token)),
        ErrorKind::AlgorithmNotAllowed
    );
}

#[test]
fn p521_key_cannot_verify_es256() {
    let key = TestKey::ec("e", "ES512").without_alg();
    let server = serve(&[&key]);
    let token = key.sign_with("ES512", &json!({"alg": "ES256", "kid": "e"}), &claims());
    assert_eq!(
        kind(client_for(&server).verify(&token)),
        ErrorKind::AlgorithmNotAllowed
    );
}

#[test]
fn expired_and_not_yet_valid() {
    let key = TestKey::ed25519("k");
    let server = serve(&[&key]);
    let client = client_for(&server);
    let expired = key.token(&json!({"exp": now() - 61}));
    assert_eq!(kind(client.verify(&expired)), ErrorKind::Expired);
    let within_leeway = key.token(&json!({"exp": now() - 30}));
    assert!(client.verify(&within_leeway).is_ok());
    let future = key.token(&json!({"exp": now() + 600, "nbf": now() + 120}));
    assert_eq!(kind(client.verify(&future)), ErrorKind::NotYetValid);
    let no_exp = key.token(&json!({"sub": "x"}));
    assert_eq!(kind(client.verify(&no_exp)), ErrorKind::MissingClaim);
    let bad_exp = key.token(&json!({"exp": "tomorrow"}));
    assert_eq!(kind(client.verify(&bad_exp)), ErrorKind::MalformedToken);
}

#[test]
fn exp_and_nbf_checks_can_be_switched_off_and_leeway_set() {
    let key = TestKey::ed25519("k");
    let server = serve(&[&key]);
    let mut options = ClientOptions::new(server.url("/jwks"));
    options.validation.verify_exp = false;
    options.validation.verify_nbf = false;
    let client = Client::new(options).unwrap();
    assert!(client
        .verify(&key.token(&json!({"exp": now() - 10_000})))
        .is_ok());
    assert!(client
        .verify(&key.token(&json!({"nbf": now() + 10_000})))
        .is_ok());
    assert!(client.verify(&key.token(&json!({}))).is_ok());

    let mut options = ClientOptions::new(server.url("/jwks"));
    options.validation.leeway = Duration::ZERO;
    let strict = Client::new(options).unwrap();
    assert_eq!(
        kind(strict.verify(&key.token(&json!({"exp": now() - 2})))),
        ErrorKind::Expired
    );
}

#[test]
fn injected_clock_drives_expiry() {
    let key = TestKey::ed25519("k");
    let server = serve(&[&key]);
    let clock = Arc::new(ManualClock::starting_now());
    let mut options = ClientOptions::new(server.url("/jwks"));
    options.clock = clock.clone();
    let client = Client::new(options).unwrap();
    let token = key.token(&json!({"exp": now() + 100}));
    assert!(client.verify(&token).is_ok());
    clock.advance(Duration::from_secs(161));
    assert_eq!(kind(client.verify(&token)), ErrorKind::Expired);
}

#[test]
fn audience_and_issuer() {
    let key = TestKey::ec("e", "ES384");
    let server = serve(&[&key]);
    let mut options = ClientOptions::new(server.url("/jwks"));
    options.validation.audience = vec!["api".into(), "other".into()];
    options.validation.issuer = Some("https://issuer.test".into());
    let client = Client::new(options).unwrap();
    let mut c = claims();
    c["aud"] = json!("api");
    assert!(client.verify(&key.token(&c)).is_ok());
    c["aud"] = json!(["x", "other"]);
    assert!(
        client.verify(&key.token(&c)).is_ok(),
        "any one audience matches"
    );
    c["aud"] = json!("nope");
    assert_eq!(
        kind(client.verify(&key.token(&c))),
        ErrorKind::WrongAudience
    );
    // An aud that is not a string or an array of strings is malformed (RFC 7519 4.1.3).
    c["aud"] = json!(["nope", 7]);
    assert_eq!(
        kind(client.verify(&key.token(&c))),
        ErrorKind::MalformedToken
    );
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(kind(client.verify(&key.token(&c))), ErrorKind::MissingClaim);
    let mut c = claims();
    c["iss"] = json!("https://evil.test");
    assert_eq!(kind(client.verify(&key.token(&c))), ErrorKind::WrongIssuer);
    c.as_object_mut().unwrap().remove("iss");
    assert_eq!(kind(client.verify(&key.token(&c))), ErrorKind::MissingClaim);
}

#[test]
fn a_token_for_some_audience_is_refused_when_none_is_configured() {
    let key = TestKey::ec("e", "ES256");
    let server = serve(&[&key]);
    let mut c = claims();
    c["aud"] = json!("another-service");
    let err = client_for(&server).verify(&key.token(&c)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongAudience);
    assert!(err.message().contains("no audience is configured"), "{err}");
    let mut options = ClientOptions::new(server.url("/jwks"));
    options.validation.verify_aud = false;
    assert!(Client::new(options).unwrap().verify(&key.token(&c)).is_ok());
    c["aud"] = json!(null);
    assert!(client_for(&server).verify(&key.token(&c)).is_ok());
}

#[test]
fn aud_and_iss_checks_can_be_switched_off() {
    let key = TestKey::ec("e", "ES256");
    let server = serve(&[&key]);
    let mut options = ClientOptions::new(server.url("/jwks"));
    options.validation.audience = vec!["api".into()];
    options.validation.issuer = Some("https://issuer.test".into());
    options.validation.verify_aud = false;
    options.validation.verify_iss = false;
    let client = Client::new(options).unwrap();
    let mut c = claims();
    c["aud"] = json!("nope");
    c["iss"] = json!("nope");
    assert!(client.verify(&key.token(&c)).is_ok());
}

#[test]
fn typ_and_required_claims() {
    let key = TestKey::ec("e", "ES256");
    let server = serve(&[&key]);
    let mut options = ClientOptions::new(server.url("/jwks"));
    options.validation.typ = vec!["at+jwt".into()];
    options.validation.required_claims = vec!["sub".into(), "scope".into()];
    let client = Client::new(options).unwrap();
    let mut c = claims();
    c["scope"] = json!("read");
    let at = key.sign_with(
        "ES256",
        &json!({"alg": "ES256", "kid": "e", "typ": "application/AT+JWT"}),
        &c,
    );
    assert!(client.verify(&at).is_ok());
    let jwt = key.sign_with(
        "ES256",
        &json!({"alg": "ES256", "kid": "e", "typ": "JWT"}),
        &c,
    );
    assert_eq!(kind(client.verify(&jwt)), ErrorKind::WrongTyp);
    let none = key.sign_with("ES256", &json!({"alg": "ES256", "kid": "e"}), &c);
    assert_eq!(kind(client.verify(&none)), ErrorKind::WrongTyp);
    c["scope"] = json!(null);
    let null = key.sign_with(
        "ES256",
        &json!({"alg": "ES256", "kid": "e", "typ": "at+jwt"}),
        &c,
    );
    assert_eq!(
        kind(client.verify(&null)),
        ErrorKind::MissingClaim,
        "null counts as absent"
    );
    c.as_object_mut().unwrap().remove("scope");
    let missing = key.sign_with(
        "ES256",
        &json!({"alg": "ES256", "kid": "e", "typ": "at+jwt"}),
        &c,
    );
    let err = client.verify(&missing).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingClaim);
    assert!(err.message().contains("scope"), "{err}");
}

#[test]
fn tampered_signature_and_payload() {
    let key = TestKey::rsa("r", "RS256");
    let server = serve(&[&key]);
    let client = client_for(&server);
    let token = key.token(&claims());
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut sig_bytes = sig.as_bytes().to_vec();
    sig_bytes[10] = if sig_bytes[10] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{head}.{}", String::from_utf8(sig_bytes).unwrap());
    assert_eq!(kind(client.verify(&tampered)), ErrorKind::BadSignature);
    let mut other = claims();
    other["sub"] = json!("admin");
    let other_token = key.token(&other);
    let parts: Vec<&str> = token.split('.').collect();
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        other_token.split('.').nth(1).unwrap(),
        parts[2]
    );
    assert_eq!(kind(client.verify(&swapped)), ErrorKind::BadSignature);
}

#[test]
fn alg_none_never_verifies() {
    let key = TestKey::rsa("r", "RS256");
    let server = serve(&[&key]);
    let client = client_for(&server);
    let b = support::keys::b64;
    for alg in ["none", "None", "NONE"] {
        let token = format!(
            "{}.{}.",
            b(json!({"alg": alg, "kid": "r"}).to_string().as_bytes()),
            b(claims().to_string().as_bytes())
        );
        assert_eq!(kind(client.verify(&token)), ErrorKind::AlgorithmNotAllowed);
    }
    assert_eq!(server.hits("/jwks"), 0, "refused before any fetch");
}

#[test]
fn hmac_token_never_verifies_against_a_public_key() {
    // The classic confusion attack: HMAC-sign with the RSA public key's bytes as the secret.
    let key = TestKey::rsa("r", "RS256").without_alg();
    let server = serve(&[&key]);
    let client = client_for(&server);
    let n = key.jwk["n"].as_str().unwrap().as_bytes().to_vec();
    let forger = TestKey::hmac("r", "HS256", &n);
    let token = forger.token(&claims());
    assert_eq!(kind(client.verify(&token)), ErrorKind::AlgorithmNotAllowed);
}

#[test]
fn oct_keys_are_refused_unless_enabled() {
    let secret = [7u8; 32];
    let key = TestKey::hmac("h", "HS256", &secret);
    let rsa = TestKey::rsa("r", "RS256");
    let server = serve(&[&key, &rsa]);
    let client = client_for(&server);
    assert_eq!(
        kind(client.verify(&key.token(&claims()))),
        ErrorKind::AlgorithmNotAllowed
    );
    let set = client.get_jwk_set(false).unwrap();
    assert_eq!(set.keys().len(), 1);
    assert_eq!(set.skipped().len(), 1);
    assert!(set.skipped()[0].reason.contains("oct"));

    let mut options = ClientOptions::new(server.url("/jwks"));
    options.allow_symmetric_keys = true;
    options.validation.algorithms.push(Algorithm::HS256);
    let enabled = Client::new(options).unwrap();
    assert!(enabled.verify(&key.token(&claims())).is_ok());
    // Still no HMAC against the RSA key.
    let n = rsa.jwk["n"].as_str().unwrap().as_bytes().to_vec();
    let forged = TestKey::hmac("r", "HS256", &n).token(&claims());
    assert_eq!(
        kind(enabled.verify(&forged)),
        ErrorKind::AlgorithmNotAllowed
    );
}

#[test]
fn hmac_algorithms_without_symmetric_keys_is_a_config_error() {
    let mut options = ClientOptions::new("http://127.0.0.1:1/jwks");
    options.validation.algorithms = vec![Algorithm::HS256];
    assert_eq!(
        Client::new(options).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn unknown_crit_is_rejected() {
    let key = TestKey::ed25519("k");
    let server = serve(&[&key]);
    let token = key.sign_with(
        "EdDSA",
        &json!({"alg": "EdDSA", "kid": "k", "crit": ["exp-ext"], "exp-ext": 1}),
        &claims(),
    );
    assert_eq!(
        kind(client_for(&server).verify(&token)),
        ErrorKind::UnsupportedCritical
    );
}

#[test]
fn algorithm_allow_list() {
    let key = TestKey::rsa("r", "RS256");
    let server = serve(&[&key]);
    let mut options = ClientOptions::new(server.url("/jwks"));
    options.validation.algorithms = vec![Algorithm::ES256];
    let client = Client::new(options).unwrap();
    assert_eq!(
        kind(client.verify(&key.token(&claims()))),
        ErrorKind::AlgorithmNotAllowed
    );
    let weird = key.sign_with("RS256", &json!({"alg": "XS999", "kid": "r"}), &claims());
    assert_eq!(
        kind(client_for(&server).verify(&weird)),
        ErrorKind::UnsupportedAlgorithm
    );
}

#[test]
fn kidless_token_is_missing_kid_by_default_and_tried_when_enabled() {
    let a = TestKey::ec("a", "ES256");
    let b = TestKey::ec("b", "ES256");
    let server = serve(&[&a, &b]);
    let token = b.sign_with("ES256", &json!({"alg": "ES256"}), &claims());
    assert_eq!(
        kind(client_for(&server).verify(&token)),
        ErrorKind::MissingKid
    );
    let mut options = ClientOptions::new(server.url("/jwks"));
    options.allow_missing_kid = true;
    let client = Client::new(options).unwrap();
    let v = client.verify(&token).unwrap();
    assert_eq!(v.kid(), None);
    assert_eq!(v.key().kid(), Some("b"));
    let stranger =
        TestKey::ec("c", "ES256").sign_with("ES256", &json!({"alg": "ES256"}), &claims());
    assert_eq!(kind(client.verify(&stranger)), ErrorKind::BadSignature);
}

#[test]
fn malformed_tokens() {
    let key = TestKey::ed25519("k");
    let server = serve(&[&key]);
    let client = client_for(&server);
    let good = key.token(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let b = support::keys::b64;
    let cases = [
        String::new(),
        "abc".into(),
        "a.b".into(),
        "a.b.c.d".into(),
        "a.b.c.d.e".into(),
        format!("!!!.{}.{}", parts[1], parts[2]),
        format!("{}.{}.%%%", parts[0], parts[1]),
        format!("{}.{}.{}", b(b"[1,2]"), parts[1], parts[2]),
        format!("{}.{}.{}", b(b"{\"alg\":5}"), parts[1], parts[2]),
        format!("{}.{}.{}", b(b"{\"kid\":\"k\"}"), parts[1], parts[2]),
        format!(
            "{}.{}.{}",
            b(br#"{"alg":"EdDSA","kid":7}"#),
            parts[1],
            parts[2]
        ),
        format!("{}.{}.{}", parts[0], b(b"not json"), parts[2]),
        format!("{}.{}.{}", parts[0], b(b"[]"), parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!(
            "{}.{}.{}",
            b(br#"{"alg":"EdDSA","alg":"RS256","kid":"k"}"#),
            parts[1],
            parts[2]
        ),
        format!(
            "{}.{}.{}",
            parts[0],
            b(br#"{"exp":1,"exp":99999999999}"#),
            parts[2]
        ),
        format!("{}.{}.{}", parts[0], b(br#"{"exp":1"#), parts[2]),
        format!("{}.{}.{}", parts[0], b(br#"{"iss":5}"#), parts[2]),
    ];
    for token in &cases {
        assert_eq!(
            kind(client.verify(token)),
            ErrorKind::MalformedToken,
            "token {token:?}"
        );
    }
    assert_eq!(
        server.hits("/jwks"),
        0,
        "malformed tokens never cause a fetch"
    );
    let huge = format!("{}.{}.{}", parts[0], "A".repeat(70_000), parts[2]);
    assert_eq!(kind(client.verify(&huge)), ErrorKind::TokenTooLarge);
}

#[test]
fn per_call_settings_override_the_clients() {
    let key = TestKey::rsa("r", "RS256");
    let server = serve(&[&key]);
    let mut options = ClientOptions::new(server.url("/jwks"));
    options.validation.audience = vec!["api".into()];
    let client = Client::new(options).unwrap();
    let mut c = claims();
    c["aud"] = json!("admin-api");
    let token = key.token(&c);
    assert_eq!(kind(client.verify(&token)), ErrorKind::WrongAudience);
    let mut route = VerifyOptions::default();
    route.audience = Some(vec!["admin-api".into()]);
    assert!(client.verify_with(&token, &route).is_ok());
    route.issuer = Some("https://other.test".into());
    assert_eq!(
        kind(client.verify_with(&token, &route)),
        ErrorKind::WrongIssuer
    );

    let mut narrow = VerifyOptions::default();
    narrow.algorithms = Some(vec![Algorithm::ES256]);
    assert_eq!(
        kind(client.verify_with(&key.token(&claims()), &narrow)),
        ErrorKind::AlgorithmNotAllowed
    );
    let mut widen = VerifyOptions::default();
    widen.algorithms = Some(vec![Algorithm::HS256]);
    assert_eq!(
        kind(client.verify_with(&token, &widen)),
        ErrorKind::InvalidArgument
    );
    // The same answer before any token, for configuration checks; the message names both
    // lists. Settings that can verify pass.
    let err = client.check_verify_options(&widen).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(
        err.message().contains("(HS256) share none") && err.message().contains("RS256"),
        "{err}"
    );
    client.check_verify_options(&narrow).unwrap();
    client.check_verify_options(&route).unwrap();
    assert_eq!(
        server.hits("/jwks"),
        1,
        "one client, one cache for every route"
    );
}

#[test]
fn iat_in_the_future_is_refused_only_when_asked_and_a_non_numeric_iat_never_passes() {
    let key = TestKey::ec("a", "ES256");
    let server = serve(&[&key]);
    let with_iat = |iat: serde_json::Value| {
        let mut c = claims();
        c["iat"] = iat;
        key.token(&c)
    };
    let future = with_iat(json!(now() + 10 * 86_400));
    let within_leeway = with_iat(json!(now() + 30));
    let past = with_iat(json!(now() - 60));

    let lenient = client_for(&server);
    lenient.verify(&future).unwrap(); // off by default: RFC 7519 gives iat no validity meaning
    assert_eq!(
        kind(lenient.verify(&with_iat(json!("abc")))),
        ErrorKind::MalformedToken
    );
    let err = lenient.verify(&with_iat(json!({"n": 1}))).unwrap_err();
    assert!(err.message().contains("iat"), "{err}");

    let mut o = ClientOptions::new(server.url("/jwks"));
    o.validation.verify_iat = true;
    let strict = Client::new(o).unwrap();
    let err = strict.verify(&future).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotYetValid);
    assert!(err.message().contains("iat"), "{err}");
    strict.verify(&within_leeway).unwrap();
    strict.verify(&past).unwrap();
    strict.verify(&key.token(&claims())).unwrap(); // no iat at all
                                                   // A null iat is not a number (issue 22): malformed, checked or not, as the header says.
    let null_iat = key.sign_raw(
        "ES256",
        key.header().to_string().as_bytes(),
        format!(r#"{{"sub":"u","exp":{},"iat":null}}"#, now() + 60).as_bytes(),
    );
    for client in [&strict, &lenient] {
        let err = client.verify(&null_iat).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedToken, "{err}");
        assert!(err.message().contains("iat"), "{err}");
    }

    // Per call, both ways.
    let mut on = VerifyOptions::default();
    on.verify_iat = Some(true);
    assert_eq!(
        kind(lenient.verify_with(&future, &on)),
        ErrorKind::NotYetValid
    );
    let mut off = VerifyOptions::default();
    off.verify_iat = Some(false);
    strict.verify_with(&future, &off).unwrap();
}

#[test]
fn an_endless_timeout_is_no_overflow() {
    // Duration arithmetic saturates: a timeout past what Instant can hold still fetches.
    let key = TestKey::ec("k", "ES256");
    let server = serve(&[&key]);
    let mut o = ClientOptions::new(server.url("/jwks"));
    o.timeout = Duration::MAX;
    o.lifespan = Duration::MAX;
    o.max_stale = Duration::MAX;
    o.min_refetch_interval = Duration::MAX;
    let client = Client::new(o).unwrap();
    assert!(client.verify(&key.token(&claims())).is_ok());
    assert!(client.get_jwk_set(true).is_ok());
}
