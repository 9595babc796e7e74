//! IdP outages: stale-if-error within max-stale, backoff of failed fetches counted in requests
//! over advancing (injected) time, and recovery.

mod support;

use std::sync::Arc;
use std::time::Duration;

use jwks::{Client, ClientOptions, ErrorKind, ManualClock};
use serde_json::json;
use support::keys::{jwks, now, TestKey};
use support::server::{Reply, TestServer};

/// Claims valid for a day: these tests advance the clock by hours.
fn claims() -> serde_json::Value {
    json!({"sub": "u", "exp": now() + 86_400})
}

struct Setup {
    clock: Arc<ManualClock>,
    client: Client,
}

fn setup(url: String) -> Setup {
    let clock = Arc::new(ManualClock::starting_now());
    let mut o = ClientOptions::new(url);
    o.clock = clock.clone();
    o.lifespan = Duration::from_secs(300);
    o.max_stale = Duration::from_secs(3600);
    o.failure_backoff = Duration::from_secs(2);
    o.failure_backoff_max = Duration::from_secs(16);
    o.refresh_jitter = 0.0;
    Setup {
        clock,
        client: Client::new(o).unwrap(),
    }
}

#[test]
fn killed_server_stale_keys_serve_flagged_until_max_stale_then_recovery() {
    let key = TestKey::ec("a", "ES256");
    let mut server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let port = server.port();
    let s = setup(server.url("/jwks"));
    let token = key.token(&claims());
    assert!(!s.client.verify(&token).unwrap().stale());

    drop(server); // the IdP dies
    s.clock.advance(Duration::from_secs(301));
    let v = s.client.verify(&token).unwrap();
    assert!(v.stale(), "served from the last good set, flagged");
    s.clock.advance(Duration::from_secs(3000));
    assert!(s.client.verify(&token).unwrap().stale());
    s.clock.advance(Duration::from_secs(600)); // 300 + 3600 past the fetch: max-stale reached
    let err = s.client.verify(&token).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");

    server = TestServer::start_on(port); // the IdP is back
    server.set_jwks(&jwks(&[&key]));
    s.clock.advance(Duration::from_secs(16)); // past the longest backoff
    let v = s.client.verify(&token).unwrap();
    assert!(!v.stale());
    assert_eq!(server.hits("/jwks"), 1);
}

#[test]
fn failed_fetches_back_off_exponentially_up_to_the_cap() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let s = setup(server.url("/jwks"));
    let token = key.token(&claims());
    s.client.verify(&token).unwrap();
    server.set("/jwks", Reply::status(503, "down"));
    s.clock.advance(Duration::from_secs(300));

    // Attempts at t = 0, 2, 6, 14, 30, 46 (waits 2, 4, 8, 16, 16): count the requests while
    // verifying every second; every verify succeeds from the stale set.
    let mut attempts_at = Vec::new();
    for t in 0..=50 {
        let before = server.hits("/jwks");
        assert!(s.client.verify(&token).unwrap().stale());
        support::settle(&s.client); // the refresh it started, if any
        if server.hits("/jwks") > before {
            attempts_at.push(t);
        }
        s.clock.advance(Duration::from_secs(1));
    }
    assert_eq!(attempts_at, [0, 2, 6, 14, 30, 46]);

    // Recovery: the next attempt succeeds and the backoff resets.
    server.set_jwks(&jwks(&[&key]));
    s.clock.advance(Duration::from_secs(16));
    assert!(s.client.verify(&token).unwrap().stale(), "answered at once");
    support::settle(&s.client);
    assert!(!s.client.verify(&token).unwrap().stale());
    let hits = server.hits("/jwks");
    s.client.verify(&token).unwrap();
    assert_eq!(server.hits("/jwks"), hits, "fresh again: cache hits");
}

#[test]
fn with_no_set_yet_failures_back_off_and_answer_with_the_last_error() {
    let server = TestServer::start();
    server.set("/jwks", Reply::status(500, "down"));
    let s = setup(server.url("/jwks"));
    let token = TestKey::ec("a", "ES256").token(&claims());
    for _ in 0..10 {
        assert_eq!(
            s.client.verify(&token).unwrap_err().kind(),
            ErrorKind::HttpStatus
        );
    }
    assert_eq!(
        server.hits("/jwks"),
        1,
        "one attempt, then the backoff answers"
    );
    s.clock.advance(Duration::from_secs(2));
    s.client.verify(&token).unwrap_err();
    assert_eq!(server.hits("/jwks"), 2);
}

#[test]
fn invalid_json_and_empty_sets_keep_the_last_good_keys() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let s = setup(server.url("/jwks"));
    let token = key.token(&claims());
    s.client.verify(&token).unwrap();
    for (i, reply) in [Reply::json("{oops"), Reply::json("{\"keys\": []}")]
        .into_iter()
        .enumerate()
    {
        server.set("/jwks", reply);
        s.clock.advance(Duration::from_secs(400));
        let v = s.client.verify(&token).unwrap();
        assert!(v.stale(), "case {i}");
        assert_eq!(s.client.get_jwk_set(false).unwrap().keys().len(), 1);
    }
}

