//! `jwks_token`: the result of a successful verification.

use super::key::jwks_key;
use super::{arg_ref, arg_str, boundary, boundary_or, jwks_error, jwks_status};
use crate::client::Verified;
use crate::error::{Error, ErrorKind};

/// A verified token: its claims (the decoded JSON payload) and header fields. Made by
/// jwks_client_verify, freed by jwks_token_free. Immutable, so safe to read from many threads;
/// it outlives the client that made it.
///
/// One allocation besides the verification's own: the texts are lent from the `Verified`,
/// which keeps each followed by a NUL.
pub struct jwks_token {
    verified: Verified,
    /// The key, turned into its C form only if asked for (it copies JWK, PEM and DER).
    key_c: std::sync::OnceLock<jwks_key>,
}

impl jwks_token {
    pub(crate) fn into_raw(verified: Verified) -> *mut jwks_token {
        Box::into_raw(Box::new(jwks_token {
            verified,
            key_c: std::sync::OnceLock::new(),
        }))
    }
}

/// Lends the text `get` picks from `token`: NULL (and length 0) when `token` is NULL or the
/// text is absent.
///
/// # Safety
///
/// `token` must be NULL or point to a live `jwks_token`, and `len` must be NULL or valid for
/// writing one `usize`. The pointer returned borrows from `*token` and is valid until
/// jwks_token_free.
unsafe fn token_text(
    token: *const jwks_token,
    len: *mut usize,
    get: impl FnOnce(&Verified) -> Option<&[u8]>,
) -> *const libc::c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: by this function's contract `token` is NULL (None) or a live token; its
        // texts are never changed, so a shared borrow is sound with other threads reading.
        let text = unsafe { token.as_ref() }.and_then(|t| get(&t.verified));
        // SAFETY: `len` is NULL or writable, by this function's contract.
        unsafe { super::lend_nul_terminated(text, len) }
    })
}

/// The claims: the token's decoded JSON payload, byte for byte. NUL-terminated; its length is
/// written to `*len` unless len is NULL. NULL if token is NULL. Lent until jwks_token_free.
/// Never blocks; thread-safe.
///
/// The payload is the issuer's JSON as signed: it may hold raw CR, LF and TAB as whitespace,
/// and its strings any Unicode character (escaped as JSON allows; DEL even raw). Never put it
/// into a header or a line-based protocol as it is: jwks_token_header_value with the pointer
/// "" gives the same JSON compact and header-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_claims(
    token: *const jwks_token,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `token` to be NULL or a live token (not yet passed to
    // jwks_token_free) and `len` to be NULL or a writable `size_t *`.
    unsafe { token_text(token, len, |v| Some(v.texts().payload_c())) }
}

/// The token's protected header as its decoded JSON text (alg, kid, typ and any other field the
/// issuer set), NUL-terminated; lent as jwks_token_claims, with the same caution: render a
/// field for a header with jwks_claims_header_value on this text ("/x5t", "/cty"). NULL if
/// token is NULL. Never blocks; thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_header_json(
    token: *const jwks_token,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `token` to be NULL or a live token (not yet passed to
    // jwks_token_free) and `len` to be NULL or a writable `size_t *`.
    unsafe { token_text(token, len, |v| Some(v.texts().header_c())) }
}

