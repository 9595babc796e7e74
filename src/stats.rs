//! Client-wide counters, read with [`crate::Client::stats`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A snapshot of a client's counters since it was made. Counts cover every source (the fixed
/// JWKS URL, or all discovered issuers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// HTTP requests made (key sets and discovery documents), successful or not.
    pub fetches: u64,
    /// Requests that failed (transport error, HTTP error, unusable document).
    pub fetch_failures: u64,
    /// Conditional refreshes answered 304 Not Modified.
    pub not_modified: u64,
    /// Lookups answered from a fresh cached set (or the key LRU) without a request.
    pub cache_hits: u64,
    /// Lookups that needed a fetch (first use, expiry, or no caching).
    pub cache_misses: u64,
    /// Lookups answered from a set past its lifespan (within max-stale) while it was being
    /// refreshed in the background, or because refreshing it failed.
    pub stale_serves: u64,
    /// Refetches caused by an unknown kid.
    pub unknown_kid_refetches: u64,
    /// Unknown kids refused without a refetch (the interval since the last one is not over).
    pub unknown_kid_rate_limited: u64,
    /// Wall-clock time of the last successful fetch (since the Unix epoch), if any.
    pub last_success: Option<Duration>,
    /// Wall-clock time of the last failed fetch, if any.
    pub last_failure: Option<Duration>,
    /// Usable keys currently cached, over all sources.
    pub keys_held: u64,
    /// Asynchronous verifications started and not yet answered or cancelled.
    pub pending_requests: u64,
    /// Requests made by background refreshes (ahead of expiry, past it, or by the
    /// background refresher), key sets and discovery documents alike. Counted apart from
    /// unknown-kid refetches.
    pub background_refreshes: u64,
    /// Lookups answered from the cache while a background refresh of that set was queued or
    /// running (the answer did not wait for it).
    pub served_while_refreshing: u64,
    /// Background refreshes queued or running now (key sets and issuer configurations).
    pub refreshing: u64,
    /// Reads of a saved key set or configuration document (`persist_dir`) that were refused: a
    /// file not trusted (not a regular file, another owner, writable by group or others, in a
    /// directory others can write), too large, or not a valid saved record. The first of each
    /// file is also logged, with its reason.
    pub persist_refused: u64,
    /// Documents taken from the document store (`store` or `persist_dir`) instead of a fetch:
    /// newer than the client's own and still fresh, because another client or process
    /// fetched them.
    pub store_adopted: u64,
    /// Fetches that first waited for another process holding the store's claim on that URL
    /// (see [`crate::DocumentStore::claim`]).
    pub store_claim_waits: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub fetches: AtomicU64,
    pub fetch_failures: AtomicU64,
    pub not_modified: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub stale_serves: AtomicU64,
    pub unknown_kid_refetches: AtomicU64,
    pub unknown_kid_rate_limited: AtomicU64,
    /// Milliseconds since the Unix epoch; 0 = never.
    pub last_success_ms: AtomicU64,
    pub last_failure_ms: AtomicU64,
    /// Asynchronous verifications not yet answered or cancelled.
    pub pending_requests: AtomicU64,
    pub background_refreshes: AtomicU64,
    pub served_while_refreshing: AtomicU64,
    pub persist_refused: AtomicU64,
    pub store_adopted: AtomicU64,
    pub store_claim_waits: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// Counts one request and its outcome at wall-clock time `now`.
    pub fn fetched(&self, ok: bool, now: Duration) {
        bump(&self.fetches);
        let ms = now.as_millis() as u64;
        if ok {
            self.last_success_ms.store(ms, Ordering::Relaxed);
        } else {
            bump(&self.fetch_failures);
            self.last_failure_ms.store(ms, Ordering::Relaxed);
        }
    }

    /// The counters, with the gauges the sources report: usable keys held and background
    /// refreshes in progress.
    pub fn snapshot(&self, keys_held: u64, refreshing: u64) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let time = |c: &AtomicU64| Some(get(c)).filter(|&ms| ms > 0).map(Duration::from_millis);
        Stats {
            fetches: get(&self.fetches),
            fetch_failures: get(&self.fetch_failures),
            not_modified: get(&self.not_modified),
            cache_hits: get(&self.cache_hits),
            cache_misses: get(&self.cache_misses),
            stale_serves: get(&self.stale_serves),
            unknown_kid_refetches: get(&self.unknown_kid_refetches),
            unknown_kid_rate_limited: get(&self.unknown_kid_rate_limited),
            last_success: time(&self.last_success_ms),
            last_failure: time(&self.last_failure_ms),
            keys_held,
            pending_requests: get(&self.pending_requests),
            background_refreshes: get(&self.background_refreshes),
            served_while_refreshing: get(&self.served_while_refreshing),
            refreshing,
            persist_refused: get(&self.persist_refused),
            store_adopted: get(&self.store_adopted),
            store_claim_waits: get(&self.store_claim_waits),
        }
    }
}
