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
#[no_mangle]
pub unsafe extern "C" fn jwks_token_claims(
    token: *const jwks_token,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `token` to be NULL or a live token (not yet passed to
    // jwks_token_free) and `len` to be NULL or a writable `size_t *`.
    unsafe { token_text(token, len, |v| Some(v.texts().payload_c())) }
}

/// One claim as text, for headers and server variables: the value at `pointer`, an RFC 6901
/// JSON Pointer `(pointer, pointer_len)` ("/sub"; "/realm_access/roles" for a nested claim;
/// "/https:~1~1example.com~1roles" for a claim named by a URI, "~1" standing for "/" and "~0"
/// for "~"). A string is written as it is, a number or boolean as its JSON text, an array as
/// its elements so written joined by commas, an object as JSON.
///
/// On success writes the text's full length to `*len` and, if it fits (`buf_len >= *len`),
/// the text to `buf` (not NUL-terminated); otherwise writes nothing to `buf`: call again with
/// a buffer of `*len` bytes (`buf` may be NULL when `buf_len` is 0). JWKS_ERR_MISSING_CLAIM
/// when the claim is absent or null; JWKS_ERR_INVALID_ARGUMENT for NULL token or len, or a
/// pointer that is not UTF-8. Never blocks; thread-safe.
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
    let call = || {
        // SAFETY: the header requires `token` to be NULL (refused) or a live token; the
        // parsed-claims cache is a OnceLock, so a shared borrow is sound with other
        // threads calling this too.
        let token = unsafe { arg_ref(token, "token")? };
        // SAFETY: (`pointer`, `pointer_len`) is a string in: by the header's convention `pointer`
        // is NULL with length 0 or points to `pointer_len` readable bytes, unchanged during the
        // call; the borrow is not kept past the call.
        let pointer = unsafe { arg_str(pointer, pointer_len, "pointer")? };
        // SAFETY: the header requires `len` to be NULL (refused) or a writable `size_t *`
        // that nothing else uses during the call.
        let len = unsafe { len.as_mut() }.ok_or_else(|| super::null_arg("len"))?;
        if buf.is_null() && buf_len > 0 {
            return Err(super::null_arg("buf"));
        }
        let text = token.verified.claim(pointer).ok_or_else(|| {
            Error::new(
                ErrorKind::MissingClaim,
                "the token has no such claim (or it is null)",
            )
        })?;
        *len = text.len();
        if !text.is_empty() && text.len() <= buf_len {
            // SAFETY: 0 < text.len() <= buf_len, so buf_len > 0 and `buf` is not NULL
            // (refused above); the header requires `buf_len` writable bytes at `buf`. The
            // source is our own string, so the regions cannot overlap.
            unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len()) };
        }
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// The header's kid, or NULL if it had none. Lent as jwks_token_claims.
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

/// The header's typ, or NULL if it had none. Lent as jwks_token_claims.
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