/// One claim as text: the value at `pointer`, an RFC 6901 JSON Pointer `(pointer,
/// pointer_len)` ("/sub"; "/realm_access/roles" for a nested claim;
/// "/https:~1~1example.com~1roles" for a claim named by a URI, "~1" standing for "/" and "~0"
/// for "~"). A string is written as it is, a number or boolean as its JSON text, an array as
/// its elements so written joined by commas, an object as JSON.
///
/// The text is the claim's own and may hold any Unicode character, CR, LF and NUL included:
/// users choose some claims (names, emails). Never put it into a header, a log line or any
/// protocol as it is: jwks_token_header_value renders the same claim safe for that.
///
/// On success writes the text's full length to `*len` and, if it fits (`buf_len >= *len`),
/// the text to `buf` (not NUL-terminated); otherwise writes nothing to `buf`: call again with
/// a buffer of `*len` bytes (`buf` may be NULL when `buf_len` is 0). JWKS_ERR_MISSING_CLAIM
/// when the claim is absent or null; JWKS_ERR_INVALID_ARGUMENT for NULL token or len, or a
/// pointer that is not UTF-8 or not an RFC 6901 JSON Pointer ("sub" without its "/", or a "~"
/// not followed by "0" or "1"). Never blocks; thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_claim(
    token: *const jwks_token,
    pointer: *const libc::c_char,
    pointer_len: usize,
    buf: *mut libc::c_char,
    buf_len: usize,
    len: *mut usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    // SAFETY: the header's contract for these arguments is claim_out's.
    unsafe {
        claim_out(
            token,
            pointer,
            pointer_len,
            buf,
            buf_len,
            len,
            err,
            Verified::claim,
        )
    }
}

/// One claim rendered safe for an HTTP header value (or a server variable, a log field, any
/// line-based protocol): the claim at `pointer` as jwks_token_claim finds it, or the whole
/// payload for the pointer "" (`(NULL, 0)`), by the one rule that nginx's and Envoy's modules
/// and the Go and C++ bindings all use:
///
/// - no byte 0x00-0x1F other than HTAB, and no 0x7F, ever appears in the value;
/// - text (a string claim, a string in an array) has exactly those bytes and the backslash
///   written `\xHH` (two uppercase hex digits: "x\r\nX-Admin: 1" becomes
///   `x\x0D\x0AX-Admin: 1`, and a typed `\` becomes `\x5C`, so no one can type a look-alike of
///   an escape); every other byte, UTF-8 included, stays as it is;
/// - a number or boolean is its JSON text; an array is its elements so written, joined by
///   commas;
/// - JSON (an object claim, an object in an array, the whole payload) stays valid JSON of the
///   same value: compact, no whitespace outside strings, those bytes inside strings as
///   `\u00XX`; the whole payload keeps its members' order and numbers as the token wrote them.
///
/// A claim that is present is never dropped: its value is always written, escaped. Output,
/// errors, blocking and thread-safety as jwks_token_claim (JWKS_ERR_MISSING_CLAIM when absent
/// or null).
#[no_mangle]
pub unsafe extern "C" fn jwks_token_header_value(
    token: *const jwks_token,
    pointer: *const libc::c_char,
    pointer_len: usize,
    buf: *mut libc::c_char,
    buf_len: usize,
    len: *mut usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    // SAFETY: the header's contract for these arguments is claim_out's.
    unsafe {
        claim_out(
            token,
            pointer,
            pointer_len,
            buf,
            buf_len,
            len,
            err,
            Verified::header_value,
        )
    }
}

