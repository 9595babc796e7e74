//! `jwks_token`: the result of a successful verification.

use super::key::jwks_key;
use super::{arg_ref, arg_str, boundary, boundary_or, jwks_error, jwks_status, lend_opt, CText};
use crate::client::Verified;
use crate::error::{Error, ErrorKind};

/// A verified token: its claims (the decoded JSON payload) and header fields. Made by
/// jwks_client_verify, freed by jwks_token_free. Immutable, so safe to read from many threads;
/// it outlives the client that made it.
pub struct jwks_token {
    claims: CText,
    kid: Option<CText>,
    alg: CText,
    typ: Option<CText>,
    /// The key, turned into its C form only if asked for (it copies JWK, PEM and DER).
    key: std::sync::Arc<crate::Key>,
    key_c: std::sync::OnceLock<jwks_key>,
    /// The claims parsed, on first use of jwks_token_claim.
    parsed: std::sync::OnceLock<serde_json::Value>,
    stale: bool,
}

impl jwks_token {
    pub(crate) fn into_raw(v: Verified) -> *mut jwks_token {
        Box::into_raw(Box::new(jwks_token {
            claims: CText::new(v.claims_json()),
            kid: v.kid().map(CText::new),
            alg: CText::new(v.alg().name()),
            typ: v.typ().map(CText::new),
            key: v.key().clone(),
            key_c: std::sync::OnceLock::new(),
            parsed: std::sync::OnceLock::new(),
            stale: v.stale(),
        }))
    }
}

fn token_text(
    token: *const jwks_token,
    len: *mut usize,
    get: impl FnOnce(&jwks_token) -> Option<&CText>,
) -> *const libc::c_char {
    boundary_or(std::ptr::null(), || {
        let text = unsafe { token.as_ref() }.and_then(get);
        unsafe { lend_opt(text, len) }
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
    token_text(token, len, |t| Some(&t.claims))
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
    boundary(err, || {
        let token = unsafe { arg_ref(token, "token")? };
        let pointer = unsafe { arg_str(pointer, pointer_len, "pointer")? };
        let len = unsafe { len.as_mut() }.ok_or_else(|| super::null_arg("len"))?;
        if buf.is_null() && buf_len > 0 {
            return Err(super::null_arg("buf"));
        }
        let claims = token.parsed.get_or_init(|| {
            serde_json::from_str(token.claims.as_str()).unwrap_or(serde_json::Value::Null)
        });
        let text = crate::claim_text(claims, pointer).ok_or_else(|| {
            Error::new(
                ErrorKind::MissingClaim,
                "the token has no such claim (or it is null)",
            )
        })?;
        *len = text.len();
        if !text.is_empty() && text.len() <= buf_len {
            // SAFETY: `buf` is non-NULL (buf_len > 0) with room for buf_len >= text.len() bytes.
            unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len()) };
        }
        Ok(())
    })
}

/// The header's kid, or NULL if it had none. Lent as jwks_token_claims.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_kid(
    token: *const jwks_token,
    len: *mut usize,
) -> *const libc::c_char {
    token_text(token, len, |t| t.kid.as_ref())
}

/// The header's alg, e.g. "RS256". Lent as jwks_token_claims.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_alg(
    token: *const jwks_token,
    len: *mut usize,
) -> *const libc::c_char {
    token_text(token, len, |t| Some(&t.alg))
}

/// The header's typ, or NULL if it had none. Lent as jwks_token_claims.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_typ(
    token: *const jwks_token,
    len: *mut usize,
) -> *const libc::c_char {
    token_text(token, len, |t| t.typ.as_ref())
}

/// The key that verified the token, lent until jwks_token_free (do not free it); NULL if token
/// is NULL.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_key(token: *const jwks_token) -> *const jwks_key {
    boundary_or(std::ptr::null(), || {
        unsafe { token.as_ref() }.map_or(std::ptr::null(), |t| {
            t.key_c.get_or_init(|| jwks_key::new(&t.key)) as *const jwks_key
        })
    })
}

/// Whether the token was verified with a key from a stale set: past its lifespan (within
/// max_stale), serving while it is refreshed in the background or because refreshing it
/// failed. The token is valid; the caller may still decide to treat it differently. False for
/// a NULL token. Never blocks; thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_stale(token: *const jwks_token) -> bool {
    boundary_or(false, || unsafe { token.as_ref() }.is_some_and(|t| t.stale))
}

/// Frees a verified token and everything it lends. NULL is a no-op; freeing twice is undefined
/// behaviour.
#[no_mangle]
pub unsafe extern "C" fn jwks_token_free(token: *mut jwks_token) {
    boundary_or((), || {
        if !token.is_null() {
            // SAFETY: made by jwks_token::into_raw, freed once.
            drop(unsafe { Box::from_raw(token) });
        }
    })
}
