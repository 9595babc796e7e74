//! Client counters, exact for a scripted scenario.

mod support;

use std::sync::Arc;
use std::time::Duration;

use jwks::{Client, ClientOptions, ManualClock, Stats};
use support::keys::{claims, jwks, TestKey};
use support::server::{Reply, TestServer};

#[test]
fn counters_are_exact_for_a_scripted_scenario() {
    let a = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&a]));
    let clock = Arc::new(ManualClock::starting_now());
    let mut o = ClientOptions::new(server.url("/jwks"));
    o.clock = clock.clone();
    o.refresh_jitter = 0.0;
    o.failure_backoff = Duration::from_secs(2);
    let client = Client::new(o).unwrap();
    assert_eq!(client.stats(), Stats::default());
    let token = a.token(&claims());
    let stranger = |kid: &str| TestKey::ec(kid, "ES256").token(&claims());

    client.verify(&token).unwrap(); // miss, fetch
    for _ in 0..3 {
        client.verify(&token).unwrap(); // hits
    }
    client.verify(&stranger("x")).unwrap_err(); // hit, unknown-kid refetch
    client.verify(&stranger("y")).unwrap_err(); // hit, rate-limited
    client.verify(&stranger("x")).unwrap_err(); // hit, rate-limited
    server.set("/jwks", Reply::status(503, "down"));
    clock.advance(Duration::from_secs(301));
    // Expired: stale at once, while a background refresh runs (and fails).
    assert!(client.verify(&token).unwrap().stale());
    support::settle(&client);
    assert!(client.verify(&token).unwrap().stale()); // backing off: no refresh
    let mut reply = Reply::json(jwks(&[&a]));
    reply.etag = Some("\"v\"".into());
    server.set("/jwks", reply);
    clock.advance(Duration::from_secs(2));
    assert!(client.verify(&token).unwrap().stale()); // background fetch
    support::settle(&client);
    clock.advance(Duration::from_secs(300));
    client.verify(&token).unwrap(); // background 304
    support::settle(&client);

    let stats = client.stats();
    let counts = [
        stats.fetches,
        stats.fetch_failures,
        stats.not_modified,
        stats.cache_hits,
        stats.cache_misses,
        stats.stale_serves,
        stats.unknown_kid_refetches,
        stats.unknown_kid_rate_limited,
        stats.keys_held,
        stats.background_refreshes,
        stats.served_while_refreshing,
        stats.refreshing,
    ];
    assert_eq!(counts, [5, 1, 1, 6, 1, 4, 1, 2, 1, 3, 3, 0], "{stats:?}");
    assert_eq!(server.hits("/jwks"), 5);
    let (success, failure) = (stats.last_success.unwrap(), stats.last_failure.unwrap());
    assert_eq!(
        success - failure,
        Duration::from_secs(302),
        "injected wall clock"
    );
}
