//! The key-set cache of one source: the current set behind a short read lock (replaced whole,
//! so readers see the old set or the new one, never a mix), single-flight fetching, the
//! unknown-kid refetch limit, and the optional kid → key LRU.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use lru::LruCache;
use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};
use crate::flight::SingleFlight;
use crate::keys::{Key, KeySet};

/// A set as installed, with when it was fetched and a generation that grows with every install.
#[derive(Debug)]
pub(crate) struct Installed {
    pub set: Arc<KeySet>,
    pub fetched_at: Duration,
    /// How long this set is used before a refresh (from the response's caching headers or the
    /// configured lifespan, clamped, minus jitter).
    pub lifespan: Duration,
    /// For conditional refreshes.
    pub validators: Validators,
    pub generation: u64,
}

/// The response's `ETag` and `Last-Modified`, sent back as `If-None-Match` and
/// `If-Modified-Since` so an unchanged set costs a 304.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// kid → (key, when it was cached).
type KeyLru = LruCache<String, (Arc<Key>, Duration)>;

pub(crate) struct SetCache {
    current: RwLock<Option<Arc<Installed>>>,
    flight: SingleFlight<Arc<Installed>>,
    last_unknown_kid_refetch: Mutex<Option<Duration>>,
    keys_lru: Option<Mutex<KeyLru>>,
    failures: FailureTracker,
    /// Kids a fetch confirmed absent: the generation of the set that lacked them and when.
    /// Bounded, void once another set is installed or the entry is older than the absent-kid
    /// TTL. Consulted only after the set itself, so it can never hide a key a refresh brought.
    absent: Mutex<LruCache<String, (u64, Duration)>>,
}

/// How many absent kids are remembered per source.
const ABSENT_KIDS: usize = 1024;

/// Consecutive failed fetches, and when the next attempt is allowed.
#[derive(Default)]
struct Failures {
    count: u32,
    retry_at: Duration,
    last: Option<Error>,
}

/// Tracks failures of one kind of fetch (a key set, a discovery document) for backoff.
#[derive(Default)]
pub(crate) struct FailureTracker(Mutex<Failures>);

impl FailureTracker {
    /// The last error while failed fetches back off (no new attempt before `retry_at`).
    pub fn backing_off(&self, now: Duration) -> Option<Error> {
        let failures = self.0.lock();
        (failures.count > 0 && now < failures.retry_at)
            .then(|| failures.last.clone())
            .flatten()
    }

    /// Records an outcome: success resets the backoff, failure extends it.
    pub fn record(&self, error: Option<&Error>, now: Duration, backoff: Backoff) {
        let mut failures = self.0.lock();
        match error {
            None => *failures = Failures::default(),
            Some(e) => {
                failures.count = failures.count.saturating_add(1);
                let doublings = (failures.count - 1).min(30);
                let delay = backoff
                    .initial
                    .saturating_mul(1u32 << doublings)
                    .min(backoff.max);
                failures.retry_at = now + delay;
                failures.last = Some(e.clone());
            }
        }
    }
}

/// How failed fetches back off: the first retry waits `initial`, each further one twice as long,
/// up to `max`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

/// What [`SetCache::claim_unknown_kid_refetch`] decided.
#[derive(Debug, PartialEq, Eq)]
enum RefetchSlot {
    Claimed,
    RateLimited,
}

