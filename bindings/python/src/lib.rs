//! `libjwks._libjwks`: the native module of the Python package. It converts and maps errors,
//! nothing more: the behaviour is the Rust crate's. The Python classes (`PyJWKClient`,
//! `AsyncKeyFetcher`, the exceptions) live in `python/libjwks/`.

use std::time::Duration;

use jwks::{Algorithm, Async, ClientOptions, ErrorKind, LocalJwks, Request, VerifyOptions};
use parking_lot::Mutex;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::{Map, Value};

/// The exception class of a libjwks error: defined in `libjwks._errors`, so that PyJWT's
/// classes can be its bases when PyJWT is installed.
fn error_class(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Expired => "ExpiredSignatureError",
        ErrorKind::NotYetValid => "ImmatureSignatureError",
        ErrorKind::WrongAudience => "InvalidAudienceError",
        ErrorKind::WrongIssuer | ErrorKind::IssuerNotAllowed => "InvalidIssuerError",
        ErrorKind::BadSignature => "InvalidSignatureError",
        ErrorKind::UnsupportedAlgorithm | ErrorKind::AlgorithmNotAllowed => "InvalidAlgorithmError",
        ErrorKind::MissingClaim => "MissingRequiredClaimError",
        ErrorKind::WrongTyp | ErrorKind::UnsupportedCritical => "InvalidTokenError",
        ErrorKind::MalformedToken | ErrorKind::TokenTooLarge => "DecodeError",
        ErrorKind::KeyNotFound | ErrorKind::MissingKid => "KeyNotFoundError",
        ErrorKind::Connection
        | ErrorKind::Timeout
        | ErrorKind::Tls
        | ErrorKind::HttpStatus
        | ErrorKind::InvalidJwks
        | ErrorKind::NoSigningKeys
        | ErrorKind::ResponseTooLarge
        | ErrorKind::Redirect
        | ErrorKind::Discovery => "KeysUnavailableError",
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::Cancelled => "CancelledError",
        ErrorKind::Forked => "ForkedError",
        _ => "InternalError",
    }
}

/// The Python exception for a libjwks error: its class from `libjwks._errors`, with the
/// message and the kind's name (`err.kind`).
fn py_error(py: Python<'_>, e: jwks::Error) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let module = py.import("libjwks._errors")?;
        let class = module.getattr(error_class(e.kind()))?;
        let value = class.call1((e.message(), format!("{:?}", e.kind())))?;
        Ok(PyErr::from_value(value))
    })();
    made.unwrap_or_else(|failed| failed)
}

fn seconds(value: f64, name: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!("{name} must be a non-negative number of seconds"))
    })
}

/// A str, or a sequence of str (audiences, issuers, algorithms).
fn strings(value: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(vec![s.to_cow()?.into_owned()]);
    }
    value.extract::<Vec<String>>()
}

fn algorithms(value: &Bound<'_, PyAny>) -> PyResult<Vec<Algorithm>> {
    strings(value)?
        .iter()
        .map(|a| {
            a.parse::<Algorithm>()
                .map_err(|_| PyValueError::new_err(format!("unknown algorithm {a:?}")))
        })
        .collect()
}

/// A JSON value as the Python value `json.loads` would give.
fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (_, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => claims_dict(py, map)?.into_any(),
    })
}

fn claims_dict<'py>(py: Python<'py>, map: &Map<String, Value>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        dict.set_item(k, to_py(py, v)?)?;
    }
    Ok(dict)
}

/// libjwks's client: fetches and caches the IdP's keys, verifies tokens with them. Thread-safe;
/// one per IdP (or set of issuers) for the life of the process.
#[pyclass(frozen, subclass, module = "libjwks._libjwks")]
struct Client {
    /// None once closed. Each call takes a clone (two reference counts), so a call never holds
    /// the lock while it works.
    inner: Mutex<Option<jwks::Client>>,
}

impl Client {
    /// A key lookup with the GIL released: the key's JWK (JSON text).
    fn key_json(
        &self,
        py: Python<'_>,
        get: impl FnOnce(&jwks::Client) -> jwks::Result<std::sync::Arc<jwks::Key>> + Send,
    ) -> PyResult<String> {
        let client = self.client(py)?;
        py.detach(|| get(&client))
            .map(|k| k.jwk_json().to_owned())
            .map_err(|e| py_error(py, e))
    }

    fn client(&self, py: Python<'_>) -> PyResult<jwks::Client> {
        self.inner.lock().clone().ok_or_else(|| {
            py_error(
                py,
                jwks::Error::new(ErrorKind::Cancelled, "the client was closed"),
            )
        })
    }
}

