//! The key-set cache of one source: the current set behind a short read lock (replaced whole,
//! so readers see the old set or the new one, never a mix), single-flight fetching, the
//! unknown-kid refetch limit, and the optional kid → key LRU.
//!
//! The decisions live in `policy`: how long a set is fresh, when it is refreshed, stale or too
//! old, and whether an unknown kid may refetch. The other submodules carry them out: one fetch
//! at a time per set (`flight`) and the last good sets on disk (`persist`).

pub(crate) mod flight;
pub(crate) mod policy;

pub(crate) use policy::KidRefetch;
pub(crate) mod persist;

use std::sync::Arc;
use std::time::Duration;

use lru::LruCache;
use parking_lot::{Mutex, RwLock};

use crate::cache::flight::{Decision, Purpose, Ran, SingleFlight};
use crate::error::{Error, Result};
use crate::jose::keys::{Key, KeySet};

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

/// An LRU map whose memory grows with its contents, never with its bound: a bound of a
/// million costs nothing until a million entries exist (`LruCache::new` would allocate for all
/// of them at once).
pub(crate) struct BoundedLru<K: std::hash::Hash + Eq, V> {
    lru: LruCache<K, V>,
    bound: usize,
}

impl<K: std::hash::Hash + Eq, V> BoundedLru<K, V> {
    pub fn new(bound: usize) -> Self {
        BoundedLru {
            lru: LruCache::unbounded(),
            bound: bound.max(1),
        }
    }

    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.lru.get(key)
    }

    pub fn pop<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.lru.pop(key)
    }

    /// Inserts, evicting the least recently used entry when full.
    pub fn put(&mut self, key: K, value: V) {
        if !self.lru.contains(&key) && self.lru.len() >= self.bound {
            self.lru.pop_lru();
        }
        self.lru.put(key, value);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.lru.iter()
    }
}

/// kid → (key, when it was cached).
type KeyLru = BoundedLru<String, (Arc<Key>, Duration)>;

pub(crate) struct SetCache {
    current: RwLock<Option<Arc<Installed>>>,
    flight: SingleFlight<Arc<Installed>>,
    slot: Mutex<KidSlot>,
    keys_lru: Option<Mutex<KeyLru>>,
    failures: FailureTracker,
}

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

    /// While failed fetches back off: how long until the next attempt is allowed.
    pub fn retry_in(&self, now: Duration) -> Option<Duration> {
        let failures = self.0.lock();
        (failures.count > 0 && now < failures.retry_at).then(|| failures.retry_at - now)
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
                failures.retry_at = now.saturating_add(delay);
                failures.last = Some(e.clone());
            }
        }
    }
}

/// The unknown-kid refetch slot: when it was last claimed, and for which kid while that
/// claimant is still at work (callers with the same kid share its claim).
#[derive(Default)]
struct KidSlot {
    last_claim: Option<Duration>,
    claimant: Option<String>,
}

impl KidSlot {
    /// The unknown-kid rule on this slot (policy::kid_refetch), for the blocking lookup (which
    /// then claims or shares under the flight lock) and the non-blocking one (which schedules).
    fn decide(&self, kid: &str, now: Duration, interval: Duration) -> KidRefetch {
        policy::kid_refetch(
            self.claimant.as_deref(),
            self.last_claim,
            kid,
            now,
            interval,
        )
    }
}

/// Ends an active claim when its claimant returns (or unwinds).
struct Claimant<'a> {
    slot: &'a Mutex<KidSlot>,
    kid: &'a str,
}

