//! Key export: the PEM and DER forms handed to C users are what OpenSSL expects, for every key
//! type, and OpenSSL verifies the IdP's signatures with them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use jwks::{Client, ClientOptions};
use support::keys::{claims, jwks, TestKey};
use support::server::TestServer;

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn tmp(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn openssl_reads_the_exported_keys_and_verifies_with_them() {
    let keys = [
        (TestKey::rsa("rsa", "RS256"), "Public-Key: (2048 bit)"),
        (TestKey::ec("p256", "ES256"), "prime256v1"),
        (TestKey::ec("p384", "ES384"), "secp384r1"),
        (TestKey::ec("p521", "ES512"), "secp521r1"),
        (TestKey::ed25519("ed"), "ED25519 Public-Key"),
    ];
    let server = TestServer::start();
    server.set_jwks(&jwks(&keys.iter().map(|(k, _)| k).collect::<Vec<_>>()));
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    let dir = std::env::temp_dir().join(format!("jwks-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    for (key, marker) in &keys {
        let exported = client.get_signing_key(&key.kid).unwrap();
        let pem = tmp(
            &dir,
            &format!("{}.pem", key.kid),
            exported.public_key_pem().as_bytes(),
        );
        let der = tmp(&dir, &format!("{}.der", key.kid), exported.public_key_der());
        let (ok, text) = openssl(&["pkey", "-pubin", "-in", &pem, "-noout", "-text"]);
        assert!(ok && text.contains(marker), "{}: {text}", key.kid);
        let (ok, text) = openssl(&["pkey", "-pubin", "-inform", "DER", "-in", &der]);
        assert!(ok, "{}: {text}", key.kid);
        assert_eq!(
            text,
            exported.public_key_pem(),
            "DER and PEM hold the same key"
        );

        let token = key.token(&claims());
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .unwrap();
        let data = tmp(&dir, "data", input.as_bytes());
        let sig = tmp(&dir, "sig", &sig);
        let verified = match key.alg {
            "RS256" => Some(openssl(&[
                "dgst",
                "-sha256",
                "-verify",
                &pem,
                "-signature",
                &sig,
                &data,
            ])),
            "EdDSA" => Some(openssl(&[
                "pkeyutl", "-verify", "-pubin", "-inkey", &pem, "-rawin", "-in", &data, "-sigfile",
                &sig,
            ])),
            _ => None, // JWS ECDSA signatures are raw r||s, not the DER OpenSSL's CLI takes
        };
        if let Some((ok, text)) = verified {
            assert!(ok, "{}: OpenSSL did not verify: {text}", key.kid);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