/// Starts an asynchronous call and returns a future of the running loop for its result:
/// already done when the cache answered; otherwise resolved on the loop
/// (`call_soon_threadsafe`) by the library's callback, and the call cancelled when the future
/// is.
fn loop_future<'py, T: Send + 'static>(
    py: Python<'py>,
    start: impl FnOnce(jwks::Callback<T>) -> jwks::Result<Async<T>>,
    convert: fn(Python<'_>, T) -> PyResult<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let resolve = py.import("libjwks._errors")?.getattr("_resolve")?;
    let (target, on_loop, settle) = (
        future.clone().unbind(),
        event_loop.clone().unbind(),
        resolve.clone().unbind(),
    );
    let callback: jwks::Callback<T> = Box::new(move |result| {
        Python::attach(|py| {
            let converted = result
                .map_err(|e| py_error(py, e))
                .and_then(|v| convert(py, v));
            let (ok, value) = match converted {
                Ok(v) => (true, v),
                Err(e) => (false, e.into_value(py).into_any()),
            };
            // A closed loop refuses: nobody awaits the result any more.
            let _ = on_loop.bind(py).call_method1(
                "call_soon_threadsafe",
                (settle.bind(py), target.bind(py), ok, value),
            );
        })
    });
    match start(callback) {
        Ok(Async::Ready(v)) => {
            future.call_method1("set_result", (convert(py, v)?,))?;
        }
        Ok(Async::Pending(request)) => {
            let pending = Pending {
                request: Mutex::new(Some(request)),
            };
            let on_done = Bound::new(py, pending)?.getattr("_done")?;
            future.call_method1("add_done_callback", (on_done,))?;
        }
        Err(e) => {
            future.call_method1("set_exception", (py_error(py, e).into_value(py),))?;
        }
    }
    Ok(future)
}

fn claims_of(py: Python<'_>, v: jwks::Verified) -> PyResult<Py<PyAny>> {
    Ok(claims_dict(py, v.claims())?.into_any().unbind())
}

fn jwk_of(py: Python<'_>, k: std::sync::Arc<jwks::Key>) -> PyResult<Py<PyAny>> {
    Ok(PyString::new(py, k.jwk_json()).into_any().unbind())
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (
        uri=None, *, issuers=None, audience=None, issuer=None, algorithms=None, leeway=None,
        lifespan=None, honor_cache_control=true, timeout=None, headers=None, ca_file=None,
        proxy=None, persist_dir=None, local_jwks=None, local_jwks_file=None, max_stale=None,
        min_refetch_interval=None, refresh_ahead=true, background_refresh=false,
        allow_http=false, allow_missing_kid=false, cache_jwk_set=true, cache_keys=false,
        max_cached_keys=16, refresh_jitter=None, stale_while_revalidate=true, ca_pem=None,
        danger_accept_invalid_certs=false, allow_any_issuer=false, static_issuers=None,
        discovery_config_path=None, issuer_ttl=None, max_issuers=None,
        issuer_min_refetch_interval=None, failure_backoff=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        uri: Option<String>,
        issuers: Option<Bound<'_, PyAny>>,
        audience: Option<Bound<'_, PyAny>>,
        issuer: Option<String>,
        algorithms: Option<Bound<'_, PyAny>>,
        leeway: Option<f64>,
        lifespan: Option<f64>,
        honor_cache_control: bool,
        timeout: Option<f64>,
        headers: Option<Vec<(String, String)>>,
        ca_file: Option<String>,
        proxy: Option<String>,
        persist_dir: Option<String>,
        local_jwks: Option<String>,
        local_jwks_file: Option<String>,
        max_stale: Option<f64>,
        min_refetch_interval: Option<f64>,
        refresh_ahead: bool,
        background_refresh: bool,
        allow_http: bool,
        allow_missing_kid: bool,
        cache_jwk_set: bool,
        cache_keys: bool,
        max_cached_keys: usize,
        refresh_jitter: Option<f64>,
        stale_while_revalidate: bool,
        ca_pem: Option<String>,
        danger_accept_invalid_certs: bool,
        allow_any_issuer: bool,
        static_issuers: Option<Vec<(String, String)>>,
        discovery_config_path: Option<String>,
        issuer_ttl: Option<f64>,
        max_issuers: Option<usize>,
        issuer_min_refetch_interval: Option<f64>,
        failure_backoff: Option<f64>,
        py: Python<'_>,
    ) -> PyResult<Self> {
        let mut o = ClientOptions::new(uri.unwrap_or_default());
        if let Some(i) = issuers {
            o.discovery.allowed_issuers = strings(&i)?;
        }
        if let Some(a) = audience {
            o.validation.audience = strings(&a)?;
        }
        o.validation.issuer = issuer;
        if let Some(a) = algorithms {
            o.validation.algorithms = self::algorithms(&a)?;
        }
        if let Some(l) = leeway {
            o.validation.leeway = seconds(l, "leeway")?;
        }
        if let Some(l) = lifespan {
            o.lifespan = seconds(l, "lifespan")?;
        }
        o.honor_cache_headers = honor_cache_control;
        if let Some(t) = timeout {
            o.timeout = seconds(t, "timeout")?;
        }
        o.headers = headers.unwrap_or_default();
        o.ca_files = ca_file.into_iter().map(Into::into).collect();
        o.proxy = proxy;
        o.persist_dir = persist_dir.map(Into::into);
        o.local_jwks = match (local_jwks, local_jwks_file) {
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err(
                    "local_jwks and local_jwks_file exclude each other",
                ))
            }
            (Some(text), None) => Some(LocalJwks::Text(text)),
            (None, Some(path)) => Some(LocalJwks::File(path.into())),
            (None, None) => None,
        };
        if let Some(s) = max_stale {
            o.max_stale = seconds(s, "max_stale")?;
        }
        if let Some(i) = min_refetch_interval {
            o.min_refetch_interval = seconds(i, "min_refetch_interval")?;
        }
        if let Some(b) = failure_backoff {
            o.failure_backoff = seconds(b, "failure_backoff")?;
        }
        o.refresh_ahead = refresh_ahead;
        o.background_refresh = background_refresh;
        o.allow_http = allow_http;
        o.allow_missing_kid = allow_missing_kid;
        o.cache_jwk_set = cache_jwk_set;
        o.cache_keys = cache_keys;
        o.max_cached_keys = max_cached_keys;
        if let Some(j) = refresh_jitter {
            o.refresh_jitter = j;
        }
        o.stale_while_revalidate = stale_while_revalidate;
        o.ca_pem = ca_pem.unwrap_or_default().into_bytes();
        o.danger_accept_invalid_certs = danger_accept_invalid_certs;
        let d = &mut o.discovery;
        d.allow_any_issuer = allow_any_issuer;
        d.static_issuers = static_issuers.unwrap_or_default();
        if let Some(p) = discovery_config_path {
            d.config_path = p;
        }
        if let Some(t) = issuer_ttl {
            d.issuer_ttl = seconds(t, "issuer_ttl")?;
        }
        if let Some(m) = max_issuers {
            d.max_issuers = m;
        }
        if let Some(i) = issuer_min_refetch_interval {
            d.min_refetch_interval = seconds(i, "issuer_min_refetch_interval")?;
        }
        // Reading a CA or key file is quick, but never hold the GIL over I/O.
        let made = py.detach(|| jwks::Client::new(o));
        made.map(|c| Client {
            inner: Mutex::new(Some(c)),
        })
        .map_err(|e| py_error(py, e))
    }

    /// Verifies `token` and returns its claims as a dict. Blocks while keys are fetched (a
    /// cache hit does not), with the GIL released: other threads run meanwhile.
    #[pyo3(signature = (token, *, audience=None, issuer=None, leeway=None))]
    fn verify<'py>(
        &self,
        py: Python<'py>,
        token: &str,
        audience: Option<Bound<'py, PyAny>>,
        issuer: Option<String>,
        leeway: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let options = verify_options(audience, issuer, leeway)?;
        let client = self.client(py)?;
        let verified = py.detach(|| match &options {
            None => client.verify(token),
            Some(o) => client.verify_with(token, o),
        });
        match verified {
            Ok(v) => claims_dict(py, v.claims()),
            Err(e) => Err(py_error(py, e)),
        }
    }

    /// `verify` as a future of the running event loop (`libjwks.Client.averify` awaits it): a
    /// cache hit is answered at once; otherwise the verification runs on a library thread and
    /// resolves the future on the loop (`call_soon_threadsafe`). The loop never waits.
    /// Cancelling the future cancels the verification.
    #[pyo3(signature = (token, *, audience=None, issuer=None, leeway=None))]
    fn _averify<'py>(
        &self,
        py: Python<'py>,
        token: &str,
        audience: Option<Bound<'py, PyAny>>,
        issuer: Option<String>,
        leeway: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = verify_options(audience, issuer, leeway)?;
        let client = self.client(py)?;
        loop_future(
            py,
            |callback| client.verify_async(token, options.as_ref(), callback),
            claims_of,
        )
    }

    /// A future of the running loop for the JWK (JSON text) that the token's kid names (and,
    /// in discovery mode, its iss); the token is not verified. For `AsyncKeyFetcher`.
    fn _signing_key_from_jwt_future<'py>(
        &self,
        py: Python<'py>,
        token: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client(py)?;
        loop_future(
            py,
            |callback| client.get_signing_key_from_jwt_async(token, callback),
            jwk_of,
        )
    }

    /// A future of the running loop for the JWK (JSON text) of an allowed issuer with this
    /// kid. For `AsyncKeyFetcher.get_key_by_iss_and_kid`.
    fn _signing_key_for_issuer_future<'py>(
        &self,
        py: Python<'py>,
        issuer: &str,
        kid: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client(py)?;
        loop_future(
            py,
            |callback| client.get_signing_key_for_issuer_async(issuer, kid, callback),
            jwk_of,
        )
    }

    /// Closes the client: its threads stop, and pending asynchronous calls are answered with
    /// `CancelledError`. Later calls raise `CancelledError`. Idempotent.
    fn _close(&self, py: Python<'_>) {
        let closed = self.inner.lock().take();
        py.detach(|| drop(closed));
    }

    /// The JSON text of the key set (fixed-URL mode), from the cache unless `refresh`; for
    /// `libjwks.PyJWKClient`. Blocks (GIL released) only while it is fetched.
    #[pyo3(signature = (refresh=false))]
    fn _jwk_set_json(&self, py: Python<'_>, refresh: bool) -> PyResult<String> {
        let set = {
            let client = self.client(py)?;
            py.detach(|| client.get_jwk_set(refresh))
        };
        set.map(|s| s.json().to_owned())
            .map_err(|e| py_error(py, e))
    }

    /// The JSON text of a fresh fetch of the key set, which the cache keeps.
    fn _fetch_data(&self, py: Python<'_>) -> PyResult<String> {
        let client = self.client(py)?;
        py.detach(|| client.fetch_data())
            .map_err(|e| py_error(py, e))
    }

    /// The JWK (JSON text) with this kid, refetching the set at most once per interval when
    /// it lacks the kid.
    fn _signing_key_json(&self, py: Python<'_>, kid: &str) -> PyResult<String> {
        self.key_json(py, |c| c.get_signing_key(kid))
    }

    /// The JWK (JSON text) that the token's kid names (the token is not verified).
    fn _signing_key_from_jwt_json(&self, py: Python<'_>, token: &str) -> PyResult<String> {
        self.key_json(py, |c| c.get_signing_key_from_jwt(token))
    }

    /// The client's counters (fetches, cache hits, ...), as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.client(py)?.stats();
        let d = PyDict::new(py);
        d.set_item("fetches", s.fetches)?;
        d.set_item("fetch_failures", s.fetch_failures)?;
        d.set_item("not_modified", s.not_modified)?;
        d.set_item("cache_hits", s.cache_hits)?;
        d.set_item("cache_misses", s.cache_misses)?;
        d.set_item("stale_serves", s.stale_serves)?;
        d.set_item("unknown_kid_refetches", s.unknown_kid_refetches)?;
        d.set_item("unknown_kid_rate_limited", s.unknown_kid_rate_limited)?;
        d.set_item("keys_held", s.keys_held)?;
        d.set_item("pending_requests", s.pending_requests)?;
        d.set_item("background_refreshes", s.background_refreshes)?;
        d.set_item("persist_refused", s.persist_refused)?;
        d.set_item("store_adopted", s.store_adopted)?;
        Ok(d)
    }
}

