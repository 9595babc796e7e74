//! Client configuration.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::discovery::DiscoveryOptions;
use crate::http::HttpFetch;
use crate::jose::validation::Validation;

/// Everything a [`crate::Client`] is made from. Start with [`ClientOptions::new`] and change
/// the public fields; [`crate::Client::new`] checks them as a whole.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The JWKS URL. `https`, or `http` to a loopback host (or anywhere with `allow_http`).
    /// Empty for discovery mode.
    pub uri: String,
    /// Issuer discovery: used when `uri` is empty (and then some issuer must be allowed).
    pub discovery: DiscoveryOptions,
    /// A key set held by the client instead of fetched (NGINX Plus's `auth_jwt_key_file`,
    /// jwt_authn's `local_jwks`): its JSON text, or a file read once, when the client is made.
    /// Parsed with the rules of a fetched set (a set with no usable key, or larger than
    /// `max_response_bytes`, fails [`crate::Client::new`]); never refreshed, and a token whose
    /// kid it lacks is "key not found" at once. Excludes `uri` and discovery. None by default.
    pub local_jwks: Option<LocalJwks>,
    /// Keep the fetched set for `lifespan` (default on). Off: every lookup fetches.
    pub cache_jwk_set: bool,
    /// How long a fetched set (and a cached key) is used before it is fetched again. 300 s.
    /// (Discovery mode uses [`DiscoveryOptions::issuer_ttl`].)
    pub lifespan: Duration,
    /// Use the response's `Cache-Control: max-age` / `Expires` as the lifespan, clamped to
    /// `min_lifespan..=max_lifespan` (the configured `lifespan` applies when they say nothing).
    /// On by default.
    pub honor_cache_headers: bool,
    /// Lower clamp for a lifespan taken from caching headers. 60 s.
    pub min_lifespan: Duration,
    /// Upper clamp for a lifespan taken from caching headers. 24 h.
    pub max_lifespan: Duration,
    /// Up to this fraction (0 to 0.5) of each lifespan is taken off at random, so a fleet of
    /// processes does not refresh in the same second. 0.1.
    pub refresh_jitter: f64,
    /// Keep an LRU of kid → key (default off), for `cache_jwk_set = false`. An entry lives at
    /// most `lifespan` and never outlives a refresh that removed its key.
    pub cache_keys: bool,
    /// Size of that LRU. 16; at most [`MAX_CACHED_KEYS_LIMIT`].
    pub max_cached_keys: usize,
    /// Extra request headers, sent only to configured origins: the JWKS URL's, or in discovery
    /// mode those of the allowed and static issuers and static JWKS URLs — never to an origin
    /// learned from a token or a discovery document, nor after a redirect to another origin.
    pub headers: Vec<(String, String)>,
    /// Connect and whole-request timeout. 30 s.
    pub timeout: Duration,
    /// Extra trusted CA certificates, as PEM text (added to the system trust store).
    pub ca_pem: Vec<u8>,
    /// Files of extra trusted CA certificates in PEM, read when the client is made.
    pub ca_files: Vec<PathBuf>,
    /// Turns TLS certificate verification off. For tests only: anyone on the path can then
    /// serve keys.
    pub danger_accept_invalid_certs: bool,
    /// Allow plain `http` to non-loopback hosts (and redirects to them). Off.
    pub allow_http: bool,
    /// An HTTP proxy URL. None (the default): connect directly; the environment is ignored.
    pub proxy: Option<String>,
    /// How long past its lifespan the last good set keeps serving while refreshing it fails
    /// (stale-if-error; such verifications are flagged stale). 24 h; zero turns it off.
    pub max_stale: Duration,
    /// After a failed fetch, no new attempt for this long; each further failure doubles it. 2 s.
    /// Zero turns the backoff off: every lookup that needs the set tries again (PyJWT's
    /// behaviour; an outage then costs the IdP one request per such lookup).
    pub failure_backoff: Duration,
    /// The cap of that backoff. 120 s.
    pub failure_backoff_max: Duration,
    /// A directory for last-known-good files (one per JWKS URL, written atomically, mode 0600,
    /// safe to share between worker processes): at start with the IdP unreachable, the saved
    /// set is used within `max_stale`. In discovery mode, configured issuers' configuration
    /// documents are saved as well (never those of issuers only a token names), so a restart
    /// during an outage verifies with no request. The directory must not be writable by
    /// others; files are trusted only when they are the user's own and not writable by group
    /// or others. None: nothing is written.
    pub persist_dir: Option<PathBuf>,
    /// A document store shared with other clients or processes ([`crate::DocumentStore`]):
    /// clients start warm from it, adopt a newer set another one fetched instead of fetching,
    /// and (when the store's claim is used) make one request per refresh between them.
    /// `persist_dir` is the built-in [`crate::FileStore`]; with both, the store is asked first
    /// and the files back it (a shared-memory store is empty after a full restart), and both
    /// keep each document. None by default.
    pub store: Option<Arc<dyn crate::store::DocumentStore>>,
    /// A log hook for fetch failures, recoveries and stale serving (each event reported once,
    /// never under a lock). None by default.
    pub logger: Option<crate::log::Logger>,
    /// Refresh a cached set (and, in discovery mode, an issuer's configuration) in the
    /// background once 80% of its lifespan has passed, when a lookup sees it, so with traffic
    /// it never expires. On. Off: the refresh starts when a lookup finds the set past its
    /// lifespan (that lookup and those after it still answer at once, flagged stale).
    pub refresh_ahead: bool,
    /// Past its lifespan (within `max_stale`), a set answers at once, flagged stale, while it
    /// is refreshed in the background (stale-while-revalidate). On. Off: the lookup that finds
    /// it expired refreshes it first, as PyJWT's `PyJWKClient` does, and the set serves stale
    /// only while refreshing fails (stale-if-error).
    pub stale_while_revalidate: bool,
    /// Also keep sets fresh without traffic: a thread (started with the first cached set)
    /// wakes at 80% of each lifespan and starts the refresh. Off.
    pub background_refresh: bool,
    /// Minimum time between two refetches triggered by an unknown kid. 60 s. (Discovery mode
    /// has its own, per issuer: [`DiscoveryOptions::min_refetch_interval`].)
    pub min_refetch_interval: Duration,
    /// Largest JWKS response accepted. 1 MiB.
    pub max_response_bytes: usize,
    /// Most keys a set may hold. 100.
    pub max_keys: usize,
    /// Most redirects followed. 3.
    pub max_redirects: u32,
    /// Longest token accepted. 64 KiB.
    pub max_token_bytes: usize,
    /// Accept `oct` (HMAC) keys from the set and HS256/384/512 tokens signed with them. Off:
    /// a JWKS is public, so a shared secret published there is no secret.
    pub allow_symmetric_keys: bool,
    /// Try a token without `kid` against the keys that fit its `alg` (at most
    /// [`MAX_KIDLESS_CANDIDATES`]). Off: such tokens fail with `MissingKid`.
    pub allow_missing_kid: bool,
    /// Claim and header checks.
    pub validation: Validation,
    /// The clock (tests inject a [`crate::ManualClock`]).
    pub clock: Arc<dyn Clock>,
    /// A transport to use instead of the built-in HTTP client (which then ignores `timeout`,
    /// TLS, proxy and redirect settings: the transport owns them). The size limit still
    /// applies to what it returns.
    pub fetcher: Option<Arc<dyn HttpFetch>>,
}

