//! The client: a JWKS URL, its cache, and the operations on top (PyJWT `PyJWKClient` parity
//! plus verification).

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::cache::{Installed, RefetchSlot, SetCache};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::fetch::{self, FetchConfig, HttpFetch, HttpFetcher};
use crate::jwt;
use crate::keys::{self, Key, KeyPolicy, KeySet};
use crate::options::{ClientOptions, MAX_KIDLESS_CANDIDATES};
use crate::validation::{Validation, VerifyOptions};

/// A JWKS client. Cheap to clone (clones share one cache) and safe to use from many threads:
/// a lookup in a warm cache takes a short shared lock and never waits on the network.
///
/// Every method may block on an HTTP fetch when the cache cannot answer (at most `timeout`,
/// per redirect hop).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    uri: String,
    cache_jwk_set: bool,
    lifespan: Duration,
    min_refetch_interval: Duration,
    max_token_bytes: usize,
    allow_symmetric_keys: bool,
    allow_missing_kid: bool,
    validation: Validation,
    policy: KeyPolicy,
    clock: Arc<dyn Clock>,
    fetcher: Arc<dyn HttpFetch>,
    request_headers: Vec<(String, String)>,
    max_response_bytes: usize,
    cache: SetCache,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("uri", &self.inner.uri)
            .finish_non_exhaustive()
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
        let o = options;
        fetch::check_scheme(&o.uri, o.allow_http)?;
        invalid_if(
            o.cache_jwk_set && o.lifespan.is_zero(),
            "lifespan must be positive",
        )?;
        invalid_if(
            o.cache_keys && o.max_cached_keys == 0,
            "max_cached_keys must be positive",
        )?;
        invalid_if(o.timeout.is_zero(), "timeout must be positive")?;
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
        let mut request_headers = vec![(
            "Accept".to_owned(),
            "application/jwk-set+json, application/json".to_owned(),
        )];
        request_headers.extend(o.headers.iter().cloned());
        let policy = KeyPolicy {
            allowed: o.validation.algorithms.clone(),
            allow_oct: o.allow_symmetric_keys,
            max_keys: o.max_keys,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                cache: SetCache::new(o.cache_keys, o.max_cached_keys),
                uri: o.uri,
                cache_jwk_set: o.cache_jwk_set,
                lifespan: o.lifespan,
                min_refetch_interval: o.min_refetch_interval,
                max_token_bytes: o.max_token_bytes,
                allow_symmetric_keys: o.allow_symmetric_keys,
                allow_missing_kid: o.allow_missing_kid,
                validation: o.validation,
                policy,
                clock: o.clock,
                fetcher,
                request_headers,
                max_response_bytes: o.max_response_bytes,
            }),
        })
    }

    /// The JWKS URL.
    pub fn uri(&self) -> &str {
        &self.inner.uri
    }

    /// The client's claim checks.
    pub fn validation(&self) -> &Validation {
        &self.inner.validation
    }

    fn now(&self) -> Duration {
        self.inner.clock.monotonic()
    }

    fn fetch_and_install(&self) -> Result<Arc<Installed>> {
        let body = fetch::get_document(
            &*self.inner.fetcher,
            &self.inner.uri,
            &self.inner.request_headers,
            self.inner.max_response_bytes,
        )?;
        let set = keys::parse_jwk_set(&body, &self.inner.policy)?;
        Ok(self.inner.cache.install(set, self.now()))
    }

    fn refresh_after(&self, seen: u64) -> Result<Arc<Installed>> {
        self.inner.cache.refresh(seen, || self.fetch_and_install())
    }

    /// The set to look keys up in, and whether it was fetched for this call.
    fn set_for_lookup(&self) -> Result<(Arc<Installed>, bool)> {
        let current = self.inner.cache.current();
        if self.inner.cache_jwk_set {
            if let Some(c) = &current {
                if self.now().saturating_sub(c.fetched_at) < self.inner.lifespan {
                    return Ok((c.clone(), false));
                }
            }
        }
        let seen = current.map_or(0, |c| c.generation);
        Ok((self.refresh_after(seen)?, true))
    }

    /// The JWK Set, from the cache unless it is stale or `refresh` forces a fetch.
    pub fn get_jwk_set(&self, refresh: bool) -> Result<Arc<KeySet>> {
        if refresh {
            let seen = self.inner.cache.current().map_or(0, |c| c.generation);
            return Ok(self.refresh_after(seen)?.set.clone());
        }
        Ok(self.set_for_lookup()?.0.set.clone())
    }

    /// All usable signing keys (`use` = `sig` or absent). Fails with `NoSigningKeys` when the
    /// set has none.
    pub fn get_signing_keys(&self, refresh: bool) -> Result<Vec<Arc<Key>>> {
        Ok(self.get_jwk_set(refresh)?.keys().to_vec())
    }

    /// Fetches the JWKS now (always a request), installs it and returns its JSON text.
    pub fn fetch_data(&self) -> Result<String> {
        Ok(self.get_jwk_set(true)?.json().to_owned())
    }

    /// The signing key with this `kid`. On a miss the set is refetched once, at most once per
    /// `min_refetch_interval` across all callers.
    pub fn get_signing_key(&self, kid: &str) -> Result<Arc<Key>> {
        self.lookup(kid, None)
    }

    /// The signing key named by the `kid` in a token's header (the token is not verified).
    pub fn get_signing_key_from_jwt(&self, token: &str) -> Result<Arc<Key>> {
        match jwt::header_kid(token, self.inner.max_token_bytes)? {
            Some(kid) => self.lookup(&kid, None),
            None => Err(Error::new(ErrorKind::MissingKid, "token header has no kid")),
        }
    }

    fn lookup(&self, kid: &str, alg: Option<Algorithm>) -> Result<Arc<Key>> {
        let cache = &self.inner.cache;
        let now = self.now();
        if let Some(key) = cache.lru_get(kid, now, self.inner.lifespan) {
            return Ok(key);
        }
        let find = |inst: &Installed| -> Option<Arc<Key>> {
            match alg {
                Some(alg) => inst.set.find_for(kid, alg).cloned(),
                None => inst.set.find(kid).cloned(),
            }
        };
        let (inst, fetched) = self.set_for_lookup()?;
        if let Some(key) = find(&inst) {
            cache.lru_put(&key, now);
            return Ok(key);
        }
        if fetched {
            return Err(key_not_found(&inst.set, kid, None));
        }
        let (inst, rate_limited) =
            match cache.claim_unknown_kid_refetch(now, self.inner.min_refetch_interval) {
                // The fetch's own error wins over "not found".
                RefetchSlot::Claimed => (self.refresh_after(inst.generation)?, None),
                RefetchSlot::RateLimited => {
                    // Another caller's refetch may be bringing the key right now.
                    cache.join_inflight();
                    (
                        cache.current().unwrap_or(inst),
                        Some(self.inner.min_refetch_interval),
                    )
                }
            };
        match find(&inst) {
            Some(key) => {
                cache.lru_put(&key, now);
                Ok(key)
            }
            None => Err(key_not_found(&inst.set, kid, rate_limited)),
        }
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

    fn verify_impl(&self, token: &str, validation: Cow<'_, Validation>) -> Result<Verified> {
        let parsed = jwt::parse(
            token,
            self.inner.max_token_bytes,
            &validation,
            self.inner.allow_symmetric_keys,
        )?;
        let key =
            match &parsed.kid {
                Some(kid) => {
                    let key = self.lookup(kid, Some(parsed.alg))?;
                    key.verify_signature(parsed.alg, parsed.signing_input, &parsed.signature)?;
                    key
                }
                None if self.inner.allow_missing_kid => self.verify_without_kid(&parsed)?,
                None => return Err(Error::new(
                    ErrorKind::MissingKid,
                    "token header has no kid (enable allow_missing_kid to try every fitting key)",
                )),
            };
        jwt::check_claims(
            &parsed.claims,
            &parsed.payload,
            &validation,
            self.inner.clock.unix_time(),
        )?;
        Ok(Verified {
            payload: parsed.payload,
            claims: OnceLock::new(),
            kid: parsed.kid,
            alg: parsed.alg,
            typ: parsed.typ,
            key,
        })
    }

    fn verify_without_kid(&self, parsed: &jwt::Parsed<'_>) -> Result<Arc<Key>> {
        let (inst, _) = self.set_for_lookup()?;
        let mut tried = 0;
        for key in inst
            .set
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
            format!("signature does not verify with any of the {tried} keys that fit (token has no kid)"),
        ))
    }
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
