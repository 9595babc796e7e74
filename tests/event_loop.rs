//! Event-loop use: non-blocking verification (pending, then ready), warm-up, background
//! refresh, and freeing a client while a fetch is in flight.

mod support;

use support::guarded;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jwks::{Client, ClientOptions, ErrorKind, ManualClock};
use serde_json::json;
use support::keys::{claims, jwks, now, TestKey};
use support::server::{Reply, TestServer};
use support::wait_until;

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
    server.set_jwks(&jwks(&[&key]));
    server.hold("/jwks");
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    let token = key.token(&claims());
    let (c, t) = (client.clone(), token.clone());
    guarded("51 non-blocking calls while the fetch is held", move || {
        let err = c.verify_nonblocking(&t).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Pending);
        for _ in 0..50 {
            assert_eq!(
                c.verify_nonblocking(&t).unwrap_err().kind(),
                ErrorKind::Pending
            );
        }
    });
    wait_until("the fetch to be in flight, held", || {
        server.held("/jwks") == 1
    });
    server.release("/jwks");
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
    server.hold("/jwks");
    clock.advance(Duration::from_secs(301));
    let (c, t) = (client.clone(), token.clone());
    let stale = guarded("a stale answer while the refresh is held", move || {
        c.verify_nonblocking(&t).unwrap().stale()
    });
    assert!(stale);
    wait_until("the refresh to reach the server", || {
        server.held("/jwks") == 1
    });
    server.release("/jwks");
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
    // The refresher reads the injected clock: each step past 80% of the lifespan makes it
    // renew the set, and lookups never miss nor go stale.
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let clock = Arc::new(ManualClock::starting_now());
    let mut o = ClientOptions::new(server.url("/jwks"));
    o.clock = clock.clone();
    o.refresh_jitter = 0.0;
    o.background_refresh = true;
    let client = Client::new(o).unwrap();
    client.warm_up().unwrap();
    let token = key.token(&claims());
    for round in 1..=4 {
        clock.advance(Duration::from_secs(250)); // past 240 s, 80% of the 300 s lifespan
        wait_until("the refresher to renew the set", || {
            server.hits("/jwks") == round + 1
        });
        support::settle(&client);
        let v = client
            .verify_nonblocking(&token)
            .expect("never pending once warm");
        assert!(!v.stale(), "round {round}");
    }
    let stats = client.stats();
    assert_eq!(stats.cache_misses, 1, "only the warm-up missed: {stats:?}");
}

#[test]
fn dropping_a_client_does_not_wait_for_a_fetch_in_flight() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    server.hold("/jwks");
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    assert_eq!(
        client
            .verify_nonblocking(&key.token(&claims()))
            .unwrap_err()
            .kind(),
        ErrorKind::Pending
    );
    wait_until("the worker to be inside the fetch", || {
        server.held("/jwks") == 1
    });
    // The fetch stays held until after the drop: a drop that waited would never return.
    guarded("dropping the client", move || drop(client));
    server.release("/jwks");
}

use std::sync::atomic::{AtomicUsize, Ordering};

use jwks::AsyncVerify;

/// Counts one callback per call; records the last result's error kind (None = success).
#[derive(Default)]
struct Calls {
    count: AtomicUsize,
    ok: AtomicUsize,
}

fn callback(calls: &Arc<Calls>) -> jwks::Callback {
    let calls = calls.clone();
    Box::new(move |result: jwks::Result<jwks::Verified>| {
        if result.is_ok() {
            calls.ok.fetch_add(1, Ordering::SeqCst);
        }
        calls.count.fetch_add(1, Ordering::SeqCst);
    })
}

