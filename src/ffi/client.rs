//! `jwks_client`: creation and the operations.

use super::key::{jwks_key, jwks_key_set};
use super::options::jwks_options;
use super::token::jwks_token;
use super::verify_options::jwks_verify_options;
use super::{arg_bytes, arg_ref, arg_str, boundary, jwks_error, jwks_status, out_arg};
use crate::client::Client;
use crate::error::Error;

/// A JWKS client: one JWKS URL, its cache and its settings. Thread-safe: one client is meant
/// to be shared by all threads (every function taking `const jwks_client *` may be called
/// concurrently). Made by jwks_client_new, freed by jwks_client_free.
pub struct jwks_client {
    pub(crate) inner: Client,
    pub(crate) completions: std::sync::Arc<super::completion::Completions>,
    /// The log hook jwks_client_poll calls for queued events (log-on-poll mode).
    pub(crate) log_on_poll: Option<crate::log::LogFn>,
}

/// Makes a client from `options` (copied: the options object may be freed or reused at once).
/// With a URL (jwks_options_set_uri) the client uses that one JWKS; without one it is in
/// discovery mode and needs allowed or static issuers (or allow_any_issuer); both at once is
/// JWKS_ERR_INVALID_ARGUMENT. Checks the options as a whole (URL scheme rules, CA files
/// readable and valid, HMAC algorithms only with symmetric keys allowed). Fetches nothing: the
/// first lookup does.
///
/// On success writes a new client to `*out` (free it with jwks_client_free); on failure leaves
/// `*out` unchanged and, if `err` is not NULL, stores an error in `*err` (free it with
/// jwks_error_free). Returns JWKS_ERR_INVALID_ARGUMENT for NULL options or out, a missing URL or
/// a bad option. Reads CA files but does not touch the network. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_new(
    options: *const jwks_options,
    out: *mut *mut jwks_client,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: the header requires `options` to be NULL (refused) or a live options
        // object no other thread changes during the call; it is only read (cloned) here.
        let options = unsafe { arg_ref(options, "options")? };
        let out = out_arg(out, "out")?;
        let completions = super::completion::new_completions();
        let mut inner = options.inner.clone();
        let mut log_on_poll = None;
        if let Some(logger) = inner.logger.as_mut().filter(|_| options.log_on_poll) {
            log_on_poll = Some(logger.hook.clone());
            *logger = completions.queueing(logger);
        }
        let client = Client::new(inner)?;
        // SAFETY: out_arg refused a NULL `out`, and the header requires it to be writable;
        // written only on success, and the new client passes to the caller.
        unsafe {
            *out = Box::into_raw(Box::new(jwks_client {
                inner: client,
                completions,
                log_on_poll,
            }))
        };
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// Frees a client. NULL is a no-op. Results it returned (keys, sets, tokens) stay valid. The
/// caller must make sure no other thread is still using the client (that is a use after free);
/// freeing twice is undefined behaviour.
///
/// In a process forked from the one that made the client (fork() without exec), the client is
/// released without touching anything that belonged to the parent's threads: its memory is
/// leaked, deliberately, since its threads, locks and queues exist only in the parent. Free
/// it there anyway (it costs nothing) and make the child's own clients after forking.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_free(client: *mut jwks_client) {
    super::boundary_or((), || {
        if !client.is_null() {
            // SAFETY: a non-NULL `client` came from jwks_client_new (Box::into_raw), and the
            // header makes this its one free, once no other thread uses it; background work
            // holds the core's own references, not this box.
            let client = unsafe { Box::from_raw(client) };
            if client.inner.same_process().is_err() {
                // Inherited across fork(): its threads, locks and completion queue belong to
                // the parent. Leak it whole, deliberately (see the header).
                std::mem::forget(client);
                return;
            }
            drop(client);
        }
    })
}

