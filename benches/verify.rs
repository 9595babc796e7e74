//! Warm-cache verification cost against the floor: aws-lc-rs verifying the same signature with
//! a pre-parsed public key. Run: `cargo bench --bench verify`; the README reports the ratios.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use aws_lc_rs::signature::{self, ParsedPublicKey};
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use jwks::{Client, ClientOptions};
use support::keys::{claims, jwks, TestKey};
use support::server::TestServer;

fn verify(c: &mut Criterion) {
    let cases: [(TestKey, &'static dyn signature::VerificationAlgorithm); 3] = [
        (
            TestKey::rsa("rsa", "RS256"),
            &signature::RSA_PKCS1_2048_8192_SHA256,
        ),
        (
            TestKey::ec("ec", "ES256"),
            &signature::ECDSA_P256_SHA256_FIXED,
        ),
        (TestKey::ed25519("ed"), &signature::ED25519),
    ];
    let server = TestServer::start();
    server.set_jwks(&jwks(&cases.iter().map(|(k, _)| k).collect::<Vec<_>>()));
    let mut options = ClientOptions::new(server.url("/jwks"));
    options.validation.audience = vec!["api".into()];
    let client = Client::new(options).unwrap();

    for (key, alg) in &cases {
        let mut claims = claims();
        claims["aud"] = "api".into();
        let token = key.token(&claims);
        client.verify(&token).unwrap(); // warm the cache
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .unwrap();
        let parsed = ParsedPublicKey::new(*alg, key.public_key_bytes()).unwrap();

        let mut group = c.benchmark_group(key.alg);
        group.bench_function("aws-lc-rs pre-parsed verify_sig", |b| {
            b.iter(|| {
                parsed
                    .verify_sig(black_box(input.as_bytes()), black_box(&sig))
                    .unwrap()
            })
        });
        group.bench_function("libjwks Client::verify (warm)", |b| {
            b.iter(|| client.verify(black_box(&token)).unwrap())
        });
        group.finish();
    }
    assert_eq!(server.hits("/jwks"), 1, "the benchmark ran on a warm cache");
}

criterion_group!(benches, verify);
criterion_main!(benches);
