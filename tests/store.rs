//! The document store: clients sharing one start warm, adopt each other's sets instead of
//! fetching, and with the claim make one request per refresh between them; a stored document
//! is trusted no more than a fetched one.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use jwks::{
    Client, ClientOptions, DocumentStore, ErrorKind, ManualClock, StoreKey, StoredDocument,
};
use serde_json::json;
use support::keys::{jwks, now, TestKey};
use support::server::{Reply, TestServer};
use support::wait_until;

/// A store in memory, with claims: what an nginx zone or a Redis store does, in a map.
#[derive(Default)]
struct MemoryStore {
    docs: Mutex<HashMap<String, StoredDocument>>,
    /// Key → claim deadline (Unix).
    claims: Mutex<HashMap<String, Duration>>,
    loads: Mutex<usize>,
}

impl DocumentStore for MemoryStore {
    fn load(&self, key: &StoreKey, _max: usize) -> Result<Option<StoredDocument>, String> {
        *self.loads.lock().unwrap() += 1;
        Ok(self.docs.lock().unwrap().get(key.as_str()).cloned())
    }
    fn save(&self, key: &StoreKey, doc: &StoredDocument) {
        self.docs
            .lock()
            .unwrap()
            .insert(key.as_str().to_owned(), doc.clone());
    }
    fn claim(&self, key: &StoreKey, now: Duration, until: Duration) -> bool {
        let mut claims = self.claims.lock().unwrap();
        match claims.get(key.as_str()) {
            Some(&deadline) if deadline > now => false,
            _ => {
                claims.insert(key.as_str().to_owned(), until);
                true
            }
        }
    }
    fn release(&self, key: &StoreKey) {
        self.claims.lock().unwrap().remove(key.as_str());
    }
}

impl MemoryStore {
    fn put(&self, key: &str, text: &str, fetched_at_unix: Duration) {
        self.docs.lock().unwrap().insert(
            key.to_owned(),
            StoredDocument {
                text: text.to_owned(),
                fetched_at_unix,
                max_age: None,
            },
        );
    }
}

fn claims() -> serde_json::Value {
    json!({"sub": "u", "exp": now() + 3600})
}

fn options(url: &str, store: &Arc<MemoryStore>, clock: &Arc<ManualClock>) -> ClientOptions {
    let mut o = ClientOptions::new(url);
    o.store = Some(store.clone());
    o.clock = clock.clone();
    o.honor_cache_headers = false;
    o.refresh_jitter = 0.0;
    o.lifespan = Duration::from_secs(300);
    o
}

fn unix_now(clock: &ManualClock) -> Duration {
    jwks::Clock::unix_time(clock)
}

#[test]
fn clients_sharing_a_store_make_one_request_per_refresh() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let url = server.url("/jwks");
    let store = Arc::new(MemoryStore::default());
    let clock = Arc::new(ManualClock::starting_now());
    let token = key.token(&claims());
    let made = || {
        let mut o = options(&url, &store, &clock);
        // Past its lifespan a set is refreshed by the lookup itself: no background timing.
        o.max_stale = Duration::ZERO;
        Client::new(o).unwrap()
    };
    let first = made();
    first.verify(&token).unwrap();
    assert_eq!(server.hits("/jwks"), 1);
    // A client made later starts warm from the store: no request at all.
    let second = made();
    assert_eq!(second.stats().keys_held, 1, "warm at creation");
    second.verify(&token).unwrap();
    assert_eq!(server.hits("/jwks"), 1);

    // Past the lifespan both need a refresh: the first to go fetches and saves, the other
    // adopts that set instead of fetching.
    clock.advance(Duration::from_secs(301));
    first.verify(&token).unwrap();
    assert_eq!(server.hits("/jwks"), 2);
    second.verify(&token).unwrap();
    assert_eq!(
        server.hits("/jwks"),
        2,
        "the second client adopted the first one's set"
    );
    assert_eq!(second.stats().store_adopted, 1);
    assert_eq!(second.stats().fetches, 0);
    // Control: without the store, a client fetches for itself.
    let mut alone = options(&url, &store, &clock);
    alone.store = None;
    Client::new(alone).unwrap().verify(&token).unwrap();
    assert_eq!(server.hits("/jwks"), 3);
}