/// Verifies a compact JWS `(token, token_len)` (not NUL-terminated necessarily): finds its key
/// by kid (fetching the JWKS if the cache cannot answer; in discovery mode, first the token
/// iss's configuration), checks the algorithm, the signature and the claims. `options` is NULL for the client's settings, or per-call overrides.
///
/// On success writes a new jwks_token to `*out` (free with jwks_token_free); on failure leaves
/// `*out` unchanged and returns the specific status (JWKS_ERR_EXPIRED, JWKS_ERR_BAD_SIGNATURE,
/// a fetch error, ...), with an error object in `*err` if err is not NULL.
///
/// Blocking: waits on an HTTP fetch (up to the timeout per request) only on a cold start, for a
/// set past its lifespan + max-stale, or for an unknown kid whose refetch is allowed (see the
/// top of this header). A cached set, fresh or expired within max-stale, answers at once while
/// it is refreshed in the background. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_verify(
    client: *const jwks_client,
    token: *const libc::c_char,
    token_len: usize,
    options: *const jwks_verify_options,
    out: *mut *mut jwks_token,
    err: *mut *mut jwks_error,
) -> jwks_status {
    // SAFETY: the header's contract for this function is verify_entry's.
    unsafe { verify_entry(client, token, token_len, options, out, err, true) }
}

/// Finds the signing key with this kid; on a miss refetches the set once (at most once per
/// min_refetch_interval across all callers). On success writes a new key to `*out` (free with
/// jwks_key_free). Fixed-URL mode only (discovery mode: JWKS_ERR_INVALID_ARGUMENT; use
/// jwks_client_get_signing_key_for_issuer). Blocking: may wait on an HTTP fetch. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_get_signing_key(
    client: *const jwks_client,
    kid: *const libc::c_char,
    kid_len: usize,
    out: *mut *mut jwks_key,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: the header requires `client` to be NULL (refused here) or a live client from
        // jwks_client_new that no thread frees during the call; a shared borrow is enough, the
        // client is thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        // SAFETY: (`kid`, `kid_len`) is a string in: by the header's convention `kid` is NULL with
        // length 0 or points to `kid_len` readable bytes, unchanged during the call; the borrow is
        // not kept past the call.
        let kid = unsafe { arg_str(kid, kid_len, "kid")? };
        let out = out_arg(out, "out")?;
        let key = client.inner.get_signing_key(kid)?;
        // SAFETY: out_arg refused a NULL `out`, and the header requires it to be writable; the new
        // `jwks_key` passes to the caller, nothing else holds it.
        unsafe { *out = jwks_key::into_raw(&key) };
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// Finds the signing key named by the kid in a token's header (and, in discovery mode, by its
/// iss). The token is NOT verified; jwks_key_algorithms says what the key may verify.
/// Otherwise as jwks_client_get_signing_key (JWKS_ERR_MISSING_KID when the header has none).
#[no_mangle]
pub unsafe extern "C" fn jwks_client_get_signing_key_from_jwt(
    client: *const jwks_client,
    token: *const libc::c_char,
    token_len: usize,
    out: *mut *mut jwks_key,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: the header requires `client` to be NULL (refused here) or a live client from
        // jwks_client_new that no thread frees during the call; a shared borrow is enough, the
        // client is thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        // SAFETY: (`token`, `token_len`) is a string in: by the header's convention `token` is NULL
        // with length 0 or points to `token_len` readable bytes, unchanged during the call; the
        // borrow is not kept past the call.
        let token = unsafe { arg_str(token, token_len, "token")? };
        let out = out_arg(out, "out")?;
        let key = client.inner.get_signing_key_from_jwt(token)?;
        // SAFETY: out_arg refused a NULL `out`, and the header requires it to be writable; the new
        // `jwks_key` passes to the caller, nothing else holds it.
        unsafe { *out = jwks_key::into_raw(&key) };
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// The usable signing keys (use "sig" or absent), from the cache (fresh, or expired within
/// max-stale while refreshed in the background) unless `refresh` is true. Fixed-URL mode only. JWKS_ERR_NO_SIGNING_KEYS when the set has none. On success writes a new
/// set to `*out` (free with jwks_key_set_free). Blocking: may wait on an HTTP fetch.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_get_signing_keys(
    client: *const jwks_client,
    refresh: bool,
    out: *mut *mut jwks_key_set,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: the header requires `client` to be NULL (refused here) or a live client from
        // jwks_client_new that no thread frees during the call; a shared borrow is enough, the
        // client is thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        let out = out_arg(out, "out")?;
        let set = client.inner.get_jwk_set(refresh)?;
        // SAFETY: out_arg refused a NULL `out`, and the header requires it to be writable; the new
        // `jwks_key_set` passes to the caller, nothing else holds it.
        unsafe { *out = jwks_key_set::into_raw(&set) };
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// The JWK Set (its usable keys, skipped count and JSON text), from the cache (fresh, or
/// expired within max-stale while refreshed in the background) unless `refresh` is true. As jwks_client_get_signing_keys otherwise.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_get_jwk_set(
    client: *const jwks_client,
    refresh: bool,
    out: *mut *mut jwks_key_set,
    err: *mut *mut jwks_error,
) -> jwks_status {
    // The same data: libjwks keeps only the keys that can verify signatures.
    // SAFETY: the arguments are passed on unchanged; that function's header contract for them
    // is this one's.
    unsafe { jwks_client_get_signing_keys(client, refresh, out, err) }
}

