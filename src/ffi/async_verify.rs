//! Asynchronous verification through the C ABI: a completion callback and a request handle.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::client::jwks_client;
use super::key::{jwks_key, jwks_key_set};
use super::token::jwks_token;
use super::verify_options::jwks_verify_options;
use super::{arg_ref, arg_str, boundary, boundary_or, jwks_error, jwks_status, out_arg};
use std::sync::Arc;

use super::completion::Completions;
use crate::client::async_verify::{Callback, Request};
use crate::error::{Error, ErrorKind};

/// Receives the result of jwks_client_verify_async when it returned JWKS_PENDING: exactly one
/// call, on a library thread, unless jwks_request_free returned first. On success `status` is
/// JWKS_OK and `token` is a new jwks_token (free it with jwks_token_free), `error` NULL;
/// otherwise `token` is NULL and `error` a new jwks_error (free it with jwks_error_free),
/// JWKS_ERR_CANCELLED when the client was freed first. It must not block for long (it runs on
/// one of the client's few threads), must not unwind or longjmp, and may call any jwks
/// function except jwks_client_free of the client that is calling it.
pub type jwks_verify_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut libc::c_void,
        status: jwks_status,
        token: *mut jwks_token,
        error: *mut jwks_error,
    ),
>;

/// A pending asynchronous verification. Made by jwks_client_verify_async (when it returns
/// JWKS_PENDING), freed by jwks_request_free whether or not the callback has run.
pub struct jwks_request {
    inner: Request,
    /// For queued requests: the queue and this request's entry id, so a result already
    /// queued is discarded when the request is freed.
    queued: Option<(Arc<Completions>, u64)>,
}

/// The user data pointer, carried to the callback's thread (the header requires it be usable
/// from any thread).
struct UserData(*mut libc::c_void);
// SAFETY: this only moves the pointer to the library thread that runs the callback, never
// dereferencing it; the header requires user data given with an async call to be usable from
// any thread.
unsafe impl Send for UserData {}

/// Wraps a C callback and its user data as the core's completion callback: the result becomes
/// a status and a new handle or error object, and the callback cannot unwind into Rust.
///
/// # Safety
///
/// `callback` must be sound to call once, from any library thread, with `user_data`, a status
/// and either a new `H` handle or a new error object (both then owned by the callback): the
/// contract of jwks_verify_callback and its siblings, which the caller of the `_async`
/// function accepted.
unsafe fn c_callback<T: 'static, H: 'static>(
    callback: unsafe extern "C" fn(*mut libc::c_void, jwks_status, *mut H, *mut jwks_error),
    user_data: UserData,
    into_raw: fn(T) -> *mut H,
) -> Callback<T> {
    Box::new(move |result: crate::Result<T>| {
        let user_data = user_data;
        let (status, value, error) = super::split_result(result, into_raw);
        // SAFETY: c_callback's contract makes this call sound; this closure is a FnOnce, run at
        // most once, so the new handle or error object passes to the callback only once.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
            callback(user_data.0, status, value, error)
        }));
    })
}

fn key_into_raw(key: Arc<crate::Key>) -> *mut jwks_key {
    jwks_key::into_raw(&key)
}

fn set_into_raw(set: Arc<crate::KeySet>) -> *mut jwks_key_set {
    jwks_key_set::into_raw(&set)
}

/// Verifies a token without blocking the caller. Three outcomes:
///
/// - JWKS_OK: the cache answered; `*out` is a new jwks_token (free with jwks_token_free); the
///   callback will not be called and `*request` is unchanged.
/// - JWKS_PENDING: keys must be fetched; `*request` is a new jwks_request (free it with
///   jwks_request_free) and the callback will be called exactly once, later, on a library
///   thread, unless jwks_request_free returns first. `*out` and `*err` are unchanged.
/// - any other status: the verification failed at once (bad token, expired, unknown kid
///   already refetched for, ...) or could not be queued (JWKS_ERR_CANCELLED); no callback;
///   `*err` is set if err is not NULL.
///
/// The token and options are copied, so the caller may release them at once. `callback`,
/// `out` and `request` must not be NULL; `user_data` is passed to the callback untouched.
/// Never blocks. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_verify_async(
    client: *const jwks_client,
    token: *const libc::c_char,
    token_len: usize,
    options: *const jwks_verify_options,
    callback: jwks_verify_callback,
    user_data: *mut libc::c_void,
    out: *mut *mut jwks_token,
    request: *mut *mut jwks_request,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let Some(callback) = callback else {
        // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it
        // receives the error object.
        return unsafe { boundary(err, || Err(super::null_arg("callback"))) };
    };
    let user_data = UserData(user_data);
    // SAFETY: the header's jwks_verify_callback contract: the caller's callback may be called
    // once from a library thread with `user_data`, and then owns the token or error.
    let deliver = unsafe { c_callback(callback, user_data, jwks_token::into_raw) };
    // SAFETY: every pointer is passed on unchanged, and the header asks of them what `start`
    // asks: a live client or NULL, a (token, token_len) string, NULL or live verify options,
    // and NULL or writable `out`, `request` and `err`.
    unsafe {
        start(
            client, token, token_len, options, deliver, None, out, request, err,
        )
    }
}