#[test]
fn max_stale_zero_turns_stale_serving_off() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let clock = Arc::new(ManualClock::starting_now());
    let mut o = ClientOptions::new(server.url("/jwks"));
    o.clock = clock.clone();
    o.max_stale = Duration::ZERO;
    let client = Client::new(o).unwrap();
    let token = key.token(&claims());
    client.verify(&token).unwrap();
    server.set("/jwks", Reply::status(503, "down"));
    clock.advance(Duration::from_secs(300));
    assert_eq!(
        client.verify(&token).unwrap_err().kind(),
        ErrorKind::HttpStatus
    );
}

#[test]
fn a_flood_of_random_kids_is_bounded_and_does_not_hide_a_real_rotation() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let clock = Arc::new(ManualClock::starting_now());
    let mut o = ClientOptions::new(server.url("/jwks"));
    o.clock = clock.clone();
    o.min_refetch_interval = Duration::from_secs(60);
    o.lifespan = Duration::from_secs(300);
    o.refresh_jitter = 0.0;
    let client = Client::new(o).unwrap();
    client.verify(&key.token(&claims())).unwrap();
    let warm = server.hits("/jwks");

    let b64 = support::keys::b64;
    let payload = b64(claims().to_string().as_bytes());
    let rotated = TestKey::ec("rotated", "ES256");
    let rotated_token = rotated.token(&claims());
    let (mut published_at, mut verified_at) = (None, None);
    let step = Duration::from_millis(100);
    for i in 0..10_000u32 {
        // Unsigned: the signature is never checked, the unknown kid is refused first.
        let header = b64(format!(r#"{{"alg":"ES256","kid":"random-{i}"}}"#).as_bytes());
        let err = client
            .verify(&format!("{header}.{payload}.AAAA"))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::KeyNotFound);
        if i == 5_000 {
            server.set_jwks(&jwks(&[&key, &rotated]));
            published_at = Some(i);
        }
        if published_at.is_some() && verified_at.is_none() && client.verify(&rotated_token).is_ok()
        {
            verified_at = Some(i);
        }
        clock.advance(step);
    }
    let elapsed_secs = 10_000 * step.as_millis() as usize / 1000;
    // The flood's requests: one at once, then at most one per cooldown.
    let requests = server.hits("/jwks") - warm;
    assert!(
        requests <= 1 + elapsed_secs / 60,
        "{requests} requests in {elapsed_secs} s"
    );
    // The real new key verifies within the refetch interval + 1 s (610 steps of 100 ms).
    let waited = verified_at.expect("the rotated key verified") - published_at.unwrap();
    assert!(waited <= 610, "verified {waited} steps after publication");
}

#[test]
fn the_log_hook_sees_each_failure_once_and_the_recovery() {
    use std::sync::Mutex;
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set(
        "/jwks",
        Reply::status(503, "down").delayed(Duration::from_millis(100)),
    );
    let events: Arc<Mutex<Vec<(jwks::LogLevel, String)>>> = Arc::default();
    let clock = Arc::new(ManualClock::starting_now());
    let mut o = ClientOptions::new(server.url("/jwks"));
    o.clock = clock.clone();
    o.failure_backoff = Duration::from_secs(2);
    let sink = events.clone();
    o.logger = Some(jwks::Logger {
        hook: Arc::new(move |level, message: &str| {
            sink.lock().unwrap().push((level, message.to_owned()))
        }),
        max_level: jwks::LogLevel::Info,
    });
    let client = Client::new(o).unwrap();
    let token = key.token(&claims());
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| client.verify(&token).unwrap_err());
        }
    });
    for _ in 0..10 {
        client.verify(&token).unwrap_err(); // backing off: no request, no new event
    }
    assert_eq!(server.hits("/jwks"), 1);
    {
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].0, jwks::LogLevel::Error);
        assert!(events[0].1.contains("HTTP 503"), "{events:?}");
    }
    server.set_jwks(&jwks(&[&key]));
    clock.advance(Duration::from_secs(2));
    client.verify(&token).unwrap();
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1].0, jwks::LogLevel::Info);
    assert!(events[1].1.contains("fetched again"), "{events:?}");
}

/// A zero failure backoff (PyJWT's behaviour, which libjwks's PyJWKClient keeps) tries the IdP
/// again at every lookup that needs the set; the default answers the last error meanwhile.
#[test]
fn a_zero_failure_backoff_tries_again_at_every_lookup() {
    let key = TestKey::ec("k", "ES256");
    let token = key.token(&claims());
    for (backoff, requests) in [
        (Duration::ZERO, [1, 2, 3]),
        (Duration::from_secs(2), [1, 1, 1]),
    ] {
        let server = TestServer::start();
        server.set("/jwks", Reply::status(503, "down"));
        let clock = Arc::new(ManualClock::starting_now());
        let mut o = ClientOptions::new(server.url("/jwks"));
        o.clock = clock.clone();
        o.failure_backoff = backoff;
        let c = Client::new(o).unwrap();
        for expected in requests {
            let err = c.verify(&token).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::HttpStatus, "{err}");
            assert_eq!(server.hits("/jwks"), expected, "backoff {backoff:?}");
            clock.advance(Duration::from_millis(100));
        }
        server.set_jwks(&jwks(&[&key]));
        clock.advance(backoff);
        c.verify(&token).unwrap();
    }
}
