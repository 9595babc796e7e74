//! The key-set cache of one source: the current set behind a short read lock (replaced whole,
//! so readers see the old set or the new one, never a mix), single-flight fetching, the
//! unknown-kid refetch limit, and the optional kid → key LRU.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use lru::LruCache;
use parking_lot::{Mutex, RwLock};

use crate::error::Result;
use crate::flight::SingleFlight;
use crate::keys::{Key, KeySet};

/// A set as installed, with when it was fetched and a generation that grows with every install.
#[derive(Debug)]
pub(crate) struct Installed {
    pub set: Arc<KeySet>,
    pub fetched_at: Duration,
    pub generation: u64,
}

/// kid → (key, when it was cached).
type KeyLru = LruCache<String, (Arc<Key>, Duration)>;

pub(crate) struct SetCache {
    current: RwLock<Option<Arc<Installed>>>,
    flight: SingleFlight<Arc<Installed>>,
    last_unknown_kid_refetch: Mutex<Option<Duration>>,
    keys_lru: Option<Mutex<KeyLru>>,
}

/// What [`SetCache::claim_unknown_kid_refetch`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RefetchSlot {
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

    /// Waits for the fetch in flight, if there is one.
    pub fn join_inflight(&self) {
        self.flight.join();
    }

    /// Installs a freshly fetched set and drops LRU entries whose key it no longer has.
    pub fn install(&self, set: KeySet, now: Duration) -> Arc<Installed> {
        let set = Arc::new(set);
        let installed = {
            let mut current = self.current.write();
            let generation = current.as_ref().map_or(1, |c| c.generation + 1);
            let installed = Arc::new(Installed {
                set: set.clone(),
                fetched_at: now,
                generation,
            });
            *current = Some(installed.clone());
            installed
        };
        if let Some(lru) = &self.keys_lru {
            let mut lru = lru.lock();
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

    /// Decides whether an unknown kid may trigger a refetch now.
    pub fn claim_unknown_kid_refetch(&self, now: Duration, interval: Duration) -> RefetchSlot {
        let mut last = self.last_unknown_kid_refetch.lock();
        match *last {
            Some(t) if now.saturating_sub(t) < interval => RefetchSlot::RateLimited,
            _ => {
                *last = Some(now);
                RefetchSlot::Claimed
            }
        }
    }

    /// A cached key younger than `lifespan`, from the LRU.
    pub fn lru_get(&self, kid: &str, now: Duration, lifespan: Duration) -> Option<Arc<Key>> {
        let mut lru = self.keys_lru.as_ref()?.lock();
        match lru.get(kid) {
            Some((key, at)) if now.saturating_sub(*at) < lifespan => Some(key.clone()),
            Some(_) => {
                lru.pop(kid);
                None
            }
            None => None,
        }
    }

    pub fn lru_put(&self, key: &Arc<Key>, now: Duration) {
        if let (Some(lru), Some(kid)) = (&self.keys_lru, key.kid()) {
            lru.lock().put(kid.to_owned(), (key.clone(), now));
        }
    }
}
