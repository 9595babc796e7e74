//! Shared by the integration tests (and the demo issuer): a loopback HTTP server and test keys.
pub mod backends;
pub mod bench;
pub mod cbuild;
pub mod clocked;
pub mod corpus;
pub mod envoy;
pub mod http;
pub mod inject;
pub mod keys;
pub mod server;
pub mod tls;

/// Waits (up to 20 s, then panics) until `done` holds: for work the library does on its own
/// threads, such as a background refresh. Asserts nothing about how long it took.
#[allow(dead_code)]
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "still waiting: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Runs `f` on another thread and returns its result; panics if it has not returned within
/// 30 s. Proves "did not wait" for calls made while a server holds its answer (a call that
/// waited would never return), and bounds calls to hostile servers.
#[allow(dead_code)]
pub fn guarded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what}: no return within 30 s"))
}

/// Waits until no background refresh of `client` is queued or running.
#[allow(dead_code)]
pub fn settle(client: &jwks::Client) {
    wait_until("background refreshes to finish", || {
        client.stats().refreshing == 0
    });
}

/// A port on 127.0.0.1 that was free a moment ago (for servers the tests start as processes).
#[allow(dead_code)]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Whether a test's outside dependency (`what`, e.g. nginx) is there. When it is not, the test
/// is skipped with a message, unless JWKS_REQUIRE_ALL is set (`.ci/run` sets it), which makes
/// its absence a failure.
#[allow(dead_code)]
pub fn require(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var_os("JWKS_REQUIRE_ALL").is_none(),
        "{what} is missing and JWKS_REQUIRE_ALL is set"
    );
    eprintln!("skipped: {what} is missing");
    false
}
