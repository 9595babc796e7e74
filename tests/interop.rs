//! Interoperability: tokens issued by a third-party issuer (oauth2-mock-server, from npm) verify
//! through the Rust API and through the C command-line verifier. The README's test command
//! installs the npm package first and sets JWKS_INTEROP=1; without it the test says it is
//! skipped instead of failing on a machine with no node_modules.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use jwks::{Client, ClientOptions, ErrorKind};
use serde_json::Value;

#[test]
fn tokens_from_oauth2_mock_server_verify() {
    let dir = support::cbuild::root().join("tests/interop");
    if !dir.join("node_modules/oauth2-mock-server").exists() {
        assert!(
            std::env::var_os("JWKS_INTEROP").is_none(),
            "JWKS_INTEROP is set but tests/interop/node_modules is missing: run npm ci there"
        );
        eprintln!("skipped: run `npm ci --prefix tests/interop` and set JWKS_INTEROP=1");
        return;
    }
    let mut node = Command::new("node")
        .arg(dir.join("issuer.mjs"))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut line = String::new();
    BufReader::new(node.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(&line).expect("issuer prints its JSON description");
    let issuer = info["issuer"].as_str().unwrap().to_owned();
    let jwks_uri = info["jwks_uri"].as_str().unwrap().to_owned();
    let tokens = info["tokens"].as_array().unwrap().clone();
    assert_eq!(tokens.len(), 5);

    let mut options = ClientOptions::new(&jwks_uri);
    options.validation.audience = vec!["interop-api".into()];
    options.validation.issuer = Some(issuer.clone());
    let client = Client::new(options).unwrap();
    for t in &tokens {
        let token = t["token"].as_str().unwrap();
        let v = client
            .verify(token)
            .unwrap_or_else(|e| panic!("{} token failed: {e}", t["alg"]));
        assert_eq!(v.alg().name(), t["alg"].as_str().unwrap());
        assert_eq!(v.kid(), t["kid"].as_str());
        assert_eq!(
            v.claims()["sub"],
            format!("user-{}", t["alg"].as_str().unwrap())
        );
        assert_eq!(v.claims()["iss"], issuer.as_str());
    }
    let mut wrong = ClientOptions::new(&jwks_uri);
    wrong.validation.audience = vec!["another-api".into()];
    let err = Client::new(wrong)
        .unwrap()
        .verify(tokens[0]["token"].as_str().unwrap())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongAudience);

    // And through the C ABI, with the command-line verifier.
    let exe = support::cbuild::lib_dir().join("jwks_verify_interop");
    support::cbuild::build(
        &[support::cbuild::root().join("examples/c/jwks_verify.c")],
        &exe,
        false,
        &[],
    );
    let out = Command::new(&exe)
        .args([
            "--jwks",
            &jwks_uri,
            "--aud",
            "interop-api",
            "--iss",
            &issuer,
        ])
        .args(tokens.iter().map(|t| t["token"].as_str().unwrap()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(stdout.matches(": verified (kid ").count(), 5, "{stdout}");

    drop(node.stdin.take());
    node.wait().unwrap();
}
