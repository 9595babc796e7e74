//! The client: a JWKS URL, its cache, and the operations on top (PyJWT `PyJWKClient` parity
//! plus verification). The asynchronous entry points are in `async_verify`.

pub(crate) mod async_verify;
pub(crate) mod header_value;
mod new;
mod nonblocking;
mod verified;

pub use header_value::{claims_header_value, escape_header_text};
pub use new::check_persist_dir;
pub use verified::{claim_text, Verified};

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::cache::policy::Freshness;
use crate::cache::policy::Rules;
use crate::cache::Backoff;
use crate::discovery::Discovery;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, FetchConfig, HttpFetch, HttpFetcher};
use crate::jose::alg::Algorithm;
use crate::jose::jwt;
use crate::jose::keys::{Key, KeyPolicy, KeySet};
use crate::jose::validation::{Validation, VerifyOptions};
use crate::options::{ClientOptions, MAX_KIDLESS_CANDIDATES};
use crate::source::{Fetching, Source};
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
            if !inner.process.is_current() {
                // A forked child: the client's threads, their locks and condition variables
                // belong to the parent and do not exist here. Waking them (or dropping the
                // worker, which would) can touch memory the child has reused, and crashed.
                // Leak the whole client instead, deliberately: nothing of it is touched.
                std::mem::forget(inner);
                return;
            }
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

fn invalid_if(cond: bool, message: &str) -> Result<()> {
    if cond {
        Err(Error::invalid_argument(message))
    } else {
        Ok(())
    }
}

impl Client {
    /// For the background refresher: starts the refreshes that are due (on the worker, so a
    /// slow IdP delays no other source) and returns how long until the next one is.
    pub(crate) fn refresh_due_sources(&self) -> Option<Duration> {
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

    /// A snapshot of the client's counters. Never blocks on the network. In a process forked
    /// from the one that made the client it takes no lock (a parent thread may have held one
    /// at the fork) and reports `keys_held` and `refreshing` as 0.
    pub fn stats(&self) -> Stats {
        // In a forked child the counters are atomics and read as they were inherited; the
        // caches' locks may have been held by a parent thread at the fork, so none is taken:
        // an inherited client serves nothing there, so it holds no keys and refreshes nothing.
        let (keys_held, refreshing) = match &self.inner.mode {
            _ if !self.inner.process.is_current() => (0, 0),
            Mode::Fixed(source) => (source.keys_held(), u64::from(source.refreshing())),
            Mode::Discovery(d) => (d.keys_held(), d.refreshing()),
        };
        self.inner.fetching.counters.snapshot(keys_held, refreshing)
    }

    /// Refuses use in a forked child: the parent's locks and fetches in flight do not exist
    /// there, so waiting on them would hang.
    pub(crate) fn same_process(&self) -> Result<()> {
        if self.inner.process.is_current() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Forked,
                "this client was made in another process (before fork); make clients after forking",
            ))
        }
    }

    pub(crate) fn fixed(&self, what: &str) -> Result<&Arc<Source>> {
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
    pub(crate) fn source_for(&self, iss: Option<&str>) -> Result<Arc<Source>> {
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
        self.verify_impl(token.as_bytes(), Cow::Borrowed(&self.inner.validation))
    }

    /// Whether `options` can ever verify with this client: `Ok`, or the `InvalidArgument` that
    /// every [`Client::verify_with`] with them would answer (per-call algorithms that share
    /// none with the client's allowed ones). For configuration checks at load time.
    pub fn check_verify_options(&self, options: &VerifyOptions) -> Result<()> {
        options.apply(&self.inner.validation).map(|_| ())
    }

    /// Verifies a compact JWS with per-call overrides of the client's settings.
    pub fn verify_with(&self, token: &str, options: &VerifyOptions) -> Result<Verified> {
        let validation = options.apply(&self.inner.validation)?;
        self.verify_impl(token.as_bytes(), Cow::Owned(validation))
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

    /// Splits, decodes and screens a token under this client's limits and `validation`.
    pub(crate) fn parse<'t, 's>(
        &self,
        token: &'t [u8],
        validation: &Validation,
        scratch: &'s mut jwt::Scratch,
    ) -> Result<jwt::Parsed<'t, 's>> {
        jwt::parse(
            token,
            self.inner.max_token_bytes,
            validation,
            self.inner.allow_symmetric_keys,
            scratch,
        )
    }

    /// Verifies `token`, read as bytes (a valid token is ASCII; anything else fails to decode).
    pub(crate) fn verify_impl(
        &self,
        token: &[u8],
        validation: Cow<'_, Validation>,
    ) -> Result<Verified> {
        let mut scratch = jwt::Scratch::new();
        let parsed = self.parse(token, &validation, &mut scratch)?;
        let source = self.source_for(parsed.claims.iss())?;
        let (key, stale) = match parsed.texts.kid() {
            Some(kid) => {
                let (key, stale) = source.lookup(&self.inner.fetching, kid, Some(parsed.alg))?;
                key.verify_signature(parsed.alg, parsed.signing_input, parsed.signature)?;
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

fn missing_kid() -> Error {
    Error::new(
        ErrorKind::MissingKid,
        "token header has no kid (enable allow_missing_kid to try every fitting key)",
    )
}

/// A kid-less token against the keys of `set` that fit its alg (at most
/// `MAX_KIDLESS_CANDIDATES`): the first whose signature verifies.
fn try_every_key(set: &KeySet, parsed: &jwt::Parsed<'_, '_>) -> Result<Arc<Key>> {
    let mut tried = 0;
    for key in set
        .keys()
        .iter()
        .filter(|k| k.supports(parsed.alg))
        .take(MAX_KIDLESS_CANDIDATES)
    {
        tried += 1;
        if key
            .verify_signature(parsed.alg, parsed.signing_input, parsed.signature)
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