/// Where a local key set comes from ([`ClientOptions::local_jwks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocalJwks {
    /// The JWK Set's JSON text.
    Text(String),
    /// A file holding it, read when the client is made. It is trusted only as a key file
    /// should be: a regular file (a FIFO never makes the read wait), owned by root or by the
    /// process's effective user, not writable by group or others.
    File(PathBuf),
}

/// The largest `max_cached_keys` accepted: memory grows with the keys cached, not with the
/// bound, but a bound past this is a mistake.
pub const MAX_CACHED_KEYS_LIMIT: usize = 1_000_000;

/// The largest `DiscoveryOptions::max_issuers` accepted.
pub const MAX_ISSUERS_LIMIT: usize = 100_000;

/// How many keys a kid-less token is tried against, at most.
pub const MAX_KIDLESS_CANDIDATES: usize = 4;

impl ClientOptions {
    /// Default options for the JWKS at `uri`.
    pub fn new(uri: impl Into<String>) -> Self {
        ClientOptions {
            uri: uri.into(),
            ..Default::default()
        }
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            uri: String::new(),
            discovery: DiscoveryOptions::default(),
            local_jwks: None,
            cache_jwk_set: true,
            lifespan: Duration::from_secs(300),
            honor_cache_headers: true,
            min_lifespan: Duration::from_secs(60),
            max_lifespan: Duration::from_secs(24 * 3600),
            refresh_jitter: 0.1,
            cache_keys: false,
            max_cached_keys: 16,
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            ca_pem: Vec::new(),
            ca_files: Vec::new(),
            danger_accept_invalid_certs: false,
            allow_http: false,
            proxy: None,
            min_refetch_interval: Duration::from_secs(60),
            max_stale: Duration::from_secs(24 * 3600),
            persist_dir: None,
            store: None,
            refresh_ahead: true,
            stale_while_revalidate: true,
            background_refresh: false,
            logger: None,
            failure_backoff: Duration::from_secs(2),
            failure_backoff_max: Duration::from_secs(120),
            max_response_bytes: 1 << 20,
            max_keys: 100,
            max_redirects: 3,
            max_token_bytes: 64 << 10,
            allow_symmetric_keys: false,
            allow_missing_kid: false,
            validation: Validation::default(),
            clock: Arc::new(SystemClock),
            fetcher: None,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials: print names only.
        f.debug_struct("ClientOptions")
            .field("uri", &self.uri)
            .field("cache_jwk_set", &self.cache_jwk_set)
            .field("lifespan", &self.lifespan)
            .field("cache_keys", &self.cache_keys)
            .field("max_cached_keys", &self.max_cached_keys)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .field("allow_http", &self.allow_http)
            .field("min_refetch_interval", &self.min_refetch_interval)
            .field("persist_dir", &self.persist_dir)
            .field("store", &self.store.as_ref().map(|_| "set"))
            .field("validation", &self.validation)
            .finish_non_exhaustive()
    }
}
