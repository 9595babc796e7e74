//! HTTP caching: lifespans from Cache-Control/Expires within the clamps, conditional refreshes
//! answered 304 without re-parsing, no-cache on forced refreshes, and refresh jitter. Refresh
//! ahead of expiry is off here, so each refresh starts (in the background) at expiry.

mod support;

use std::sync::Arc;
use std::time::Duration;

use jwks::{Client, ClientOptions, ManualClock};
use support::keys::{claims, jwks, TestKey};
use support::server::{Reply, TestServer};

struct Setup {
    server: TestServer,
    clock: Arc<ManualClock>,
    client: Client,
    key: TestKey,
}

fn setup(reply: impl FnOnce(String) -> Reply, tweak: impl FnOnce(&mut ClientOptions)) -> Setup {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set("/jwks", reply(jwks(&[&key])));
    let clock = Arc::new(ManualClock::starting_now());
    let mut o = ClientOptions::new(server.url("/jwks"));
    o.clock = clock.clone();
    o.lifespan = Duration::from_secs(300);
    o.min_lifespan = Duration::from_secs(60);
    o.max_lifespan = Duration::from_secs(3600);
    o.refresh_jitter = 0.0;
    o.refresh_ahead = false;
    tweak(&mut o);
    Setup {
        server,
        clock,
        client: Client::new(o).unwrap(),
        key,
    }
}

/// Seconds after the first fetch at which the second one happens.
fn refetch_after(s: &Setup) -> u64 {
    s.client.get_signing_key("a").unwrap();
    for t in 1..=4000 {
        s.clock.advance(Duration::from_secs(1));
        s.client.get_signing_key("a").unwrap();
        support::settle(&s.client);
        if s.server.hits("/jwks") == 2 {
            return t;
        }
    }
    panic!("no refetch within 4000 s");
}

#[test]
fn max_age_sets_the_lifespan_within_the_clamps() {
    let cases = [
        ("max-age=600", 600),
        ("public, max-age=10", 60),
        ("max-age=86400", 3600),
        ("no-cache", 60),
        ("private", 300),
    ];
    for (cc, expected) in cases {
        let s = setup(
            |body| Reply::json(body).with_header("Cache-Control", cc),
            |_| {},
        );
        assert_eq!(refetch_after(&s), expected, "Cache-Control: {cc}");
    }
}

#[test]
fn expires_is_honoured_and_headers_can_be_ignored() {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let expires = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(900));
    let reply = |body: String| {
        Reply::json(body)
            .with_header("Date", &date)
            .with_header("Expires", &expires)
    };
    let s = setup(reply, |_| {});
    assert_eq!(refetch_after(&s), 900);
    let s = setup(reply, |o| o.honor_cache_headers = false);
    assert_eq!(refetch_after(&s), 300);
}

#[test]
fn unchanged_set_costs_a_304_and_is_not_reparsed() {
    let s = setup(
        |body| {
            let mut r = Reply::json(body);
            r.etag = Some("\"v1\"".into());
            r
        },
        |_| {},
    );
    let before = s.client.get_signing_key("a").unwrap();
    s.clock.advance(Duration::from_secs(300));
    s.client.get_signing_key("a").unwrap();
    support::settle(&s.client);
    let after = s.client.get_signing_key("a").unwrap();
    assert_eq!(s.server.hits("/jwks"), 2);
    assert_eq!(s.server.not_modified("/jwks"), 1);
    assert_eq!(
        s.server.last_header("/jwks", "if-none-match").as_deref(),
        Some("\"v1\"")
    );
    assert!(
        Arc::ptr_eq(&before, &after),
        "the parsed key was kept, not rebuilt"
    );
    // The 304 renewed the lifespan.
    s.clock.advance(Duration::from_secs(299));
    s.client.verify(&s.key.token(&claims())).unwrap();
    assert_eq!(s.server.hits("/jwks"), 2);
}

