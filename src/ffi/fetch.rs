//! A caller-supplied HTTP fetch: a C callback used for every request instead of the built-in
//! client (for sandboxes, custom proxies, or an event loop's own HTTP stack).

use std::sync::Arc;

use super::options::UserData;
use super::{arg_bytes, arg_mut, arg_str, boundary, jwks_error, jwks_status, CText};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{HttpFetch, HttpRequest, HttpResponse};

/// One request header handed to a jwks_fetch_callback: name and value as pointer + length
/// (also NUL-terminated), lent for the duration of the call.
#[repr(C)]
pub struct jwks_http_header {
    /// The header name.
    pub name: *const libc::c_char,
    /// Its length in bytes.
    pub name_len: usize,
    /// The header value.
    pub value: *const libc::c_char,
    /// Its length in bytes.
    pub value_len: usize,
}

/// The response a jwks_fetch_callback fills in through jwks_http_response_set_status,
/// jwks_http_response_set_body and jwks_http_response_add_header (which copy). Owned by the
/// library and valid only during the callback.
pub struct jwks_http_response {
    response: HttpResponse,
    max_body_bytes: usize,
    too_large: bool,
}

/// A custom HTTP GET. Called with the user data given to jwks_options_set_fetch_callback, the
/// absolute URL (pointer + length, also NUL-terminated), the request headers, and a response
/// to fill in. Return 0 when `response` holds the server's answer (any HTTP status), or
/// non-zero for a transport failure (reported as JWKS_ERR_CONNECTION).
///
/// It may be called concurrently from several threads, for any client made from the options
/// it was set on, and must not call into the client that invoked it (that can deadlock). Every
/// pointer it receives is valid only until it returns. It must not unwind or longjmp through
/// the library.
pub type jwks_fetch_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut libc::c_void,
        url: *const libc::c_char,
        url_len: usize,
        headers: *const jwks_http_header,
        header_count: usize,
        response: *mut jwks_http_response,
    ) -> libc::c_int,
>;

/// The callback and its user data. The header says both must be safe to use from any thread.
/// Made only by `transport`, whose contract `get` relies on.
pub(crate) struct CallbackFetch {
    callback: unsafe extern "C" fn(
        *mut libc::c_void,
        *const libc::c_char,
        usize,
        *const jwks_http_header,
        usize,
        *mut jwks_http_response,
    ) -> libc::c_int,
    user_data: UserData,
}

impl CallbackFetch {
    /// The transport for `callback`, or None (the built-in client) when it is NULL.
    ///
    /// # Safety
    ///
    /// `callback`, if not NULL, must be sound to call as jwks_fetch_callback says: from any
    /// thread, concurrently, with `user_data`'s pointer, for as long as the transport lives.
    pub(crate) unsafe fn transport(
        callback: jwks_fetch_callback,
        user_data: UserData,
    ) -> Option<Arc<dyn HttpFetch>> {
        match callback {
            Some(callback) => Some(Arc::new(CallbackFetch {
                callback,
                user_data,
            }) as Arc<dyn HttpFetch>),
            None => {
                user_data.forget();
                None
            }
        }
    }
}

