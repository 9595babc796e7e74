//! Issuer discovery (OpenID Connect Discovery 1.0): a token's `iss` names its issuer; the
//! issuer's configuration document names its `jwks_uri`; that source holds the keys.
//! Issuers are kept in a bounded LRU, each resolved at most once at a time (single-flight) and
//! again, in the background while the known configuration keeps serving, ahead of the issuer
//! TTL (or past it, within max-stale).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::cache::flight::SingleFlight;
use crate::cache::policy::refresh_due_at;
use crate::cache::policy::{Age, Rules};
use crate::cache::{BoundedLru, FailureTracker};
use crate::error::{Error, ErrorKind, Result};
use crate::http;
use crate::source::{unix_ms, BeforeFetch, Fetching, Source, StoredDoc};
use crate::store::{DocumentKind, DocumentStore};

mod document;

pub(crate) use document::parse_configuration;
pub use document::{config_url, DiscoveryOptions, DEFAULT_CONFIG_PATH};

struct Resolved {
    source: Arc<Source>,
    at: Duration,
}

#[derive(Default)]
struct IssuerEntry {
    resolved: RwLock<Option<Arc<Resolved>>>,
    flight: SingleFlight<Arc<Resolved>>,
    failures: FailureTracker,
    /// Up while a background rediscovery is queued or running.
    refreshing: Arc<AtomicBool>,
    /// The issuer's stored configuration document (a configured, discovered issuer of a
    /// client with a document store).
    saved: Option<StoredDoc>,
    /// The fetch time (Unix ms) of the configuration document in use; 0: none known. A
    /// stored document is newer only when its time is later.
    config_unix_ms: AtomicU64,
}

pub(crate) struct Discovery {
    store: Option<Arc<dyn DocumentStore>>,
    allowed: HashSet<String>,
    allow_any: bool,
    config_path: String,
    statics: HashMap<String, String>,
    allow_http: bool,
    rules: Rules,
    issuers: Mutex<BoundedLru<String, Arc<IssuerEntry>>>,
}

impl Discovery {
    pub fn new(
        o: &DiscoveryOptions,
        allow_http: bool,
        rules: Rules,
        store: Option<Arc<dyn DocumentStore>>,
    ) -> Result<Discovery> {
        if o.max_issuers == 0 || o.max_issuers > crate::options::MAX_ISSUERS_LIMIT {
            return Err(Error::invalid_argument(format!(
                "max_issuers must be between 1 and {}",
                crate::options::MAX_ISSUERS_LIMIT
            )));
        }
        if o.issuer_ttl.is_zero() {
            return Err(Error::invalid_argument("issuer_ttl must be positive"));
        }
        if o.config_path.is_empty() {
            return Err(Error::invalid_argument(
                "the discovery config path is empty",
            ));
        }
        for (issuer, jwks_uri) in &o.static_issuers {
            if issuer.is_empty() {
                return Err(Error::invalid_argument("a static issuer is empty"));
            }
            http::check_scheme(jwks_uri, allow_http)?;
        }
        // A plain-http issuer to discover is refused now, not at its first token. (An allowed
        // issuer that is no URL at all can only be a static one's name, or fail discovery.)
        let statics: HashSet<&str> = o.static_issuers.iter().map(|(i, _)| i.as_str()).collect();
        for issuer in &o.allowed_issuers {
            let plain = issuer
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
            if plain && !statics.contains(issuer.as_str()) {
                http::check_scheme(issuer, allow_http).map_err(|_| {
                    Error::invalid_argument(format!(
                        "issuer {issuer:?} uses plain http to a host that is not loopback: \
                         discovery needs https"
                    ))
                })?;
            }
        }
        Ok(Discovery {
            store,
            allowed: o.allowed_issuers.iter().cloned().collect(),
            allow_any: o.allow_any_issuer,
            config_path: o.config_path.clone(),
            statics: o.static_issuers.iter().cloned().collect(),
            allow_http,
            rules: Rules {
                cache_jwk_set: true,
                freshness: crate::cache::policy::Freshness {
                    lifespan: o.issuer_ttl,
                    ..rules.freshness
                },
                min_refetch_interval: o.min_refetch_interval,
                ..rules
            },
            issuers: Mutex::new(BoundedLru::new(o.max_issuers)),
        })
    }

