//! A key source: one JWKS URL with its cache, and the lookup rules on top (lifespan, one
//! refetch per unknown kid at most once per interval). A fixed-URL client has one source; a
//! discovery client has one per issuer.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::alg::Algorithm;
use crate::cache::{Backoff, Installed, SetCache, Validators};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::fetch::{self, HttpFetch, HttpRequest, HttpResponse};
use crate::freshness::Freshness;
use crate::keys::{self, Key, KeyPolicy, KeySet};
use crate::log::{LogLevel, Logger};
use crate::persist::Persist;
use crate::stats::{bump, Counters};

/// How long a source's set is used and how often an unknown kid may refetch it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub cache_jwk_set: bool,
    /// The configured lifespan (also the key LRU's), the caching-header policy and jitter.
    pub freshness: Freshness,
    pub min_refetch_interval: Duration,
    pub cache_keys: bool,
    pub max_cached_keys: usize,
    /// How long past its lifespan the last good set keeps serving while refreshes fail.
    pub max_stale: Duration,
    pub backoff: Backoff,
    /// How long a kid a fetch proved absent is refused without a refetch (unless a new set
    /// arrives first).
    pub absent_kid_ttl: Duration,
}

/// What a non-blocking lookup found: the key (and whether it is stale) if the cache has it,
/// and whether a fetch should be scheduled (the set is missing or expired, or the kid is
/// unknown and a refetch is allowed).
pub(crate) struct NowLookup {
    pub key: Option<(Arc<Key>, bool)>,
    pub fetch_needed: bool,
}

/// The set a lookup uses: whether this call fetched it, and whether it is served stale (past
/// its lifespan, because refreshing failed).
pub(crate) struct ForLookup {
    pub installed: Arc<Installed>,
    pub fetched: bool,
    pub stale: bool,
}

/// What every source of a client shares: the transport, the key policy and the clock.
pub(crate) struct Fetching {
    pub fetcher: Arc<dyn HttpFetch>,
    /// The configured request headers, sent only to `header_origins`.
    pub headers: Vec<(String, String)>,
    /// The origins the client was configured with (the JWKS URL; in discovery mode the allowed
    /// and static issuers and static JWKS URLs), never ones learned from tokens or documents.
    pub header_origins: Vec<fetch::Origin>,
    pub max_response_bytes: usize,
    pub policy: KeyPolicy,
    pub clock: Arc<dyn Clock>,
    pub counters: Counters,
    pub logger: Option<Logger>,
}

impl Fetching {
    pub fn now(&self) -> Duration {
        self.clock.monotonic()
    }

    pub fn log(&self, level: LogLevel, message: impl FnOnce() -> String) {
        if let Some(logger) = &self.logger {
            logger.log(level, message);
        }
    }

    /// GETs `url` with `extra` headers, the client's own headers when `url` is on one of the
    /// configured origins, and the size limit. A status other than 2xx or 304 is `HttpStatus`.
    pub fn get(&self, url: &str, extra: Vec<(String, String)>) -> Result<HttpResponse> {
        let mut headers = vec![(
            "Accept".to_owned(),
            "application/jwk-set+json, application/json".to_owned(),
        )];
        headers.extend(extra);
        if fetch::origin(url).is_ok_and(|o| self.header_origins.contains(&o)) {
            headers.extend(self.headers.iter().cloned());
        }
        let response = self.fetcher.get(&HttpRequest {
            url,
            headers: &headers,
            max_body_bytes: self.max_response_bytes,
        })?;
        if response.status != 304 && !(200..300).contains(&response.status) {
            return Err(Error::new(
                ErrorKind::HttpStatus,
                format!("HTTP {} from {url}", response.status),
            ));
        }
        fetch::check_response(url, &response, self.max_response_bytes)?;
        Ok(response)
    }

    /// GETs a document (2xx only) and returns its body.
    pub fn get_document(&self, url: &str) -> Result<Vec<u8>> {
        let response = self.get(url, Vec::new())?;
        if response.status == 304 {
            return Err(Error::new(
                ErrorKind::HttpStatus,
                format!("HTTP 304 from {url} to an unconditional request"),
            ));
        }
        Ok(response.body)
    }
}

pub(crate) struct Source {
    uri: String,
    rules: Rules,
    cache: SetCache,
    persist: Option<Persist>,
}

impl Source {
    /// A source for the JWKS at `uri`; with `persist_dir`, its last good set is also kept in a
    /// file there.
    pub fn new(uri: String, rules: Rules, persist_dir: Option<&Path>) -> Source {
        Source {
            cache: SetCache::new(rules.cache_keys, rules.max_cached_keys),
            persist: persist_dir.map(|dir| Persist::new(dir, &uri)),
            uri,
            rules,
        }
    }

