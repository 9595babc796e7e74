//! The demo: starts a local issuer on 127.0.0.1 (an OpenID configuration document and a JWKS
//! endpoint with an RS256 and an ES256 key), signs two tokens, and verifies them through the C
//! ABI with the command-line verifier `examples/c/jwks_verify.c`, which prints the claims:
//! first against the JWKS URL, then by the tokens' issuer alone (OpenID Connect discovery).
//! No network beyond loopback.
//!
//! Run with `cargo build && cargo run --example demo` (the first builds libjwks.a).

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;

use serde_json::json;
use support::keys::{jwks, now, TestKey};
use support::server::{Reply, TestServer};

fn main() {
    let rsa = TestKey::rsa("demo-rsa", "RS256");
    let ec = TestKey::ec("demo-ec", "ES256");
    let issuer = TestServer::start();
    issuer.set_jwks(&jwks(&[&rsa, &ec]));
    let jwks_url = issuer.url("/jwks");
    let iss = issuer.url("");
    let config = json!({"issuer": iss, "jwks_uri": jwks_url});
    issuer.set(
        "/.well-known/openid-configuration",
        Reply::json(config.to_string()),
    );
    println!("issuer: {iss}, JWKS at {jwks_url}");

    let claims = |sub: &str| {
        json!({
            "iss": iss, "aud": "demo-api", "sub": sub,
            "iat": now(), "exp": now() + 600, "scope": "read:things",
        })
    };
    let tokens = [rsa.token(&claims("alice")), ec.token(&claims("bob"))];
    println!("issuer: signed 2 tokens (RS256 and ES256)\n");

    let exe = support::cbuild::lib_dir().join("jwks_verify");
    support::cbuild::build(
        &[support::cbuild::root().join("examples/c/jwks_verify.c")],
        &exe,
        false,
        &[],
    );
    let run = |source: &[&str]| {
        println!("$ jwks_verify {} --aud demo-api <tokens>", source.join(" "));
        let status = Command::new(&exe)
            .args(source)
            .args(["--aud", "demo-api"])
            .args(&tokens)
            .status()
            .expect("run jwks_verify");
        if !status.success() {
            eprintln!("demo failed: jwks_verify exited with {status}");
            std::process::exit(1);
        }
    };
    run(&["--jwks", &jwks_url, "--iss", &iss]);
    println!();
    run(&["--issuer", &iss]);
    println!(
        "\nrequests served: {} configuration, {} JWKS (one per run, then the cache)",
        issuer.hits("/.well-known/openid-configuration"),
        issuer.hits("/jwks")
    );
    println!("demo OK");
}
