//! Making a client: options checked, the key source (a fixed URL or discovery) set up, the
//! shared fetching state, worker and refresher made, persisted sets loaded.

use super::*;
use crate::store::{DocumentStore, FileStore, Tiered};

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
            o.failure_backoff_max < o.failure_backoff,
            "failure_backoff must be at most failure_backoff_max",
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
            // Saved sets are part of the trust boundary: a directory others can write is
            // refused here, where the configuration is checked, rather than ignored at each
            // read.
            crate::cache::persist::check_dir(dir)
                .map_err(|reason| persist_dir_error(dir, reason))?;
        }
        // persist_dir is the file store; with a store as well, the files back it.
        let store: Option<Arc<dyn DocumentStore>> = match (&o.persist_dir, &o.store) {
            (Some(dir), Some(store)) => Some(Arc::new(Tiered {
                store: store.clone(),
                files: FileStore::new(dir),
            })),
            (Some(dir), None) => Some(Arc::new(FileStore::new(dir))),
            (None, store) => store.clone(),
        };
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
            stale_while_revalidate: o.stale_while_revalidate,
            backoff: Backoff {
                initial: o.failure_backoff,
                max: o.failure_backoff_max,
            },
        };
        let local = match &o.local_jwks {
            None => None,
            Some(local) => {
                invalid_if(
                    !o.uri.is_empty() || o.discovery.is_enabled(),
                    "local_jwks, uri and issuer discovery exclude each other: a client has one \
                     key source",
                )?;
                Some(Arc::new(local_set(local, o.max_response_bytes, &policy)?))
            }
        };
        let mode = if local.is_some() {
            Mode::Fixed(Arc::new(Source::local(rules)))
        } else if o.uri.is_empty() {
            if !o.discovery.is_enabled() {
                return Err(Error::invalid_argument(
                    "no JWKS URL and no issuers: set uri, or allowed/static issuers for discovery",
                ));
            }
            Mode::Discovery(Arc::new(Discovery::new(
                &o.discovery,
                o.allow_http,
                rules,
                store.clone(),
            )?))
        } else {
            invalid_if(
                o.discovery.is_enabled(),
                "uri and issuer discovery exclude each other: for a fixed issuer -> JWKS URL in \
                 discovery mode, use a static issuer",
            )?;
            http::check_scheme(&o.uri, o.allow_http)?;
            Mode::Fixed(Arc::new(Source::new(o.uri.clone(), rules, store.as_ref())))
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
                    claim_wait: o.timeout,
                }),
            }),
        };
        client.user = Some(Arc::new(UserGuard(Arc::downgrade(&client.inner))));
        // Start warm from the last-known-good files, if any (no request).
        let f = &client.inner.fetching;
        match &client.inner.mode {
            Mode::Fixed(source) => match local {
                Some(set) => source.install_local(f, set),
                None => {
                    source.load_persisted(f);
                }
            },
            Mode::Discovery(d) => d.load_saved_issuers(f),
        }
        // With the set cache off (fixed mode) nothing is kept, so there is nothing to refresh.
        if o.background_refresh && o.local_jwks.is_none() && (o.cache_jwk_set || o.uri.is_empty()) {
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
}

fn persist_dir_error(dir: &std::path::Path, reason: String) -> Error {
    // The directory by its role, not by a setting's name: the nginx and Envoy modules call
    // the setting otherwise, and prefix their own name.
    Error::invalid_argument(format!(
        "the directory for saved key sets {} {reason}",
        dir.display()
    ))
}

/// Whether a process running as `uid` (primary group `gid`) can use `dir` as its
/// `persist_dir`: it exists, is a directory, others cannot write it (unless it is sticky and
/// that user's own), and that user can create files in it. For a server whose master runs as
/// root and checks, before it forks, the directory its workers (another user) will use: the
/// client's own check at [`Client::new`] sees the master's user. `InvalidArgument`, naming
/// the check, otherwise. On systems without Unix permissions, only that it is a directory.
pub fn check_persist_dir(dir: &std::path::Path, uid: u32, gid: u32) -> Result<()> {
    crate::cache::persist::check_dir_for(dir, uid, gid)
        .map_err(|reason| persist_dir_error(dir, reason))
}

/// The local key set, parsed with the rules of a fetched one.
fn local_set(local: &crate::LocalJwks, max: usize, policy: &KeyPolicy) -> Result<KeySet> {
    let text = match local {
        crate::LocalJwks::Text(text) => {
            if text.len() > max {
                return Err(Error::invalid_argument(format!(
                    "the local key set is larger than the response size limit ({max} bytes)"
                )));
            }
            std::borrow::Cow::Borrowed(text.as_str())
        }
        crate::LocalJwks::File(path) => {
            std::borrow::Cow::Owned(crate::cache::persist::read_key_file(path, max).map_err(
                |reason| Error::invalid_argument(format!("key file {} {reason}", path.display())),
            )?)
        }
    };
    crate::jose::keys::parse_jwk_set(text.as_bytes(), policy)
        .map_err(|e| Error::new(e.kind(), format!("the local key set: {}", e.message())))
}
