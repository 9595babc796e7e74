//! What a client costs in threads: none while idle. Its own test binary, so that no other
//! test's threads move the count.

mod support;

use std::time::Duration;

use jwks::{Client, ClientOptions};
use support::keys::{claims, jwks, TestKey};
use support::server::TestServer;
use support::wait_until;

/// The library's threads in this process (Linux: their names start with "jwks-"; the test
/// server's are unnamed).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("jwks-"))
        .count()
}

#[test]
fn an_idle_client_costs_no_thread_and_the_refresher_starts_with_the_first_set() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let options = |background_refresh| {
        let mut o = ClientOptions::new(server.url("/jwks"));
        o.background_refresh = background_refresh;
        o.lifespan = Duration::from_secs(300);
        o
    };
    let before = threads();
    assert_eq!(before, 0);
    let idle: Vec<Client> = (0..100)
        .map(|i| Client::new(options(i % 2 == 0)).unwrap())
        .collect();
    assert_eq!(threads(), before, "100 unused clients start no thread");

    // A blocking verify fetches on the caller's thread; the set is fresh: no worker starts.
    let plain = Client::new(options(false)).unwrap();
    plain.verify(&key.token(&claims())).unwrap();
    assert_eq!(threads(), before);

    // With background refresh, the first cached set starts its one refresher.
    let refreshed = Client::new(options(true)).unwrap();
    refreshed.verify(&key.token(&claims())).unwrap();
    // (A new thread takes its name a moment after it starts.)
    wait_until("the refresher to start", || threads() == before + 1);
    drop(refreshed);
    wait_until("the refresher to exit with its client", || {
        threads() == before
    });
    drop(idle);

    // A scheduled fetch starts a pool thread; idle, it exits while its client lives on.
    let pooled = Client::new(options(false)).unwrap();
    let token = key.token(&claims());
    assert_eq!(
        pooled.verify_nonblocking(&token).unwrap_err().kind(),
        jwks::ErrorKind::Pending
    );
    wait_until("the scheduled fetch", || {
        pooled.verify_nonblocking(&token).is_ok()
    });
    wait_until("the idle pool thread to exit", || threads() == 0);
    pooled.verify_nonblocking(&token).unwrap();
}