    /// The source of `iss` without any request: the known one (fresh, or within max-stale
    /// past the TTL, while it is rediscovered in the background); None when discovery is
    /// needed. Refuses issuers that are not allowed, and answers the last error while a
    /// needed discovery backs off.
    pub fn source_if_ready(
        self: &Arc<Self>,
        f: &Arc<Fetching>,
        iss: &str,
    ) -> Result<Option<Arc<Source>>> {
        self.check_allowed(iss)?;
        let entry = self.issuers.lock().get(iss).cloned();
        let Some(entry) = entry else { return Ok(None) };
        if let Some(source) = self.known_source(f, iss, &entry) {
            return Ok(Some(source));
        }
        match entry.failures.backing_off(f.now()) {
            Some(error) => Err(error),
            None => Ok(None),
        }
    }

    /// The issuer's known source if it may serve now; starts the background rediscovery
    /// that is due (ahead of the TTL, or past it) unless rediscovery backs off.
    fn known_source(
        self: &Arc<Self>,
        f: &Arc<Fetching>,
        iss: &str,
        entry: &Arc<IssuerEntry>,
    ) -> Option<Arc<Source>> {
        let r = entry.resolved.read().clone()?;
        let now = f.now();
        let age = self
            .rules
            .age(now.saturating_sub(r.at), self.rules.freshness.lifespan);
        if age == Age::TooOld {
            return None;
        }
        if age.refresh_due() && entry.failures.backing_off(now).is_none() {
            self.rediscover_in_background(f, iss, entry, &r);
        }
        Some(r.source.clone())
    }

    /// Rediscovers `iss` on the client's worker unless that is already queued or running.
    fn rediscover_in_background(
        self: &Arc<Self>,
        f: &Arc<Fetching>,
        iss: &str,
        entry: &Arc<IssuerEntry>,
        seen: &Arc<Resolved>,
    ) {
        let (discovery, fetching) = (Arc::downgrade(self), Arc::downgrade(f));
        let (iss, job_entry, seen) = (iss.to_owned(), entry.clone(), seen.clone());
        f.in_background(&entry.refreshing, move || {
            if let (Some(d), Some(f)) = (discovery.upgrade(), Weak::upgrade(&fetching)) {
                if job_entry.failures.backing_off(f.now()).is_none() {
                    let _ = d.resolve_shared(&f, &iss, &job_entry, Some(seen), true);
                }
            }
        });
    }

    /// For the background refresher: starts every due rediscovery and key-set refresh;
    /// returns how long until the next one is due (None: nothing known yet).
    pub fn refresh_if_due(self: &Arc<Self>, f: &Arc<Fetching>) -> Option<Duration> {
        let entries: Vec<(String, Arc<IssuerEntry>)> = self
            .issuers
            .lock()
            .iter()
            .map(|(iss, e)| (iss.clone(), e.clone()))
            .collect();
        let ttl = self.rules.freshness.lifespan;
        let mut next: Option<Duration> = None;
        let mut soonest = |wait: Duration| next = Some(next.map_or(wait, |n| n.min(wait)));
        for (iss, entry) in entries {
            let Some(r) = entry.resolved.read().clone() else {
                continue;
            };
            let now = f.now();
            let due = refresh_due_at(r.at, ttl);
            if let Some(retry_in) = entry.failures.retry_in(now) {
                soonest(retry_in);
            } else if due > now {
                soonest(due - now);
            } else {
                self.rediscover_in_background(f, &iss, &entry, &r);
                soonest(Duration::from_secs(1));
            }
            if let Some(wait) = r.source.refresh_if_due(f) {
                soonest(wait);
            }
        }
        next
    }

    /// Background refreshes queued or running: rediscoveries and key-set refreshes.
    pub fn refreshing(&self) -> u64 {
        let issuers = self.issuers.lock();
        issuers
            .iter()
            .map(|(_, e)| {
                let source = e.resolved.read().as_ref().map(|r| r.source.refreshing());
                u64::from(e.refreshing.load(Ordering::Relaxed)) + u64::from(source == Some(true))
            })
            .sum()
    }

