//! `jwks_token`: the result of a successful verification.

use super::key::jwks_key;
use super::{boundary_or, lend_opt, CText};
use crate::client::Verified;

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

/// Whether the token was verified with a key from a stale set: past its lifespan, kept
/// serving because refreshing it failed (within max_stale). The token is valid; the caller may
/// still decide to treat it differently. False for a NULL token.
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