#[test]
fn async_callbacks_come_exactly_once_under_concurrency() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set(
        "/jwks",
        Reply::json(jwks(&[&key])).delayed(Duration::from_millis(200)),
    );
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    let token = key.token(&claims());
    // 100 calls from 8 threads: the first ones miss (pending), later ones hit (ready).
    let results: Vec<(Arc<Calls>, Option<jwks::Request>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (client, token) = (client.clone(), token.clone());
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..(if t < 4 { 13 } else { 12 }) {
                        if i == 6 {
                            std::thread::sleep(Duration::from_millis(300));
                        }
                        let calls = Arc::new(Calls::default());
                        match client.verify_async(&token, None, callback(&calls)).unwrap() {
                            AsyncVerify::Ready(v) => {
                                assert_eq!(v.kid(), Some("a"));
                                mine.push((calls, None));
                            }
                            AsyncVerify::Pending(request) => mine.push((calls, Some(request))),
                        }
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(results.len(), 100);
    for (_, request) in &results {
        if let Some(r) = request {
            wait_until("the request to finish", || r.is_finished());
        }
    }
    let (mut pending, mut ready) = (0, 0);
    for (calls, request) in &results {
        if request.is_some() {
            pending += 1;
            assert_eq!(
                calls.count.load(Ordering::SeqCst),
                1,
                "exactly one callback"
            );
            assert_eq!(calls.ok.load(Ordering::SeqCst), 1);
        } else {
            ready += 1;
            assert_eq!(
                calls.count.load(Ordering::SeqCst),
                0,
                "no callback for a cache hit"
            );
        }
    }
    assert!(
        pending >= 8 && ready >= 8,
        "a mix: {pending} pending, {ready} ready"
    );
    assert_eq!(client.stats().pending_requests, 0);
    assert_eq!(server.hits("/jwks"), 1);
}

#[test]
fn cancel_before_completion_means_no_callback_and_after_it_changes_nothing() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set(
        "/jwks",
        Reply::json(jwks(&[&key])).delayed(Duration::from_millis(300)),
    );
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    let token = key.token(&claims());
    let early = Arc::new(Calls::default());
    let AsyncVerify::Pending(request) =
        client.verify_async(&token, None, callback(&early)).unwrap()
    else {
        panic!("expected pending")
    };
    assert_eq!(client.stats().pending_requests, 1);
    request.cancel();
    assert!(request.is_finished());
    assert_eq!(client.stats().pending_requests, 0);
    let late = Arc::new(Calls::default());
    let AsyncVerify::Pending(second) = client.verify_async(&token, None, callback(&late)).unwrap()
    else {
        panic!("expected pending")
    };
    wait_until("the callbacks", || second.is_finished());
    second.cancel();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(early.count.load(Ordering::SeqCst), 0);
    assert_eq!(late.count.load(Ordering::SeqCst), 1);
    // A cache hit now: ready at once, no callback.
    let hit = Arc::new(Calls::default());
    assert!(matches!(
        client.verify_async(&token, None, callback(&hit)).unwrap(),
        AsyncVerify::Ready(_)
    ));
    // Errors the cache decides come back at once, without a callback.
    let expired = key.token(&json!({"exp": now() - 3600}));
    let err = client
        .verify_async(&expired, None, callback(&hit))
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Expired);
    assert_eq!(hit.count.load(Ordering::SeqCst), 0);
}

#[test]
fn freeing_the_client_cancels_pending_requests_with_one_callback_each() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    server.hold("/jwks");
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    let token = key.token(&claims());
    let calls: Vec<Arc<Calls>> = (0..5).map(|_| Arc::new(Calls::default())).collect();
    let requests: Vec<jwks::Request> = calls
        .iter()
        .map(
            |c| match client.verify_async(&token, None, callback(c)).unwrap() {
                AsyncVerify::Pending(r) => r,
                AsyncVerify::Ready(_) => panic!("expected pending"),
            },
        )
        .collect();
    // The fetch is held: a free that waited for it would never return.
    guarded("freeing the client", move || drop(client));
    // The fetch ends; the calls it carried find their client gone.
    server.release("/jwks");
    for r in &requests {
        wait_until("the request to finish", || r.is_finished());
    }
    for c in &calls {
        assert_eq!(c.count.load(Ordering::SeqCst), 1);
        assert_eq!(c.ok.load(Ordering::SeqCst), 0, "cancelled, not verified");
    }
}

#[test]
fn keys_too_can_be_looked_up_without_blocking() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set(
        "/jwks",
        Reply::json(jwks(&[&key])).delayed(Duration::from_millis(200)),
    );
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    let err = client.get_signing_key_nonblocking("a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Pending);
    let k = until_ready(|| client.get_signing_key_nonblocking("a")).unwrap();
    assert_eq!(k.kid(), Some("a"));

    let fresh = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    let got = Arc::new(std::sync::Mutex::new(None));
    let sink = got.clone();
    let jwks::Async::Pending(request) = fresh
        .get_signing_key_async(
            "a",
            Box::new(move |r| *sink.lock().unwrap() = Some(r.map(|k| k.kid().map(str::to_owned)))),
        )
        .unwrap()
    else {
        panic!("expected pending")
    };
    wait_until("the callbacks", || request.is_finished());
    assert_eq!(
        got.lock().unwrap().take().unwrap().unwrap(),
        Some("a".to_owned())
    );
    assert!(matches!(
        fresh.get_signing_key_async("a", Box::new(|_| panic!("no callback on a hit"))),
        Ok(jwks::Async::Ready(_))
    ));
    assert_eq!(server.hits("/jwks"), 2);
}

