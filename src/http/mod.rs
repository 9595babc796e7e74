//! The HTTP side: one blocking GET with the transport rules of DESIGN.md (timeouts, size limit,
//! redirects followed by hand so every hop is checked, TLS with the system trust store plus an
//! optional extra CA bundle, no proxy unless configured).

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::http::Uri;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

use crate::error::{Error, ErrorKind, Result};

/// One GET request as libjwks asks for it.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// The absolute URL.
    pub url: &'a str,
    /// Request headers: `Accept` and the client's configured headers.
    pub headers: &'a [(String, String)],
    /// The largest body the caller accepts; a larger one fails with `ResponseTooLarge`.
    pub max_body_bytes: usize,
}

/// The answer to an [`HttpRequest`]: any status (libjwks checks it), headers and body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status code of the final response (after redirects, if followed).
    pub status: u16,
    /// Response headers (names in any case).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Performs HTTP GETs for a client: the built-in ureq transport, or one of the caller's (for
/// example a C callback). Called concurrently from many threads; must not panic.
pub trait HttpFetch: Send + Sync {
    /// GETs `request.url`. Transport failures are errors (`Connection`, `Timeout`, `Tls`,
    /// `Redirect`, `ResponseTooLarge`); an HTTP error status is a response.
    fn get(&self, request: &HttpRequest<'_>) -> Result<HttpResponse>;
}

/// The headers of a GET to `url`: `Accept` for JWK Sets and JSON, then `extra` (conditional
/// request headers), then the client's `configured` headers, but only when `url` is on one of
/// the configured `origins`: a custom header (an API key, say) never goes to a host the client
/// learned from a token, a document or a redirect.
pub(crate) fn request_headers(
    url: &str,
    extra: Vec<(String, String)>,
    configured: &[(String, String)],
    origins: &[Origin],
) -> Vec<(String, String)> {
    let mut headers = vec![(
        "Accept".to_owned(),
        "application/jwk-set+json, application/json".to_owned(),
    )];
    headers.extend(extra);
    if origin(url).is_ok_and(|o| origins.contains(&o)) {
        headers.extend(configured.iter().cloned());
    }
    headers
}

/// A status other than 2xx or 304 (the answer to a conditional request) is `HttpStatus`.
pub(crate) fn check_status(url: &str, status: u16) -> Result<()> {
    if status != 304 && !(200..300).contains(&status) {
        return Err(Error::new(
            ErrorKind::HttpStatus,
            format!("HTTP {status} from {url}"),
        ));
    }
    Ok(())
}

/// Enforces the size limit on what a transport returned, whatever the transport.
pub(crate) fn check_response(
    url: &str,
    response: &HttpResponse,
    max_body_bytes: usize,
) -> Result<()> {
    if response.body.len() > max_body_bytes {
        return Err(Error::new(
            ErrorKind::ResponseTooLarge,
            format!("response from {url} is larger than the limit of {max_body_bytes} bytes"),
        ));
    }
    Ok(())
}

/// The longest timeout handed to the transport, which adds it to an `Instant`: a longer one
/// (up to `Duration::MAX` from the Rust API) means "no timeout" and must not overflow.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Transport settings of the built-in client, copied from the client options.
#[derive(Debug, Clone)]
pub(crate) struct FetchConfig {
    pub timeout: Duration,
    pub max_redirects: u32,
    pub allow_http: bool,
    pub extra_ca_pem: Vec<u8>,
    pub insecure: bool,
    pub proxy: Option<String>,
}

/// A blocking HTTP client for JWKS documents. Cheap to share between threads.
#[derive(Debug)]
pub(crate) struct HttpFetcher {
    agent: ureq::Agent,
    cfg: FetchConfig,
}

/// The parts of a URL the transport rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

/// Parses an absolute `http`/`https` URL into its origin.
pub(crate) fn origin(url: &str) -> Result<Origin> {
    let uri: Uri = url
        .parse()
        .map_err(|_| Error::invalid_argument(format!("URL {url:?} is not a valid URL")))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(Error::invalid_argument(format!(
                "URL {url:?} is not an http or https URL"
            )))
        }
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::invalid_argument(format!("URL {url:?} has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok(Origin { https, host, port })
}

/// Whether `host` is a loopback name or address (127.0.0.0/8, ::1, localhost).
pub(crate) fn is_loopback(host: &str) -> bool {
    // Only the name `localhost` and literal addresses: other names (even `*.localhost`) may
    // resolve anywhere.
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses plain http except to loopback hosts, unless `allow_http`.
pub(crate) fn check_scheme(url: &str, allow_http: bool) -> Result<Origin> {
    let o = origin(url)?;
    if !o.https && !allow_http && !is_loopback(&o.host) {
        return Err(Error::invalid_argument(format!(
            "URL {url:?} uses plain http to a host that is not loopback: https is required"
        )));
    }
    Ok(o)
}

/// Refuses plain http, to loopback hosts as well, unless `allow_http`: for URLs a token chose
/// (an issuer in allow-any discovery mode, and the `jwks_uri` its document names). The
/// loopback exception of `check_scheme` is for URLs the operator wrote; from a token it would
/// let any sender make the server fetch from its own plain-http services.
pub(crate) fn check_scheme_chosen_by_token(url: &str, allow_http: bool) -> Result<Origin> {
    let o = origin(url)?;
    if !o.https && !allow_http {
        return Err(Error::invalid_argument(format!(
            "URL {url:?} comes from a token and uses plain http: https is required"
        )));
    }
    Ok(o)
}

/// The system trust store, read once per process and shared by every client that adds no CA
/// of its own (it is large: some 140 certificates).
///
/// Lock-free: threads that find it empty each read it and the first to finish installs its
/// copy. A blocking once-cell would hang a child forked while another thread of the parent
/// was reading it: the child's first client waited forever for a reader that the fork did
/// not copy.
fn system_roots() -> &'static Arc<Vec<Certificate<'static>>> {
    static ROOTS: once_cell::race::OnceBox<Arc<Vec<Certificate<'static>>>> =
        once_cell::race::OnceBox::new();
    ROOTS.get_or_init(|| {
        Box::new(Arc::new(
            rustls_native_certs::load_native_certs()
                .certs
                .iter()
                .map(|der| Certificate::from_der(der.as_ref()).to_owned())
                .collect(),
        ))
    })
}

fn parse_ca_bundle(pem: &[u8]) -> Result<Vec<Certificate<'static>>> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::invalid_argument(format!(
                    "CA bundle is not valid PEM: {e}"
                )))
            }
        }
    }
    if certs.is_empty() && !pem.is_empty() {
        return Err(Error::invalid_argument(
            "CA bundle holds no PEM certificate",
        ));
    }
    Ok(certs)
}

