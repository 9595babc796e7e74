//! One reading of a token (issue 22): the claims served are the claims checked. serde_json,
//! with no name twice at any level, reads the header and the payload once; whatever it
//! refuses is a malformed token, and whatever verifies is served member for member as plain
//! serde_json reads it.

mod support;

use jwks::{claim_text, Client, ClientOptions, ErrorKind, VerifyOptions};
use serde_json::Value;
use support::keys::{jwks, now, TestKey};
use support::server::TestServer;

fn setup() -> (TestKey, TestServer, Client) {
    let key = TestKey::ec("e1", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    (key, server, client)
}

fn api() -> VerifyOptions {
    let mut options = VerifyOptions::default();
    options.audience = Some(vec!["api".into()]);
    options
}

/// The defect of issue 22: a number the old reader accepted and serde_json refuses left the
/// claims map empty for a token that verified, so "deny when role is present" passed. The
/// one reading refuses the token instead, and the C ABI and both modules say the same
/// (tests/c/test_capi.c, tests/nginx.rs, tests/envoy.rs).
#[test]
fn a_number_serde_json_refuses_makes_the_token_malformed() {
    let (key, _server, client) = setup();
    let exp = now() + 3600;
    for number in ["1.7976931348623158e308", "-1.7976931348623158e308", "1e400"] {
        let payload = format!(r#"{{"aud":"api","exp":{exp},"role":"admin","note":{number}}}"#);
        let token = key.sign_raw(
            "ES256",
            key.header().to_string().as_bytes(),
            payload.as_bytes(),
        );
        let err = client.verify_with(&token, &api()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedToken, "{number}: {err}");
        assert!(err.message().contains("number out of range"), "{err}");
    }
    // The largest finite number is a number, and the other claims are served.
    let payload =
        format!(r#"{{"aud":"api","exp":{exp},"role":"admin","note":1.7976931348623157e308}}"#);
    let token = key.sign_raw(
        "ES256",
        key.header().to_string().as_bytes(),
        payload.as_bytes(),
    );
    let v = client.verify_with(&token, &api()).unwrap();
    assert_eq!(v.claim("/role").as_deref(), Some("admin"));
    assert_eq!(v.claims()["note"], Value::from(f64::MAX));
}

/// A name given twice is refused at every level now, not only at the top: each reader of a
/// duplicate picks its own winner, and nested ones reached upstreams through the payload.
#[test]
fn a_name_twice_at_any_depth_is_malformed() {
    let (key, _server, client) = setup();
    let exp = now() + 3600;
    for claims in [
        r#""role":"user","role":"admin""#,
        r#""r\u006fle":"user","role":"admin""#,
        r#""org":{"role":"user","role":"admin"}"#,
        r#""list":[{"a":{"b":1,"b":2}}]"#,
    ] {
        let payload = format!(r#"{{"aud":"api","exp":{exp},{claims}}}"#);
        let token = key.sign_raw(
            "ES256",
            key.header().to_string().as_bytes(),
            payload.as_bytes(),
        );
        let err = client.verify_with(&token, &api()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedToken, "{claims}");
    }
    let header = r#"{"alg":"ES256","kid":"e1","x":{"k":1,"k":2}}"#;
    let payload = format!(r#"{{"aud":"api","exp":{exp}}}"#);
    let token = key.sign_raw("ES256", header.as_bytes(), payload.as_bytes());
    let err = client.verify_with(&token, &api()).unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::MalformedToken,
        "nested in the header"
    );
}

/// A small deterministic generator (xorshift), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// Numbers at the edges: ±f64::MAX and its neighbours, beyond the range, below the smallest
/// subnormal, -0, 2^53±1, 2^64 and its neighbours, long decimals, exponents.
const NUMBERS: &[&str] = &[
    "1.7976931348623157e308",
    "-1.7976931348623157e308",
    "1.7976931348623158e308",
    "1.7976931348623159e308",
    "-1.797693134862315807e308",
    "1e308",
    "1e309",
    "1e400",
    "-1e400",
    "1e-400",
    "4.9e-324",
    "2.4e-324",
    "-0",
    "-0.0e-0",
    "0",
    "9007199254740991",
    "9007199254740992",
    "9007199254740993",
    "-9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "0.1000000000000000055511151231257827021181583404541015625",
    "123456789012345678901234567890",
    "1E+2",
    "2.5e-3",
    "4E02444800",
];

/// Strings with escapes and surrogates, lone ones included.
const STRINGS: &[&str] = &[
    r#""plain""#,
    r#""\ud83d\ude00""#,
    r#""\ud800""#,
    r#""\udc00x""#,
    r#""\u0000\u001f\u007f""#,
    r#""a\"b\\c\/d""#,
    r#""Zoë 漢字""#,
    r#""""#,
];

/// Names from a small set, some spelled with escapes, so duplicates come up often.
const NAMES: &[&str] = &[r#""a""#, r#""b""#, r#""\u0061""#, r#""c~/""#, r#""""#];

fn value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 4 { 4 } else { 7 }) {
        0 | 1 => rng.pick(NUMBERS).to_owned(),
        2 => rng.pick(STRINGS).to_owned(),
        3 => rng.pick(&["true", "false", "null"]).to_owned(),
        4 => object(rng, depth + 1),
        5 => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| value(rng, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            // Deep nesting around serde_json's limit of 128 levels, the payload included.
            let levels = 120 + rng.below(12);
            format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
        }
    }
}

fn object(rng: &mut Rng, depth: usize) -> String {
    let n = rng.below(4);
    let members: Vec<String> = (0..n)
        .map(|_| format!("{}:{}", rng.pick(NAMES), value(rng, depth)))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// Random payloads: whenever verify says OK, every member is served with the value plain
/// serde_json gives; whenever it refuses, the refusal is MALFORMED. Both outcomes must come up
/// often, or the generator proves nothing.
#[test]
fn whatever_verifies_is_served_as_serde_json_reads_it() {
    let (key, _server, client) = setup();
    let header = key.header().to_string();
    let exp = now() + 3600;
    let (mut verified, mut refused) = (0, 0);
    for seed in 1..=1500u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let members = object(&mut rng, 1);
        let inner = &members[1..members.len() - 1];
        let comma = if inner.is_empty() { "" } else { "," };
        let payload = format!(r#"{{"aud":"api","exp":{exp}{comma}{inner}}}"#);
        let token = key.sign_raw("ES256", header.as_bytes(), payload.as_bytes());
        match client.verify_with(&token, &api()) {
            Ok(v) => {
                verified += 1;
                let plain: Value = serde_json::from_str(&payload)
                    .unwrap_or_else(|e| panic!("seed {seed}: verified, but serde_json: {e}"));
                assert_eq!(
                    plain.as_object(),
                    Some(v.claims()),
                    "seed {seed}: {payload}"
                );
                for name in v.claims().keys() {
                    let pointer = format!("/{}", name.replace('~', "~0").replace('/', "~1"));
                    assert_eq!(
                        v.claim(&pointer),
                        claim_text(&plain, &pointer),
                        "seed {seed}: {pointer}"
                    );
                }
            }
            Err(e) => {
                refused += 1;
                assert_eq!(
                    e.kind(),
                    ErrorKind::MalformedToken,
                    "seed {seed}: {e}: {payload}"
                );
            }
        }
    }
    assert!(
        verified > 200 && refused > 200,
        "{verified} verified, {refused} refused"
    );
}