/// An issuer's key by kid (discovery mode) without blocking: the discovery and the JWKS
/// request are held, the call answers Pending at once, the callback brings the key, and the
/// next call is Ready from the cache. An issuer not allowed is refused at once.
#[test]
fn an_issuers_key_can_be_looked_up_without_blocking() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    let iss = server.url("/i");
    server.set(
        "/i/.well-known/openid-configuration",
        Reply::json(json!({"issuer": iss, "jwks_uri": server.url("/i/jwks")}).to_string()),
    );
    server.set("/i/jwks", Reply::json(jwks(&[&key])));
    server.hold("/i/jwks");
    let mut o = ClientOptions::default();
    o.discovery.allowed_issuers = vec![iss.clone()];
    let client = Client::new(o).unwrap();
    let got = Arc::new(std::sync::Mutex::new(None));
    let sink = got.clone();
    let jwks::Async::Pending(request) = client
        .get_signing_key_for_issuer_async(
            &iss,
            "a",
            Box::new(move |r| *sink.lock().unwrap() = Some(r.map(|k| k.kid().map(str::to_owned)))),
        )
        .unwrap()
    else {
        panic!("expected pending")
    };
    wait_until("the JWKS request to be held", || {
        server.held("/i/jwks") == 1
    });
    assert!(!request.is_finished());
    server.release("/i/jwks");
    wait_until("the callback", || request.is_finished());
    assert_eq!(
        got.lock().unwrap().take().unwrap().unwrap(),
        Some("a".to_owned())
    );
    assert!(matches!(
        client.get_signing_key_for_issuer_async(
            &iss,
            "a",
            Box::new(|_| panic!("no callback on a hit"))
        ),
        Ok(jwks::Async::Ready(_))
    ));
    let refused = client
        .get_signing_key_for_issuer_async(
            "https://other.example",
            "a",
            Box::new(|_| panic!("no callback")),
        )
        .err()
        .map(|e| e.kind());
    assert_eq!(refused, Some(ErrorKind::IssuerNotAllowed));
    assert_eq!(server.hits("/i/.well-known/openid-configuration"), 1);
    assert_eq!(server.hits("/i/jwks"), 1);
}

#[test]
fn warm_up_without_blocking_starts_the_fetches_and_reports_pending_until_they_land() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    server.hold("/jwks");
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    // Returns at once although the server holds its answer.
    assert_eq!(
        client.warm_up_nonblocking().unwrap_err().kind(),
        ErrorKind::Pending
    );
    support::wait_until("the warm-up fetch to arrive", || server.held("/jwks") == 1);
    assert_eq!(
        client.warm_up_nonblocking().unwrap_err().kind(),
        ErrorKind::Pending,
        "still pending, and no second request"
    );
    server.release("/jwks");
    support::wait_until("the warm-up to land", || {
        client.warm_up_nonblocking().is_ok()
    });
    assert!(client.verify_nonblocking(&key.token(&claims())).is_ok());
    assert_eq!(server.hits("/jwks"), 1);

    // Discovery: every allowed issuer is warmed, each with one discovery and one key fetch.
    let iss = server.url("/idp");
    server.set(
        "/idp/.well-known/openid-configuration",
        Reply::json(json!({"issuer": iss, "jwks_uri": server.url("/jwks")}).to_string()),
    );
    let mut o = ClientOptions::default();
    o.discovery.allowed_issuers = vec![iss.clone()];
    let discovery = Client::new(o).unwrap();
    assert_eq!(
        discovery.warm_up_nonblocking().unwrap_err().kind(),
        ErrorKind::Pending
    );
    support::wait_until("the issuer to be warmed", || {
        discovery.warm_up_nonblocking().is_ok()
    });
    assert_eq!(server.hits("/idp/.well-known/openid-configuration"), 1);
    assert_eq!(server.hits("/jwks"), 2);
}