/// Fetches the JWKS now (always one request, shared with concurrent fetches), caches it and
/// writes the set to `*out`; jwks_key_set_json gives the raw JSON text (PyJWT's fetch_data).
/// Blocking. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_fetch_data(
    client: *const jwks_client,
    out: *mut *mut jwks_key_set,
    err: *mut *mut jwks_error,
) -> jwks_status {
    // SAFETY: the arguments are passed on unchanged; that function's header contract for them
    // is this one's.
    unsafe { jwks_client_get_signing_keys(client, true, out, err) }
}

/// Discovery mode: the signing key with this kid of an allowed issuer (discovering the issuer
/// if needed); jwks_key_algorithms says what it may verify. In fixed-URL mode the issuer is
/// ignored. On success writes a new key to `*out` (free with jwks_key_free). Blocking: may wait
/// on HTTP fetches. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_get_signing_key_for_issuer(
    client: *const jwks_client,
    issuer: *const libc::c_char,
    issuer_len: usize,
    kid: *const libc::c_char,
    kid_len: usize,
    out: *mut *mut jwks_key,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: the header requires `client` to be NULL (refused here) or a live client from
        // jwks_client_new that no thread frees during the call; a shared borrow is enough, the
        // client is thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        // SAFETY: (`issuer`, `issuer_len`) is a string in: by the header's convention `issuer` is
        // NULL with length 0 or points to `issuer_len` readable bytes, unchanged during the call;
        // the borrow is not kept past the call.
        let issuer = unsafe { arg_str(issuer, issuer_len, "issuer")? };
        // SAFETY: (`kid`, `kid_len`) is a string in: by the header's convention `kid` is NULL with
        // length 0 or points to `kid_len` readable bytes, unchanged during the call; the borrow is
        // not kept past the call.
        let kid = unsafe { arg_str(kid, kid_len, "kid")? };
        let out = out_arg(out, "out")?;
        let key = client.inner.get_signing_key_for_issuer(issuer, kid)?;
        // SAFETY: out_arg refused a NULL `out`, and the header requires it to be writable; the new
        // `jwks_key` passes to the caller, nothing else holds it.
        unsafe { *out = jwks_key::into_raw(&key) };
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// Discovery mode: the JWK Set of an allowed issuer, from the cache (as
/// jwks_client_get_jwk_set) unless `refresh` is true. In fixed-URL mode the issuer is ignored. On success writes a new set to
/// `*out` (free with jwks_key_set_free). Blocking: may wait on HTTP fetches. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_get_jwk_set_for_issuer(
    client: *const jwks_client,
    issuer: *const libc::c_char,
    issuer_len: usize,
    refresh: bool,
    out: *mut *mut jwks_key_set,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: the header requires `client` to be NULL (refused here) or a live client from
        // jwks_client_new that no thread frees during the call; a shared borrow is enough, the
        // client is thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        // SAFETY: (`issuer`, `issuer_len`) is a string in: by the header's convention `issuer` is
        // NULL with length 0 or points to `issuer_len` readable bytes, unchanged during the call;
        // the borrow is not kept past the call.
        let issuer = unsafe { arg_str(issuer, issuer_len, "issuer")? };
        let out = out_arg(out, "out")?;
        let set = client.inner.get_jwk_set_for_issuer(issuer, refresh)?;
        // SAFETY: out_arg refused a NULL `out`, and the header requires it to be writable; the new
        // `jwks_key_set` passes to the caller, nothing else holds it.
        unsafe { *out = jwks_key_set::into_raw(&set) };
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// Verifies without ever waiting on the network, for event loops: answers from the cache (as
/// jwks_client_verify would), or returns JWKS_PENDING after starting the needed fetch on one of
/// the client's background threads; call again later (a poll, a timer, the next request). A
/// key set past its lifespan but within max-stale answers at once (jwks_token_stale) while it
/// is refreshed in the background. Errors the cache can decide (bad signature, expired, unknown
/// kid already refetched for, ...) come back at once as from jwks_client_verify.
///
/// Outputs as jwks_client_verify (JWKS_PENDING is not a success: `*out` is unchanged and `*err`
/// is set if err is not NULL). Never blocks. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_verify_nonblocking(
    client: *const jwks_client,
    token: *const libc::c_char,
    token_len: usize,
    options: *const jwks_verify_options,
    out: *mut *mut jwks_token,
    err: *mut *mut jwks_error,
) -> jwks_status {
    // SAFETY: the header's contract for this function is verify_entry's.
    unsafe { verify_entry(client, token, token_len, options, out, err, false) }
}