#[test]
fn last_modified_revalidates_too_and_a_change_is_picked_up() {
    let lm = "Sun, 06 Nov 1994 08:49:37 GMT";
    let s = setup(
        |body| {
            let mut r = Reply::json(body);
            r.last_modified = Some(lm.into());
            r
        },
        |_| {},
    );
    s.client.get_signing_key("a").unwrap();
    s.clock.advance(Duration::from_secs(300));
    s.client.get_signing_key("a").unwrap();
    support::settle(&s.client);
    assert_eq!(s.server.not_modified("/jwks"), 1);
    assert_eq!(
        s.server
            .last_header("/jwks", "if-modified-since")
            .as_deref(),
        Some(lm)
    );

    let b = TestKey::ec("b", "ES256");
    let mut changed = Reply::json(jwks(&[&s.key, &b]));
    changed.last_modified = Some("Mon, 07 Nov 1994 08:49:37 GMT".into());
    s.server.set("/jwks", changed);
    s.clock.advance(Duration::from_secs(300));
    s.client.verify(&b.token(&claims())).unwrap();
    assert_eq!(s.server.not_modified("/jwks"), 1);
    assert_eq!(s.server.hits("/jwks"), 3);
}

#[test]
fn forced_refreshes_send_no_cache_and_scheduled_ones_do_not() {
    let s = setup(Reply::json, |_| {});
    s.client.get_jwk_set(false).unwrap();
    assert_eq!(s.server.last_header("/jwks", "cache-control"), None);
    s.client.fetch_data().unwrap();
    assert_eq!(
        s.server.last_header("/jwks", "cache-control").as_deref(),
        Some("no-cache")
    );
    s.clock.advance(Duration::from_secs(300));
    s.client.get_jwk_set(false).unwrap();
    support::settle(&s.client);
    assert_eq!(s.server.hits("/jwks"), 3);
    assert_eq!(s.server.last_header("/jwks", "cache-control"), None);
}

#[test]
fn jitter_spreads_refreshes_within_its_fraction() {
    let mut times = Vec::new();
    for _ in 0..12 {
        let s = setup(Reply::json, |o| {
            o.lifespan = Duration::from_secs(1000);
            o.refresh_jitter = 0.2;
        });
        let t = refetch_after(&s);
        assert!((800..=1000).contains(&t), "refetch at {t}");
        times.push(t);
    }
    times.sort();
    times.dedup();
    assert!(times.len() >= 6, "refreshes spread out: {times:?}");
}

#[test]
fn a_304_to_an_unconditional_request_renews_nothing() {
    // The set came without validators, so every refresh is unconditional: a 304 answering it
    // is a broken server, not a renewal.
    let s = setup(Reply::json, |o| o.max_stale = Duration::from_secs(600));
    let token = s.key.token(&claims());
    s.client.verify(&token).unwrap();
    s.server.set("/jwks", Reply::status(304, ""));
    s.clock.advance(Duration::from_secs(300));
    assert!(s.client.verify(&token).unwrap().stale());
    support::settle(&s.client);
    let stats = s.client.stats();
    assert_eq!(
        (stats.fetch_failures, stats.not_modified),
        (1, 0),
        "{stats:?}"
    );
    assert!(s.client.verify(&token).unwrap().stale(), "not renewed");
    // Past lifespan + max-stale the set is gone, whatever the 304s say.
    s.clock.advance(Duration::from_secs(600));
    assert_eq!(
        s.client.verify(&token).unwrap_err().kind(),
        jwks::ErrorKind::HttpStatus
    );
}

#[test]
fn a_304_without_validators_keeps_the_ones_it_answered() {
    let s = setup(
        |body| {
            let mut r = Reply::json(body);
            r.etag = Some("\"v1\"".into());
            r
        },
        |_| {},
    );
    s.client.get_signing_key("a").unwrap();
    // From now on the server answers a bare 304 (no ETag header) to everything.
    s.server.set("/jwks", Reply::status(304, ""));
    for round in 1..=2 {
        s.clock.advance(Duration::from_secs(300));
        s.client.get_signing_key("a").unwrap();
        support::settle(&s.client);
        assert_eq!(s.client.stats().not_modified, round);
        assert_eq!(
            s.server.last_header("/jwks", "if-none-match").as_deref(),
            Some("\"v1\"")
        );
    }
}
