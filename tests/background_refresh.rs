//! No call waits for a refresh once a set is cached; rotated keys verify within the refetch
//! interval, flood or not; refreshes run ahead of expiry. The server holds its answers where a
//! test must prove that a call did not wait: a call that waited would never return.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use jwks::{Client, ClientOptions, ErrorKind, ManualClock};
use serde_json::json;
use support::keys::{b64, claims, jwks, TestKey};
use support::server::{Reply, TestServer};
use support::{settle, wait_until};

use support::clocked::{setup, Setup};

/// Runs `n` copies of `call` on their own threads and waits until all returned; a call that
/// blocks makes this fail (after 20 s) instead of hanging the test.
fn all_return<T: Send + 'static>(n: usize, call: impl Fn() -> T + Send + Sync + 'static) -> Vec<T> {
    let call = Arc::new(call);
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (call, done) = (call.clone(), done.clone());
            thread::spawn(move || {
                let result = call();
                done.fetch_add(1, Ordering::SeqCst);
                result
            })
        })
        .collect();
    wait_until("every call to return", || done.load(Ordering::SeqCst) == n);
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// Starts `n` threads that each verify `token` once (they may block); `done` counts those
/// that returned.
fn verify_on_threads(
    client: &Client,
    token: &str,
    n: usize,
    done: &Arc<AtomicUsize>,
) -> Vec<thread::JoinHandle<jwks::Result<jwks::Verified>>> {
    (0..n)
        .map(|_| {
            let (client, token, done) = (client.clone(), token.to_owned(), done.clone());
            thread::spawn(move || {
                let result = client.verify(&token);
                done.fetch_add(1, Ordering::SeqCst);
                result
            })
        })
        .collect()
}

