//! A key source: one JWKS URL with its cache, and the lookup rules on top: a cached set
//! answers at once while it is refreshed in the background (ahead of expiry, or past it
//! within max-stale); an unknown kid refetches at most once per interval. A fixed-URL client
//! has one source; a discovery client has one per issuer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::cache::policy::refresh_due_at;
use crate::cache::{Installed, KidRefetch, SetCache, Validators};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, HttpFetch, HttpRequest, HttpResponse};
use crate::jose::alg::Algorithm;
use crate::jose::keys::{self, Key, KeyPolicy, KeySet};
use crate::log::{LogLevel, Logger};
use crate::stats::{bump, Counters};
use crate::worker::{Task, Worker};

mod fetching;
mod saved;

use crate::cache::policy::{Age, Rules};
use crate::store::{DocumentKind, DocumentStore};
pub(crate) use fetching::Fetching;
pub(crate) use saved::{unix_ms, BeforeFetch, StoredDoc};

/// What a non-blocking lookup found: the key and whether it is stale, or None when a fetch
/// must be scheduled (no usable set, or the kid is unknown and a refetch is allowed).
pub(crate) type NowLookup = Option<(Arc<Key>, bool)>;

/// The set a lookup uses: whether this call fetched it, and whether it is served stale (past
/// its lifespan, while it is refreshed or because refreshing failed).
pub(crate) struct ForLookup {
    pub installed: Arc<Installed>,
    pub fetched: bool,
    pub stale: bool,
}

pub(crate) struct Source {
    uri: String,
    rules: Rules,
    cache: SetCache,
    /// The set in the document store: loaded when the source is made, before each fetch
    /// (adopted when newer) and by failed cold lookups (at most once per refetch interval);
    /// saved after each good fetch.
    stored: Option<StoredDoc>,
    /// The fetch time (Unix ms) of the installed set, as the store keeps it; 0: none. A
    /// stored set is newer only when its time is later.
    installed_unix_ms: AtomicU64,
    /// Up while a background refresh of this set is queued or running.
    refreshing: Arc<AtomicBool>,
    /// A local key set ([`crate::LocalJwks`]): installed once, never fetched.
    local: bool,
}

/// How long a local key set is "fresh": for ever, in practice, without overflowing the
/// arithmetic of ages.
const LOCAL_LIFESPAN: Duration = Duration::from_secs(100 * 365 * 86_400);

impl Source {
    /// A source for the JWKS at `uri`; with a `store`, its last good set is also kept there.
    pub fn new(uri: String, rules: Rules, store: Option<&Arc<dyn DocumentStore>>) -> Source {
        Source {
            cache: SetCache::new(rules.cache_keys, rules.max_cached_keys),
            stored: store.map(|store| StoredDoc::new(store.clone(), DocumentKind::KeySet, &uri)),
            installed_unix_ms: AtomicU64::new(0),
            uri,
            rules,
            refreshing: Arc::default(),
            local: false,
        }
    }

    /// The source of a local key set: no URL, no file, nothing ever fetched; the set comes
    /// from [`Source::install_local`].
    pub fn local(rules: Rules) -> Source {
        let rules = Rules {
            cache_jwk_set: true,
            ..rules
        };
        Source {
            local: true,
            ..Source::new("the local key set".to_owned(), rules, None)
        }
    }

    /// Installs the local key set, fresh for ever.
    pub fn install_local(&self, f: &Fetching, set: Arc<KeySet>) {
        self.cache
            .install(set, f.now(), LOCAL_LIFESPAN, Validators::default());
    }

    /// The set last saved in the store (by any client or process sharing it), installed with
    /// its real age (so freshness and max-stale count from its original fetch): when the
    /// source is made, so a new process (an nginx worker after a reload) starts warm, and
    /// again if a first fetch fails.
    ///
    /// Read when the source is made and, after that, by a cold lookup whose fetch failed, at
    /// most once per refetch interval. A document that is present but refused (not trusted,
    /// or not a usable set) is ignored and reported once, at Warn.
    pub fn load_persisted(&self, f: &Fetching) -> Option<Arc<Installed>> {
        let (set, fetched_at_unix, max_age) =
            self.stored
                .as_ref()?
                .read(f, self.rules.min_refetch_interval, |json| {
                    parse_stored(f, json)
                })?;
        Some(self.install_stored(f, set, fetched_at_unix, max_age))
    }