    /// When a client is made with a document store: resolves the static issuers (no
    /// request: their JWKS URLs are configured) and the allowed ones from their saved
    /// configuration documents (within max-stale past the issuer TTL), and loads their saved
    /// key sets, so a process started during an outage verifies its first token with no
    /// request. Issuers that only a token names (allow-any mode) are never saved.
    pub fn load_saved_issuers(&self, f: &Fetching) {
        if self.store.is_none() {
            return;
        }
        for (iss, uri) in &self.statics {
            let source = Arc::new(Source::new(uri.clone(), self.rules, self.store.as_ref()));
            if source.load_persisted(f).is_none() {
                continue;
            }
            let entry = IssuerEntry::default();
            *entry.resolved.write() = Some(Arc::new(Resolved {
                source,
                at: f.now(),
            }));
            self.issuers.lock().put(iss.clone(), Arc::new(entry));
        }
        for iss in self
            .allowed
            .iter()
            .filter(|i| !self.statics.contains_key(*i))
        {
            // Kept even when nothing was loaded, so that the entry's file is read again only
            // after the refetch interval.
            let entry = self.new_entry(iss);
            *entry.resolved.write() = self.saved_resolution(f, iss, &entry);
            self.issuers.lock().put(iss.clone(), Arc::new(entry));
        }
    }

    /// A new issuer entry; it has a saved configuration document when the issuer is
    /// configured (not only named by a token), discovered (not static), and the client has a
    /// document store.
    fn new_entry(&self, iss: &str) -> IssuerEntry {
        let saved = match &self.store {
            Some(store) if self.configured(iss) && !self.statics.contains_key(iss) => {
                Some(StoredDoc::new(
                    store.clone(),
                    DocumentKind::Configuration,
                    &config_url(iss, &self.config_path),
                ))
            }
            _ => None,
        };
        IssuerEntry {
            saved,
            ..IssuerEntry::default()
        }
    }

    /// Where the key set of `iss` is stored: only a configured issuer's.
    fn store_of(&self, iss: &str) -> Option<&Arc<dyn DocumentStore>> {
        self.store.as_ref().filter(|_| self.configured(iss))
    }

    /// The resolution of `iss` from its saved configuration document, aged as saved, with
    /// its saved key set loaded; None without a trusted document within max-stale (the
    /// document is read at most once per refetch interval).
    fn saved_resolution(
        &self,
        f: &Fetching,
        iss: &str,
        entry: &IssuerEntry,
    ) -> Option<Arc<Resolved>> {
        let (jwks_uri, at_unix, _) =
            entry
                .saved
                .as_ref()?
                .read(f, self.rules.min_refetch_interval, |doc| {
                    self.parse_stored(iss, doc)
                })?;
        let age = f.clock.unix_time().saturating_sub(at_unix);
        if self.rules.age(age, self.rules.freshness.lifespan) == Age::TooOld {
            return None;
        }
        entry
            .config_unix_ms
            .store(unix_ms(at_unix), Ordering::Relaxed);
        let source = Arc::new(Source::new(jwks_uri, self.rules, self.store_of(iss)));
        source.load_persisted(f);
        Some(Arc::new(Resolved {
            source,
            at: f.now().saturating_sub(age),
        }))
    }

    /// The issuers to resolve at warm-up: allowed and static ones.
    pub fn configured_issuers(&self) -> Vec<String> {
        self.allowed
            .iter()
            .chain(self.statics.keys())
            .cloned()
            .collect()
    }

    fn check_allowed(&self, iss: &str) -> Result<()> {
        if !self.allow_any && !self.configured(iss) {
            return Err(Error::new(
                ErrorKind::IssuerNotAllowed,
                "the token's issuer is not an allowed issuer",
            ));
        }
        Ok(())
    }