    /// At start, with the IdP unreachable: the set last saved by any process sharing the
    /// directory, installed with its real age (so freshness and max-stale count from its
    /// original fetch).
    fn load_persisted(&self, f: &Fetching) -> Option<Arc<Installed>> {
        let (json, fetched_at_unix) = self.persist.as_ref()?.load(&self.uri)?;
        let set = keys::parse_jwk_set(json.as_bytes(), &f.policy).ok()?;
        let age = f.clock.unix_time().saturating_sub(fetched_at_unix);
        let freshness = &self.rules.freshness;
        let lifespan = freshness.jittered(freshness.lifespan);
        Some(self.cache.install(
            Arc::new(set),
            f.now().saturating_sub(age),
            lifespan,
            Validators::default(),
        ))
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// When the cached set should be refreshed ahead of its expiry (at `ahead` of its
    /// lifespan), or None if there is no set yet.
    pub fn refresh_due(&self, ahead: f64) -> Option<Duration> {
        let c = self.cache.current()?;
        Some(c.fetched_at + c.lifespan.mul_f64(ahead))
    }

    /// Refreshes the set now (a scheduled, not forced, fetch), for the background refresher;
    /// nothing while failed fetches back off.
    pub fn refresh(&self, f: &Fetching) -> Result<()> {
        if let Some(error) = self.cache.backing_off(f.now()) {
            return Err(error);
        }
        let seen = self.cache.current().map_or(0, |c| c.generation);
        self.refresh_after(f, seen, false).map(|_| ())
    }

    /// The lookup without any waiting: answers from the cache (a fresh set, or a stale one
    /// within max-stale while a refresh is due), or says a fetch is needed. Errors are those
    /// the blocking lookup would return without a request.
    pub fn lookup_now(&self, f: &Fetching, kid: &str, alg: Option<Algorithm>) -> Result<NowLookup> {
        let cache = &self.cache;
        let now = f.now();
        if let Some(key) = cache.lru_get(kid, alg, now, self.rules.freshness.lifespan) {
            bump(&f.counters.cache_hits);
            return Ok(NowLookup {
                key: Some((key, false)),
                fetch_needed: false,
            });
        }
        let backing_off = cache.backing_off(now);
        let Some(inst) = cache.current() else {
            return match backing_off {
                Some(error) => Err(error),
                None => Ok(NowLookup {
                    key: None,
                    fetch_needed: true,
                }),
            };
        };
        let lifespan = if self.rules.cache_jwk_set {
            inst.lifespan
        } else {
            Duration::ZERO
        };
        let age = now.saturating_sub(inst.fetched_at);
        let expired = age >= lifespan;
        if expired && age >= lifespan.saturating_add(self.rules.max_stale) {
            // Too old to serve even stale.
            return match backing_off {
                Some(error) => Err(error),
                None => Ok(NowLookup {
                    key: None,
                    fetch_needed: true,
                }),
            };
        }
        let found = match alg {
            Some(alg) => inst.set.find_for(kid, alg).cloned(),
            None => inst.set.find(kid).cloned(),
        };
        let refresh = expired && backing_off.is_none();
        if expired {
            bump(&f.counters.stale_serves);
        } else {
            bump(&f.counters.cache_hits);
        }
        if let Some(key) = found {
            return Ok(NowLookup {
                key: Some((key, expired)),
                fetch_needed: refresh,
            });
        }
        if refresh {
            // The refresh that is due may bring the kid.
            return Ok(NowLookup {
                key: None,
                fetch_needed: true,
            });
        }
        let interval = self.rules.min_refetch_interval;
        if let Some(error) = backing_off {
            return Err(error);
        }
        if cache.known_absent(kid, inst.generation, now, self.rules.absent_kid_ttl)
            || !cache.unknown_kid_refetch_allowed(now, interval)
        {
            bump(&f.counters.unknown_kid_rate_limited);
            return Err(key_not_found(&inst.set, kid, Some(interval)));
        }
        Ok(NowLookup {
            key: None,
            fetch_needed: true,
        })
    }

    /// The cached set without waiting, and whether a refresh is due: None when there is no set,
    /// or it is past max-stale.
    pub fn set_now(&self, f: &Fetching) -> Option<(Arc<KeySet>, bool)> {
        let c = self.cache.current()?;
        let lifespan = if self.rules.cache_jwk_set {
            c.lifespan
        } else {
            Duration::ZERO
        };
        let age = f.now().saturating_sub(c.fetched_at);
        if age >= lifespan.saturating_add(self.rules.max_stale) {
            return None;
        }
        let expired = age >= lifespan;
        Some((
            c.set.clone(),
            expired && self.cache.backing_off(f.now()).is_none(),
        ))
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
        if forced {
            extra.push(("Cache-Control".to_owned(), "no-cache".to_owned()));
        }
        let result = f.get(&self.uri, extra).and_then(|response| {
            let freshness = &self.rules.freshness;
            let lifespan = freshness.jittered(freshness.lifespan_for(&response.headers));
            let validators = Validators {
                etag: header(&response.headers, "etag"),
                last_modified: header(&response.headers, "last-modified"),
            };
            let set = match (&current, response.status) {
                (Some(c), 304) => {
                    bump(&f.counters.not_modified);
                    c.set.clone()
                }
                (None, 304) => {
                    return Err(Error::new(
                        ErrorKind::HttpStatus,
                        format!("HTTP 304 from {} to an unconditional request", self.uri),
                    ))
                }
                _ => Arc::new(keys::parse_jwk_set(&response.body, &f.policy)?),
            };
            if let Some(persist) = &self.persist {
                // Best effort: a full disk must not fail the verification that fetched.
                let _ = persist.save(&self.uri, set.json(), f.clock.unix_time());
            }
            Ok(self.cache.install(set, f.now(), lifespan, validators))
        });
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

    /// The set to look keys up in. A fresh cached set is used as is; otherwise the set is
    /// fetched (shared with concurrent callers), unless failed fetches are backing off. When
    /// the fetch fails or is backing off, the last good set keeps serving (flagged stale) up to
    /// `max_stale` past its lifespan; past that, or with no set at all, the fetch's error is
    /// returned.
    pub fn set_for_lookup(&self, f: &Fetching) -> Result<ForLookup> {
        let now = f.now();
        let current = self.cache.current();
        let lifespan = |c: &Installed| {
            if self.rules.cache_jwk_set {
                c.lifespan
            } else {
                Duration::ZERO
            }
        };
        if let Some(c) = &current {
            if now.saturating_sub(c.fetched_at) < lifespan(c) {
                bump(&f.counters.cache_hits);
                return Ok(ForLookup {
                    installed: c.clone(),
                    fetched: false,
                    stale: false,
                });
            }
        }
        let stale_ok = |c: &Arc<Installed>| {
            now.saturating_sub(c.fetched_at) < lifespan(c).saturating_add(self.rules.max_stale)
        };
        bump(&f.counters.cache_misses);
        let fallback = |error: Error| {
            let last_good = match &current {
                Some(c) => Some(c.clone()),
                None => self.load_persisted(f),
            };
            match last_good.filter(|c| stale_ok(c)) {
                Some(c) => {
                    let stale = now.saturating_sub(c.fetched_at) >= lifespan(&c);
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

    /// The set, from the cache unless it is stale or `refresh` forces a fetch.
    pub fn get_jwk_set(&self, f: &Fetching, refresh: bool) -> Result<Arc<KeySet>> {
        if refresh {
            let seen = self.cache.current().map_or(0, |c| c.generation);
            return Ok(self.refresh_after(f, seen, true)?.set.clone());
        }
        Ok(self.set_for_lookup(f)?.installed.set.clone())
    }

    /// The key with this kid (fitting `alg` when given), and whether it comes from a stale set;
    /// refetches once on a miss, at most once per `min_refetch_interval` across all callers.
    pub fn lookup(
        &self,
        f: &Fetching,
        kid: &str,
        alg: Option<Algorithm>,
    ) -> Result<(Arc<Key>, bool)> {
        let cache = &self.cache;
        let now = f.now();
        if let Some(key) = cache.lru_get(kid, alg, now, self.rules.freshness.lifespan) {
            bump(&f.counters.cache_hits);
            return Ok((key, false));
        }
        let find = |inst: &Installed| -> Option<Arc<Key>> {
            match alg {
                Some(alg) => inst.set.find_for(kid, alg).cloned(),
                None => inst.set.find(kid).cloned(),
            }
        };
        let ForLookup {
            installed: inst,
            fetched,
            stale,
        } = self.set_for_lookup(f)?;
        if let Some(key) = find(&inst) {
            if !stale {
                cache.lru_put(&key, inst.generation, now);
            }
            return Ok((key, stale));
        }
        let interval = self.rules.min_refetch_interval;
        if fetched {
            cache.remember_absent(kid, inst.generation, now);
            return Err(key_not_found(&inst.set, kid, None));
        }
        // A fetch already proved this kid absent: it does not take the refetch slot again (so
        // a replayed fake kid cannot keep a real new kid from its refetch).
        if cache.known_absent(kid, inst.generation, now, self.rules.absent_kid_ttl) {
            bump(&f.counters.unknown_kid_rate_limited);
            return Err(key_not_found(&inst.set, kid, Some(interval)));
        }
        // A fresh set lacks the kid. While fetches back off, the last failure answers.
        if let Some(error) = cache.backing_off(now) {
            return Err(error);
        }
        // A failed refetch returns its own error, which wins over "not found".
        let (inst, limited) =
            cache.refetch_for_unknown_kid(inst.generation, now, interval, || {
                bump(&f.counters.unknown_kid_refetches);
                self.fetch_and_install(f, true)
            })?;
        if limited {
            bump(&f.counters.unknown_kid_rate_limited);
        }
        let rate_limited = limited.then_some(interval);
        match find(&inst) {
            Some(key) => {
                cache.lru_put(&key, inst.generation, now);
                Ok((key, false))
            }
            None => {
                // Only a set fetched for this miss proves the kid absent; a refused refetch
                // proves nothing.
                if !limited {
                    cache.remember_absent(kid, inst.generation, now);
                }
                Err(key_not_found(&inst.set, kid, rate_limited))
            }
        }
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