impl HttpFetch for CallbackFetch {
    fn get(&self, request: &HttpRequest<'_>) -> Result<HttpResponse> {
        let url = CText::new(request.url);
        let texts: Vec<(CText, CText)> = request
            .headers
            .iter()
            .map(|(n, v)| (CText::new(n), CText::new(v)))
            .collect();
        let headers: Vec<jwks_http_header> = texts
            .iter()
            .map(|(n, v)| jwks_http_header {
                name: n.as_ptr(),
                name_len: n.as_str().len(),
                value: v.as_ptr(),
                value_len: v.as_str().len(),
            })
            .collect();
        let mut response = jwks_http_response {
            response: HttpResponse::default(),
            max_body_bytes: request.max_body_bytes,
            too_large: false,
        };
        // SAFETY: the pointers handed over live until after the call: `url` and `texts` (which
        // every header entry points into, each NUL-terminated after its length) and `headers`
        // are locals, and `response` is a unique borrow of a local. The setter's contract lets
        // the callback and its user data be used from any thread, concurrently; the callback
        // must not unwind (jwks_fetch_callback).
        let rc = unsafe {
            (self.callback)(
                self.user_data.ptr(),
                url.as_ptr(),
                request.url.len(),
                headers.as_ptr(),
                headers.len(),
                &mut response,
            )
        };
        if response.too_large {
            return Err(Error::new(
                ErrorKind::ResponseTooLarge,
                format!(
                    "the fetch callback's body for {} is larger than the limit of {} bytes",
                    request.url, request.max_body_bytes
                ),
            ));
        }
        if rc != 0 {
            return Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "the fetch callback failed for {} (returned {rc})",
                    request.url
                ),
            ));
        }
        if response.response.status == 0 {
            return Err(Error::new(
                ErrorKind::Connection,
                format!("the fetch callback set no status for {}", request.url),
            ));
        }
        Ok(response.response)
    }
}

/// Sets the response's HTTP status (100..=999). Call from inside a jwks_fetch_callback only.
#[no_mangle]
pub unsafe extern "C" fn jwks_http_response_set_status(
    response: *mut jwks_http_response,
    status: u16,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: `response` is NULL (refused) or the response the library lent to the running
        // fetch callback, which alone may use it until it returns (the header allows this call only
        // from inside the callback).
        let r = unsafe { arg_mut(response, "response")? };
        if !(100..=999).contains(&status) {
            return Err(Error::invalid_argument(format!(
                "HTTP status {status} is out of range"
            )));
        }
        r.response.status = status;
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// Sets (replaces) the response body; the bytes are copied. A body over the client's
/// max_response_bytes is refused with JWKS_ERR_RESPONSE_TOO_LARGE and fails the fetch with that
/// status. Call from inside a jwks_fetch_callback only.
#[no_mangle]
pub unsafe extern "C" fn jwks_http_response_set_body(
    response: *mut jwks_http_response,
    body: *const u8,
    body_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: `response` is NULL (refused) or the response the library lent to the running
        // fetch callback, which alone may use it until it returns (the header allows this call only
        // from inside the callback).
        let r = unsafe { arg_mut(response, "response")? };
        // SAFETY: (`body`, `body_len`) is a byte string in: by the header's convention `body` is
        // NULL with length 0 or points to `body_len` readable bytes, unchanged during the call;
        // they are copied before the call returns, so the borrow does not outlive it.
        let body = unsafe { arg_bytes(body, body_len, "body")? };
        if body.len() > r.max_body_bytes {
            r.too_large = true;
            return Err(Error::new(
                ErrorKind::ResponseTooLarge,
                format!(
                    "body of {} bytes is over the limit of {}",
                    body.len(),
                    r.max_body_bytes
                ),
            ));
        }
        r.response.body = body.to_vec();
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// Adds a response header; name and value are copied. Call from inside a jwks_fetch_callback
/// only.
#[no_mangle]
pub unsafe extern "C" fn jwks_http_response_add_header(
    response: *mut jwks_http_response,
    name: *const libc::c_char,
    name_len: usize,
    value: *const libc::c_char,
    value_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: `response` is NULL (refused) or the response the library lent to the running
        // fetch callback, which alone may use it until it returns (the header allows this call only
        // from inside the callback).
        let r = unsafe { arg_mut(response, "response")? };
        // SAFETY: (`name`, `name_len`) is a string in: by the header's convention `name` is NULL
        // with length 0 or points to `name_len` readable bytes, unchanged during the call; the text
        // is copied into the response, so the borrow does not outlive the call.
        let name = unsafe { arg_str(name, name_len, "name")? };
        // SAFETY: (`value`, `value_len`) is a string in: by the header's convention `value` is NULL
        // with length 0 or points to `value_len` readable bytes, unchanged during the call; the
        // text is copied into the response, so the borrow does not outlive the call.
        let value = unsafe { arg_str(value, value_len, "value")? };
        r.response.headers.push((name.to_owned(), value.to_owned()));
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}
