//! The client: a JWKS URL, its cache, and the operations on top (PyJWT `PyJWKClient` parity
//! plus verification). The asynchronous entry points are in `async_verify`.

pub(crate) mod async_verify;

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;

use serde_json::{Map, Value};

use crate::cache::freshness::Freshness;
use crate::cache::Backoff;
use crate::discovery::Discovery;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, FetchConfig, HttpFetch, HttpFetcher};
use crate::jose::alg::Algorithm;
use crate::jose::jwt;
use crate::jose::keys::{Key, KeyPolicy, KeySet};
use crate::jose::validation::{Validation, VerifyOptions};
use crate::options::{ClientOptions, MAX_KIDLESS_CANDIDATES};
use crate::source::{Fetching, Rules, Source};
use crate::stats::{Counters, Stats};
use crate::worker::{Task, Worker};

/// A JWKS client. Cheap to clone (clones share one cache) and safe to use from many threads:
/// a lookup in a warm cache takes a short shared lock and never waits on the network.
///
/// Two modes, chosen by the options: a fixed JWKS URL (`uri`), or issuer discovery (no `uri`;
/// `discovery` names the allowed issuers), where each token's `iss` leads to its issuer's keys.
///
/// Once a set is cached, expiry never makes a call wait: the cached set answers (flagged
/// stale past its lifespan) while it is refreshed in the background, ahead of expiry by
/// default. The blocking methods wait on the network (at most `timeout` per request) only on
/// a cold start, for an unknown kid within the refetch rules, for an explicit forced refresh,
/// for a set past `max_stale`, or with `cache_jwk_set` off. The `_nonblocking` and `_async`
/// methods never fetch on the caller's thread.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// Shared by the caller's clones only (not by the library's own threads): when the last
    /// one goes, the client closes (background threads stop, pending async requests are
    /// answered "cancelled") even while a fetch in flight still holds `inner`.
    user: Option<Arc<UserGuard>>,
}

struct UserGuard(std::sync::Weak<Inner>);

impl Drop for UserGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            inner
                .closed
                .store(true, std::sync::atomic::Ordering::SeqCst);
            inner.fetching.worker.shutdown();
        }
    }
}

enum Mode {
    Fixed(Arc<Source>),
    Discovery(Arc<Discovery>),
}

pub(crate) struct Inner {
    mode: Mode,
    closed: std::sync::atomic::AtomicBool,
    process: crate::process::Process,
    /// Lookups the non-blocking calls have scheduled and not yet run: (issuer, kid).
    scheduled: Mutex<HashSet<(Option<String>, Option<String>)>>,
    max_token_bytes: usize,
    allow_symmetric_keys: bool,
    allow_missing_kid: bool,
    validation: Validation,
    fetching: Arc<Fetching>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Client");
        match &self.inner.mode {
            Mode::Fixed(source) => d.field("uri", &source.uri()),
            Mode::Discovery(_) => d.field("mode", &"discovery"),
        };
        d.finish_non_exhaustive()
    }
}

/// A verified token: its claims and the header fields callers route on.
#[derive(Debug, Clone)]
pub struct Verified {
    payload: String,
    claims: OnceLock<Map<String, Value>>,
    kid: Option<String>,
    alg: Algorithm,
    typ: Option<String>,
    key: Arc<Key>,
    stale: bool,
}

impl Verified {
    /// The claims as the token's decoded JSON payload, byte for byte.
    pub fn claims_json(&self) -> &str {
        &self.payload
    }

    /// The claims, parsed (on first use: C callers and a warm verify never pay for it).
    pub fn claims(&self) -> &Map<String, Value> {
        self.claims
            .get_or_init(|| serde_json::from_str(&self.payload).unwrap_or_default())
    }

    /// The claim at `pointer` (RFC 6901 JSON Pointer: `/sub`, `/realm_access/roles`,
    /// `/https:~1~1example.com~1roles`) rendered as text, as servers put claims into headers
    /// and variables: see [`claim_text`]. None when absent or null.
    pub fn claim(&self, pointer: &str) -> Option<String> {
        claim_text(&Value::Object(self.claims().clone()), pointer)
    }