/// The common part of the asynchronous calls.
///
/// # Safety
///
/// `client` must be NULL or a live `jwks_client` no one frees during the call; `token` NULL
/// with `token_len` 0 or valid for reading `token_len` bytes; `options` NULL or a live
/// `jwks_verify_options` no one changes during the call; `out`, `request` and `err` as for
/// [`finish_async`].
#[allow(clippy::too_many_arguments)]
unsafe fn start(
    client: *const jwks_client,
    token: *const libc::c_char,
    token_len: usize,
    options: *const jwks_verify_options,
    deliver: Callback,
    queued: Option<(Arc<Completions>, u64)>,
    out: *mut *mut jwks_token,
    request: *mut *mut jwks_request,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: by this function's contract `client` is NULL (refused) or a live,
        // thread-safe client, so a shared borrow for the call is sound.
        let client = unsafe { arg_ref(client, "client")? };
        // SAFETY: by this function's contract `token_len` bytes at `token` (or NULL and 0)
        // are readable; verify_async copies the token, so the borrow ends here.
        let token = unsafe { arg_str(token, token_len, "token")? };
        // SAFETY: by this function's contract `options` is NULL (None) or live and not
        // changed during the call; verify_async copies the settings it needs.
        let options = unsafe { options.as_ref() }.map(|o| &o.inner);
        client.inner.verify_async(token, options, deliver)
    };
    // SAFETY: `err`, `out` and `request` are passed on under this function's contract, which
    // is finish_async's.
    unsafe { finish_async(err, out, request, queued, jwks_token::into_raw, call) }
}

/// As jwks_client_verify_async, but for event loops that want results on their own thread:
/// instead of a callback, the result of a JWKS_PENDING verification is queued on the client
/// with `tag` (any value the caller chooses, e.g. a request pointer), and the descriptor of
/// jwks_client_completion_fd becomes readable; collect it with jwks_client_poll. Freeing the
/// request first (jwks_request_free) means its result is never handed out. Freeing the client
/// discards its queue. When JWKS_MAX_QUEUED_COMPLETIONS results wait uncollected, the call is
/// refused with JWKS_ERR_CANCELLED (nothing is queued) until jwks_client_poll collects some;
/// results of calls already accepted are never dropped. Never blocks. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_verify_async_queued(
    client: *const jwks_client,
    token: *const libc::c_char,
    token_len: usize,
    options: *const jwks_verify_options,
    tag: u64,
    out: *mut *mut jwks_token,
    request: *mut *mut jwks_request,
    err: *mut *mut jwks_error,
) -> jwks_status {
    // SAFETY: the header requires `client` to be NULL (None) or a live, thread-safe client
    // that no thread frees during the call.
    let Some(c) = (unsafe { client.as_ref() }) else {
        // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it
        // receives the error object.
        return unsafe { boundary(err, || Err(super::null_arg("client"))) };
    };
    let completions = c.completions.clone();
    if completions.full() {
        let refuse = || {
            Err(Error::new(
                ErrorKind::Cancelled,
                format!(
                    "{} results wait for jwks_client_poll: the completion queue is full until \
                     the loop collects them",
                    super::completion::JWKS_MAX_QUEUED_COMPLETIONS
                ),
            ))
        };
        // SAFETY: as above, `err` is NULL or writable; it receives the error object.
        return unsafe { boundary(err, refuse) };
    }
    let id = completions.next_id();
    let queue = completions.clone();
    let deliver: Callback = Box::new(move |result| queue.push(id, tag, result));
    // SAFETY: every pointer is passed on unchanged, and the header asks of them what `start`
    // asks: a live client (checked non-NULL above), a (token, token_len) string, NULL or live
    // verify options, and NULL or writable `out`, `request` and `err`.
    unsafe {
        start(
            client,
            token,
            token_len,
            options,
            deliver,
            Some((completions, id)),
            out,
            request,
            err,
        )
    }
}

