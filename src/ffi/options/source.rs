//! Where and how key sets are fetched: the URL, headers, TLS, timeouts, refetch and stale windows, backoff, size and count limits.

use super::*;

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
    let apply = |o: &mut ClientOptions, uri: &str| {
        crate::http::origin(uri)?;
        o.uri = uri.to_owned();
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call, `err` to be NULL or writable, and (`uri`, `uri_len`) to be
    // NULL with length 0 or `uri_len` readable bytes unchanged during the call; it is copied.
    unsafe { set_text(options, err, uri, uri_len, "uri", apply) }
}

/// A key set held by the client instead of fetched (NGINX Plus's auth_jwt_key_file, jwt_authn's
/// local_jwks): the JWK Set's JSON text, copied. Parsed by jwks_client_new with the rules of a
/// fetched set: a set with no usable key fails there (JWKS_ERR_NO_SIGNING_KEYS, or
/// JWKS_ERR_INVALID_JWKS), as does one larger than max_response_bytes. Never refreshed, no
/// request is ever made, and a token whose kid the set lacks answers JWKS_ERR_KEY_NOT_FOUND at
/// once (the non-blocking calls too: never JWKS_PENDING). Excludes jwks_options_set_uri and
/// discovery (jwks_client_new refuses the mix). The empty text turns it off. NULL options, a
/// NULL text with a length or invalid UTF-8: JWKS_ERR_INVALID_ARGUMENT. Options are not
/// thread-safe (as every setter).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_local_jwks(
    options: *mut jwks_options,
    json: *const libc::c_char,
    json_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions, json: &str| {
        o.local_jwks = (!json.is_empty()).then(|| crate::LocalJwks::Text(json.to_owned()));
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call, `err` to be NULL or writable, and (`json`, `json_len`) to be
    // NULL with length 0 or `json_len` readable bytes unchanged during the call; it is copied.
    unsafe { set_text(options, err, json, json_len, "json", apply) }
}

/// jwks_options_set_local_jwks from a file, read when the client is made (each jwks_client_new
/// reads it again; nothing reads it per request). The file is trusted only as a key file should
/// be: a regular file (a FIFO never makes the read wait), owned by root or by the process's
/// effective user, not writable by group or others; jwks_client_new refuses anything else with
/// JWKS_ERR_INVALID_ARGUMENT, naming the check. The read (bounded by max_response_bytes) is
/// jwks_client_new's only disk I/O for it. The path is copied; the empty path turns it off;
/// argument errors as jwks_options_set_local_jwks.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_local_jwks_file(
    options: *mut jwks_options,
    path: *const libc::c_char,
    path_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions, path: &str| {
        o.local_jwks = (!path.is_empty()).then(|| crate::LocalJwks::File(path.into()));
        Ok(())
    };
    // SAFETY: as jwks_options_set_local_jwks, with (`path`, `path_len`) the string in.
    unsafe { set_text(options, err, path, path_len, "path", apply) }
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
pub(super) fn within(value: usize, limit: usize, what: &str) -> Result<(), Error> {
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
    let apply = |o: &mut ClientOptions, name: &str| {
        // SAFETY: (`value`, `value_len`) is a string in: by the header's convention `value` is NULL
        // with length 0 or points to `value_len` readable bytes, unchanged during the call; the
        // setter copies the text, so the borrow does not outlive the call.
        let value = unsafe { arg_str(value, value_len, "value")? };
        crate::client::check_header(name, value)?;
        o.headers.push((name.to_owned(), value.to_owned()));
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call, `err` to be NULL or writable, and (`name`, `name_len`) to be
    // NULL with length 0 or `name_len` readable bytes unchanged during the call; it is copied.
    unsafe { set_text(options, err, name, name_len, "name", apply) }
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
    let apply = |o: &mut ClientOptions, path: &str| {
        if path.is_empty() {
            return Err(Error::invalid_argument("CA file path is empty"));
        }
        o.ca_files.push(PathBuf::from(path));
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call, `err` to be NULL or writable, and (`path`, `path_len`) to be
    // NULL with length 0 or `path_len` readable bytes unchanged during the call; it is copied.
    unsafe { set_text(options, err, path, path_len, "path", apply) }
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
    let apply = |o: &mut ClientOptions, proxy: &str| {
        o.proxy = (!proxy.is_empty()).then(|| proxy.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call, `err` to be NULL or writable, and (`proxy`, `proxy_len`) to be
    // NULL with length 0 or `proxy_len` readable bytes unchanged during the call; it is copied.
    unsafe { set_text(options, err, proxy, proxy_len, "proxy", apply) }
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
/// answered from the stale set, or with the last fetch error. initial_ms <= max_ms; an
/// initial_ms of 0 turns the backoff off (every lookup that needs the set tries again, so an
/// outage costs the IdP one request per such lookup).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_failure_backoff_ms(
    options: *mut jwks_options,
    initial_ms: u64,
    max_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
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