/// jwks_token_header_value on a payload that was copied out of its token: `(claims,
/// claims_len)` is a JSON object, such as jwks_token_claims lent. For bindings that keep the
/// payload and free the token (Go, C++). The text is read as a token's payload is (serde_json,
/// no name twice at any depth): JWKS_ERR_INVALID_ARGUMENT when that refuses it or it is no
/// object (or claims is NULL with a length, or len is NULL); otherwise as
/// jwks_token_header_value: the value goes into the caller's buffer, nothing to free. Never
/// blocks; thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_claims_header_value(
    claims: *const libc::c_char,
    claims_len: usize,
    pointer: *const libc::c_char,
    pointer_len: usize,
    buf: *mut libc::c_char,
    buf_len: usize,
    len: *mut usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: (`claims`, `claims_len`) and (`pointer`, `pointer_len`) are strings in, by
        // the header's convention; neither borrow outlives the call.
        let claims = unsafe { arg_str(claims, claims_len, "claims")? };
        // SAFETY: as for `claims` just above.
        let pointer = json_pointer(unsafe { arg_str(pointer, pointer_len, "pointer")? })?;
        let text = crate::claims_header_value(claims, pointer)
            .map_err(|e| {
                // The message names what and where (line, column), never the text itself.
                Error::invalid_argument(format!("argument claims: {}", e.message()))
            })?
            .ok_or_else(missing_claim)?;
        // SAFETY: `buf`, `buf_len` and `len` are as the header requires of text_out.
        unsafe { text_out(&text, buf, buf_len, len) }
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`.
    unsafe { boundary(err, call) }
}

/// Any text escaped by jwks_token_header_value's rule for text: bytes 0x00-0x1F but HTAB,
/// 0x7F and the backslash written `\xHH`, every other byte kept. For values that are not
/// claims (jwks_token_kid, jwks_token_typ, text of the caller's own) on their way into a
/// header. `(text, text_len)` is a string in; output and errors as jwks_token_claim (never
/// JWKS_ERR_MISSING_CLAIM: the empty text is the empty value). Never blocks; thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_header_value_escape(
    text: *const libc::c_char,
    text_len: usize,
    buf: *mut libc::c_char,
    buf_len: usize,
    len: *mut usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: (`text`, `text_len`) is a string in, by the header's convention; the borrow
        // does not outlive the call.
        let text = unsafe { arg_str(text, text_len, "text")? };
        // SAFETY: `buf`, `buf_len` and `len` are as the header requires of text_out.
        unsafe { text_out(&crate::escape_header_text(text), buf, buf_len, len) }
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`.
    unsafe { boundary(err, call) }
}

/// `pointer`, when it is an RFC 6901 JSON Pointer; JWKS_ERR_INVALID_ARGUMENT otherwise (a
/// caller's mistake, not a missing claim).
fn json_pointer(pointer: &str) -> Result<&str, Error> {
    if crate::client::header_value::is_json_pointer(pointer) {
        Ok(pointer)
    } else {
        Err(Error::invalid_argument(
            "argument pointer is not an RFC 6901 JSON Pointer (\"/name\", \"/outer/inner\"; ~0 for ~ and ~1 for /)",
        ))
    }
}

fn missing_claim() -> Error {
    Error::new(
        ErrorKind::MissingClaim,
        "the token has no such claim (or it is null)",
    )
}

/// The claim `get` renders at the pointer, copied out as jwks_token_claim says.
///
/// # Safety
///
/// `token` is NULL or a live token; (`pointer`, `pointer_len`) a string in; `buf`,
/// `buf_len` and `len` as text_out requires; `err` NULL or a writable `jwks_error **`.
#[allow(clippy::too_many_arguments)]
unsafe fn claim_out(
    token: *const jwks_token,
    pointer: *const libc::c_char,
    pointer_len: usize,
    buf: *mut libc::c_char,
    buf_len: usize,
    len: *mut usize,
    err: *mut *mut jwks_error,
    get: fn(&Verified, &str) -> Option<String>,
) -> jwks_status {
    let call = || {
        // SAFETY: by this function's contract `token` is NULL (refused) or a live token; the
        // parsed-claims cache is a OnceLock, so a shared borrow is sound with other threads
        // calling this too.
        let token = unsafe { arg_ref(token, "token")? };
        // SAFETY: (`pointer`, `pointer_len`) is a string in: NULL with length 0 or
        // `pointer_len` readable bytes, unchanged during the call; the borrow is not kept.
        let pointer = json_pointer(unsafe { arg_str(pointer, pointer_len, "pointer")? })?;
        let text = get(&token.verified, pointer).ok_or_else(missing_claim)?;
        // SAFETY: `buf`, `buf_len` and `len` are as this function's contract requires.
        unsafe { text_out(&text, buf, buf_len, len) }
    };
    // SAFETY: `err` is NULL or a writable `jwks_error **`, by this function's contract.
    unsafe { boundary(err, call) }
}

