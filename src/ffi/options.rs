//! `jwks_options`: the client options builder.

use std::path::PathBuf;
use std::time::Duration;

use super::{arg_bytes, arg_mut, arg_str, boundary, boundary_or, jwks_error, jwks_status};
use crate::error::Error;
use crate::jose::alg::Algorithm;
use crate::options::ClientOptions;

/// Options for jwks_client_new. Made by jwks_options_new, changed by the setters, freed by
/// jwks_options_free. jwks_client_new copies what it needs, so an options object can be freed
/// or reused at once. Not thread-safe: do not change one options object from two threads.
pub struct jwks_options {
    pub(crate) inner: ClientOptions,
    /// Log events wait in the client's queue for jwks_client_poll.
    pub(crate) log_on_poll: bool,
}

/// Makes an options object with the defaults (see each setter). Never returns NULL (allocation
/// failure aborts the process, as everywhere in libjwks). Free it with jwks_options_free.
#[no_mangle]
pub extern "C" fn jwks_options_new() -> *mut jwks_options {
    boundary_or(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(jwks_options {
            inner: ClientOptions::default(),
            log_on_poll: false,
        }))
    })
}

/// Frees an options object. NULL is a no-op; freeing twice is undefined behaviour.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_free(options: *mut jwks_options) {
    boundary_or((), || {
        if !options.is_null() {
            // SAFETY: a non-NULL `options` came from jwks_options_new (Box::into_raw), and the
            // header makes this its one free, with no other use during or after it.
            drop(unsafe { Box::from_raw(options) });
        }
    })
}