    /// The header's `kid` (absent only when `allow_missing_kid` let a kid-less token through).
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The header's `alg`.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The header's `typ`, if any.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// The key that verified the signature.
    pub fn key(&self) -> &Arc<Key> {
        &self.key
    }

    /// Whether the key came from a stale set: past its lifespan (within `max_stale`), serving
    /// while it is refreshed in the background or because refreshing it failed. The token is
    /// valid; a caller may still choose to treat it differently.
    pub fn stale(&self) -> bool {
        self.stale
    }
}

fn invalid_if(cond: bool, message: &str) -> Result<()> {
    if cond {
        Err(Error::invalid_argument(message))
    } else {
        Ok(())
    }
}

impl Client {
    /// Checks `options` and makes a client. Does not fetch anything (the first lookup does).
    pub fn new(options: ClientOptions) -> Result<Client> {
        // Sets up AWS-LC (CPU feature detection) before the first verification, whatever the
        // host process is (a Go or C program links the static library without Rust's runtime
        // having touched AWS-LC).
        aws_lc_rs::init();
        let o = options;
        invalid_if(
            o.cache_jwk_set && o.lifespan.is_zero(),
            "lifespan must be positive",
        )?;
        invalid_if(
            o.cache_keys
                && !(1..=crate::options::MAX_CACHED_KEYS_LIMIT).contains(&o.max_cached_keys),
            &format!(
                "max_cached_keys must be between 1 and {}",
                crate::options::MAX_CACHED_KEYS_LIMIT
            ),
        )?;
        invalid_if(o.timeout.is_zero(), "timeout must be positive")?;
        invalid_if(
            o.min_lifespan.is_zero() || o.max_lifespan < o.min_lifespan,
            "min_lifespan must be positive and at most max_lifespan",
        )?;
        invalid_if(
            !(0.0..=0.5).contains(&o.refresh_jitter),
            "refresh_jitter must be between 0 and 0.5",
        )?;
        invalid_if(
            o.failure_backoff.is_zero() || o.failure_backoff_max < o.failure_backoff,
            "failure_backoff must be positive and at most failure_backoff_max",
        )?;
        invalid_if(
            o.max_response_bytes == 0,
            "max_response_bytes must be positive",
        )?;
        invalid_if(o.max_keys == 0, "max_keys must be positive")?;
        invalid_if(o.max_token_bytes == 0, "max_token_bytes must be positive")?;
        invalid_if(
            o.validation.algorithms.is_empty(),
            "the allowed algorithm list is empty",
        )?;
        invalid_if(
            o.validation.algorithms.iter().any(|a| a.is_hmac()) && !o.allow_symmetric_keys,
            "HMAC algorithms (HS256/384/512) need allow_symmetric_keys",
        )?;
        for (name, value) in &o.headers {
            check_header(name, value)?;
        }
        if let Some(dir) = &o.persist_dir {
            invalid_if(
                !dir.is_dir(),
                &format!("persist_dir {} is not a directory", dir.display()),
            )?;
        }
        let mut ca_pem = o.ca_pem.clone();
        for path in &o.ca_files {
            let pem = std::fs::read(path).map_err(|e| {
                Error::invalid_argument(format!("cannot read CA file {}: {e}", path.display()))
            })?;
            ca_pem.push(b'\n');
            ca_pem.extend_from_slice(&pem);
        }
        let fetcher: Arc<dyn HttpFetch> = match &o.fetcher {
            Some(custom) => custom.clone(),
            None => Arc::new(HttpFetcher::new(FetchConfig {
                timeout: o.timeout,
                max_redirects: o.max_redirects,
                allow_http: o.allow_http,
                extra_ca_pem: ca_pem,
                insecure: o.danger_accept_invalid_certs,
                proxy: o.proxy.clone(),
            })?),
        };
        let configured_urls: Vec<&str> = if o.uri.is_empty() {
            let d = &o.discovery;
            d.allowed_issuers
                .iter()
                .map(String::as_str)
                .chain(
                    d.static_issuers
                        .iter()
                        .flat_map(|(i, u)| [i.as_str(), u.as_str()]),
                )
                .collect()
        } else {
            vec![o.uri.as_str()]
        };
        let header_origins = configured_urls
            .into_iter()
            .filter_map(|u| http::origin(u).ok())
            .collect();
        let policy = KeyPolicy {
            allowed: o.validation.algorithms.clone(),
            allow_oct: o.allow_symmetric_keys,
            max_keys: o.max_keys,
        };
        let rules = Rules {
            cache_jwk_set: o.cache_jwk_set,
            freshness: Freshness {
                lifespan: o.lifespan,
                honor_headers: o.honor_cache_headers,
                min: o.min_lifespan,
                max: o.max_lifespan,
                jitter: o.refresh_jitter,
            },
            min_refetch_interval: o.min_refetch_interval,
            cache_keys: o.cache_keys,
            max_cached_keys: o.max_cached_keys,
            max_stale: o.max_stale,
            refresh_ahead: o.refresh_ahead,
            backoff: Backoff {
                initial: o.failure_backoff,
                max: o.failure_backoff_max,
            },
        };
        let mode = if o.uri.is_empty() {
            if !o.discovery.is_enabled() {
                return Err(Error::invalid_argument(
                    "no JWKS URL and no issuers: set uri, or allowed/static issuers for discovery",
                ));
            }
            Mode::Discovery(Arc::new(Discovery::new(
                &o.discovery,
                o.allow_http,
                rules,
                o.persist_dir.clone(),
            )?))
        } else {
            invalid_if(
                o.discovery.is_enabled(),
                "uri and issuer discovery exclude each other: for a fixed issuer -> JWKS URL in \
                 discovery mode, use a static issuer",
            )?;
            http::check_scheme(&o.uri, o.allow_http)?;
            Mode::Fixed(Arc::new(Source::new(
                o.uri.clone(),
                rules,
                o.persist_dir.as_deref(),
            )))
        };
        let mut client = Client {
            user: None,
            inner: Arc::new(Inner {
                mode,
                closed: std::sync::atomic::AtomicBool::new(false),
                process: crate::process::Process::current(),
                scheduled: Mutex::new(HashSet::new()),
                max_token_bytes: o.max_token_bytes,
                allow_symmetric_keys: o.allow_symmetric_keys,
                allow_missing_kid: o.allow_missing_kid,
                validation: o.validation,
                fetching: Arc::new(Fetching {
                    fetcher,
                    headers: o.headers.clone(),
                    header_origins,
                    max_response_bytes: o.max_response_bytes,
                    policy,
                    clock: o.clock,
                    counters: Counters::default(),
                    logger: o.logger.clone(),
                    worker: Worker::default(),
                }),
            }),
        };
        client.user = Some(Arc::new(UserGuard(Arc::downgrade(&client.inner))));
        // Start warm from the last-known-good files, if any (no request).
        let f = &client.inner.fetching;
        match &client.inner.mode {
            Mode::Fixed(source) => {
                source.load_persisted(f);
            }
            Mode::Discovery(d) => d.load_static_issuers(f),
        }
        // With the set cache off (fixed mode) nothing is kept, so there is nothing to refresh.
        if o.background_refresh && (o.cache_jwk_set || o.uri.is_empty()) {
            // Started by the first cached set; until then nothing is due. Without one, look
            // again soon enough to catch a set well before it expires.
            let lifespan = if o.uri.is_empty() {
                o.discovery.issuer_ttl
            } else {
                o.lifespan
            };
            let idle = lifespan
                .mul_f64(0.1)
                .clamp(Duration::from_millis(10), Duration::from_secs(1));
            let weak = Arc::downgrade(&client.inner);
            let f = &client.inner.fetching;
            f.worker
                .arm_refresher(idle, f.clock.poll_interval(), move || {
                    Client::from_inner(weak.upgrade()?).refresh_due_sources()
                });
        }
        Ok(client)
    }