impl HttpFetcher {
    pub fn new(cfg: FetchConfig) -> Result<Self> {
        let extra = parse_ca_bundle(&cfg.extra_ca_pem)?;
        let roots = if extra.is_empty() {
            system_roots().clone()
        } else {
            let mut roots = system_roots().to_vec();
            roots.extend(extra);
            Arc::new(roots)
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::Specific(roots))
            .disable_verification(cfg.insecure)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        let proxy = match &cfg.proxy {
            None => None,
            Some(p) => Some(
                ureq::Proxy::new(p)
                    .map_err(|e| Error::invalid_argument(format!("proxy URL is invalid: {e}")))?,
            ),
        };
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .proxy(proxy)
            .timeout_global(Some(cfg.timeout.min(LONGEST_TIMEOUT)))
            .timeout_connect(Some(cfg.timeout.min(LONGEST_TIMEOUT)))
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .user_agent(concat!("libjwks/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(HttpFetcher { agent, cfg })
    }
}

impl HttpFetch for HttpFetcher {
    /// GETs the URL, following at most `max_redirects` redirects; the request's headers go only
    /// to the origin of the first URL.
    fn get(&self, req: &HttpRequest<'_>) -> Result<HttpResponse> {
        let url = req.url;
        let first = check_scheme(url, self.cfg.allow_http)?;
        let mut current = url.to_owned();
        let mut current_origin = first.clone();
        let mut redirects = 0;
        // One deadline for the whole GET, redirects included (none past what Instant holds).
        let start = Instant::now();
        let deadline = start.checked_add(self.cfg.timeout);
        loop {
            let remaining = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => self.cfg.timeout.saturating_sub(start.elapsed()),
            };
            if remaining.is_zero() {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("fetching {url} timed out (redirects included)"),
                ));
            }
            let mut request = self
                .agent
                .get(&current)
                .config()
                .timeout_global(Some(remaining.min(LONGEST_TIMEOUT)))
                .build();
            for (name, value) in req.headers {
                if current_origin == first || name.eq_ignore_ascii_case("accept") {
                    request = request.header(name, value);
                }
            }
            let mut response = request.call().map_err(|e| map_ureq_error(e, &current))?;
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                if redirects >= self.cfg.max_redirects {
                    return Err(Error::new(
                        ErrorKind::Redirect,
                        format!(
                            "more than {} redirects starting at {url}",
                            self.cfg.max_redirects
                        ),
                    ));
                }
                redirects += 1;
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::Redirect,
                            format!("HTTP {status} from {current} without a usable Location"),
                        )
                    })?;
                let next = resolve(&current, location);
                let next_origin = origin(&next)
                    .map_err(|e| Error::new(ErrorKind::Redirect, e.message().to_owned()))?;
                if current_origin.https && !next_origin.https {
                    return Err(Error::new(
                        ErrorKind::Redirect,
                        format!("refused a redirect from https to plain http ({next})"),
                    ));
                }
                check_scheme(&next, self.cfg.allow_http)
                    .map_err(|e| Error::new(ErrorKind::Redirect, e.message().to_owned()))?;
                current = next;
                current_origin = next_origin;
                continue;
            }
            let headers = response
                .headers()
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect();
            let body = response
                .body_mut()
                .with_config()
                .limit(req.max_body_bytes as u64)
                .read_to_vec()
                .map_err(|e| map_ureq_error(e, &current))?;
            return Ok(HttpResponse {
                status,
                headers,
                body,
            });
        }
    }
}

