//! Event-loop use: non-blocking verification (pending, then ready), warm-up, background
//! refresh, and freeing a client while a fetch is in flight.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jwks::{Client, ClientOptions, ErrorKind, ManualClock};
use serde_json::json;
use support::keys::{claims, jwks, now, TestKey};
use support::server::{Reply, TestServer};

/// Polls `f` every 10 ms until it stops answering Pending (at most 5 s).
fn until_ready<T>(mut f: impl FnMut() -> jwks::Result<T>) -> jwks::Result<T> {
    let start = Instant::now();
    loop {
        match f() {
            Err(e)
                if e.kind() == ErrorKind::Pending && start.elapsed() < Duration::from_secs(5) =>
            {
                std::thread::sleep(Duration::from_millis(10))
            }
            other => return other,
        }
    }
}

#[test]
fn pending_then_ready_without_ever_waiting() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set(
        "/jwks",
        Reply::json(jwks(&[&key])).delayed(Duration::from_millis(300)),
    );
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    let token = key.token(&claims());
    let started = Instant::now();
    let err = client.verify_nonblocking(&token).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Pending);
    for _ in 0..50 {
        assert_eq!(
            client.verify_nonblocking(&token).unwrap_err().kind(),
            ErrorKind::Pending
        );
    }
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "never waited on the fetch"
    );
    let v = until_ready(|| client.verify_nonblocking(&token)).unwrap();
    assert!(!v.stale());
    assert_eq!(
        server.hits("/jwks"),
        1,
        "one background fetch for all those calls"
    );
}

#[test]
fn an_expired_set_answers_stale_at_once_while_it_is_refreshed() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let clock = Arc::new(ManualClock::starting_now());
    let mut o = ClientOptions::new(server.url("/jwks"));
    o.clock = clock.clone();
    o.refresh_jitter = 0.0;
    let client = Client::new(o).unwrap();
    let token = key.token(&claims());
    client.verify(&token).unwrap();
    server.set(
        "/jwks",
        Reply::json(jwks(&[&key])).delayed(Duration::from_millis(300)),
    );
    clock.advance(Duration::from_secs(301));
    let started = Instant::now();
    assert!(client.verify_nonblocking(&token).unwrap().stale());
    assert!(started.elapsed() < Duration::from_millis(250));
    let fresh = until_ready(|| {
        let v = client.verify_nonblocking(&token)?;
        if v.stale() {
            Err(jwks::Error::new(ErrorKind::Pending, "still stale"))
        } else {
            Ok(v)
        }
    });
    assert!(!fresh.unwrap().stale());
    assert_eq!(server.hits("/jwks"), 2);
}

#[test]
fn an_unknown_kid_is_pending_once_then_not_found() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    client.verify(&key.token(&claims())).unwrap();
    let stranger = TestKey::ec("x", "ES256").token(&claims());
    assert_eq!(
        client.verify_nonblocking(&stranger).unwrap_err().kind(),
        ErrorKind::Pending
    );
    let err = until_ready(|| client.verify_nonblocking(&stranger)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyNotFound);
    assert_eq!(server.hits("/jwks"), 2);
    let other = TestKey::ec("y", "ES256").token(&claims());
    assert_eq!(
        client.verify_nonblocking(&other).unwrap_err().kind(),
        ErrorKind::KeyNotFound,
        "rate-limited: refused at once, nothing scheduled"
    );
    assert_eq!(server.hits("/jwks"), 2);
}

#[test]
fn discovery_is_non_blocking_too_and_warm_up_prefetches() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    let iss = server.url("/idp");
    server.set(
        "/idp/.well-known/openid-configuration",
        Reply::json(json!({"issuer": iss, "jwks_uri": server.url("/idp/jwks")}).to_string()),
    );
    server.set("/idp/jwks", Reply::json(jwks(&[&key])));
    let token = key.token(&json!({"iss": iss, "exp": now() + 600}));
    let mut o = ClientOptions::default();
    o.discovery.allowed_issuers = vec![iss.clone()];
    let client = Client::new(o.clone()).unwrap();
    assert_eq!(
        client.verify_nonblocking(&token).unwrap_err().kind(),
        ErrorKind::Pending
    );
    until_ready(|| client.verify_nonblocking(&token)).unwrap();

    let warmed = Client::new(o).unwrap();
    warmed.warm_up().unwrap();
    assert!(
        warmed.verify_nonblocking(&token).is_ok(),
        "warm: answered at once"
    );
    assert_eq!(server.hits("/idp/.well-known/openid-configuration"), 2);
    assert_eq!(server.hits("/idp/jwks"), 2);

    let mut bad = ClientOptions::default();
    bad.discovery.allowed_issuers = vec![server.url("/nowhere")];
    assert_eq!(
        Client::new(bad).unwrap().warm_up().unwrap_err().kind(),
        ErrorKind::Discovery
    );
}

#[test]
fn background_refresh_keeps_the_cache_from_ever_missing() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let mut o = ClientOptions::new(server.url("/jwks"));
    o.lifespan = Duration::from_millis(400);
    o.refresh_jitter = 0.0;
    o.background_refresh = true;
    let client = Client::new(o).unwrap();
    client.warm_up().unwrap();
    let token = key.token(&claims());
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2000) {
        let v = client
            .verify_nonblocking(&token)
            .expect("never pending once warm");
        assert!(!v.stale());
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = client.stats();
    assert_eq!(stats.cache_misses, 1, "only the warm-up missed: {stats:?}");
    assert!(
        server.hits("/jwks") >= 4,
        "refreshed across several expiries"
    );
}

#[test]
fn dropping_a_client_does_not_wait_for_a_fetch_in_flight() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set(
        "/jwks",
        Reply::json(jwks(&[&key])).delayed(Duration::from_secs(2)),
    );
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    assert_eq!(
        client
            .verify_nonblocking(&key.token(&claims()))
            .unwrap_err()
            .kind(),
        ErrorKind::Pending
    );
    std::thread::sleep(Duration::from_millis(100)); // the worker is inside the fetch
    let started = Instant::now();
    drop(client);
    assert!(started.elapsed() < Duration::from_millis(100));
}