    /// For the background refresher: starts the refreshes that are due (on the worker, so a
    /// slow IdP delays no other source) and returns how long until the next one is.
    fn refresh_due_sources(&self) -> Option<Duration> {
        let f = &self.inner.fetching;
        match &self.inner.mode {
            Mode::Fixed(source) => source.refresh_if_due(f),
            Mode::Discovery(d) => d.refresh_if_due(f),
        }
    }

    /// The JWKS URL, or None in discovery mode.
    pub fn uri(&self) -> Option<&str> {
        match &self.inner.mode {
            Mode::Fixed(source) => Some(source.uri()),
            Mode::Discovery(_) => None,
        }
    }

    pub(crate) fn request_started(&self) {
        crate::stats::bump(&self.inner.fetching.counters.pending_requests);
    }

    pub(crate) fn request_finished(&self) {
        let _ = self.inner.fetching.counters.pending_requests.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |n| n.checked_sub(1),
        );
    }

    /// A handle for the library's own threads: it does not keep the client open.
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Client {
        Client { inner, user: None }
    }

    /// Whether the caller has dropped every handle (the library's threads may still hold
    /// the client while they finish).
    pub(crate) fn is_closed(&self) -> bool {
        self.inner.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    /// Queues work on the client's threads (handed back if it cannot be queued).
    pub(crate) fn submit(
        &self,
        job: Box<dyn crate::worker::Job>,
    ) -> std::result::Result<(), Box<dyn crate::worker::Job>> {
        self.inner.fetching.worker.submit(job)
    }

    /// The client's claim checks.
    pub fn validation(&self) -> &Validation {
        &self.inner.validation
    }

    /// A snapshot of the client's counters. Never blocks on the network.
    pub fn stats(&self) -> Stats {
        let (keys_held, refreshing) = match &self.inner.mode {
            Mode::Fixed(source) => (source.keys_held(), u64::from(source.refreshing())),
            Mode::Discovery(d) => (d.keys_held(), d.refreshing()),
        };
        self.inner.fetching.counters.snapshot(keys_held, refreshing)
    }

    /// Refuses use in a forked child: the parent's locks and fetches in flight do not exist
    /// there, so waiting on them would hang.
    fn same_process(&self) -> Result<()> {
        if self.inner.process.is_current() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Forked,
                "this client was made in another process (before fork); make clients after forking",
            ))
        }
    }

    fn fixed(&self, what: &str) -> Result<&Arc<Source>> {
        self.same_process()?;
        match &self.inner.mode {
            Mode::Fixed(source) => Ok(source),
            Mode::Discovery(_) => Err(Error::invalid_argument(format!(
                "{what} needs a fixed JWKS URL; in discovery mode use the *_for_issuer calls or \
                 get_signing_key_from_jwt"
            ))),
        }
    }

    /// The source holding the keys of `iss` (the token's issuer).
    fn source_for(&self, iss: Option<&str>) -> Result<Arc<Source>> {
        self.same_process()?;
        match &self.inner.mode {
            Mode::Fixed(source) => Ok(source.clone()),
            Mode::Discovery(d) => match iss {
                Some(iss) => d.source_for(&self.inner.fetching, iss),
                None => Err(Error::new(
                    ErrorKind::MissingClaim,
                    "required claim \"iss\" is missing (discovery mode finds keys by issuer)",
                )),
            },
        }
    }

    /// The JWK Set, from the cache unless it is stale or `refresh` forces a fetch. Fixed-URL
    /// mode only.
    pub fn get_jwk_set(&self, refresh: bool) -> Result<Arc<KeySet>> {
        self.fixed("get_jwk_set")?
            .get_jwk_set(&self.inner.fetching, refresh)
    }

    /// The JWK Set of an allowed issuer (discovery mode; in fixed-URL mode the issuer is
    /// ignored).
    pub fn get_jwk_set_for_issuer(&self, issuer: &str, refresh: bool) -> Result<Arc<KeySet>> {
        self.source_for(Some(issuer))?
            .get_jwk_set(&self.inner.fetching, refresh)
    }

    /// All usable signing keys (`use` = `sig` or absent). Fails with `NoSigningKeys` when the
    /// set has none. Fixed-URL mode only.
    pub fn get_signing_keys(&self, refresh: bool) -> Result<Vec<Arc<Key>>> {
        Ok(self.get_jwk_set(refresh)?.keys().to_vec())
    }

    /// Fetches the JWKS now (always a request), installs it and returns its JSON text.
    /// Fixed-URL mode only.
    pub fn fetch_data(&self) -> Result<String> {
        Ok(self.get_jwk_set(true)?.json().to_owned())
    }

    /// The signing key with this `kid`. On a miss the set is refetched once, at most once per
    /// `min_refetch_interval` across all callers. Fixed-URL mode only.
    pub fn get_signing_key(&self, kid: &str) -> Result<Arc<Key>> {
        self.fixed("get_signing_key")?
            .lookup(&self.inner.fetching, kid, None)
            .map(|(key, _)| key)
    }

    /// The signing key of an allowed issuer with this `kid` (discovery mode; in fixed-URL mode
    /// the issuer is ignored). [`Key::algorithms`] says what it may verify.
    pub fn get_signing_key_for_issuer(&self, issuer: &str, kid: &str) -> Result<Arc<Key>> {
        self.source_for(Some(issuer))?
            .lookup(&self.inner.fetching, kid, None)
            .map(|(key, _)| key)
    }

    /// The signing key named by a token's header `kid` (and, in discovery mode, its `iss`).
    /// The token is NOT verified. [`Key::algorithms`] says what the key may verify.
    pub fn get_signing_key_from_jwt(&self, token: &str) -> Result<Arc<Key>> {
        let (kid, iss) = jwt::peek(token, self.inner.max_token_bytes)?;
        let kid =
            kid.ok_or_else(|| Error::new(ErrorKind::MissingKid, "token header has no kid"))?;
        self.source_for(iss.as_deref())?
            .lookup(&self.inner.fetching, &kid, None)
            .map(|(key, _)| key)
    }

    /// Verifies a compact JWS with the client's settings.
    pub fn verify(&self, token: &str) -> Result<Verified> {
        self.verify_impl(token, Cow::Borrowed(&self.inner.validation))
    }

    /// Verifies a compact JWS with per-call overrides of the client's settings.
    pub fn verify_with(&self, token: &str, options: &VerifyOptions) -> Result<Verified> {
        let validation = options.apply(&self.inner.validation)?;
        self.verify_impl(token, Cow::Owned(validation))
    }

    /// Verifies without ever waiting on the network: answers from the cache, or fails with
    /// `ErrorKind::Pending` after starting the needed fetch on a background thread (ask again
    /// later). A set past its lifespan but within max-stale answers (flagged stale) while it is
    /// refreshed in the background. Meant for event loops.
    pub fn verify_nonblocking(&self, token: &str) -> Result<Verified> {
        self.verify_now(token, Cow::Borrowed(&self.inner.validation))
    }

    /// [`Client::verify_nonblocking`] with per-call settings.
    pub fn verify_nonblocking_with(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Result<Verified> {
        let validation = options.apply(&self.inner.validation)?;
        self.verify_now(token, Cow::Owned(validation))
    }

    fn verify_now(&self, token: &str, validation: Cow<'_, Validation>) -> Result<Verified> {
        self.same_process()?;
        let parsed = jwt::parse(
            token,
            self.inner.max_token_bytes,
            &validation,
            self.inner.allow_symmetric_keys,
        )?;
        let f = &self.inner.fetching;
        let iss = parsed.claims.iss.clone();
        let source = self.source_now(iss.as_deref(), parsed.kid.as_deref())?;
        let (key, stale) = match parsed.kid.as_deref() {
            Some(kid) => {
                let (key, stale) = self.key_now(&source, iss.as_deref(), kid, Some(parsed.alg))?;
                key.verify_signature(parsed.alg, parsed.signing_input, &parsed.signature)?;
                (key, stale)
            }
            // Kid-less tokens try every fitting key of the set the cache holds now.
            None if self.inner.allow_missing_kid => match source.cached(f) {
                Some((inst, stale)) => (try_every_key(&inst.set, &parsed)?, stale),
                None => {
                    if let Some(error) = source.backing_off(f) {
                        return Err(error);
                    }
                    return Err(self.schedule(iss.as_deref(), None));
                }
            },
            None => return Err(missing_kid()),
        };
        self.finish_verify(parsed, &validation, key, stale)
    }

    /// The claim checks after the signature verified, and the result.
    fn finish_verify(
        &self,
        parsed: jwt::Parsed<'_>,
        validation: &Validation,
        key: Arc<Key>,
        stale: bool,
    ) -> Result<Verified> {
        let now = self.inner.fetching.clock.unix_time();
        jwt::check_claims(&parsed.claims, &parsed.payload, validation, now)?;
        Ok(Verified {
            payload: parsed.payload,
            claims: OnceLock::new(),
            kid: parsed.kid,
            alg: parsed.alg,
            typ: parsed.typ,
            key,
            stale,
        })
    }

    fn is_scheduled(&self, iss: Option<&str>, kid: &str) -> bool {
        let key = (iss.map(str::to_owned), Some(kid.to_owned()));
        self.inner.scheduled.lock().contains(&key)
    }

    /// Schedules the blocking lookup of (issuer, kid) on the client's worker, once per pair
    /// at a time, and returns the `Pending` error to hand back.
    fn schedule(&self, iss: Option<&str>, kid: Option<&str>) -> Error {
        let job_key = (iss.map(str::to_owned), kid.map(str::to_owned));
        let pending = Error::new(
            ErrorKind::Pending,
            "the keys are being fetched in the background; try again later",
        );
        {
            let mut scheduled = self.inner.scheduled.lock();
            if scheduled.len() >= 1024 || !scheduled.insert(job_key.clone()) {
                return pending;
            }
        }
        let weak = Arc::downgrade(&self.inner);
        let job_key_for_job = job_key.clone();
        let submitted = self.inner.fetching.worker.submit(Box::new(Task(move || {
            let Some(inner) = weak.upgrade() else { return };
            let client = Client::from_inner(inner);
            let (iss, kid) = &job_key_for_job;
            let _ = client
                .source_for(iss.as_deref())
                .and_then(|source| match kid {
                    Some(kid) => source.lookup(&client.inner.fetching, kid, None).map(|_| ()),
                    None => source.set_for_lookup(&client.inner.fetching).map(|_| ()),
                });
            client.inner.scheduled.lock().remove(&job_key_for_job);
        })));
        if submitted.is_err() {
            self.inner.scheduled.lock().remove(&job_key);
        }
        pending
    }

    /// [`Client::get_signing_key`] without waiting: the key from the cache, or `Pending` after
    /// starting the fetch in the background. Fixed-URL mode only.
    pub fn get_signing_key_nonblocking(&self, kid: &str) -> Result<Arc<Key>> {
        let source = self.fixed("get_signing_key_nonblocking")?;
        self.key_now(source, None, kid, None).map(|(key, _)| key)
    }

    /// [`Client::get_jwk_set`] (without refresh) without waiting: the cached set if fresh (or
    /// stale within max-stale while it is refreshed), else `Pending` after starting the fetch.
    /// Fixed-URL mode only.
    pub fn get_jwk_set_nonblocking(&self) -> Result<Arc<KeySet>> {
        let source = self.fixed("get_jwk_set_nonblocking")?;
        let f = &self.inner.fetching;
        match source.cached(f) {
            Some((inst, _)) => Ok(inst.set.clone()),
            None => {
                if let Some(error) = source.backing_off(f) {
                    return Err(error);
                }
                Err(self.schedule(None, None))
            }
        }
    }

    /// [`Client::get_signing_key_from_jwt`] without waiting (the token is not verified).
    pub fn get_signing_key_from_jwt_nonblocking(&self, token: &str) -> Result<Arc<Key>> {
        self.same_process()?;
        let (kid, iss) = jwt::peek(token, self.inner.max_token_bytes)?;
        let kid =
            kid.ok_or_else(|| Error::new(ErrorKind::MissingKid, "token header has no kid"))?;
        let source = self.source_now(iss.as_deref(), Some(&kid))?;
        self.key_now(&source, iss.as_deref(), &kid, None)
            .map(|(key, _)| key)
    }

    /// The source of a token's issuer without waiting: the fixed one, or a discovered issuer's
    /// if known and fresh; otherwise `Pending` after scheduling the discovery.
    fn source_now(&self, iss: Option<&str>, kid: Option<&str>) -> Result<Arc<Source>> {
        match &self.inner.mode {
            Mode::Fixed(source) => Ok(source.clone()),
            Mode::Discovery(d) => {
                let iss = iss.ok_or_else(|| {
                    Error::new(
                        ErrorKind::MissingClaim,
                        "required claim \"iss\" is missing (discovery mode finds keys by issuer)",
                    )
                })?;
                match d.source_if_ready(&self.inner.fetching, iss)? {
                    Some(source) => Ok(source),
                    None => Err(self.schedule(Some(iss), kid)),
                }
            }
        }
    }

    /// A key from the cache without waiting (and whether it is stale), scheduling the fetch
    /// the cache says is needed; `Pending` while the key is not there yet.
    fn key_now(
        &self,
        source: &Arc<Source>,
        iss: Option<&str>,
        kid: &str,
        alg: Option<Algorithm>,
    ) -> Result<(Arc<Key>, bool)> {
        match source.lookup_now(&self.inner.fetching, kid, alg) {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(self.schedule(iss, Some(kid))),
            // A lookup scheduled for this kid is still running: its answer is not in yet.
            Err(e) if e.kind() == ErrorKind::KeyNotFound && self.is_scheduled(iss, kid) => {
                Err(self.schedule(iss, Some(kid)))
            }
            Err(e) => Err(e),
        }
    }

    /// Fetches every configured source now (blocking): the fixed JWKS, or each allowed and
    /// static issuer's configuration and keys. For start-up (nginx init_process, Envoy init),
    /// so that requests never wait. Returns the first failure, after trying all.
    pub fn warm_up(&self) -> Result<()> {
        self.same_process()?;
        let f = &self.inner.fetching;
        match &self.inner.mode {
            Mode::Fixed(source) => source.set_for_lookup(f).map(|_| ()),
            Mode::Discovery(d) => {
                let mut first_error = None;
                for iss in d.configured_issuers() {
                    let result = d
                        .source_for(f, &iss)
                        .and_then(|source| source.set_for_lookup(f).map(|_| ()));
                    if let Err(e) = result {
                        first_error.get_or_insert(e);
                    }
                }
                first_error.map_or(Ok(()), Err)
            }
        }
    }

    /// [`Client::warm_up`] without waiting, for event loops (an nginx worker's init_process):
    /// `Ok` when every configured source already has a usable set (loaded from `persist_dir`,
    /// or fetched before), else `Pending` after starting the missing fetches on the client's
    /// threads. Never touches the network on the caller's thread. Fetch errors are not
    /// reported here; they show in stats and the log, and lookups answer with them.
    pub fn warm_up_nonblocking(&self) -> Result<()> {
        self.same_process()?;
        let f = &self.inner.fetching;
        let mut pending = None;
        match &self.inner.mode {
            Mode::Fixed(source) => {
                if source.cached(f).is_none() {
                    pending = Some(self.schedule(None, None));
                }
            }
            Mode::Discovery(d) => {
                for iss in d.configured_issuers() {
                    let ready = d.source_if_ready(f, &iss).ok().flatten();
                    if ready.is_none_or(|source| source.cached(f).is_none()) {
                        pending = Some(self.schedule(Some(&iss), None));
                    }
                }
            }
        }
        pending.map_or(Ok(()), Err)
    }

    fn verify_impl(&self, token: &str, validation: Cow<'_, Validation>) -> Result<Verified> {
        let parsed = jwt::parse(
            token,
            self.inner.max_token_bytes,
            &validation,
            self.inner.allow_symmetric_keys,
        )?;
        let source = self.source_for(parsed.claims.iss.as_deref())?;
        let (key, stale) = match &parsed.kid {
            Some(kid) => {
                let (key, stale) = source.lookup(&self.inner.fetching, kid, Some(parsed.alg))?;
                key.verify_signature(parsed.alg, parsed.signing_input, &parsed.signature)?;
                (key, stale)
            }
            None if self.inner.allow_missing_kid => {
                let found = source.set_for_lookup(&self.inner.fetching)?;
                (try_every_key(&found.installed.set, &parsed)?, found.stale)
            }
            None => return Err(missing_kid()),
        };
        self.finish_verify(parsed, &validation, key, stale)
    }
}