/// The IdP's `Cache-Control: max-age` travels with the stored set: a client that takes the set
/// from the store gives it the lifespan it would give the response (its own clamps, or its own
/// absolute lifespan when it does not honour the header), not its default.
#[test]
fn the_idps_max_age_is_stored_with_the_set_and_honoured_by_the_clients_that_take_it() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set(
        "/jwks",
        Reply::json(jwks(&[&key])).with_header("Cache-Control", "max-age=3600"),
    );
    let url = server.url("/jwks");
    let store = Arc::new(MemoryStore::default());
    let clock = Arc::new(ManualClock::starting_now());
    let token = key.token(&claims());
    let made = |honor: bool| {
        let mut o = options(&url, &store, &clock);
        o.honor_cache_headers = honor;
        o.max_stale = Duration::ZERO;
        Client::new(o).unwrap()
    };
    let fetcher = made(true);
    fetcher.verify(&token).unwrap();
    assert_eq!(server.hits("/jwks"), 1);
    let key_of_url = format!("jwks {url}");
    assert_eq!(
        store.docs.lock().unwrap()[&key_of_url].max_age,
        Some(Duration::from_secs(3600)),
        "saved with the IdP's max-age"
    );
    // Warm from the store, and fresh for the IdP's hour, not the default 300 s.
    let taker = made(true);
    clock.advance(Duration::from_secs(1800));
    taker.verify(&token).unwrap();
    fetcher.verify(&token).unwrap();
    assert_eq!(server.hits("/jwks"), 1, "both hold it for the IdP's hour");
    assert_eq!(taker.stats().fetches, 0);
    // A client that does not honour the header keeps its own lifespan (300 s): by now it
    // refreshes; the set in the store is not fresh for it either, so it fetches.
    let absolute = made(false);
    absolute.verify(&token).unwrap();
    assert_eq!(server.hits("/jwks"), 2);
    assert_eq!(absolute.stats().fetches, 1);
}

#[test]
fn a_client_refused_the_claim_waits_for_the_claimers_set_instead_of_the_idp() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    server.hold("/jwks");
    let url = server.url("/jwks");
    let store = Arc::new(MemoryStore::default());
    let clock = Arc::new(ManualClock::starting_now());
    let token = key.token(&claims());
    let a = Arc::new(Client::new(options(&url, &store, &clock)).unwrap());
    let b = Arc::new(Client::new(options(&url, &store, &clock)).unwrap());
    let fetching = {
        let (a, token) = (a.clone(), token.clone());
        thread::spawn(move || a.verify(&token).map(|_| ()))
    };
    wait_until("the claimer's request is held", || {
        server.held("/jwks") == 1
    });
    let waiting = {
        let (b, token) = (b.clone(), token.clone());
        thread::spawn(move || b.verify(&token).map(|_| ()))
    };
    wait_until("the second client waits on the claim", || {
        b.stats().store_claim_waits == 1
    });
    assert_eq!(
        server.hits("/jwks"),
        1,
        "the second client did not ask the IdP"
    );
    server.release("/jwks");
    fetching.join().unwrap().unwrap();
    waiting.join().unwrap().unwrap();
    assert_eq!(server.hits("/jwks"), 1, "one request for both");
    assert_eq!(b.stats().store_adopted, 1);
    assert_eq!(b.stats().fetches, 0);
    assert!(
        store.claims.lock().unwrap().is_empty(),
        "the claim was released"
    );
}

#[test]
fn a_claim_released_without_a_set_or_left_by_a_dead_process_does_not_block_the_fetch() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let url = server.url("/jwks");
    let clock = Arc::new(ManualClock::starting_now());
    let token = key.token(&claims());
    let claim_key = format!("jwks {url}");
    let far = unix_now(&clock) + Duration::from_secs(3600);

    // Released without a set (the claimer's fetch failed): the waiter claims and fetches.
    let store = Arc::new(MemoryStore::default());
    store.claims.lock().unwrap().insert(claim_key.clone(), far);
    let client = Arc::new(Client::new(options(&url, &store, &clock)).unwrap());
    let waiting = {
        let (client, token) = (client.clone(), token.clone());
        thread::spawn(move || client.verify(&token).map(|_| ()))
    };
    wait_until("the client waits on the claim", || {
        client.stats().store_claim_waits == 1
    });
    assert_eq!(server.hits("/jwks"), 0);
    store.claims.lock().unwrap().remove(&claim_key);
    waiting.join().unwrap().unwrap();
    assert_eq!(server.hits("/jwks"), 1);
    assert!(
        store.claims.lock().unwrap().is_empty(),
        "its own claim was released"
    );

    // Never released (the claimer died; its deadline is an hour away): the waiter fetches
    // after its own fetch timeout.
    let store = Arc::new(MemoryStore::default());
    store.claims.lock().unwrap().insert(claim_key.clone(), far);
    let mut o = options(&url, &store, &clock);
    o.timeout = Duration::from_millis(200);
    let client = Client::new(o).unwrap();
    client.verify(&token).unwrap();
    assert_eq!(server.hits("/jwks"), 2);
    assert_eq!(client.stats().store_claim_waits, 1);
}

#[test]
fn an_unknown_kid_adopts_a_set_another_client_just_fetched() {
    let (a, b) = (TestKey::ec("a", "ES256"), TestKey::ec("b", "ES256"));
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&a]));
    let url = server.url("/jwks");
    let store = Arc::new(MemoryStore::default());
    let clock = Arc::new(ManualClock::starting_now());
    let one = Client::new(options(&url, &store, &clock)).unwrap();
    one.verify(&a.token(&claims())).unwrap();
    let two = Client::new(options(&url, &store, &clock)).unwrap();
    assert_eq!(server.hits("/jwks"), 1);
    // The IdP adds key b; one client meets it first and refetches.
    server.set_jwks(&jwks(&[&a, &b]));
    clock.advance(Duration::from_secs(2));
    let token = b.token(&claims());
    one.verify(&token).unwrap();
    assert_eq!(server.hits("/jwks"), 2);
    // The other one's refetch for the same kid takes that set from the store.
    two.verify(&token).unwrap();
    assert_eq!(
        server.hits("/jwks"),
        2,
        "no second request for the same new key"
    );
    assert_eq!(two.stats().store_adopted, 1);
    // Control: a kid nobody has still gets its own refetch (after the interval), and fails.
    clock.advance(Duration::from_secs(61));
    let c = TestKey::ec("c", "ES256");
    let err = two.verify(&c.token(&claims())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyNotFound, "{err}");
    assert_eq!(server.hits("/jwks"), 3);
}

