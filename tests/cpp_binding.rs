//! Builds the C++ binding's GoogleTest suite with CMake (under ASan/UBSan) and runs it with
//! ctest against a JWKS server on 127.0.0.1.

mod support;

use std::process::Command;

use serde_json::json;
use support::cbuild::{self, run};
use support::keys::{claims, jwks, now, TestKey};
use support::server::{Reply, TestServer};

#[test]
fn cpp_binding_passes_its_googletest_suite() {
    let lib = cbuild::static_lib();
    let ec = TestKey::ec("ec", "ES256");
    let rsa = TestKey::rsa("rsa", "RS256");
    let server = TestServer::start();
    // The two signing keys, and an encryption key the set must skip.
    let mut set: serde_json::Value = serde_json::from_str(&jwks(&[&ec, &rsa])).unwrap();
    let mut enc = set["keys"][1].clone();
    enc["kid"] = json!("enc");
    enc["use"] = json!("enc");
    set["keys"].as_array_mut().unwrap().push(enc);
    server.set_jwks(&set.to_string());
    server.set("/500", Reply::status(500, "down"));
    let base = || {
        let mut c = claims();
        c["aud"] = json!("api");
        c
    };
    let with = |key: &str, value: serde_json::Value| {
        let mut c = base();
        c[key] = value;
        ec.token(&c)
    };
    let good = ec.token(&base());
    let mut bad_sig = good.clone().into_bytes();
    let i = bad_sig.len() - 10;
    bad_sig[i] = if bad_sig[i] == b'A' { b'B' } else { b'A' };
    let b64 = support::keys::b64;
    let unsigned = |header: serde_json::Value| {
        format!(
            "{}.{}.",
            b64(header.to_string().as_bytes()),
            b64(base().to_string().as_bytes())
        )
    };
    let tokens = [
        ("TOK_GOOD", good.clone()),
        ("TOK_EXPIRED", with("exp", json!(now() - 3600))),
        ("TOK_WRONG_AUD", with("aud", json!("other"))),
        ("TOK_IAT_FUTURE", with("iat", json!(now() + 864_000))),
        ("TOK_BAD_SIG", String::from_utf8(bad_sig).unwrap()),
        ("TOK_NONE", unsigned(json!({"alg": "none", "kid": "ec"}))),
        (
            "TOK_NO_KID",
            ec.sign_with("ES256", &json!({"alg": "ES256"}), &base()),
        ),
        ("TOK_UNKNOWN_KID", TestKey::ec("zz", "ES256").token(&base())),
        (
            // A user-chosen name with CR/LF, signed with raw CR/LF as JSON whitespace.
            "TOK_INJECT",
            ec.sign_raw(
                "ES256",
                ec.header().to_string().as_bytes(),
                format!(
                    "{{\r\n\"aud\": \"api\", \"exp\": {},\r\n\"name\": \"x\\r\\nX-Admin: 1\\u0000\\\\\",\
                     \n\"org\": {{\"name\": \"Zoë\"}}}}",
                    now() + 3600
                )
                .as_bytes(),
            ),
        ),
    ];

    // Discovery: issuer "a" on the same server; an Ed25519 issuer served only by the C++
    // fetch function (its hosts are .invalid, so no socket can reach them).
    let a_key = TestKey::ec("a-key", "ES256");
    let issuer_a = server.url("/a");
    server.set(
        "/a/.well-known/openid-configuration",
        Reply::json(json!({"issuer": issuer_a, "jwks_uri": server.url("/a/jwks")}).to_string()),
    );
    server.set("/a/jwks", Reply::json(jwks(&[&a_key])));
    let iss_claims = |iss: &str| json!({"iss": iss, "sub": "d", "exp": now() + 3600});
    let cb_key = TestKey::ed25519("cb-key");
    let cb_issuer = "https://idp.invalid";
    let discovery = [
        ("ISSUER_A", issuer_a.clone()),
        ("TOK_ISS_A", a_key.token(&iss_claims(&issuer_a))),
        ("TOK_ISS_B", a_key.token(&iss_claims(&server.url("/b")))),
        ("CB_ISSUER", cb_issuer.to_owned()),
        (
            "CB_CONFIG",
            json!({"issuer": cb_issuer, "jwks_uri": "https://keys.invalid/jwks"}).to_string(),
        ),
        ("CB_JWKS", jwks(&[&cb_key])),
        ("TOK_CB", cb_key.token(&iss_claims(cb_issuer))),
    ];

    let build = cbuild::lib_dir().join("cpp-build");
    let src = cbuild::root().join("bindings/cpp");
    let sanitize = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer";
    cbuild::cmake_build(
        &src,
        &build,
        &[
            format!("JWKS_LIB={}", lib.display()),
            format!("CMAKE_CXX_FLAGS={sanitize}"),
            format!("CMAKE_EXE_LINKER_FLAGS={sanitize}"),
        ],
    );
    let output = run(Command::new("ctest")
        .arg("--test-dir")
        .arg(&build)
        .arg("--output-on-failure")
        .env("JWKS_URL", server.url("/jwks"))
        .env("BASE", server.url(""))
        .env("ASAN_OPTIONS", "detect_leaks=1")
        .envs(
            tokens
                .iter()
                .chain(discovery.iter())
                .map(|(k, v)| (k.to_string(), v.clone())),
        ));
    println!("{output}");
    assert!(output.contains("100% tests passed"), "{output}");
}