/// Fetches every configured source now: the JWKS, or in discovery mode each allowed and static
/// issuer's configuration and keys. Returns the first failure after trying all. Blocking (up to
/// the timeout per request): for a program's start-up; an event loop thread (an nginx worker's
/// init_process, Envoy) calls jwks_client_warm_up_nonblocking instead. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_warm_up(
    client: *const jwks_client,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: the header requires `client` to be NULL (refused here) or a live client from
        // jwks_client_new that no thread frees during the call; a shared borrow is enough, the
        // client is thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        client.inner.warm_up()
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// jwks_client_warm_up without waiting: returns JWKS_OK when every configured source already
/// has a usable key set (one loaded from the persist directory counts), else JWKS_PENDING after
/// starting the missing fetches on the client's threads, so that the first requests find the
/// keys cached. Fetch failures are not reported here (they show in jwks_client_stats and the
/// log callback; lookups answer with them). JWKS_ERR_FORKED in a forked child. Never blocks
/// and never touches the network on the caller's thread. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_warm_up_nonblocking(
    client: *const jwks_client,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: the header requires `client` to be NULL (refused here) or a live client from
        // jwks_client_new that no thread frees during the call; a shared borrow is enough, the
        // client is thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        client.inner.warm_up_nonblocking()
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// jwks_client_verify (`wait`) and jwks_client_verify_nonblocking. The token is read as bytes
/// (a valid token is ASCII, and anything else fails to decode), so its UTF-8 is checked only to
/// word the error of a token that fails.
///
/// # Safety
///
/// The arguments follow the header's contract for those functions: `client` NULL or live,
/// (`token`, `token_len`) a string in, `options` NULL or live and unchanged during the call,
/// `out` and `err` NULL or writable.
unsafe fn verify_entry(
    client: *const jwks_client,
    token: *const libc::c_char,
    token_len: usize,
    options: *const jwks_verify_options,
    out: *mut *mut jwks_token,
    err: *mut *mut jwks_error,
    wait: bool,
) -> jwks_status {
    let call = || {
        // SAFETY: by this function's contract `client` is NULL (refused here) or a live client
        // that no thread frees during the call; a shared borrow is enough, the client is
        // thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        // SAFETY: (`token`, `token_len`) is a string in: NULL with length 0 or `token_len`
        // readable bytes, unchanged during the call; the borrow is not kept past the call.
        // `c_char` and `u8` have the same size and alignment.
        let token = unsafe { arg_bytes(token.cast(), token_len, "token")? };
        let out = out_arg(out, "out")?;
        // SAFETY: `options` is NULL (the client's settings) or a live per-call settings object
        // that no thread changes while a verify uses it, by this function's contract.
        let validation = match unsafe { options.as_ref() } {
            None => std::borrow::Cow::Borrowed(client.inner.validation()),
            Some(o) => std::borrow::Cow::Owned(o.inner.apply(client.inner.validation())?),
        };
        let verified = match wait {
            true => client.inner.verify_impl(token, validation),
            false => client.inner.verify_now(token, validation),
        }
        .map_err(|e| match std::str::from_utf8(token) {
            Ok(_) => e,
            Err(_) => Error::invalid_argument("argument token is not valid UTF-8"),
        })?;
        // SAFETY: out_arg refused a NULL `out`, and it is writable by this function's
        // contract; the new `jwks_token` passes to the caller, nothing else holds it.
        unsafe { *out = jwks_token::into_raw(verified) };
        Ok(())
    };
    // SAFETY: `err` is NULL or a writable `jwks_error **` by this function's contract; it
    // receives the error object, if any.
    unsafe { boundary(err, call) }
}