/// The value at `pointer` in `claims` (RFC 6901 JSON Pointer; "" is the whole document) as
/// text: a string as it is; a number or boolean as its JSON text; an array as its elements so
/// rendered, joined by commas; an object as JSON. None when absent or null.
pub fn claim_text(claims: &Value, pointer: &str) -> Option<String> {
    fn scalar(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
    match claims.pointer(pointer)? {
        Value::Null => None,
        Value::Array(items) => Some(items.iter().map(scalar).collect::<Vec<_>>().join(",")),
        other => Some(scalar(other)),
    }
}

fn missing_kid() -> Error {
    Error::new(
        ErrorKind::MissingKid,
        "token header has no kid (enable allow_missing_kid to try every fitting key)",
    )
}

/// A kid-less token against the keys of `set` that fit its alg (at most
/// `MAX_KIDLESS_CANDIDATES`): the first whose signature verifies.
fn try_every_key(set: &KeySet, parsed: &jwt::Parsed<'_>) -> Result<Arc<Key>> {
    let mut tried = 0;
    for key in set
        .keys()
        .iter()
        .filter(|k| k.supports(parsed.alg))
        .take(MAX_KIDLESS_CANDIDATES)
    {
        tried += 1;
        if key
            .verify_signature(parsed.alg, parsed.signing_input, &parsed.signature)
            .is_ok()
        {
            return Ok(key.clone());
        }
    }
    if tried == 0 {
        return Err(Error::new(
            ErrorKind::KeyNotFound,
            format!("no key in the JWKS fits the token's alg {}", parsed.alg),
        ));
    }
    Err(Error::new(
        ErrorKind::BadSignature,
        format!(
            "signature does not verify with any of the {tried} keys that fit (token has no kid)"
        ),
    ))
}

/// Header names must be RFC 9110 tokens and values free of control characters.
pub(crate) fn check_header(name: &str, value: &str) -> Result<()> {
    let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token_char) {
        return Err(Error::invalid_argument(format!(
            "header name {name:?} is not a valid HTTP token"
        )));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(Error::invalid_argument(format!(
            "value of header {name:?} contains control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::claim_text;
    use serde_json::json;

    #[test]
    fn claims_render_as_text_by_json_pointer() {
        let c = json!({
            "sub": "u", "n": 1.5, "b": false, "nil": null, "list": ["a", 2, {"k": 1}],
            "nested": {"deep": ["x"]}, "a/b": "slash", "m~n": "tilde"
        });
        assert_eq!(claim_text(&c, "/sub").as_deref(), Some("u"));
        assert_eq!(claim_text(&c, "/n").as_deref(), Some("1.5"));
        assert_eq!(claim_text(&c, "/b").as_deref(), Some("false"));
        assert_eq!(claim_text(&c, "/list").as_deref(), Some(r#"a,2,{"k":1}"#));
        assert_eq!(claim_text(&c, "/nested/deep").as_deref(), Some("x"));
        assert_eq!(
            claim_text(&c, "/nested").as_deref(),
            Some(r#"{"deep":["x"]}"#)
        );
        assert_eq!(claim_text(&c, "/a~1b").as_deref(), Some("slash"));
        assert_eq!(claim_text(&c, "/m~0n").as_deref(), Some("tilde"));
        assert_eq!(claim_text(&c, "/nil"), None);
        assert_eq!(claim_text(&c, "/absent"), None);
        assert_eq!(claim_text(&c, "sub"), None, "a pointer starts with /");
    }
}