/// A pending `averify`: cancelling its future cancels the library's request.
#[pyclass(frozen, module = "libjwks._libjwks")]
struct Pending {
    request: Mutex<Option<Request>>,
}

#[pymethods]
impl Pending {
    fn _done(&self, future: Bound<'_, PyAny>) -> PyResult<()> {
        let request = self.request.lock().take();
        if let Some(request) = request {
            if future.call_method0("cancelled")?.is_truthy()? && !request.is_finished() {
                // A request not started yet never starts; one running is waited for, up to
                // its fetch's timeout: never on the loop's thread. (Its late result finds
                // the future done and is dropped.)
                std::thread::spawn(move || request.cancel());
            }
        }
        Ok(())
    }
}

fn verify_options(
    audience: Option<Bound<'_, PyAny>>,
    issuer: Option<String>,
    leeway: Option<f64>,
) -> PyResult<Option<VerifyOptions>> {
    if audience.is_none() && issuer.is_none() && leeway.is_none() {
        return Ok(None);
    }
    let mut o = VerifyOptions::default();
    if let Some(a) = audience {
        o.audience = Some(strings(&a)?);
    }
    o.issuer = issuer;
    if let Some(l) = leeway {
        o.leeway = Some(seconds(l, "leeway")?);
    }
    Ok(Some(o))
}

#[pymodule]
fn _libjwks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Client>()?;
    m.add_class::<Pending>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