/// Writes `text`'s length to `*len` and, if it fits, the text to `buf` (no NUL).
///
/// # Safety
///
/// `len` must be NULL (refused) or a writable `size_t *` that nothing else uses during the
/// call; `buf` must be NULL (allowed only with `buf_len` 0) or valid for writing `buf_len`
/// bytes, not overlapping `text`.
unsafe fn text_out(
    text: &str,
    buf: *mut libc::c_char,
    buf_len: usize,
    len: *mut usize,
) -> Result<(), Error> {
    // SAFETY: by this function's contract `len` is NULL (refused) or writable.
    let len = unsafe { len.as_mut() }.ok_or_else(|| super::null_arg("len"))?;
    if buf.is_null() && buf_len > 0 {
        return Err(super::null_arg("buf"));
    }
    *len = text.len();
    if !text.is_empty() && text.len() <= buf_len {
        // SAFETY: 0 < text.len() <= buf_len, so buf_len > 0 and `buf` is not NULL (refused
        // above); the contract gives `buf_len` writable bytes at `buf`. The source is our own
        // string, so the regions cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len()) };
    }
    Ok(())
}

/// The header's kid, or NULL if it had none. Lent as jwks_token_claims. The issuer chose it,
/// and it may hold any character: escape it with jwks_header_value_escape before it goes
/// into a header.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_kid(
    token: *const jwks_token,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `token` to be NULL or a live token (not yet passed to
    // jwks_token_free) and `len` to be NULL or a writable `size_t *`.
    unsafe { token_text(token, len, |v| v.texts().kid_c()) }
}

/// The header's alg, e.g. "RS256". Lent as jwks_token_claims.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_alg(
    token: *const jwks_token,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `token` to be NULL or a live token (not yet passed to
    // jwks_token_free) and `len` to be NULL or a writable `size_t *`.
    unsafe { token_text(token, len, |v| Some(v.alg().c_name().as_bytes())) }
}

/// The header's typ, or NULL if it had none. Lent as jwks_token_claims; escape it as the
/// kid before it goes into a header.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_typ(
    token: *const jwks_token,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `token` to be NULL or a live token (not yet passed to
    // jwks_token_free) and `len` to be NULL or a writable `size_t *`.
    unsafe { token_text(token, len, |v| v.texts().typ_c()) }
}

/// The key that verified the token, lent until jwks_token_free (do not free it); NULL if token
/// is NULL.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_key(token: *const jwks_token) -> *const jwks_key {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the header requires `token` to be NULL (None) or a live token; the key's C
        // form is made once in a OnceLock, so concurrent callers share one `jwks_key`, lent
        // until jwks_token_free.
        unsafe { token.as_ref() }.map_or(std::ptr::null(), |t| {
            t.key_c.get_or_init(|| jwks_key::new(t.verified.key())) as *const jwks_key
        })
    })
}

/// Whether the token was verified with a key from a stale set: past its lifespan (within
/// max_stale), serving while it is refreshed in the background or because refreshing it
/// failed. The token is valid; the caller may still decide to treat it differently. False for
/// a NULL token. Never blocks; thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_stale(token: *const jwks_token) -> bool {
    boundary_or(false, || {
        // SAFETY: the header requires `token` to be NULL (false) or a live token, only read
        // here.
        unsafe { token.as_ref() }.is_some_and(|t| t.verified.stale())
    })
}

/// Frees a verified token and everything it lends. NULL is a no-op; freeing twice is undefined
/// behaviour.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_free(token: *mut jwks_token) {
    boundary_or((), || {
        if !token.is_null() {
            // SAFETY: a non-NULL `token` came from jwks_token::into_raw (Box::into_raw), and
            // the header makes this its one free, with no other use during or after it; the
            // texts and key it lent go with it.
            drop(unsafe { Box::from_raw(token) });
        }
    })
}