/// Resolves a Location header against the URL it came from (RFC 3986 §5, the common cases);
/// a location with another scheme is returned as is, to be refused by the scheme check.
fn resolve(base: &str, location: &str) -> String {
    let scheme_len = location
        .find(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
        .filter(|&i| i > 0 && location[i..].starts_with(':'));
    if scheme_len.is_some() {
        return location.to_owned();
    }
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{}{rest}", &base[..scheme_end]);
    }
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    if location.starts_with('/') {
        return format!("{}{location}", &base[..path_start]);
    }
    let path = &base[path_start..];
    let path = path.split(['?', '#']).next().unwrap_or("");
    if location.starts_with('?') {
        return format!("{}{path}{location}", &base[..path_start]);
    }
    let dir_end = path.rfind('/').map(|i| i + 1).unwrap_or(0);
    format!(
        "{}/{}{location}",
        &base[..path_start],
        &path[..dir_end].trim_start_matches('/')
    )
}

fn map_ureq_error(e: ureq::Error, url: &str) -> Error {
    use ureq::Error as U;
    match e {
        U::Timeout(t) => Error::new(
            ErrorKind::Timeout,
            format!("fetching {url} timed out ({t})"),
        ),
        U::BodyExceedsLimit(limit) => Error::new(
            ErrorKind::ResponseTooLarge,
            format!("response from {url} is larger than the limit of {limit} bytes"),
        ),
        U::LargeResponseHeader(_, limit) => Error::new(
            ErrorKind::ResponseTooLarge,
            format!("response headers from {url} are larger than the limit of {limit} bytes"),
        ),
        // More headers than the parser takes (128): too large, as too many bytes of them are.
        U::Protocol(ureq_proto::Error::HttpParseTooManyHeaders) => Error::new(
            ErrorKind::ResponseTooLarge,
            format!("response from {url} has more headers than the limit of 128"),
        ),
        U::Rustls(err) => Error::new(ErrorKind::Tls, format!("TLS error with {url}: {err}")),
        U::Tls(msg) => Error::new(ErrorKind::Tls, format!("TLS error with {url}: {msg}")),
        U::Io(err)
            if err.kind() == io::ErrorKind::TimedOut || err.kind() == io::ErrorKind::WouldBlock =>
        {
            Error::new(ErrorKind::Timeout, format!("fetching {url} timed out"))
        }
        U::Io(err) => {
            // rustls reports certificate failures through io errors wrapping rustls::Error.
            if let Some(inner) = err
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
            {
                return Error::new(ErrorKind::Tls, format!("TLS error with {url}: {inner}"));
            }
            Error::new(ErrorKind::Connection, format!("cannot fetch {url}: {err}"))
        }
        U::HostNotFound | U::ConnectionFailed | U::ConnectProxyFailed(_) => Error::new(
            ErrorKind::Connection,
            format!("cannot connect to {url}: {e}"),
        ),
        U::BadUri(_) | U::InvalidProxyUrl => {
            Error::invalid_argument(format!("cannot fetch {url}: {e}"))
        }
        other => Error::new(
            ErrorKind::Connection,
            format!("fetching {url} failed: {other}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_locations() {
        let base = "http://127.0.0.1:8080/a/b/jwks.json?x=1";
        assert_eq!(
            resolve(base, "https://idp.example/k"),
            "https://idp.example/k"
        );
        assert_eq!(resolve(base, "//other:9/k"), "http://other:9/k");
        assert_eq!(resolve(base, "/k"), "http://127.0.0.1:8080/k");
        assert_eq!(resolve(base, "k2"), "http://127.0.0.1:8080/a/b/k2");
        assert_eq!(resolve("http://h", "k"), "http://h/k");
        assert_eq!(
            resolve(base, "?v=2"),
            "http://127.0.0.1:8080/a/b/jwks.json?v=2"
        );
        assert_eq!(resolve(base, "ftp://h/k"), "ftp://h/k");
        assert!(origin(&resolve(base, "ftp://h/k")).is_err());
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("127.8.9.1"));
        assert!(is_loopback("::1"));
        assert!(is_loopback("localhost"));
        assert!(!is_loopback("10.0.0.1"));
        assert!(!is_loopback("example.com"));
        assert!(!is_loopback("evil.localhost"));
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(check_scheme("http://127.0.0.1:1/jwks", false).is_ok());
        assert!(check_scheme("http://[::1]:1/jwks", false).is_ok());
        let err = check_scheme("http://idp.example/jwks", false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(check_scheme("http://idp.example/jwks", true).is_ok());
        assert!(check_scheme("ftp://idp.example/jwks", true).is_err());
    }
}