/// A token whose kid the set has never had; unsigned (the kid is refused before the
/// signature is looked at).
fn random_kid_token(i: u64) -> String {
    let header = b64(format!(r#"{{"alg":"ES256","kid":"random-{i}"}}"#).as_bytes());
    format!("{header}.{}.AAAA", b64(claims().to_string().as_bytes()))
}

#[test]
fn after_expiry_every_caller_answers_while_one_held_request_refreshes() {
    let key = TestKey::ec("a", "ES256");
    let s = setup(&[&key], |_| {});
    let token = key.token(&claims());
    s.client.verify(&token).unwrap();
    s.server.hold("/jwks");
    s.clock.advance(Duration::from_secs(300));

    let (client, t) = (s.client.clone(), token.clone());
    let answers = all_return(8, move || client.verify(&t).map(|v| v.stale()));
    assert!(answers.iter().all(|a| matches!(a, Ok(true))), "{answers:?}");
    // The other blocking calls answer from the cached set too.
    s.client.get_signing_key("a").unwrap();
    s.client.get_signing_key_from_jwt(&token).unwrap();
    s.client.get_jwk_set(false).unwrap();
    wait_until("the refresh to reach the server", || {
        s.server.held("/jwks") == 1
    });
    assert_eq!(s.server.hits("/jwks"), 2, "exactly one refresh request");
    let stats = s.client.stats();
    assert_eq!(stats.refreshing, 1);
    assert_eq!(stats.served_while_refreshing, 11, "{stats:?}");
    assert_eq!(stats.cache_misses, 1, "only the cold start waited");

    s.server.release("/jwks");
    settle(&s.client);
    let v = s.client.verify(&token).unwrap();
    assert!(!v.stale(), "fresh once the refresh landed");
    let stats = s.client.stats();
    assert_eq!((stats.background_refreshes, stats.refreshing), (1, 0));
    assert_eq!(s.server.hits("/jwks"), 2);
}

#[test]
fn past_max_stale_callers_wait_for_the_fetch() {
    let key = TestKey::ec("a", "ES256");
    let s = setup(&[&key], |o| o.max_stale = Duration::from_secs(60));
    let token = key.token(&claims());
    s.client.verify(&token).unwrap();
    s.server.set("/jwks", Reply::status(503, "down"));
    s.clock.advance(Duration::from_secs(360));
    // Too old to serve: this caller fetches and gets the fetch's error.
    assert_eq!(
        s.client.verify(&token).unwrap_err().kind(),
        ErrorKind::HttpStatus
    );
    assert_eq!(s.client.stats().cache_misses, 2);
}

/// A client warmed with key "old"; then the IdP publishes "new" but holds its answers.
/// Returns the setup, the old key's token and the new key's token.
fn rotation_held() -> (Setup, String, String) {
    let old = TestKey::ec("old", "ES256");
    let new = TestKey::ec("new", "ES256");
    let s = setup(&[&old], |_| {});
    let old_token = old.token(&claims());
    s.client.verify(&old_token).unwrap();
    s.server.set_jwks(&jwks(&[&old, &new]));
    s.server.hold("/jwks");
    (s, old_token, new.token(&claims()))
}

#[test]
fn a_hundred_tokens_of_a_new_kid_share_one_held_refetch_while_random_kids_answer_at_once() {
    let (s, old_token, new_token) = rotation_held();

    let done = Arc::new(AtomicUsize::new(0));
    let waiting = verify_on_threads(&s.client, &new_token, 100, &done);
    wait_until("the new kid's refetch to reach the server", || {
        s.server.held("/jwks") == 1
    });
    // While it is held: random kids are refused at once, known kids verify at once.
    let client = s.client.clone();
    let flood = all_return(1, move || {
        (0..1000)
            .map(|i| client.verify(&random_kid_token(i)).unwrap_err().kind())
            .collect::<Vec<_>>()
    });
    assert!(flood[0].iter().all(|k| *k == ErrorKind::KeyNotFound));
    let client = s.client.clone();
    all_return(4, move || client.verify(&old_token).unwrap());
    assert_eq!(done.load(Ordering::SeqCst), 0, "the new kid's callers wait");

    s.server.release("/jwks");
    for handle in waiting {
        assert_eq!(handle.join().unwrap().unwrap().kid(), Some("new"));
    }
    assert_eq!(s.server.hits("/jwks"), 2, "one refetch for all 100");
    let stats = s.client.stats();
    assert_eq!(stats.unknown_kid_refetches, 1);
    assert_eq!(stats.unknown_kid_rate_limited, 1000);
}

#[test]
fn a_rotation_during_a_random_kid_flood_verifies_within_the_interval() {
    let old = TestKey::ec("old", "ES256");
    let rotated = TestKey::ec("rotated", "ES256");
    let interval = Duration::from_secs(60);
    // Lifespan 300 s: only the flood's refetches can bring the new key.
    let s = setup(&[&old], |o| o.min_refetch_interval = interval);
    s.client.verify(&old.token(&claims())).unwrap();
    let rotated_token = rotated.token(&claims());
    let step = Duration::from_millis(1); // 1,000 random kids a second
    let total_ms: u64 = 200_000;
    // Published just after a flood refetch (at 60 s), so the next is a whole interval away.
    let publish_at: u64 = 60_001;
    let mut verified_at = None;
    for ms in 0..total_ms {
        let err = s.client.verify(&random_kid_token(ms)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::KeyNotFound);
        if ms == publish_at {
            s.server.set_jwks(&jwks(&[&old, &rotated]));
        }
        // Tokens with the new kid every 100 ms from its publication.
        let new_token_due = ms >= publish_at && (ms - publish_at).is_multiple_of(100);
        if new_token_due && verified_at.is_none() && s.client.verify(&rotated_token).is_ok() {
            verified_at = Some(ms);
        }
        s.clock.advance(step);
    }
    let waited = verified_at.expect("the rotated key verified") - publish_at;
    assert!(
        waited <= interval.as_millis() as u64 + 1000,
        "verified {waited} ms after publication"
    );
    let stats = s.client.stats();
    let elapsed = Duration::from_millis(total_ms);
    assert!(
        stats.unknown_kid_refetches <= 1 + (elapsed.as_secs() / interval.as_secs()),
        "{stats:?}"
    );
    assert_eq!(
        s.server.hits("/jwks") as u64,
        1 + stats.unknown_kid_refetches,
        "every request is the warm-up or an unknown-kid refetch"
    );
}

#[test]
fn refresh_ahead_keeps_ten_lifespans_of_steady_traffic_fresh() {
    let key = TestKey::ec("a", "ES256");
    let s = setup(&[&key], |o| o.lifespan = Duration::from_secs(100));
    let token = key.token(&claims());
    s.client.verify(&token).unwrap();
    for _ in 0..1000 {
        s.clock.advance(Duration::from_secs(1));
        assert!(!s.client.verify(&token).unwrap().stale());
        settle(&s.client);
    }
    let stats = s.client.stats();
    assert_eq!(stats.stale_serves, 0, "{stats:?}");
    assert_eq!(
        stats.cache_misses, 1,
        "only the cold start fetched: {stats:?}"
    );
    // Renewed at 80 s each time: 1000 s / 80 s.
    assert_eq!(stats.background_refreshes, 12, "{stats:?}");
    assert_eq!(s.server.hits("/jwks"), 13);
}

#[test]
fn without_refresh_ahead_the_refresh_starts_at_expiry_and_nobody_waits() {
    let key = TestKey::ec("a", "ES256");
    let s = setup(&[&key], |o| {
        o.lifespan = Duration::from_secs(100);
        o.refresh_ahead = false;
    });
    let token = key.token(&claims());
    s.client.verify(&token).unwrap();
    let mut stale = 0;
    for _ in 0..300 {
        s.clock.advance(Duration::from_secs(1));
        stale += usize::from(s.client.verify(&token).unwrap().stale());
        settle(&s.client);
    }
    // At 100, 200 and 300 s the set had just expired: that one answer was stale.
    assert_eq!(stale, 3);
    assert_eq!(s.client.stats().cache_misses, 1);
    assert_eq!(s.server.hits("/jwks"), 4);
}

#[test]
fn with_the_set_cache_off_every_blocking_call_fetches() {
    let key = TestKey::ec("a", "ES256");
    let s = setup(&[&key], |o| o.cache_jwk_set = false);
    let token = key.token(&claims());
    for i in 1..=3 {
        assert!(!s.client.verify(&token).unwrap().stale());
        assert_eq!(s.server.hits("/jwks"), i);
    }
    assert_eq!(s.client.stats().background_refreshes, 0);
}

#[test]
fn non_blocking_verify_of_a_kidless_token_never_fetches_on_the_callers_thread() {
    let key = TestKey::ec("a", "ES256");
    let s = setup(&[&key], |o| {
        o.allow_missing_kid = true;
        o.cache_jwk_set = false; // every blocking call fetches, the non-blocking one must not
    });
    let kidless = key.sign_with("ES256", &json!({"alg": "ES256"}), &claims());
    s.client.verify(&kidless).unwrap();
    s.server.hold("/jwks");
    let client = s.client.clone();
    let answers = all_return(1, move || {
        client.verify_nonblocking(&kidless).map(|v| v.stale())
    });
    // Answered from the last set (with the cache off, always past its lifespan).
    assert!(matches!(answers[0], Ok(true)), "{:?}", answers[0]);
    s.server.release("/jwks");
    settle(&s.client);
}

/// An issuer whose configuration and keys are served from `/<name>` on `server`.
fn issuer(server: &TestServer, name: &str, key: &TestKey) -> String {
    let iss = server.url(&format!("/{name}"));
    server.set(
        &format!("/{name}/.well-known/openid-configuration"),
        Reply::json(
            json!({"issuer": iss, "jwks_uri": server.url(&format!("/{name}/jwks"))}).to_string(),
        ),
    );
    server.set(&format!("/{name}/jwks"), Reply::json(jwks(&[key])));
    iss
}

fn iss_token(key: &TestKey, iss: &str) -> String {
    key.token(&json!({"iss": iss, "sub": "s", "exp": support::keys::now() + 7200}))
}

/// A discovery-mode client for `issuers` on the injected clock (no jitter), tweaked.
fn discovery_client(
    issuers: &[&str],
    tweak: impl FnOnce(&mut ClientOptions),
) -> (Client, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_now());
    let mut o = ClientOptions::default();
    o.discovery.allowed_issuers = issuers.iter().map(|i| i.to_string()).collect();
    o.clock = clock.clone();
    o.refresh_jitter = 0.0;
    tweak(&mut o);
    (Client::new(o).unwrap(), clock)
}

#[test]
fn discovery_answers_while_a_held_rediscovery_and_key_refresh_run() {
    let key = TestKey::ec("k", "ES256");
    let server = TestServer::start();
    let iss = issuer(&server, "idp", &key);
    let config = "/idp/.well-known/openid-configuration";
    let (client, clock) = discovery_client(&[&iss], |_| {});
    let token = iss_token(&key, &iss);
    client.verify(&token).unwrap();

    // Ahead of the TTL (80% of 3600 s): both documents refresh in the background.
    server.hold(config);
    server.hold("/idp/jwks");
    clock.advance(Duration::from_secs(2880));
    let (c, t) = (client.clone(), token.clone());
    let answers = all_return(8, move || c.verify(&t).map(|v| v.stale()));
    assert!(
        answers.iter().all(|a| matches!(a, Ok(false))),
        "{answers:?}"
    );
    wait_until("both refreshes to reach the server", || {
        server.held(config) == 1 && server.held("/idp/jwks") == 1
    });
    // Past the TTL while they are still held: stale answers, still at once.
    clock.advance(Duration::from_secs(720));
    let (c, t) = (client.clone(), token.clone());
    let answers = all_return(8, move || c.verify(&t).map(|v| v.stale()));
    assert!(answers.iter().all(|a| matches!(a, Ok(true))), "{answers:?}");
    assert_eq!((server.hits(config), server.hits("/idp/jwks")), (2, 2));
    assert_eq!(client.stats().refreshing, 2);

    server.release(config);
    server.release("/idp/jwks");
    settle(&client);
    assert!(!client.verify(&token).unwrap().stale());
    assert_eq!((server.hits(config), server.hits("/idp/jwks")), (2, 2));
    assert_eq!(client.stats().background_refreshes, 2);
}

#[test]
fn the_background_refresher_renews_idle_sets_on_the_injected_clock() {
    let key = TestKey::ec("a", "ES256");
    let s = setup(&[&key], |o| {
        o.lifespan = Duration::from_secs(100);
        o.background_refresh = true;
    });
    s.client.warm_up().unwrap();
    s.clock.advance(Duration::from_secs(79));
    // Not due: give the refresher time to look (it reads the clock every 5 ms).
    thread::sleep(Duration::from_millis(50));
    assert_eq!(s.server.hits("/jwks"), 1);
    for round in 2..=4 {
        s.clock.advance(Duration::from_secs(1));
        wait_until("the refresher's refresh", || {
            s.server.hits("/jwks") == round
        });
        settle(&s.client);
        s.clock.advance(Duration::from_secs(79));
    }
    let stats = s.client.stats();
    assert_eq!((stats.background_refreshes, stats.cache_misses), (3, 1));
    assert_eq!(stats.cache_hits, 0, "no lookup was needed: {stats:?}");
}

#[test]
fn the_background_refresher_renews_discovered_issuers_too() {
    let key = TestKey::ec("k", "ES256");
    let server = TestServer::start();
    let iss = issuer(&server, "idp", &key);
    let config = "/idp/.well-known/openid-configuration";
    let (client, clock) = discovery_client(&[&iss], |o| o.background_refresh = true);
    client.warm_up().unwrap();
    clock.advance(Duration::from_secs(2880)); // 80% of the 3600 s issuer TTL
    wait_until("the configuration and the keys to be refreshed", || {
        (server.hits(config), server.hits("/idp/jwks")) == (2, 2)
    });
    settle(&client);
    assert_eq!(client.stats().background_refreshes, 2);
}

#[test]
fn callers_with_a_new_kid_share_a_claim_that_waits_on_a_background_refresh() {
    let (s, old_token, new_token) = rotation_held();
    s.clock.advance(Duration::from_secs(300));
    assert!(s.client.verify(&old_token).unwrap().stale());
    wait_until("the background refresh to reach the server", || {
        s.server.held("/jwks") == 1
    });
    // The first new-kid caller claims the refetch and waits for the refresh in flight; the
    // others share its claim instead of being refused.
    let done = Arc::new(AtomicUsize::new(0));
    let waiting = verify_on_threads(&s.client, &new_token, 20, &done);
    let client = s.client.clone();
    all_return(1, move || {
        for i in 0..100 {
            let err = client.verify(&random_kid_token(i)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::KeyNotFound);
        }
    });
    assert_eq!(done.load(Ordering::SeqCst), 0);
    s.server.release("/jwks");
    for handle in waiting {
        assert!(
            !handle.join().unwrap().unwrap().stale(),
            "fresh: the refresh brought it"
        );
    }
    assert_eq!(s.server.hits("/jwks"), 2, "the refresh brought the new key");
    assert_eq!(s.client.stats().unknown_kid_refetches, 0);
}

#[test]
fn an_issuer_whose_refreshes_hang_does_not_hold_up_another_issuers_fetch() {
    let key = TestKey::ec("k", "ES256");
    let server = TestServer::start();
    let (a, b) = (issuer(&server, "a", &key), issuer(&server, "b", &key));
    let (client, clock) = discovery_client(&[&a, &b], |_| {});
    client.verify(&iss_token(&key, &a)).unwrap();
    server.hold("/a/.well-known/openid-configuration");
    server.hold("/a/jwks");
    clock.advance(Duration::from_secs(3600));
    client.verify(&iss_token(&key, &a)).unwrap();
    wait_until("a's refreshes to hang", || {
        server.held("/a/.well-known/openid-configuration") == 1 && server.held("/a/jwks") == 1
    });
    // b's first token: its discovery and keys are fetched on other worker threads.
    let b_token = iss_token(&key, &b);
    wait_until("b's keys", || client.verify_nonblocking(&b_token).is_ok());
    server.release("/a/.well-known/openid-configuration");
    server.release("/a/jwks");
    settle(&client);
}

#[test]
fn a_rediscovered_jwks_uri_is_fetched_before_the_issuer_switches_to_it() {
    let key = TestKey::ec("k", "ES256");
    let server = TestServer::start();
    let iss = issuer(&server, "idp", &key);
    let (client, clock) = discovery_client(&[&iss], |_| {});
    let token = iss_token(&key, &iss);
    client.verify(&token).unwrap();

    // The IdP moves its keys; the new URL answers only when released.
    server.set(
        "/idp/.well-known/openid-configuration",
        Reply::json(json!({"issuer": iss, "jwks_uri": server.url("/idp/moved")}).to_string()),
    );
    server.set("/idp/moved", Reply::json(jwks(&[&key])));
    server.hold("/idp/moved");
    clock.advance(Duration::from_secs(2880));
    client.verify_nonblocking(&token).unwrap();
    wait_until("the moved set to be fetched", || {
        server.held("/idp/moved") == 1
    });
    // Meanwhile the known set answers, blocking or not.
    let (c, t) = (client.clone(), token.clone());
    let answers = all_return(4, move || {
        (c.verify(&t).is_ok(), c.verify_nonblocking(&t).is_ok())
    });
    assert!(answers.iter().all(|a| *a == (true, true)), "{answers:?}");
    server.release("/idp/moved");
    settle(&client);
    clock.advance(Duration::from_secs(1000)); // past the old set's TTL: only the new one serves
    assert!(!client.verify(&token).unwrap().stale());
    assert_eq!(server.hits("/idp/moved"), 1);
}