impl SetCache {
    pub fn new(cache_keys: bool, max_cached_keys: usize) -> Self {
        let keys_lru = cache_keys
            .then(|| NonZeroUsize::new(max_cached_keys).map(|n| Mutex::new(LruCache::new(n))))
            .flatten();
        SetCache {
            current: RwLock::new(None),
            flight: SingleFlight::new(),
            last_unknown_kid_refetch: Mutex::new(None),
            keys_lru,
            failures: FailureTracker::default(),
            absent: Mutex::new(LruCache::new(
                NonZeroUsize::new(ABSENT_KIDS).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    /// The installed set, fresh or not.
    pub fn current(&self) -> Option<Arc<Installed>> {
        self.current.read().clone()
    }

    /// Fetches through `fetch` unless a set newer than generation `seen` (0: none) was
    /// installed meanwhile, sharing one fetch among all concurrent callers.
    pub fn refresh(
        &self,
        seen: u64,
        fetch: impl FnOnce() -> Result<Arc<Installed>>,
    ) -> Result<Arc<Installed>> {
        self.flight
            .run(|| self.current().filter(|c| c.generation > seen), fetch)
    }

    /// Whether a fetch confirmed `kid` absent from the set of `generation` (still the current
    /// one) less than `ttl` ago.
    pub fn known_absent(&self, kid: &str, generation: u64, now: Duration, ttl: Duration) -> bool {
        self.absent
            .lock()
            .get(kid)
            .is_some_and(|&(g, at)| g == generation && now.saturating_sub(at) < ttl)
    }

    pub fn remember_absent(&self, kid: &str, generation: u64, now: Duration) {
        self.absent.lock().put(kid.to_owned(), (generation, now));
    }

    /// The last fetch error while failed fetches back off.
    pub fn backing_off(&self, now: Duration) -> Option<Error> {
        self.failures.backing_off(now)
    }

    /// Whether the last fetch failed.
    pub fn has_failures(&self) -> bool {
        self.failures.0.lock().count > 0
    }

    /// Records the outcome of a fetch for backoff.
    pub fn record_fetch(&self, result: &Result<Arc<Installed>>, now: Duration, backoff: Backoff) {
        self.failures.record(result.as_ref().err(), now, backoff);
    }

    /// The refetch an unknown kid may cause: joins a fetch already in flight; else uses a set
    /// installed since generation `seen`; else, if the rate limit allows, fetches (the claim and
    /// the start of the flight happen under one lock, so no caller sees a claimed refetch that
    /// has not started yet); else returns the current set and `true` (rate-limited).
    pub fn refetch_for_unknown_kid(
        &self,
        seen: u64,
        now: Duration,
        interval: Duration,
        fetch: impl FnOnce() -> Result<Arc<Installed>>,
    ) -> Result<(Arc<Installed>, bool)> {
        let limited = std::cell::Cell::new(false);
        let installed = self.flight.run(
            || {
                if let Some(newer) = self.current().filter(|c| c.generation > seen) {
                    return Some(newer);
                }
                match self.claim_unknown_kid_refetch(now, interval) {
                    RefetchSlot::Claimed => None,
                    RefetchSlot::RateLimited => {
                        limited.set(true);
                        self.current()
                    }
                }
            },
            fetch,
        )?;
        Ok((installed, limited.get()))
    }

    /// Installs a freshly fetched set and drops LRU entries whose key it no longer has. The
    /// LRU lock is held across the swap, so `lru_put` of a key from an older set either lands
    /// before the purge or is refused after it.
    pub fn install(
        &self,
        set: Arc<KeySet>,
        now: Duration,
        lifespan: Duration,
        validators: Validators,
    ) -> Arc<Installed> {
        let mut lru = self.keys_lru.as_ref().map(|l| l.lock());
        let installed = {
            let mut current = self.current.write();
            let generation = current.as_ref().map_or(1, |c| c.generation + 1);
            let installed = Arc::new(Installed {
                set: set.clone(),
                fetched_at: now,
                lifespan,
                validators,
                generation,
            });
            *current = Some(installed.clone());
            installed
        };
        if let Some(lru) = lru.as_mut() {
            let stale: Vec<String> = lru
                .iter()
                .filter(|(kid, (key, _))| {
                    set.find(kid)
                        .is_none_or(|fresh| fresh.jwk_json() != key.jwk_json())
                })
                .map(|(kid, _)| kid.clone())
                .collect();
            for kid in stale {
                lru.pop(&kid);
            }
        }
        installed
    }

    /// Whether an unknown kid could claim a refetch now (without claiming it).
    pub fn unknown_kid_refetch_allowed(&self, now: Duration, interval: Duration) -> bool {
        self.last_unknown_kid_refetch
            .lock()
            .is_none_or(|t| now.saturating_sub(t) >= interval)
    }

    /// Decides whether an unknown kid may trigger a refetch now.
    fn claim_unknown_kid_refetch(&self, now: Duration, interval: Duration) -> RefetchSlot {
        let mut last = self.last_unknown_kid_refetch.lock();
        match *last {
            Some(t) if now.saturating_sub(t) < interval => RefetchSlot::RateLimited,
            _ => {
                *last = Some(now);
                RefetchSlot::Claimed
            }
        }
    }

    /// A cached key younger than `lifespan` (and fitting `alg`, when given), from the LRU.
    pub fn lru_get(
        &self,
        kid: &str,
        alg: Option<crate::alg::Algorithm>,
        now: Duration,
        lifespan: Duration,
    ) -> Option<Arc<Key>> {
        let mut lru = self.keys_lru.as_ref()?.lock();
        match lru.get(kid) {
            Some((key, at)) if now.saturating_sub(*at) < lifespan => {
                alg.is_none_or(|a| key.supports(a)).then(|| key.clone())
            }
            Some(_) => {
                lru.pop(kid);
                None
            }
            None => None,
        }
    }

    /// Caches a key found in the set of `generation`, unless a newer set has been installed
    /// since (which may have removed it).
    pub fn lru_put(&self, key: &Arc<Key>, generation: u64, now: Duration) {
        if let (Some(lru), Some(kid)) = (&self.keys_lru, key.kid()) {
            let mut lru = lru.lock();
            if self.current().is_some_and(|c| c.generation == generation) {
                lru.put(kid.to_owned(), (key.clone(), now));
            }
        }
    }
}
