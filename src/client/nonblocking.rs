//! The client's non-blocking entry points: answers from the cache, or `Pending` after
//! scheduling the lookup on the client's worker. Never waits on the network.

use std::borrow::Cow;
use std::sync::Arc;

use super::*;

impl Client {
    /// Verifies without ever waiting on the network: answers from the cache, or fails with
    /// `ErrorKind::Pending` after starting the needed fetch on a background thread (ask again
    /// later). A set past its lifespan but within max-stale answers (flagged stale) while it is
    /// refreshed in the background. Meant for event loops.
    pub fn verify_nonblocking(&self, token: &str) -> Result<Verified> {
        self.verify_now(token.as_bytes(), Cow::Borrowed(&self.inner.validation))
    }

    /// [`Client::verify_nonblocking`] with per-call settings.
    pub fn verify_nonblocking_with(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Result<Verified> {
        let validation = options.apply(&self.inner.validation)?;
        self.verify_now(token.as_bytes(), Cow::Owned(validation))
    }

    pub(crate) fn verify_now(
        &self,
        token: &[u8],
        validation: Cow<'_, Validation>,
    ) -> Result<Verified> {
        self.same_process()?;
        let mut scratch = jwt::Scratch::new();
        let parsed = self.parse(token, &validation, &mut scratch)?;
        let f = &self.inner.fetching;
        let iss = parsed.claims.iss();
        let source = self.source_now(iss, parsed.texts.kid())?;
        let (key, stale) = match parsed.texts.kid() {
            Some(kid) => {
                let (key, stale) = self.key_now(&source, iss, kid, Some(parsed.alg))?;
                key.verify_signature(parsed.alg, parsed.signing_input, parsed.signature)?;
                (key, stale)
            }
            // Kid-less tokens try every fitting key of the set the cache holds now.
            None if self.inner.allow_missing_kid => match source.cached(f) {
                Some((inst, stale)) => (try_every_key(&inst.set, &parsed)?, stale),
                None => {
                    if let Some(error) = source.backing_off(f) {
                        return Err(error);
                    }
                    return Err(self.schedule(iss, None));
                }
            },
            None => return Err(missing_kid()),
        };
        self.finish_verify(parsed, &validation, key, stale)
    }

    /// The claim checks after the signature verified, and the result.
    pub(crate) fn finish_verify(
        &self,
        parsed: jwt::Parsed<'_, '_>,
        validation: &Validation,
        key: Arc<Key>,
        stale: bool,
    ) -> Result<Verified> {
        let now = self.inner.fetching.clock.unix_time();
        crate::jose::validation::check_claims(&parsed.claims, validation, now)?;
        Ok(Verified {
            texts: parsed.texts,
            claims: parsed.claims.map,
            alg: parsed.alg,
            key,
            stale,
        })
    }

    pub(crate) fn is_scheduled(&self, iss: Option<&str>, kid: &str) -> bool {
        let key = (iss.map(str::to_owned), Some(kid.to_owned()));
        self.inner.scheduled.lock().contains(&key)
    }

    /// Schedules the blocking lookup of (issuer, kid) on the client's worker, once per pair
    /// at a time, and returns the `Pending` error to hand back.
    pub(crate) fn schedule(&self, iss: Option<&str>, kid: Option<&str>) -> Error {
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

    /// [`Client::get_signing_key_for_issuer`] without waiting: the key from the cache, or
    /// `Pending` after scheduling the issuer's discovery or its keys' fetch.
    pub fn get_signing_key_for_issuer_nonblocking(
        &self,
        issuer: &str,
        kid: &str,
    ) -> Result<Arc<Key>> {
        self.same_process()?;
        // In fixed-URL mode the issuer is ignored, as by the blocking call.
        let iss = matches!(self.inner.mode, Mode::Discovery(_)).then_some(issuer);
        let source = self.source_now(iss, Some(kid))?;
        self.key_now(&source, iss, kid, None).map(|(key, _)| key)
    }

    /// The source of a token's issuer without waiting: the fixed one, or a discovered issuer's
    /// if known and fresh; otherwise `Pending` after scheduling the discovery.
    pub(crate) fn source_now(&self, iss: Option<&str>, kid: Option<&str>) -> Result<Arc<Source>> {
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
    pub(crate) fn key_now(
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
}
