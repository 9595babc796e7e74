//! What the server-module tests (nginx, Envoy) put behind a server: a JWKS server with an EC
//! and an RSA key, and an upstream that answers 200 on given paths and records the headers it
//! saw.
#![allow(dead_code)]

use super::keys::{jwks, TestKey};
use super::server::{Reply, TestServer};

pub struct Backends {
    pub jwks: TestServer,
    pub upstream: TestServer,
    pub ec: TestKey,
    pub rsa: TestKey,
}

/// The JWKS server and an upstream answering "upstream" on each of `paths`.
pub fn backends(paths: &[&str]) -> Backends {
    let (ec, rsa) = (TestKey::ec("ec", "ES256"), TestKey::rsa("rsa", "RS256"));
    let jwks_server = TestServer::start();
    jwks_server.set_jwks(&jwks(&[&ec, &rsa]));
    let upstream = TestServer::start();
    for path in paths {
        upstream.set(path, Reply::status(200, "upstream"));
    }
    Backends {
        jwks: jwks_server,
        upstream,
        ec,
        rsa,
    }
}

impl Backends {
    /// Serves the key set of `ec` and `rsa` at each of `paths` too, with
    /// `Cache-Control: max-age=3600` (the cache-time tests: an IdP asking for an hour).
    pub fn serve_for_an_hour(&self, paths: &[&str]) {
        let set = jwks(&[&self.ec, &self.rsa]);
        for path in paths {
            self.jwks.set(
                path,
                Reply::json(set.clone()).with_header("cache-control", "max-age=3600"),
            );
        }
    }
}