    /// Installs a set from the store, aged from its fetch time, with the lifespan this source
    /// gives the max-age its server advertised (as if it had fetched it itself).
    fn install_stored(
        &self,
        f: &Fetching,
        set: KeySet,
        fetched_at_unix: Duration,
        max_age: Option<Duration>,
    ) -> Arc<Installed> {
        let age = f.clock.unix_time().saturating_sub(fetched_at_unix);
        let freshness = &self.rules.freshness;
        let lifespan = freshness.jittered(freshness.lifespan_for_advertised(max_age));
        self.installed_unix_ms
            .store(unix_ms(fetched_at_unix), Ordering::Relaxed);
        self.cache.install(
            Arc::new(set),
            f.now().saturating_sub(age),
            lifespan,
            Validators::default(),
        )
    }

    /// Before a fetch (by the single-flight leader): a set in the store that is newer than the
    /// installed one and fresh enough is adopted instead (Ok), or the fetch is claimed
    /// (Err(claimed)). Fresh enough: not yet due for refresh; for a forced fetch (unknown kid,
    /// explicit refresh), fetched less than the refetch interval ago, which counts as this
    /// refetch.
    fn adopt_or_claim(
        &self,
        f: &Fetching,
        stored: &StoredDoc,
        forced: bool,
    ) -> std::result::Result<Arc<Installed>, bool> {
        let installed_ms = self.installed_unix_ms.load(Ordering::Relaxed);
        let adopt = |at: Duration, max_age: Option<Duration>| {
            if unix_ms(at) <= installed_ms {
                return false;
            }
            let age = f.clock.unix_time().saturating_sub(at);
            if forced {
                age < self.rules.min_refetch_interval
            } else {
                let freshness = &self.rules.freshness;
                let lifespan = self
                    .rules
                    .lifespan(freshness.lifespan_for_advertised(max_age));
                self.rules.age(age, lifespan) == (Age::Fresh { refresh_due: false })
            }
        };
        match stored.before_fetch(
            f,
            (f.claim_wait, self.rules.min_refetch_interval),
            adopt,
            |json| parse_stored(f, json),
        ) {
            BeforeFetch::Adopt(set, at, max_age) => {
                let installed = self.install_stored(f, set, at, max_age);
                f.log(LogLevel::Debug, || {
                    format!("JWKS {}: a newer set was taken from the store", self.uri)
                });
                Ok(installed)
            }
            BeforeFetch::Fetch { claimed } => Err(claimed),
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Whether a background refresh of this set is queued or running.
    pub fn refreshing(&self) -> bool {
        self.refreshing.load(Ordering::Relaxed)
    }

    /// For the background refresher: starts the refresh that is due (ahead of expiry, or
    /// past it) and returns how long until this set next needs one; None with no set yet.
    pub fn refresh_if_due(self: &Arc<Self>, f: &Arc<Fetching>) -> Option<Duration> {
        if self.local || !self.rules.cache_jwk_set {
            return None; // nothing is kept, so nothing to keep fresh
        }
        let c = self.cache.current()?;
        let now = f.now();
        if let Some(retry_in) = self.cache.retry_in(now) {
            return Some(retry_in);
        }
        let lifespan = self.rules.lifespan(c.lifespan);
        let due = refresh_due_at(c.fetched_at, lifespan);
        if due > now {
            return Some(due - now);
        }
        self.refresh_in_background(f);
        // Look again after the refresh has had a moment; a new set moves the due time.
        Some(Duration::from_secs(1))
    }

    /// Refreshes the set on the client's worker unless a refresh is already queued or
    /// running; never waits. Returns whether one is now queued or running.
    pub fn refresh_in_background(self: &Arc<Self>, f: &Arc<Fetching>) -> bool {
        let seen = self.cache.current().map_or(0, |c| c.generation);
        let (source, fetching) = (Arc::downgrade(self), Arc::downgrade(f));
        f.in_background(&self.refreshing, move || {
            if let (Some(source), Some(f)) = (source.upgrade(), Weak::upgrade(&fetching)) {
                source.refresh(&f, seen);
            }
        })
    }

    /// The background refresh itself: nothing while failed fetches back off, or when a set
    /// newer than generation `seen` arrived meanwhile.
    fn refresh(&self, f: &Fetching, seen: u64) {
        if self.cache.backing_off(f.now()).is_some() {
            return;
        }
        let _ = self.cache.refresh(seen, || {
            bump(&f.counters.background_refreshes);
            self.fetch_and_install(f, false)
        });
    }

    /// The cached set if it may answer now without a request: fresh, or past its lifespan
    /// within max-stale (then flagged stale). Starts the background refresh that is due
    /// (ahead of expiry or past it) unless fetches back off, and counts the answer. None:
    /// no set, or past max-stale.
    pub fn cached(self: &Arc<Self>, f: &Arc<Fetching>) -> Option<(Arc<Installed>, bool)> {
        let c = self.cache.current()?;
        let now = f.now();
        let age = self.rules.age(
            now.saturating_sub(c.fetched_at),
            self.rules.lifespan(c.lifespan),
        );
        if age == Age::TooOld {
            return None;
        }
        if age == Age::Stale
            && !self.rules.stale_while_revalidate
            && self.cache.backing_off(now).is_none()
        {
            // Refreshed before it answers; stale only while refreshing fails.
            return None;
        }
        let refreshing = if age.refresh_due() && self.cache.backing_off(now).is_none() {
            self.refresh_in_background(f)
        } else {
            self.refreshing()
        };
        let stale = age == Age::Stale;
        bump(if stale {
            &f.counters.stale_serves
        } else {
            &f.counters.cache_hits
        });
        if refreshing {
            bump(&f.counters.served_while_refreshing);
        }
        Some((c, stale))
    }

    /// The common case of every lookup, with the fewest shared writes: a set within its
    /// lifespan and not yet due for refresh holds the key. Read under the set's lock, counted
    /// as a cache hit. None for anything else, which the full lookups decide (and when the
    /// kid → key LRU is on, so that it keeps its own rules).
    fn fresh_hit(&self, f: &Fetching, kid: &str, alg: Option<Algorithm>) -> Option<Arc<Key>> {
        if !self.rules.cache_jwk_set || self.cache.has_key_lru() {
            return None;
        }
        let now = f.now();
        let key = self.cache.with_current(|c| {
            let age = self.rules.age(now.saturating_sub(c.fetched_at), c.lifespan);
            if age != (Age::Fresh { refresh_due: false }) {
                return None;
            }
            match alg {
                Some(alg) => c.set.find_for(kid, alg).cloned(),
                None => c.set.find(kid).cloned(),
            }
        })?;
        bump(&f.counters.cache_hits);
        if self.refreshing() {
            bump(&f.counters.served_while_refreshing);
        }
        Some(key)
    }

    /// The lookup without any waiting: answers from the cache (see [`Source::cached`]), or
    /// None when a fetch is needed: no usable set, or an unknown kid that may refetch now (or
    /// whose refetch is in flight). Errors are those the blocking lookup would return without
    /// a request.
    pub fn lookup_now(
        self: &Arc<Self>,
        f: &Arc<Fetching>,
        kid: &str,
        alg: Option<Algorithm>,
    ) -> Result<NowLookup> {
        if let Some(key) = self.fresh_hit(f, kid, alg) {
            return Ok(Some((key, false)));
        }
        let cache = &self.cache;
        let now = f.now();
        if let Some(key) = cache.lru_get(kid, alg, now, self.rules.freshness.lifespan) {
            bump(&f.counters.cache_hits);
            return Ok(Some((key, false)));
        }
        let backing_off = cache.backing_off(now);
        let Some((inst, stale)) = self.cached(f) else {
            return backing_off.map_or(Ok(None), Err);
        };
        if let Some(key) = find(&inst, kid, alg) {
            return Ok(Some((key, stale)));
        }
        if self.local {
            return Err(key_not_found(&inst.set, kid, None));
        }
        if let Some(error) = backing_off {
            return Err(error);
        }
        let interval = self.rules.min_refetch_interval;
        match cache.unknown_kid(kid, now, interval) {
            KidRefetch::Share | KidRefetch::Claim => Ok(None),
            KidRefetch::RateLimited => Err(self.rate_limited(f, &inst.set, kid)),
        }
    }

    /// The unknown-kid rule's last answer, for both paths: the set lacks `kid`, no refetch
    /// may run within the interval, so "not found", counted as rate-limited.
    fn rate_limited(&self, f: &Fetching, set: &KeySet, kid: &str) -> Error {
        bump(&f.counters.unknown_kid_rate_limited);
        key_not_found(set, kid, Some(self.rules.min_refetch_interval))
    }

    /// The last fetch error while failed fetches back off.
    pub fn backing_off(&self, f: &Fetching) -> Option<Error> {
        self.cache.backing_off(f.now())
    }

    /// Usable keys in the cached set.
    pub fn keys_held(&self) -> u64 {
        self.cache
            .current()
            .map_or(0, |c| c.set.keys().len() as u64)
    }

    /// One fetch (run by the single-flight leader only), its outcome recorded for backoff. A
    /// conditional request when the cached set has validators: a 304 keeps the parsed set and
    /// only renews its lifespan. `forced` refreshes (explicit, or for an unknown kid) also ask
    /// caches on the way to revalidate.
    fn fetch_and_install(&self, f: &Fetching, forced: bool) -> Result<Arc<Installed>> {
        let current = self.cache.current();
        if self.local {
            // Nothing to fetch: a "refresh" of a local set is the set.
            return current.ok_or_else(|| Error::new(ErrorKind::Internal, "no local key set"));
        }
        // The store first, unless every lookup is to fetch (the set cache is off).
        let mut claimed = None;
        if let Some(stored) = self.stored.as_ref().filter(|_| self.rules.cache_jwk_set) {
            match self.adopt_or_claim(f, stored, forced) {
                Ok(installed) => {
                    let result = Ok(installed);
                    self.cache
                        .record_fetch(&result, f.now(), self.rules.backoff);
                    f.worker.start_refresher();
                    return result;
                }
                Err(true) => claimed = Some(stored),
                Err(false) => {}
            }
        }
        let result = self.fetch(f, forced, current);
        if let Some(stored) = claimed {
            stored.release();
        }
        result
    }

    /// The request itself, its outcome installed, saved, recorded for backoff and logged.
    fn fetch(
        &self,
        f: &Fetching,
        forced: bool,
        current: Option<Arc<Installed>>,
    ) -> Result<Arc<Installed>> {
        let was_failing = self.cache.has_failures();
        let mut extra = Vec::new();
        if let Some(c) = &current {
            if let Some(etag) = &c.validators.etag {
                extra.push(("If-None-Match".to_owned(), etag.clone()));
            }
            if let Some(lm) = &c.validators.last_modified {
                extra.push(("If-Modified-Since".to_owned(), lm.clone()));
            }
        }
        // Only the answer to a conditional request that was really sent may be a 304.
        let conditional = !extra.is_empty();
        if forced {
            extra.push(("Cache-Control".to_owned(), "no-cache".to_owned()));
        }
        let result = f.get(&self.uri, extra).and_then(|response| {
            let freshness = &self.rules.freshness;
            let max_age =
                crate::cache::policy::advertised(&response.headers, std::time::SystemTime::now());
            let lifespan = freshness.jittered(freshness.lifespan_for_advertised(max_age));
            let mut validators = Validators {
                etag: header(&response.headers, "etag"),
                last_modified: header(&response.headers, "last-modified"),
            };
            let set = match (&current, response.status) {
                (Some(c), 304) if conditional => {
                    bump(&f.counters.not_modified);
                    // A 304 need not repeat the validators: keep those it answered.
                    if validators == Validators::default() {
                        validators = c.validators.clone();
                    }
                    c.set.clone()
                }
                (_, 304) => {
                    return Err(Error::new(
                        ErrorKind::HttpStatus,
                        format!("HTTP 304 from {} to an unconditional request", self.uri),
                    ))
                }
                _ => Arc::new(keys::parse_jwk_set(&response.body, &f.policy)?),
            };
            let at = f.clock.unix_time();
            if let Some(stored) = &self.stored {
                // Best effort: a store that cannot keep it must not fail the verification
                // that fetched.
                stored.save(set.json(), at, max_age);
            }
            self.installed_unix_ms.store(unix_ms(at), Ordering::Relaxed);
            Ok(self.cache.install(set, f.now(), lifespan, validators))
        });
        if result.is_ok() {
            // A set to keep fresh now exists: the refresher (if configured) starts.
            f.worker.start_refresher();
        }
        self.cache
            .record_fetch(&result, f.now(), self.rules.backoff);
        f.counters.fetched(result.is_ok(), f.clock.unix_time());
        match &result {
            Ok(_) if was_failing => f.log(LogLevel::Info, || {
                format!("JWKS {}: fetched again after failures", self.uri)
            }),
            Ok(installed) => f.log(LogLevel::Debug, || {
                format!(
                    "JWKS {}: fetched, {} keys",
                    self.uri,
                    installed.set.keys().len()
                )
            }),
            Err(e) => {
                let level = if current.is_some() {
                    LogLevel::Warn
                } else {
                    LogLevel::Error
                };
                f.log(level, || format!("JWKS {}: fetch failed: {e}", self.uri));
            }
        }
        result
    }

    fn refresh_after(&self, f: &Fetching, seen: u64, forced: bool) -> Result<Arc<Installed>> {
        self.cache
            .refresh(seen, || self.fetch_and_install(f, forced))
    }

    /// The set to look keys up in. A cached set answers at once (see [`Source::cached`]);
    /// only with no set, a set past max-stale, or `cache_jwk_set` off is the set fetched
    /// (shared with concurrent callers), unless failed fetches are backing off. When that
    /// fails, the last good set (or the persisted one) serves within max-stale; past that,
    /// or with no set at all, the fetch's error is returned.
    pub fn set_for_lookup(self: &Arc<Self>, f: &Arc<Fetching>) -> Result<ForLookup> {
        if self.rules.cache_jwk_set {
            if let Some((installed, stale)) = self.cached(f) {
                return Ok(ForLookup {
                    installed,
                    fetched: false,
                    stale,
                });
            }
        }
        let now = f.now();
        let current = self.cache.current();
        bump(&f.counters.cache_misses);
        let fallback = |error: Error| {
            let last_good = match &current {
                Some(c) => Some(c.clone()),
                None => self.load_persisted(f),
            };
            let age = |c: &Installed| {
                self.rules.age(
                    now.saturating_sub(c.fetched_at),
                    self.rules.lifespan(c.lifespan),
                )
            };
            match last_good.filter(|c| age(c) != Age::TooOld) {
                Some(c) => {
                    let stale = age(&c) == Age::Stale;
                    if stale {
                        bump(&f.counters.stale_serves);
                    }
                    Ok(ForLookup {
                        stale,
                        installed: c,
                        fetched: true,
                    })
                }
                None => Err(error),
            }
        };
        if let Some(error) = self.cache.backing_off(now) {
            return fallback(error);
        }
        let seen = current.as_ref().map_or(0, |c| c.generation);
        match self.refresh_after(f, seen, false) {
            Ok(installed) => Ok(ForLookup {
                installed,
                fetched: true,
                stale: false,
            }),
            Err(error) => fallback(error),
        }
    }

    /// The set, from the cache (see [`Source::set_for_lookup`]) unless `refresh` forces a
    /// fetch.
    pub fn get_jwk_set(self: &Arc<Self>, f: &Arc<Fetching>, refresh: bool) -> Result<Arc<KeySet>> {
        if refresh {
            let seen = self.cache.current().map_or(0, |c| c.generation);
            return Ok(self.refresh_after(f, seen, true)?.set.clone());
        }
        Ok(self.set_for_lookup(f)?.installed.set.clone())
    }

    /// The key with this kid (fitting `alg` when given), and whether it comes from a stale set;
    /// refetches once on a miss, at most once per `min_refetch_interval` across all callers.
    /// A caller refused a refetch answers at once; it waits only on a refetch for its own kid.
    pub fn lookup(
        self: &Arc<Self>,
        f: &Arc<Fetching>,
        kid: &str,
        alg: Option<Algorithm>,
    ) -> Result<(Arc<Key>, bool)> {
        if let Some(key) = self.fresh_hit(f, kid, alg) {
            return Ok((key, false));
        }
        let cache = &self.cache;
        let now = f.now();
        if let Some(key) = cache.lru_get(kid, alg, now, self.rules.freshness.lifespan) {
            bump(&f.counters.cache_hits);
            return Ok((key, false));
        }
        let ForLookup {
            installed: inst,
            fetched,
            stale,
        } = self.set_for_lookup(f)?;
        if let Some(key) = find(&inst, kid, alg) {
            if !stale {
                cache.lru_put(&key, inst.generation, now);
            }
            return Ok((key, stale));
        }
        // This call fetched already: no second request for the same miss. A local set has
        // nothing to refetch.
        if fetched || self.local {
            return Err(key_not_found(&inst.set, kid, None));
        }
        // The set lacks the kid. While fetches back off, the last failure answers.
        if let Some(error) = cache.backing_off(now) {
            return Err(error);
        }
        let interval = self.rules.min_refetch_interval;
        // A failed refetch returns its own error, which wins over "not found".
        let (inst, limited) = cache.refetch_for_unknown_kid(
            kid,
            &inst,
            now,
            interval,
            |i| find(i, kid, alg).is_some(),
            || {
                bump(&f.counters.unknown_kid_refetches);
                self.fetch_and_install(f, true)
            },
        )?;
        match find(&inst, kid, alg) {
            Some(key) => {
                cache.lru_put(&key, inst.generation, now);
                Ok((key, false))
            }
            None if limited => Err(self.rate_limited(f, &inst.set, kid)),
            None => Err(key_not_found(&inst.set, kid, None)),
        }
    }
}

/// A stored set, parsed with a fetched set's rules.
fn parse_stored(f: &Fetching, json: &str) -> std::result::Result<KeySet, String> {
    keys::parse_jwk_set(json.as_bytes(), &f.policy)
        .map_err(|e| format!("holds no usable key set: {}", e.message()))
}

/// The key with this kid in `inst`, fitting `alg` when given.
fn find(inst: &Installed, kid: &str, alg: Option<Algorithm>) -> Option<Arc<Key>> {
    match alg {
        Some(alg) => inst.set.find_for(kid, alg).cloned(),
        None => inst.set.find(kid).cloned(),
    }
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

fn key_not_found(set: &KeySet, kid: &str, rate_limited: Option<Duration>) -> Error {
    let mut msg = String::from("no usable key with the requested kid in the JWKS");
    if let Some(reason) = set.skip_reason(kid) {
        msg.push_str(&format!(
            "; the set has that kid but it was skipped: {reason}"
        ));
    }
    if let Some(interval) = rate_limited {
        msg.push_str(&format!(
            "; refetch rate-limited (at most one unknown-kid refetch per {} ms)",
            interval.as_millis()
        ));
    }
    Error::new(ErrorKind::KeyNotFound, msg)
}
