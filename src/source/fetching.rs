//! What every source of a client shares to fetch: the transport, headers, key policy, clock,
//! counters, logger and worker; and the flag that keeps one background refresh per set.

use super::*;

/// Clears a "refresh queued or running" flag when the job holding it ends, runs or not.
pub(crate) struct RefreshFlag(Arc<AtomicBool>);

impl RefreshFlag {
    /// Raises `flag`, or None if it was already up (a refresh is queued or running).
    pub fn raise(flag: &Arc<AtomicBool>) -> Option<RefreshFlag> {
        // Read before writing: every lookup in the refresh window comes here, and a plain load
        // keeps their cores from fighting over the flag's cache line.
        if flag.load(Ordering::Relaxed) || flag.swap(true, Ordering::SeqCst) {
            return None;
        }
        Some(RefreshFlag(flag.clone()))
    }
}

impl Drop for RefreshFlag {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// What every source of a client shares: the transport, the key policy and the clock.
pub(crate) struct Fetching {
    pub fetcher: Arc<dyn HttpFetch>,
    /// The configured request headers, sent only to `header_origins`.
    pub headers: Vec<(String, String)>,
    /// The origins the client was configured with (the JWKS URL; in discovery mode the allowed
    /// and static issuers and static JWKS URLs), never ones learned from tokens or documents.
    pub header_origins: Vec<http::Origin>,
    pub max_response_bytes: usize,
    pub policy: KeyPolicy,
    pub clock: Arc<dyn Clock>,
    pub counters: Counters,
    pub logger: Option<Logger>,
    /// The client's threads: background refreshes and scheduled lookups run there.
    pub worker: Worker,
    /// How long a fetch claimed by another process (through the document store) is waited
    /// for at most: the fetch timeout.
    pub claim_wait: Duration,
}

impl Fetching {
    /// Runs `job` on the client's worker with `flag` raised until it ends, unless the flag
    /// is already up (single-flight: one background refresh per thing at a time). Never
    /// waits. Returns whether such a job is now queued or running.
    pub fn in_background(
        &self,
        flag: &Arc<AtomicBool>,
        job: impl FnOnce() + Send + 'static,
    ) -> bool {
        let Some(raised) = RefreshFlag::raise(flag) else {
            return true;
        };
        // Refused (queue full, client closing): the job and its flag drop, so a later lookup
        // tries again.
        self.worker
            .submit(Box::new(Task(move || {
                let _raised = raised;
                job()
            })))
            .is_ok()
    }

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
        let headers = http::request_headers(url, extra, &self.headers, &self.header_origins);
        let response = self.fetcher.get(&HttpRequest {
            url,
            headers: &headers,
            max_body_bytes: self.max_response_bytes,
        })?;
        http::check_status(url, response.status)?;
        http::check_response(url, &response, self.max_response_bytes)?;
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
