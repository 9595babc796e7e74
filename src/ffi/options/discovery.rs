//! Discovery mode: allowed and static issuers, the configuration path, the issuer cache.

use super::*;

/// Discovery mode (no URL set): allows tokens whose iss is exactly this issuer; their keys are
/// found through the issuer's OpenID configuration document. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_add_allowed_issuer(
    options: *mut jwks_options,
    issuer: *const libc::c_char,
    issuer_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions, iss: &str| {
        if iss.is_empty() {
            return Err(Error::invalid_argument("allowed issuer is empty"));
        }
        o.discovery.allowed_issuers.push(iss.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call, `err` to be NULL or writable, and (`issuer`, `issuer_len`) to be
    // NULL with length 0 or `issuer_len` readable bytes unchanged during the call; it is copied.
    unsafe { set_text(options, err, issuer, issuer_len, "issuer", apply) }
}

/// DANGER: discovery mode for ANY issuer a token names (default off). Whoever sends a token
/// then chooses which URLs this process fetches (server-side request forgery: internal
/// services, cloud metadata endpoints) and which keys it trusts. Use only with a fetch callback
/// that restricts destinations, and check iss yourself. Such an issuer, and the jwks_uri its
/// document names, must be https even on loopback (plain http only with allow_http).
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
    let apply = |o: &mut ClientOptions, path: &str| {
        if path.is_empty() {
            return Err(Error::invalid_argument("config path is empty"));
        }
        o.discovery.config_path = path.to_owned();
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call, `err` to be NULL or writable, and (`path`, `path_len`) to be
    // NULL with length 0 or `path_len` readable bytes unchanged during the call; it is copied.
    unsafe { set_text(options, err, path, path_len, "path", apply) }
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
    let apply = |o: &mut ClientOptions, iss: &str| {
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
    // thread uses during the call, `err` to be NULL or writable, and (`issuer`, `issuer_len`) to be
    // NULL with length 0 or `issuer_len` readable bytes unchanged during the call; it is copied.
    unsafe { set_text(options, err, issuer, issuer_len, "issuer", apply) }
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
