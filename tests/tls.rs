//! HTTPS: the right CA verifies, the wrong CA is a TLS error, and the insecure switch works.

mod support;

use jwks::{Client, ClientOptions, ErrorKind};
use support::keys::{claims, jwks, TestKey};
use support::server::TestServer;
use support::tls::make_ca;

#[test]
fn https_with_the_right_ca_verifies() {
    let ca = make_ca("libjwks test CA");
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start_tls(ca.server_config.clone());
    server.set_jwks(&jwks(&[&key]));
    let mut o = ClientOptions::new(server.url("/jwks"));
    o.ca_pem = ca.ca_pem.clone().into_bytes();
    let client = Client::new(o).unwrap();
    client.verify(&key.token(&claims())).unwrap();
    assert_eq!(server.hits("/jwks"), 1);
}

#[test]
fn ca_file_works_like_ca_pem() {
    let ca = make_ca("libjwks test CA");
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start_tls(ca.server_config.clone());
    server.set_jwks(&jwks(&[&key]));
    let path = std::env::temp_dir().join(format!("jwks-ca-{}.pem", std::process::id()));
    std::fs::write(&path, &ca.ca_pem).unwrap();
    let mut o = ClientOptions::new(server.url("/jwks").replace("127.0.0.1", "localhost"));
    o.ca_files = vec![path.clone()];
    let result = Client::new(o).unwrap().verify(&key.token(&claims()));
    std::fs::remove_file(&path).unwrap();
    result.unwrap();
}

#[test]
fn https_with_the_wrong_ca_is_a_tls_error() {
    let ca = make_ca("libjwks test CA");
    let other = make_ca("some other CA");
    let server = TestServer::start_tls(ca.server_config.clone());
    server.set_jwks(&jwks(&[&TestKey::ec("a", "ES256")]));
    for trusted in [Some(other.ca_pem.clone()), None] {
        let mut o = ClientOptions::new(server.url("/jwks"));
        o.ca_pem = trusted.unwrap_or_default().into_bytes();
        let err = Client::new(o).unwrap().get_jwk_set(false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        assert!(err.message().contains("UnknownIssuer"), "{err}");
    }
    assert_eq!(server.hits("/jwks"), 0);
}

#[test]
fn insecure_switch_skips_verification() {
    let ca = make_ca("libjwks test CA");
    let server = TestServer::start_tls(ca.server_config.clone());
    server.set_jwks(&jwks(&[&TestKey::ec("a", "ES256")]));
    let mut o = ClientOptions::new(server.url("/jwks"));
    o.danger_accept_invalid_certs = true;
    Client::new(o).unwrap().get_jwk_set(false).unwrap();
}

#[test]
fn bad_ca_input_is_a_config_error() {
    let mut o = ClientOptions::new("https://127.0.0.1:1/jwks");
    o.ca_pem = b"not a certificate".to_vec();
    assert_eq!(
        Client::new(o).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let mut o = ClientOptions::new("https://127.0.0.1:1/jwks");
    o.ca_files = vec!["/nonexistent/ca.pem".into()];
    let err = Client::new(o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("/nonexistent/ca.pem"));
}

#[test]
fn https_to_http_redirect_is_refused() {
    let ca = make_ca("libjwks test CA");
    let plain = TestServer::start();
    plain.set_jwks(&jwks(&[&TestKey::ec("a", "ES256")]));
    let secure = TestServer::start_tls(ca.server_config.clone());
    secure.set(
        "/jwks",
        support::server::Reply::redirect(&plain.url("/jwks")),
    );
    let mut o = ClientOptions::new(secure.url("/jwks"));
    o.ca_pem = ca.ca_pem.clone().into_bytes();
    let err = Client::new(o).unwrap().get_jwk_set(false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirect);
    assert_eq!(plain.hits("/jwks"), 0);
}