/// Applies `f` to the options behind the boundary.
///
/// # Safety
///
/// `options` must be NULL (refused) or point to a live `jwks_options` from jwks_options_new
/// that nothing else reads, writes or frees during the call; `err` as for [`boundary`].
unsafe fn set(
    options: *mut jwks_options,
    err: *mut *mut jwks_error,
    f: impl FnOnce(&mut ClientOptions) -> Result<(), Error>,
) -> jwks_status {
    let call = || {
        // SAFETY: by this function's contract `options` is NULL or a live options object
        // no one else uses during the call, so the unique borrow (ended when `f` returns)
        // is sound.
        let o = unsafe { arg_mut(options, "options")? };
        f(&mut o.inner)
    };
    // SAFETY: `err` is passed on under this function's own contract, which is boundary's.
    unsafe { boundary(err, call) }
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn positive(value: u64, name: &str) -> Result<(), Error> {
    if value == 0 {
        Err(Error::invalid_argument(format!("{name} must be positive")))
    } else {
        Ok(())
    }
}

/// Parses "RS256,ES256" (commas and/or spaces) into algorithms; at least one.
pub(crate) fn parse_algorithms(list: &str) -> Result<Vec<Algorithm>, Error> {
    let algs = list
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(|name| {
            name.parse::<Algorithm>()
                .map_err(|_| Error::invalid_argument(format!("unknown algorithm {name:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if algs.is_empty() {
        return Err(Error::invalid_argument("the algorithm list is empty"));
    }
    Ok(algs)
}

/// Sets the JWKS URL (required): https, or http to a loopback host unless
/// jwks_options_set_allow_http is on. The string is copied. Returns JWKS_ERR_INVALID_ARGUMENT
/// for NULL options, a NULL string with a non-zero length, invalid UTF-8 or a string that is not
/// an http(s) URL (the scheme rule is checked by jwks_client_new).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_uri(
    options: *mut jwks_options,
    uri: *const libc::c_char,
    uri_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`uri`, `uri_len`) is a string in: by the header's convention `uri` is NULL with
        // length 0 or points to `uri_len` readable bytes, unchanged during the call; the setter
        // copies the text, so the borrow does not outlive the call.
        let uri = unsafe { arg_str(uri, uri_len, "uri")? };
        crate::http::origin(uri)?;
        o.uri = uri.to_owned();
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Keeps the fetched set for the lifespan (default on). Off: every lookup fetches.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_cache_jwk_set(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.cache_jwk_set = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// How long a fetched set, and a cached key, is used (default 300000 ms). Must be positive.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_lifespan_ms(
    options: *mut jwks_options,
    lifespan_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        positive(lifespan_ms, "lifespan")?;
        o.lifespan = millis(lifespan_ms);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Keeps an LRU of kid -> key (default off), useful with the set cache off. An entry lives at
/// most the lifespan and never outlives a refresh that removed its key.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_cache_keys(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.cache_keys = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// The largest value jwks_options_set_max_cached_keys accepts.
pub const JWKS_MAX_CACHED_KEYS: usize = 1000000;

/// The largest value jwks_options_set_max_issuers accepts.
pub const JWKS_MAX_ISSUERS: usize = 100000;

// Spelled as literals for cbindgen; they are the core's limits.
const _: () = assert!(
    JWKS_MAX_CACHED_KEYS == crate::MAX_CACHED_KEYS_LIMIT
        && JWKS_MAX_ISSUERS == crate::MAX_ISSUERS_LIMIT
);

/// Refuses 0 and values above `limit` (JWKS_ERR_INVALID_ARGUMENT).
fn within(value: usize, limit: usize, what: &str) -> Result<(), Error> {
    if value == 0 || value > limit {
        return Err(Error::invalid_argument(format!(
            "{what} must be between 1 and {limit}"
        )));
    }
    Ok(())
}

/// Size of the kid -> key LRU (default 16), from 1 to JWKS_MAX_CACHED_KEYS (else
/// JWKS_ERR_INVALID_ARGUMENT). Memory grows with the keys cached, not with this bound.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_max_cached_keys(
    options: *mut jwks_options,
    max_cached_keys: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        within(max_cached_keys, JWKS_MAX_CACHED_KEYS, "max_cached_keys")?;
        o.max_cached_keys = max_cached_keys;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Adds a request header sent with every JWKS request, and only to the JWKS URL's origin
/// (never after a redirect to another origin). Copied. The name must be an HTTP token and the
/// value free of control characters.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_add_header(
    options: *mut jwks_options,
    name: *const libc::c_char,
    name_len: usize,
    value: *const libc::c_char,
    value_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`name`, `name_len`) is a string in: by the header's convention `name` is NULL
        // with length 0 or points to `name_len` readable bytes, unchanged during the call; the
        // setter copies the text, so the borrow does not outlive the call.
        let name = unsafe { arg_str(name, name_len, "name")? };
        // SAFETY: (`value`, `value_len`) is a string in: by the header's convention `value` is NULL
        // with length 0 or points to `value_len` readable bytes, unchanged during the call; the
        // setter copies the text, so the borrow does not outlive the call.
        let value = unsafe { arg_str(value, value_len, "value")? };
        crate::client::check_header(name, value)?;
        o.headers.push((name.to_owned(), value.to_owned()));
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Connect and whole-request timeout (default 30000 ms). Must be positive.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_timeout_ms(
    options: *mut jwks_options,
    timeout_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        positive(timeout_ms, "timeout")?;
        o.timeout = millis(timeout_ms);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Adds CA certificates (PEM text, one or more) trusted in addition to the system trust store.
/// Copied; checked by jwks_client_new.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_add_ca_pem(
    options: *mut jwks_options,
    pem: *const u8,
    pem_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`pem`, `pem_len`) is a byte string in: by the header's convention `pem` is NULL
        // with length 0 or points to `pem_len` readable bytes, unchanged during the call; they are
        // copied before the call returns, so the borrow does not outlive it.
        let pem = unsafe { arg_bytes(pem, pem_len, "pem")? };
        o.ca_pem.push(b'\n');
        o.ca_pem.extend_from_slice(pem);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Adds a PEM file of CA certificates trusted in addition to the system trust store. The path
/// is copied; the file is read by jwks_client_new (which fails if it cannot read it).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_add_ca_file(
    options: *mut jwks_options,
    path: *const libc::c_char,
    path_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`path`, `path_len`) is a string in: by the header's convention `path` is NULL
        // with length 0 or points to `path_len` readable bytes, unchanged during the call; the
        // setter copies the text, so the borrow does not outlive the call.
        let path = unsafe { arg_str(path, path_len, "path")? };
        if path.is_empty() {
            return Err(Error::invalid_argument("CA file path is empty"));
        }
        o.ca_files.push(PathBuf::from(path));
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// DANGER, for tests only: turns TLS certificate verification off, so anyone on the network
/// path can serve keys and forge tokens. Default off.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_danger_accept_invalid_certs(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.danger_accept_invalid_certs = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Allows plain http to non-loopback hosts (default off: https is required except for
/// 127.0.0.0/8, ::1 and localhost).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_allow_http(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.allow_http = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Sends requests through this HTTP proxy URL. Default: none; the environment (HTTPS_PROXY and
/// friends) is ignored. An empty string removes the proxy.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_proxy(
    options: *mut jwks_options,
    proxy: *const libc::c_char,
    proxy_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`proxy`, `proxy_len`) is a string in: by the header's convention `proxy` is NULL
        // with length 0 or points to `proxy_len` readable bytes, unchanged during the call; the
        // setter copies the text, so the borrow does not outlive the call.
        let proxy = unsafe { arg_str(proxy, proxy_len, "proxy")? };
        o.proxy = (!proxy.is_empty()).then(|| proxy.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Minimum time between two refetches caused by an unknown kid (default 60000 ms; 0 allows a
/// refetch on every miss).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_min_refetch_interval_ms(
    options: *mut jwks_options,
    interval_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.min_refetch_interval = millis(interval_ms);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Stale-if-error: how long past its lifespan the last good key set keeps serving while
/// refreshing it fails (default 86400000 ms, 24 h; 0 turns it off). Tokens verified with such
/// keys are flagged (jwks_token_stale).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_max_stale_ms(
    options: *mut jwks_options,
    max_stale_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.max_stale = millis(max_stale_ms);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// After a failed fetch, no new attempt is made for `initial_ms` (default 2000); each further
/// consecutive failure doubles the wait, up to `max_ms` (default 120000). Meanwhile lookups are
/// answered from the stale set, or with the last fetch error. Both must be positive and
/// initial_ms <= max_ms (checked by jwks_client_new).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_failure_backoff_ms(
    options: *mut jwks_options,
    initial_ms: u64,
    max_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        positive(initial_ms, "failure backoff")?;
        if max_ms < initial_ms {
            return Err(Error::invalid_argument(
                "failure backoff maximum is below its initial value",
            ));
        }
        o.failure_backoff = millis(initial_ms);
        o.failure_backoff_max = millis(max_ms);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Largest JWKS response accepted (default 1048576 bytes). Must be positive.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_max_response_bytes(
    options: *mut jwks_options,
    max_bytes: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        positive(max_bytes as u64, "max_response_bytes")?;
        o.max_response_bytes = max_bytes;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Most keys a JWK Set may hold (default 100); a larger set is JWKS_ERR_INVALID_JWKS.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_max_keys(
    options: *mut jwks_options,
    max_keys: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        positive(max_keys as u64, "max_keys")?;
        o.max_keys = max_keys;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Most redirects followed per fetch (default 3; 0 refuses every redirect).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_max_redirects(
    options: *mut jwks_options,
    max_redirects: u32,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.max_redirects = max_redirects;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Longest token accepted (default 65536 bytes); longer is JWKS_ERR_TOKEN_TOO_LARGE.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_max_token_bytes(
    options: *mut jwks_options,
    max_bytes: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        positive(max_bytes as u64, "max_token_bytes")?;
        o.max_token_bytes = max_bytes;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Accepts oct (HMAC) keys from the JWK Set (default off: a published secret is no secret).
/// HS256/384/512 must then also be named in jwks_options_set_algorithms.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_allow_symmetric_keys(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.allow_symmetric_keys = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Tries a token without kid against the keys that fit its alg, at most 4 (default off:
/// JWKS_ERR_MISSING_KID).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_allow_missing_kid(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.allow_missing_kid = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Allowed clock skew for exp and nbf (default 60000 ms).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_leeway_ms(
    options: *mut jwks_options,
    leeway_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.validation.leeway = millis(leeway_ms);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Requires exp and rejects expired tokens (default on; PyJWT's verify_exp).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_verify_exp(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.validation.verify_exp = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Rejects tokens whose nbf is in the future (default on).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_verify_nbf(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.validation.verify_nbf = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Rejects tokens whose iat is in the future beyond the leeway, with JWKS_ERR_NOT_YET_VALID
/// (default off: RFC 7519 gives iat no validity meaning). A non-numeric iat is
/// JWKS_ERR_MALFORMED_TOKEN either way.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_verify_iat(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.validation.verify_iat = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Checks aud against the configured audiences when there are any (default on).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_verify_aud(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.validation.verify_aud = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Checks iss against the configured issuer when one is set (default on).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_verify_iss(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.validation.verify_iss = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Adds an accepted audience; a token passes when its aud contains any one of them. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_add_audience(
    options: *mut jwks_options,
    audience: *const libc::c_char,
    audience_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`audience`, `audience_len`) is a string in: by the header's convention
        // `audience` is NULL with length 0 or points to `audience_len` readable bytes, unchanged
        // during the call; the setter copies the text, so the borrow does not outlive the call.
        let aud = unsafe { arg_str(audience, audience_len, "audience")? };
        o.validation.audience.push(aud.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Sets the expected issuer (exact match). Copied. An empty string removes it.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_issuer(
    options: *mut jwks_options,
    issuer: *const libc::c_char,
    issuer_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`issuer`, `issuer_len`) is a string in: by the header's convention `issuer` is
        // NULL with length 0 or points to `issuer_len` readable bytes, unchanged during the call;
        // the setter copies the text, so the borrow does not outlive the call.
        let iss = unsafe { arg_str(issuer, issuer_len, "issuer")? };
        o.validation.issuer = (!iss.is_empty()).then(|| iss.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Replaces the allowed algorithms with a list such as "RS256,ES256" (names as in JWS headers,
/// separated by commas or spaces). Default: RS256..RS512, PS256..PS512, ES256..ES512, EdDSA.
/// An unknown name or an empty list is JWKS_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_algorithms(
    options: *mut jwks_options,
    algorithms: *const libc::c_char,
    algorithms_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`algorithms`, `algorithms_len`) is a string in: by the header's convention
        // `algorithms` is NULL with length 0 or points to `algorithms_len` readable bytes,
        // unchanged during the call; the setter copies the text, so the borrow does not outlive the
        // call.
        let list = unsafe { arg_str(algorithms, algorithms_len, "algorithms")? };
        o.validation.algorithms = parse_algorithms(list)?;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Adds an allowed typ header value (compared case-insensitively, "application/" ignored, so
/// "at+jwt" matches "application/at+jwt"). With none added, typ is not checked. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_add_typ(
    options: *mut jwks_options,
    typ: *const libc::c_char,
    typ_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`typ`, `typ_len`) is a string in: by the header's convention `typ` is NULL with
        // length 0 or points to `typ_len` readable bytes, unchanged during the call; the setter
        // copies the text, so the borrow does not outlive the call.
        let typ = unsafe { arg_str(typ, typ_len, "typ")? };
        o.validation.typ.push(typ.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Adds a claim that must be present in every token. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_add_required_claim(
    options: *mut jwks_options,
    claim: *const libc::c_char,
    claim_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`claim`, `claim_len`) is a string in: by the header's convention `claim` is NULL
        // with length 0 or points to `claim_len` readable bytes, unchanged during the call; the
        // setter copies the text, so the borrow does not outlive the call.
        let claim = unsafe { arg_str(claim, claim_len, "claim")? };
        if claim.is_empty() {
            return Err(Error::invalid_argument("required claim name is empty"));
        }
        o.validation.required_claims.push(claim.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Discovery mode (no URL set): allows tokens whose iss is exactly this issuer; their keys are
/// found through the issuer's OpenID configuration document. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_add_allowed_issuer(
    options: *mut jwks_options,
    issuer: *const libc::c_char,
    issuer_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`issuer`, `issuer_len`) is a string in: by the header's convention `issuer` is
        // NULL with length 0 or points to `issuer_len` readable bytes, unchanged during the call;
        // the setter copies the text, so the borrow does not outlive the call.
        let iss = unsafe { arg_str(issuer, issuer_len, "issuer")? };
        if iss.is_empty() {
            return Err(Error::invalid_argument("allowed issuer is empty"));
        }
        o.discovery.allowed_issuers.push(iss.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// DANGER: discovery mode for ANY issuer a token names (default off). Whoever sends a token
/// then chooses which URLs this process fetches (server-side request forgery: internal
/// services, cloud metadata endpoints) and which keys it trusts. Use only with a fetch callback
/// that restricts destinations, and check iss yourself.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_allow_any_issuer(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.discovery.allow_any_issuer = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Discovery mode: the configuration document's path below the issuer (default
/// "/.well-known/openid-configuration"; a trailing "/" of the issuer is dropped first). Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_discovery_config_path(
    options: *mut jwks_options,
    path: *const libc::c_char,
    path_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`path`, `path_len`) is a string in: by the header's convention `path` is NULL
        // with length 0 or points to `path_len` readable bytes, unchanged during the call; the
        // setter copies the text, so the borrow does not outlive the call.
        let path = unsafe { arg_str(path, path_len, "path")? };
        if path.is_empty() {
            return Err(Error::invalid_argument("config path is empty"));
        }
        o.discovery.config_path = path.to_owned();
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Discovery mode: a known issuer and its JWKS URL; tokens of this issuer are allowed and no
/// discovery request is made for it. Copied; the URL's scheme is checked by jwks_client_new.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_add_static_issuer(
    options: *mut jwks_options,
    issuer: *const libc::c_char,
    issuer_len: usize,
    jwks_uri: *const libc::c_char,
    jwks_uri_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`issuer`, `issuer_len`) is a string in: by the header's convention `issuer` is
        // NULL with length 0 or points to `issuer_len` readable bytes, unchanged during the call;
        // the setter copies the text, so the borrow does not outlive the call.
        let iss = unsafe { arg_str(issuer, issuer_len, "issuer")? };
        // SAFETY: (`jwks_uri`, `jwks_uri_len`) is a string in: by the header's convention
        // `jwks_uri` is NULL with length 0 or points to `jwks_uri_len` readable bytes, unchanged
        // during the call; the setter copies the text, so the borrow does not outlive the call.
        let uri = unsafe { arg_str(jwks_uri, jwks_uri_len, "jwks_uri")? };
        if iss.is_empty() {
            return Err(Error::invalid_argument("static issuer is empty"));
        }
        crate::http::origin(uri)?;
        o.discovery
            .static_issuers
            .push((iss.to_owned(), uri.to_owned()));
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Discovery mode: how many issuers are cached, least recently used evicted (default 32), from
/// 1 to JWKS_MAX_ISSUERS (else JWKS_ERR_INVALID_ARGUMENT). Memory grows with the issuers
/// cached, not with this bound.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_max_issuers(
    options: *mut jwks_options,
    max_issuers: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        within(max_issuers, JWKS_MAX_ISSUERS, "max_issuers")?;
        o.discovery.max_issuers = max_issuers;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Discovery mode: how long an issuer's configuration and key set are used before they are
/// fetched again (default 3600000 ms). Must be positive.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_issuer_ttl_ms(
    options: *mut jwks_options,
    ttl_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        positive(ttl_ms, "issuer_ttl")?;
        o.discovery.issuer_ttl = millis(ttl_ms);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Discovery mode: minimum time between two refetches of one issuer's keys caused by an
/// unknown kid (default 300000 ms).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_issuer_min_refetch_interval_ms(
    options: *mut jwks_options,
    interval_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.discovery.min_refetch_interval = millis(interval_ms);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Uses `callback` for every HTTP request (discovery documents and key sets) instead of the
/// built-in client, which then opens no socket; timeout, TLS, proxy and redirect options no
/// longer apply (the callback owns them), the size limit still does. `user_data` is passed to
/// every call; the caller owns it and it must stay valid, and safe to use from any thread, as
/// long as a call may come: jwks_client_free does not wait for background fetches, so a fetch
/// a library thread started before it may still call back until it returns (keep user data for
/// the life of the process, reference-count it, or use
/// jwks_options_set_fetch_callback_with_release). A NULL callback restores the built-in
/// client. See jwks_fetch_callback for the callback's contract.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_fetch_callback(
    options: *mut jwks_options,
    callback: super::fetch::jwks_fetch_callback,
    user_data: *mut libc::c_void,
    err: *mut *mut jwks_error,
) -> jwks_status {
    // SAFETY: the arguments are passed on unchanged under the same header contract; a NULL
    // release function only means nothing is called when the callback is dropped.
    unsafe { jwks_options_set_fetch_callback_with_release(options, callback, user_data, None, err) }
}

/// As jwks_options_set_fetch_callback, and the library tells the caller when it is done with
/// `user_data`: `release(user_data)` is called exactly once, on whichever thread lets go last,
/// once no fetch can call back any more, that is after this options object no longer holds the
/// callback (another callback was set, or jwks_options_free) and every client made from it has
/// been freed and has ended its background work. A NULL `release` is allowed (then this is
/// jwks_options_set_fetch_callback). On failure (JWKS_ERR_INVALID_ARGUMENT for NULL options),
/// or with a NULL callback, the library takes nothing and `release` is not called: the caller
/// still owns `user_data`. Never blocks; like every setter, not thread-safe for one options
/// object (the release call itself may come from any thread).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_fetch_callback_with_release(
    options: *mut jwks_options,
    callback: super::fetch::jwks_fetch_callback,
    user_data: *mut libc::c_void,
    release: jwks_release_callback,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: the header requires `user_data` and `release` to be usable from any
        // thread, and `release(user_data)` to be sound once no callback can come.
        let data = unsafe { UserData::new(user_data, release) };
        // SAFETY: the header's jwks_fetch_callback contract: the callback may be called
        // concurrently from any thread with this user data, for any client made from
        // these options.
        o.fetcher = unsafe { super::fetch::CallbackFetch::transport(callback, data) };
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Called once with the user data of a callback the library no longer needs (see
/// jwks_options_set_fetch_callback_with_release). It must not call into libjwks and must not
/// unwind.
pub type jwks_release_callback = Option<unsafe extern "C" fn(user_data: *mut libc::c_void)>;

/// Caller-owned user data, released (when a release function was given) when the last holder
/// drops it.
pub(crate) struct UserData {
    ptr: *mut libc::c_void,
    release: jwks_release_callback,
}

// SAFETY: UserData only carries the pointer and calls `release` once, from Drop. The setters
// that take user data require it, and its release function, to be usable from any thread
// (callbacks run on library threads and the last holder may drop it anywhere), so moving it
// to another thread is sound.
unsafe impl Send for UserData {}
// SAFETY: `&UserData` only gives out the raw pointer (`ptr`), never touching what it points
// to; the callbacks that use it may run concurrently on several threads, which the header
// requires the caller's user data to allow.
unsafe impl Sync for UserData {}

impl UserData {
    /// Takes the caller's user data; `release(ptr)` will be called when the last holder drops
    /// it (unless it is given back with `forget`).
    ///
    /// # Safety
    ///
    /// `ptr` must be usable from any thread, and `release`, if not NULL, must be sound to call
    /// once, from any thread, with `ptr` once no callback can use it any more: the contract
    /// of jwks_release_callback and of the setters that take user data.
    pub(crate) unsafe fn new(ptr: *mut libc::c_void, release: jwks_release_callback) -> UserData {
        UserData { ptr, release }
    }

    pub(crate) fn ptr(&self) -> *mut libc::c_void {
        self.ptr
    }

    /// Hands the pointer back without releasing it (a setter that fails takes nothing).
    pub(crate) fn forget(mut self) {
        self.release = None;
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(release) = self.release {
            let ptr = self.ptr;
            // SAFETY: the header's jwks_release_callback contract: called once with the user
            // data it was given, from any thread, once no callback can use it. This is the
            // last holder's drop (the Arc around the callback is gone), Drop runs once, and
            // `forget` cleared `release` for user data the library did not take.
            let call = || unsafe { release(ptr) };
            let _ = std::panic::catch_unwind(call);
        }
    }
}

/// Uses the JWKS response's Cache-Control max-age / Expires as the set's lifespan, clamped to
/// the lifespan bounds (default on); when the response says nothing, the lifespan option
/// applies. Off: always the lifespan option.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_honor_cache_headers(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.honor_cache_headers = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// The clamps for a lifespan taken from caching headers (defaults 60000 and 86400000 ms). Both
/// positive, min_ms <= max_ms.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_lifespan_bounds_ms(
    options: *mut jwks_options,
    min_ms: u64,
    max_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        positive(min_ms, "minimum lifespan")?;
        if max_ms < min_ms {
            return Err(Error::invalid_argument(
                "maximum lifespan is below the minimum",
            ));
        }
        o.min_lifespan = millis(min_ms);
        o.max_lifespan = millis(max_ms);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Up to this fraction (0.0 to 0.5, default 0.1) of each lifespan is taken off at random, so
/// a fleet of processes does not refresh in the same second.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_refresh_jitter(
    options: *mut jwks_options,
    fraction: f64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        if !(0.0..=0.5).contains(&fraction) {
            return Err(Error::invalid_argument(
                "refresh jitter must be between 0 and 0.5",
            ));
        }
        o.refresh_jitter = fraction;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// A directory for last-known-good files: each fetched key set is also written there (one file
/// per JWKS URL, atomically, mode 0600, safe to share between worker processes), and a client
/// that starts while the IdP is unreachable verifies with the saved set, within max-stale. The
/// directory must exist (checked by jwks_client_new). An empty path turns it off (the default).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_persist_dir(
    options: *mut jwks_options,
    path: *const libc::c_char,
    path_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: (`path`, `path_len`) is a string in: by the header's convention `path` is NULL
        // with length 0 or points to `path_len` readable bytes, unchanged during the call; the
        // setter copies the text, so the borrow does not outlive the call.
        let path = unsafe { arg_str(path, path_len, "path")? };
        o.persist_dir = (!path.is_empty()).then(|| PathBuf::from(path));
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Refreshes a cached key set (and, in discovery mode, an issuer's configuration) in the
/// background once 80% of its lifespan has passed, when a lookup sees it, so that with traffic
/// it never expires (default on). Off: the background refresh starts when a lookup finds the
/// set past its lifespan; lookups still answer at once from the cached set (flagged stale)
/// within max-stale. Either way no call waits for a refresh of a cached set.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_refresh_ahead(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.refresh_ahead = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Keeps key sets fresh without traffic too (default off): a thread per client, started when
/// its first set is cached, wakes at 80% of each set's lifespan and starts its refresh on the
/// client's worker. The thread holds no reference that keeps the client alive;
/// jwks_client_free stops it without waiting.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_background_refresh(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.background_refresh = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Receives log events: `level` 1 error, 2 warning, 3 info, 4 debug, and a message (pointer +
/// length, also NUL-terminated, valid during the call; never token or key bytes). Each event
/// is reported once, from whichever thread ran the fetch, with no library lock held. It must
/// not call into the client that logs, must return quickly and must not unwind.
pub type jwks_log_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut libc::c_void,
        level: libc::c_int,
        message: *const libc::c_char,
        message_len: usize,
    ),
>;

/// A log callback and its user data. Only jwks_options_set_log_callback_with_release makes
/// one, from a callback whose header contract lets `emit` call it from any thread.
struct LogTarget(
    unsafe extern "C" fn(*mut libc::c_void, libc::c_int, *const libc::c_char, usize),
    UserData,
);

impl LogTarget {
    fn emit(&self, level: crate::log::LogLevel, message: &str) {
        let text = super::CText::new(message);
        // SAFETY: the log callback and its user data may be called from any thread (the
        // setter's contract); the message is `text`, NUL-terminated with `message.len()`
        // bytes before the NUL, and lives until after the call, as jwks_log_callback promises.
        let call = || unsafe {
            (self.0)(
                self.1.ptr(),
                level as libc::c_int,
                text.as_ptr(),
                message.len(),
            )
        };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
    }
}

/// Reports fetch failures (level 1 with no usable set left, else 2), recoveries (3) and every
/// fetch (4) to `callback`, up to `max_level` (1..=4). `user_data` is passed through; both
/// must be safe to use from any thread, and user data must stay valid as long as a call may
/// come, which includes a background fetch finishing after jwks_client_free (see
/// jwks_options_set_fetch_callback, or use jwks_options_set_log_callback_with_release). A NULL
/// callback turns logging off (the default).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_log_callback(
    options: *mut jwks_options,
    callback: jwks_log_callback,
    user_data: *mut libc::c_void,
    max_level: libc::c_int,
    err: *mut *mut jwks_error,
) -> jwks_status {
    // SAFETY: the arguments are passed on unchanged under the same header contract; a NULL
    // release function only means nothing is called when the callback is dropped.
    unsafe {
        jwks_options_set_log_callback_with_release(
            options, callback, user_data, None, max_level, err,
        )
    }
}

/// Delivers log events on the thread that calls jwks_client_poll instead of the thread that
/// ran the fetch (default off): each event is queued on the client, the completion descriptor
/// (jwks_client_completion_fd) becomes readable, and jwks_client_poll calls the log callback
/// for every queued event before it hands out a completion. For event loops whose logging must
/// run on the loop thread (nginx's error log). At most 1024 events wait; past that, newer ones
/// are dropped and the next delivered message says how many. Never blocks; not thread-safe for
/// one options object.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_log_on_poll(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: the header requires `options` to be NULL (refused) or a live options
        // object that no other thread uses during the call (options are not thread-safe).
        let options = unsafe { arg_mut(options, "options")? };
        options.log_on_poll = enabled;
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// As jwks_options_set_log_callback, and `release(user_data)` is called exactly once when no
/// log call can come any more, as for jwks_options_set_fetch_callback_with_release. On failure
/// (NULL options, `max_level` outside 1..=4), or with a NULL callback, the library takes
/// nothing and `release` is not called: the caller still owns `user_data`. Never blocks; not
/// thread-safe for one options object (the release call may come from any thread).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_log_callback_with_release(
    options: *mut jwks_options,
    callback: jwks_log_callback,
    user_data: *mut libc::c_void,
    release: jwks_release_callback,
    max_level: libc::c_int,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        use crate::log::{LogLevel, Logger};
        // SAFETY: the header requires `user_data` and `release` to be usable from any
        // thread, and `release(user_data)` to be sound once no log call can come.
        let data = unsafe { UserData::new(user_data, release) };
        let max_level = match max_level {
            1 => LogLevel::Error,
            2 => LogLevel::Warn,
            3 => LogLevel::Info,
            4 => LogLevel::Debug,
            _ => {
                data.forget();
                return Err(Error::invalid_argument("log level must be 1 to 4"));
            }
        };
        o.logger = match callback {
            Some(cb) => {
                let target = LogTarget(cb, data);
                Some(Logger {
                    hook: std::sync::Arc::new(move |level: LogLevel, message: &str| {
                        target.emit(level, message)
                    }),
                    max_level,
                })
            }
            None => {
                data.forget();
                None
            }
        };
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}