/// Drops interest in a pending verification and frees its handle. After it returns the
/// callback will not run (for a queued request: its result is not, or no longer, queued): if it has not started it never will; if it is running on another
/// thread this waits for it to return (from inside the callback itself it returns at once).
/// Fine after the callback has run. NULL is a no-op; freeing twice is undefined behaviour.
#[no_mangle]
pub unsafe extern "C" fn jwks_request_free(request: *mut jwks_request) {
    boundary_or((), || {
        if !request.is_null() {
            // SAFETY: a non-NULL `request` came from finish_async (Box::into_raw) through a
            // `jwks_request **` of an `_async` call, and the header makes this its one free;
            // the core's callback holds no reference to this handle.
            let request = unsafe { Box::from_raw(request) };
            request.inner.cancel();
            if let Some((completions, id)) = &request.queued {
                completions.discard(*id);
            }
        }
    })
}

/// Receives the result of jwks_client_get_signing_key_async when it returned JWKS_PENDING, as
/// jwks_verify_callback does: on success a new jwks_key (free with jwks_key_free), otherwise a
/// new jwks_error (free with jwks_error_free).
pub type jwks_key_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut libc::c_void,
        status: jwks_status,
        key: *mut jwks_key,
        error: *mut jwks_error,
    ),
>;

/// jwks_client_get_signing_key without waiting: JWKS_OK with a new key in `*out` (free with
/// jwks_key_free) when the cache has it, JWKS_PENDING after starting the fetch in the background
/// (ask again later), or an error decided at once. Fixed-URL mode only. Never blocks.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_get_signing_key_nonblocking(
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
        let key = client.inner.get_signing_key_nonblocking(kid)?;
        // SAFETY: out_arg refused a NULL `out`, and the header requires it to be writable; the new
        // `jwks_key` passes to the caller, nothing else holds it.
        unsafe { *out = jwks_key::into_raw(&key) };
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// jwks_client_get_signing_key without blocking the caller, with the contract of
/// jwks_client_verify_async: JWKS_OK with `*out` set and no callback; JWKS_PENDING with
/// `*request` set and exactly one callback later unless jwks_request_free returns first; any
/// other status, no callback. Fixed-URL mode only. Never blocks. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_get_signing_key_async(
    client: *const jwks_client,
    kid: *const libc::c_char,
    kid_len: usize,
    callback: jwks_key_callback,
    user_data: *mut libc::c_void,
    out: *mut *mut jwks_key,
    request: *mut *mut jwks_request,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let user_data = UserData(user_data);
    let call = || {
        // SAFETY: the header requires `client` to be NULL (refused here) or a live client from
        // jwks_client_new that no thread frees during the call; a shared borrow is enough, the
        // client is thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        // SAFETY: (`kid`, `kid_len`) is a string in: by the header's convention `kid` is NULL with
        // length 0 or points to `kid_len` readable bytes, unchanged during the call; the borrow is
        // not kept past the call.
        let kid = unsafe { arg_str(kid, kid_len, "kid")? };
        let callback = callback.ok_or_else(|| super::null_arg("callback"))?;
        // SAFETY: the header's jwks_key_callback contract: the caller's callback may be
        // called once from a library thread with `user_data`, and then owns the key or error.
        let deliver = unsafe { c_callback(callback, user_data, key_into_raw) };
        client.inner.get_signing_key_async(kid, deliver)
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`, and
    // `out` and `request` to be writable (NULL is refused); the one written receives
    // a new handle the caller owns.
    unsafe { finish_async(err, out, request, None, key_into_raw, call) }
}

/// Receives the result of jwks_client_get_jwk_set_async when it returned JWKS_PENDING, as
/// jwks_verify_callback does: on success a new jwks_key_set (free with jwks_key_set_free),
/// otherwise a new jwks_error.
pub type jwks_key_set_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut libc::c_void,
        status: jwks_status,
        set: *mut jwks_key_set,
        error: *mut jwks_error,
    ),
>;

/// Runs `call` behind the boundary and turns its outcome into the async contract: the value in
/// `*out` (JWKS_OK), a request in `*request` (JWKS_PENDING), or an error status.
///
/// # Safety
///
/// `err` as for [`boundary`]; `out` and `request` must each be NULL (refused with
/// JWKS_ERR_INVALID_ARGUMENT) or valid for writing one pointer. At most one of the three is
/// written, with a new handle the caller then owns; their old values are neither read nor
/// freed.
unsafe fn finish_async<T, H>(
    err: *mut *mut jwks_error,
    out: *mut *mut H,
    request: *mut *mut jwks_request,
    queued: Option<(Arc<Completions>, u64)>,
    into_raw: impl FnOnce(T) -> *mut H,
    call: impl FnOnce() -> crate::Result<crate::Async<T>>,
) -> jwks_status {
    let mut pending = false;
    let run = || {
        let out = out_arg(out, "out")?;
        let request = out_arg(request, "request")?;
        match call()? {
            // SAFETY: out_arg refused a NULL `out`, so by this function's contract it is
            // writable; the new handle passes to the caller.
            crate::Async::Ready(value) => unsafe { *out = into_raw(value) },
            crate::Async::Pending(r) => {
                let handle = jwks_request { inner: r, queued };
                // SAFETY: out_arg refused a NULL `request`, so by this function's contract it
                // is writable; the new request handle passes to the caller (jwks_request_free).
                unsafe { *request = Box::into_raw(Box::new(handle)) };
                pending = true;
            }
        }
        Ok(())
    };
    // SAFETY: `err` is passed on under this function's contract, which is boundary's.
    let status = unsafe { boundary(err, run) };
    if pending {
        jwks_status::JWKS_PENDING
    } else {
        status
    }
}

/// jwks_client_get_jwk_set (refresh or not) without blocking the caller, with the contract of
/// jwks_client_verify_async: JWKS_OK with a new set in `*out` (a fresh cached set, when
/// `refresh` is false) and no callback; JWKS_PENDING with `*request` set and exactly one
/// callback later unless jwks_request_free returns first; any other status, no callback.
/// Fixed-URL mode only. Never blocks. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_get_jwk_set_async(
    client: *const jwks_client,
    refresh: bool,
    callback: jwks_key_set_callback,
    user_data: *mut libc::c_void,
    out: *mut *mut jwks_key_set,
    request: *mut *mut jwks_request,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let user_data = UserData(user_data);
    let call = || {
        // SAFETY: the header requires `client` to be NULL (refused here) or a live client from
        // jwks_client_new that no thread frees during the call; a shared borrow is enough, the
        // client is thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        let callback = callback.ok_or_else(|| super::null_arg("callback"))?;
        // SAFETY: the header's jwks_key_set_callback contract: the caller's callback may be
        // called once from a library thread with `user_data`, and then owns the set or error.
        let deliver = unsafe { c_callback(callback, user_data, set_into_raw) };
        client.inner.get_jwk_set_async(refresh, deliver)
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`, and
    // `out` and `request` to be writable (NULL is refused); the one written receives
    // a new handle the caller owns.
    unsafe { finish_async(err, out, request, None, set_into_raw, call) }
}

