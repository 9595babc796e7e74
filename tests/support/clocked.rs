//! A client on the injected clock against a JWKS server on 127.0.0.1, for the tests that move
//! time by hand (cache rules, background refresh).
#![allow(dead_code)]

use std::sync::Arc;

use jwks::{Client, ClientOptions, ManualClock};

use super::keys::{jwks, TestKey};
use super::server::TestServer;

pub struct Setup {
    pub server: TestServer,
    pub clock: Arc<ManualClock>,
    pub client: Client,
}

/// A server holding these keys and a client for it on a manual clock, with exact lifespans (no
/// jitter); `tweak` changes any other option first.
pub fn setup(keys: &[&TestKey], tweak: impl FnOnce(&mut ClientOptions)) -> Setup {
    let server = TestServer::start();
    server.set_jwks(&jwks(keys));
    let clock = Arc::new(ManualClock::starting_now());
    let mut options = ClientOptions::new(server.url("/jwks"));
    options.clock = clock.clone();
    options.refresh_jitter = 0.0;
    tweak(&mut options);
    let client = Client::new(options).unwrap();
    Setup {
        server,
        clock,
        client,
    }
}