    /// Usable keys cached over all known issuers.
    pub fn keys_held(&self) -> u64 {
        let issuers = self.issuers.lock();
        issuers
            .iter()
            .filter_map(|(_, e)| e.resolved.read().clone())
            .map(|r| r.source.keys_held())
            .sum()
    }

    fn configured(&self, iss: &str) -> bool {
        self.allowed.contains(iss) || self.statics.contains_key(iss)
    }

    /// How messages name an issuer: configured issuers by name, others (allow-any mode) not at
    /// all, since the token chose them.
    fn label(&self, iss: &str) -> String {
        if self.configured(iss) {
            format!("issuer {iss:?}")
        } else {
            "the token's issuer".to_owned()
        }
    }

    /// The key source of issuer `iss`: refused before any request unless allowed; the known
    /// one while it may serve (see [`Discovery::source_if_ready`]); otherwise discovered
    /// (once, shared by concurrent callers), unless rediscovery backs off.
    pub fn source_for(self: &Arc<Self>, f: &Arc<Fetching>, iss: &str) -> Result<Arc<Source>> {
        self.check_allowed(iss)?;
        let entry = {
            let mut issuers = self.issuers.lock();
            match issuers.get(iss) {
                Some(entry) => entry.clone(),
                None => {
                    let entry = Arc::new(self.new_entry(iss));
                    issuers.put(iss.to_owned(), entry.clone());
                    entry
                }
            }
        };
        if let Some(source) = self.known_source(f, iss, &entry) {
            return Ok(source);
        }
        if let Some(error) = entry.failures.backing_off(f.now()) {
            return Err(error);
        }
        let seen = entry.resolved.read().clone();
        Ok(self
            .resolve_shared(f, iss, &entry, seen, false)?
            .source
            .clone())
    }

    /// Resolves `iss` once for all concurrent callers (a resolution newer than `seen` that
    /// lands meanwhile is used instead) and records the outcome for backoff. In the
    /// background, a new JWKS URL's set is fetched before the issuer switches to it, so the
    /// known set keeps answering until then. When a caller's discovery fails, the saved
    /// configuration document (if any, trusted and within max-stale) answers instead, while
    /// the failure still counts for backoff.
    fn resolve_shared(
        &self,
        f: &Arc<Fetching>,
        iss: &str,
        entry: &IssuerEntry,
        seen: Option<Arc<Resolved>>,
        background: bool,
    ) -> Result<Arc<Resolved>> {
        entry.flight.run(
            || {
                let current = entry.resolved.read().clone()?;
                let newer = seen.as_ref().is_none_or(|s| !Arc::ptr_eq(s, &current));
                newer.then_some(current)
            },
            || {
                let previous = seen.as_ref().map(|r| &r.source);
                let result = self.resolve(f, iss, entry, previous, background);
                let moved =
                    |source: &Arc<Source>| previous.is_some_and(|p| !Arc::ptr_eq(p, source));
                let result = match result {
                    Ok(source) if background && moved(&source) => {
                        source.set_for_lookup(f).map(|_| source)
                    }
                    other => other,
                };
                let result = result.map(|source| {
                    Arc::new(Resolved {
                        source,
                        at: f.now(),
                    })
                });
                entry
                    .failures
                    .record(result.as_ref().err(), f.now(), self.rules.backoff);
                let result = match result {
                    Err(error) if !background => self.saved_resolution(f, iss, entry).ok_or(error),
                    other => other,
                };
                if let Ok(resolved) = &result {
                    *entry.resolved.write() = Some(resolved.clone());
                    f.worker.start_refresher();
                }
                result
            },
        )
    }

    /// Finds the JWKS URL of `iss` and returns its source, reusing `previous` (and so its
    /// cached keys) when the URL has not changed.
    fn resolve(
        &self,
        f: &Fetching,
        iss: &str,
        entry: &IssuerEntry,
        previous: Option<&Arc<Source>>,
        background: bool,
    ) -> Result<Arc<Source>> {
        let jwks_uri = match self.statics.get(iss) {
            Some(uri) => uri.clone(),
            None => {
                if background {
                    crate::stats::bump(&f.counters.background_refreshes);
                }
                let result = self.discover(f, iss, entry);
                if let Err(e) = &result {
                    f.log(crate::log::LogLevel::Warn, || e.to_string());
                }
                result?
            }
        };
        match previous {
            Some(p) if p.uri() == jwks_uri => Ok(p.clone()),
            _ => Ok(Arc::new(Source::new(
                jwks_uri,
                self.rules,
                self.store_of(iss),
            ))),
        }
    }