/// jwks_client_get_signing_key_from_jwt without blocking the caller (the token is not
/// verified), with the contract of jwks_client_get_signing_key_async; works in both modes.
/// Never blocks. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_get_signing_key_from_jwt_async(
    client: *const jwks_client,
    token: *const libc::c_char,
    token_len: usize,
    callback: jwks_key_callback,
    user_data: *mut libc::c_void,
    out: *mut *mut jwks_key,
    request: *mut *mut jwks_request,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let user_data = UserData(user_data);
    let call = || {
        // SAFETY: the header requires `client` to be NULL (refused here) or a live client from
        // jwks_client_new that no thread frees during the call; a shared borrow is enough, the
        // client is thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        // SAFETY: (`token`, `token_len`) is a string in: by the header's convention `token` is NULL
        // with length 0 or points to `token_len` readable bytes, unchanged during the call; the
        // borrow is not kept past the call.
        let token = unsafe { arg_str(token, token_len, "token")? };
        let callback = callback.ok_or_else(|| super::null_arg("callback"))?;
        // SAFETY: the header's jwks_key_callback contract: the caller's callback may be
        // called once from a library thread with `user_data`, and then owns the key or error.
        let deliver = unsafe { c_callback(callback, user_data, key_into_raw) };
        client.inner.get_signing_key_from_jwt_async(token, deliver)
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`, and
    // `out` and `request` to be writable (NULL is refused); the one written receives
    // a new handle the caller owns.
    unsafe { finish_async(err, out, request, None, key_into_raw, call) }
}