impl Drop for Claimant<'_> {
    fn drop(&mut self) {
        let mut slot = self.slot.lock();
        if slot.claimant.as_deref() == Some(self.kid) {
            slot.claimant = None;
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

impl SetCache {
    pub fn new(cache_keys: bool, max_cached_keys: usize) -> Self {
        let keys_lru = (cache_keys && max_cached_keys > 0)
            .then(|| Mutex::new(BoundedLru::new(max_cached_keys)));
        SetCache {
            current: RwLock::new(None),
            flight: SingleFlight::new(),
            slot: Mutex::new(KidSlot::default()),
            keys_lru,
            failures: FailureTracker::default(),
        }
    }

    /// The installed set, fresh or not.
    pub fn current(&self) -> Option<Arc<Installed>> {
        self.current.read().clone()
    }

    /// `f` on the installed set, under the read lock (no clone of the set's `Arc`, whose
    /// count every reader would otherwise write).
    pub fn with_current<R>(&self, f: impl FnOnce(&Installed) -> Option<R>) -> Option<R> {
        self.current.read().as_deref().and_then(f)
    }

    /// Whether the kid → key LRU is on.
    pub fn has_key_lru(&self) -> bool {
        self.keys_lru.is_some()
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

    /// The last fetch error while failed fetches back off.
    pub fn backing_off(&self, now: Duration) -> Option<Error> {
        self.failures.backing_off(now)
    }

    /// While failed fetches back off: how long until the next attempt is allowed.
    pub fn retry_in(&self, now: Duration) -> Option<Duration> {
        self.failures.retry_in(now)
    }

    /// Whether the last fetch failed.
    pub fn has_failures(&self) -> bool {
        self.failures.0.lock().count > 0
    }

    /// Records the outcome of a fetch for backoff.
    pub fn record_fetch(&self, result: &Result<Arc<Installed>>, now: Duration, backoff: Backoff) {
        self.failures.record(result.as_ref().err(), now, backoff);
    }

    /// The unknown-kid rule as the non-blocking lookup sees it, without claiming: a refetch
    /// for `kid` in flight counts as shared.
    pub fn unknown_kid(&self, kid: &str, now: Duration, interval: Duration) -> KidRefetch {
        if matches!(self.flight.running(), Some(Purpose::Kid(k)) if k == kid) {
            return KidRefetch::Share;
        }
        // One lock at a time: the flight lock is taken before the slot's elsewhere.
        self.slot.lock().decide(kid, now, interval)
    }

    /// The refetch an unknown kid may cause, given the set `inst` that lacks it. Returns the
    /// set to look in again and whether the refetch was refused (rate-limited).
    ///
    /// - A set installed since `inst` that has the kid answers at once.
    /// - A refetch in flight for this same kid is joined: its result is this caller's too, and
    ///   so is a claim for this kid still at work (its claimant may be waiting, below).
    /// - Otherwise, if the rate limit allows, the caller claims the refetch (claim and start
    ///   happen under the flight lock, so no caller sees a claimed refetch that has not
    ///   started). A fetch of another purpose already in flight is waited for first, and its
    ///   set used if it has the kid; else the claimed refetch follows it.
    /// - Otherwise the answer is immediate: the current set, rate-limited. A caller never
    ///   waits on a fetch that is not for its kid unless it holds the refetch slot.
    pub fn refetch_for_unknown_kid(
        &self,
        kid: &str,
        inst: &Arc<Installed>,
        now: Duration,
        interval: Duration,
        has_kid: impl Fn(&Installed) -> bool,
        fetch: impl Fn() -> Result<Arc<Installed>>,
    ) -> Result<(Arc<Installed>, bool)> {
        let mut seen = inst.generation;
        let mut claimed = false;
        let mut claimant = None;
        loop {
            let (mut limited, mut own) = (false, false);
            let ran = self.flight.run_with(
                |running| {
                    let current = self.current().unwrap_or_else(|| inst.clone());
                    if current.generation > seen && (!claimed || has_kid(&current)) {
                        return Decision::Answer(current);
                    }
                    match running {
                        Some(Purpose::Kid(k)) if k == kid => {
                            own = true;
                            return Decision::Join;
                        }
                        _ if claimed => {}
                        _ => {
                            let mut slot = self.slot.lock();
                            match slot.decide(kid, now, interval) {
                                KidRefetch::Share => claimed = true,
                                KidRefetch::Claim => {
                                    *slot = KidSlot {
                                        last_claim: Some(now),
                                        claimant: Some(kid.to_owned()),
                                    };
                                    claimed = true;
                                    claimant = Some(Claimant {
                                        slot: &self.slot,
                                        kid,
                                    });
                                }
                                KidRefetch::RateLimited => {
                                    limited = true;
                                    return Decision::Answer(current);
                                }
                            }
                        }
                    }
                    match running {
                        Some(_) => Decision::Join,
                        None => Decision::Lead(Purpose::Kid(kid.to_owned())),
                    }
                },
                &fetch,
            );
            match ran {
                Ran::Answered(set) => return Ok((set, limited)),
                Ran::Led(result) => return result.map(|set| (set, false)),
                Ran::Joined(result) if own => return result.map(|set| (set, false)),
                // Another purpose's fetch, waited for while holding the claim.
                Ran::Joined(Ok(set)) if has_kid(&set) => return Ok((set, false)),
                Ran::Joined(Ok(set)) => seen = seen.max(set.generation),
                Ran::Joined(Err(error)) => return Err(error),
            }
        }
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

    /// A cached key younger than `lifespan` (and fitting `alg`, when given), from the LRU.
    pub fn lru_get(
        &self,
        kid: &str,
        alg: Option<crate::jose::alg::Algorithm>,
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