    /// A stored configuration document of `iss`, checked as a fetched one.
    fn parse_stored(&self, iss: &str, doc: &str) -> std::result::Result<String, String> {
        parse_configuration(doc.as_bytes(), iss, self.allow_http)
            .map_err(|reason| format!("is refused: {reason}"))
    }

    /// The JWKS URL of `iss` from its configuration document. With a document store (a
    /// configured issuer), a newer fresh document there is adopted instead of fetching, a
    /// fetch claimed by another process is waited for, and a fetched document is saved.
    fn discover(&self, f: &Fetching, iss: &str, entry: &IssuerEntry) -> Result<String> {
        let mut claimed = None;
        if let Some(saved) = &entry.saved {
            let known = entry.config_unix_ms.load(Ordering::Relaxed);
            // A configuration document's lifespan is the issuer TTL, whatever its server said.
            let adopt = |at: Duration, _max_age: Option<Duration>| {
                let age = f.clock.unix_time().saturating_sub(at);
                unix_ms(at) > known
                    && self.rules.age(age, self.rules.freshness.lifespan)
                        == (Age::Fresh { refresh_due: false })
            };
            let parse = |doc: &str| self.parse_stored(iss, doc);
            match saved.before_fetch(
                f,
                (f.claim_wait, self.rules.min_refetch_interval),
                adopt,
                parse,
            ) {
                BeforeFetch::Adopt(jwks_uri, at, _) => {
                    entry.config_unix_ms.store(unix_ms(at), Ordering::Relaxed);
                    return Ok(jwks_uri);
                }
                BeforeFetch::Fetch { claimed: true } => claimed = Some(saved),
                BeforeFetch::Fetch { claimed: false } => {}
            }
        }
        let result = self.fetch_configuration(f, iss, entry);
        f.counters.fetched(result.is_ok(), f.clock.unix_time());
        if let Some(saved) = claimed {
            saved.release();
        }
        result
    }

    /// The request for the configuration document of `iss`, saved when good.
    fn fetch_configuration(&self, f: &Fetching, iss: &str, entry: &IssuerEntry) -> Result<String> {
        let label = self.label(iss);
        let failed = |reason: String| {
            Error::new(
                ErrorKind::Discovery,
                format!("discovery of {label} failed: {reason}"),
            )
        };
        // An issuer the token chose (allow-any mode) must be https, even to loopback.
        let chosen = !self.configured(iss);
        if chosen {
            http::check_scheme_chosen_by_token(iss, self.allow_http).map_err(|_| {
                failed(
                    "the issuer is not an https URL (an issuer only a token names must be)".into(),
                )
            })?;
        } else {
            http::check_scheme(iss, self.allow_http).map_err(|_| {
                failed(
                    "the issuer is not an https URL (plain http is allowed only to loopback hosts)"
                        .into(),
                )
            })?;
        }
        let url = config_url(iss, &self.config_path);
        let body = f.get_document(&url).map_err(|e| {
            if self.configured(iss) {
                failed(format!("{}: {}", e.kind(), e.message()))
            } else {
                failed(e.kind().to_string())
            }
        })?;
        let jwks_uri = parse_configuration(&body, iss, self.allow_http).map_err(failed)?;
        if chosen {
            http::check_scheme_chosen_by_token(&jwks_uri, self.allow_http).map_err(|_| {
                failed("its jwks_uri is not an https URL (an issuer only a token names must use https)".into())
            })?;
        }
        let at = f.clock.unix_time();
        if let (Some(saved), Ok(text)) = (&entry.saved, std::str::from_utf8(&body)) {
            saved.save(text, at, None);
        }
        entry.config_unix_ms.store(unix_ms(at), Ordering::Relaxed);
        Ok(jwks_uri)
    }
}