#[test]
fn a_stored_document_is_trusted_no_more_than_a_fetched_one() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let url = server.url("/jwks");
    let clock = Arc::new(ManualClock::starting_now());
    let token = key.token(&claims());
    let entry = format!("jwks {url}");

    // Not a key set, too large, or a set with no usable key: refused, counted, and the
    // client fetches as if there were nothing.
    let big = format!("{{\"keys\": [], \"pad\": \"{}\"}}", "x".repeat(5000));
    let hmac_only = json!({"keys": [{"kty": "oct", "kid": "a", "k": "c2VjcmV0"}]}).to_string();
    for (i, text) in ["<html>", big.as_str(), hmac_only.as_str()]
        .into_iter()
        .enumerate()
    {
        let store = Arc::new(MemoryStore::default());
        store.put(&entry, text, unix_now(&clock));
        let mut o = options(&url, &store, &clock);
        o.max_response_bytes = 4096;
        let client = Client::new(o).unwrap();
        assert_eq!(client.stats().keys_held, 0, "case {i}");
        assert_eq!(client.stats().persist_refused, 1, "case {i}");
        client.verify(&token).unwrap();
        assert_eq!(server.hits("/jwks"), i + 1, "case {i}: fetched");
    }

    // A fetch time in the future is clamped to now: the entry cannot extend its own life.
    let store = Arc::new(MemoryStore::default());
    store.put(
        &entry,
        &jwks(&[&key]),
        unix_now(&clock) + Duration::from_secs(10 * 86_400),
    );
    let mut o = options(&url, &store, &clock);
    o.max_stale = Duration::ZERO;
    let client = Client::new(o).unwrap();
    assert_eq!(client.stats().keys_held, 1, "used, as of now");
    let before = server.hits("/jwks");
    client.verify(&token).unwrap();
    assert_eq!(server.hits("/jwks"), before, "fresh");
    clock.advance(Duration::from_secs(301));
    client.verify(&token).unwrap();
    // Not adopted again before the fetch either, where it would look just fetched each time.
    assert_eq!(
        server.hits("/jwks"),
        before + 1,
        "past the lifespan counted from then"
    );
    assert_eq!(client.stats().store_adopted, 0);
}

#[test]
fn files_back_a_store_that_lost_its_documents() {
    // A shared-memory store is empty after a full restart; persist_dir's files are not.
    use std::os::unix::fs::PermissionsExt;
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let url = server.url("/jwks");
    let dir = std::env::temp_dir().join(format!("jwks-store-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let token = key.token(&claims());
    let made = |store: &Arc<MemoryStore>| {
        let mut o = options(&url, store, &clock);
        o.persist_dir = Some(dir.clone());
        Client::new(o).unwrap()
    };
    let store = Arc::new(MemoryStore::default());
    made(&store).verify(&token).unwrap();
    assert_eq!(store.docs.lock().unwrap().len(), 1, "kept in the store");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "and in a file");
    // "Restart": a new, empty store; the file makes the client warm, with no request.
    let empty = Arc::new(MemoryStore::default());
    let restarted = made(&empty);
    assert_eq!(restarted.stats().keys_held, 1);
    restarted.verify(&token).unwrap();
    assert_eq!(server.hits("/jwks"), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn discovery_clients_share_the_configuration_document_too() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    let iss = server.url("/idp");
    server.set(
        "/idp/.well-known/openid-configuration",
        Reply::json(json!({"issuer": iss, "jwks_uri": server.url("/jwks")}).to_string()),
    );
    server.set_jwks(&jwks(&[&key]));
    let store = Arc::new(MemoryStore::default());
    let clock = Arc::new(ManualClock::starting_now());
    let made = || {
        let mut o = options("", &store, &clock);
        o.discovery.allowed_issuers = vec![iss.clone()];
        Client::new(o).unwrap()
    };
    let token = key.token(&json!({"iss": iss, "sub": "u", "exp": now() + 3600}));
    made().verify(&token).unwrap();
    let config = "/idp/.well-known/openid-configuration";
    assert_eq!((server.hits(config), server.hits("/jwks")), (1, 1));
    let later = made();
    later.verify(&token).unwrap();
    assert_eq!(
        (server.hits(config), server.hits("/jwks")),
        (1, 1),
        "both documents came from the store"
    );
    assert_eq!(later.stats().fetches, 0);
}
