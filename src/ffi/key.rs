//! `jwks_key` and `jwks_key_set`: keys lent to C with their JWK, PEM and DER forms.

use std::sync::Arc;

use super::{boundary_or, lend_opt, CText};
use crate::jose::keys::{Key, KeySet};

/// One signing key. Owned (`jwks_key *`, from jwks_client_get_signing_key*) or lent by a set
/// or a token (`const jwks_key *`). Immutable, so safe to read from many threads. It outlives
/// the client that made it.
pub struct jwks_key {
    kid: Option<CText>,
    alg: Option<CText>,
    kty: CText,
    key_use: Option<CText>,
    jwk_json: CText,
    pem: CText,
    der: Box<[u8]>,
    algorithms: CText,
}

impl jwks_key {
    pub(crate) fn new(key: &Arc<Key>) -> jwks_key {
        jwks_key {
            kid: key.kid().map(CText::new),
            alg: key.alg().map(|a| CText::new(a.name())),
            kty: CText::new(key.kty()),
            key_use: key.key_use().map(CText::new),
            jwk_json: CText::new(key.jwk_json()),
            pem: CText::new(key.public_key_pem()),
            der: key.public_key_der().into(),
            algorithms: CText::new(
                &key.algorithms()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        }
    }

    pub(crate) fn into_raw(key: &Arc<Key>) -> *mut jwks_key {
        Box::into_raw(Box::new(jwks_key::new(key)))
    }
}

/// A JWK Set: its usable signing keys and its JSON text. Made by jwks_client_get_jwk_set,
/// jwks_client_get_signing_keys or jwks_client_fetch_data; freed by jwks_key_set_free.
/// Immutable, so safe to read from many threads. It outlives the client that made it.
pub struct jwks_key_set {
    keys: Vec<jwks_key>,
    skipped: usize,
    json: CText,
}

impl jwks_key_set {
    pub(crate) fn into_raw(set: &KeySet) -> *mut jwks_key_set {
        Box::into_raw(Box::new(jwks_key_set {
            keys: set.keys().iter().map(jwks_key::new).collect(),
            skipped: set.skipped().len(),
            json: CText::new(set.json()),
        }))
    }
}

/// Lends the text `get` picks from `key`: NULL (and length 0) when `key` is NULL or the text is
/// absent.
///
/// # Safety
///
/// `key` must be NULL or point to a live `jwks_key` (owned, or lent by a live set or token),
/// and `len` must be NULL or valid for writing one `usize`. The pointer returned borrows from
/// `*key` and is valid until that key (or what lends it) is freed.
unsafe fn key_text(
    key: *const jwks_key,
    len: *mut usize,
    get: impl FnOnce(&jwks_key) -> Option<&CText>,
) -> *const libc::c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: by this function's contract `key` is NULL (None) or a live key; keys are
        // immutable, so a shared borrow is sound even with other threads reading it.
        let text = unsafe { key.as_ref() }.and_then(get);
        // SAFETY: `len` is NULL or writable, by this function's contract.
        unsafe { lend_opt(text, len) }
    })
}

/// The key's kid, or NULL if it has none (or key is NULL). NUL-terminated; its length is
/// written to `*len` unless len is NULL. Lent until the key (or the set or token lending it)
/// is freed. Never blocks; thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_kid(
    key: *const jwks_key,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `key` to be NULL or a live key (owned, or lent by a set or
    // token not yet freed) and `len` to be NULL or a writable `size_t *`.
    unsafe { key_text(key, len, |k| k.kid.as_ref()) }
}

/// The JWK's own alg (e.g. "RS256"), or NULL if it names none. Lent as jwks_key_kid.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_alg(
    key: *const jwks_key,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `key` to be NULL or a live key (owned, or lent by a set or
    // token not yet freed) and `len` to be NULL or a writable `size_t *`.
    unsafe { key_text(key, len, |k| k.alg.as_ref()) }
}

/// The JWK's kty: "RSA", "EC", "OKP" or "oct". Lent as jwks_key_kid.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_kty(
    key: *const jwks_key,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `key` to be NULL or a live key (owned, or lent by a set or
    // token not yet freed) and `len` to be NULL or a writable `size_t *`.
    unsafe { key_text(key, len, |k| Some(&k.kty)) }
}

/// The JWK's use ("sig"), or NULL if absent. Lent as jwks_key_kid.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_use(
    key: *const jwks_key,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `key` to be NULL or a live key (owned, or lent by a set or
    // token not yet freed) and `len` to be NULL or a writable `size_t *`.
    unsafe { key_text(key, len, |k| k.key_use.as_ref()) }
}

/// The key as compact JWK JSON. Lent as jwks_key_kid.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_jwk_json(
    key: *const jwks_key,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `key` to be NULL or a live key (owned, or lent by a set or
    // token not yet freed) and `len` to be NULL or a writable `size_t *`.
    unsafe { key_text(key, len, |k| Some(&k.jwk_json)) }
}

/// The public key as PEM ("-----BEGIN PUBLIC KEY-----"), ready for OpenSSL's
/// PEM_read_bio_PUBKEY; "" for oct keys. Lent as jwks_key_kid.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_pem(
    key: *const jwks_key,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `key` to be NULL or a live key (owned, or lent by a set or
    // token not yet freed) and `len` to be NULL or a writable `size_t *`.
    unsafe { key_text(key, len, |k| Some(&k.pem)) }
}

/// The algorithms this key may verify, comma-separated (e.g. "RS256,PS256"): those fitting its
/// type, curve and JWK alg that the client allows. Lent as jwks_key_kid.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_algorithms(
    key: *const jwks_key,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `key` to be NULL or a live key (owned, or lent by a set or
    // token not yet freed) and `len` to be NULL or a writable `size_t *`.
    unsafe { key_text(key, len, |k| Some(&k.algorithms)) }
}

/// The public key as DER SubjectPublicKeyInfo (for OpenSSL's d2i_PUBKEY); its length goes to
/// `*len` unless len is NULL. NULL (and length 0) for oct keys or a NULL key. Lent until the key
/// is freed.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_der(key: *const jwks_key, len: *mut usize) -> *const u8 {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the header requires `key` to be NULL (None) or a live key; keys are
        // immutable, so a shared borrow is sound while other threads read it too.
        let der = unsafe { key.as_ref() }.map_or(&[][..], |k| &k.der[..]);
        // SAFETY: the header requires `len` to be NULL (None) or a writable `size_t *` that
        // nothing else uses during the call.
        if let Some(len) = unsafe { len.as_mut() } {
            *len = der.len();
        }
        if der.is_empty() {
            std::ptr::null()
        } else {
            der.as_ptr()
        }
    })
}

/// Frees a key from jwks_client_get_signing_key*. NULL is a no-op. Never pass a key lent by a
/// set or a token (a `const jwks_key *`); freeing twice is undefined behaviour.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_free(key: *mut jwks_key) {
    boundary_or((), || {
        if !key.is_null() {
            // SAFETY: the header allows only keys from jwks_client_get_signing_key* here (made
            // by jwks_key::into_raw, never one lent by a set or token), each freed once, with
            // no other use during or after.
            drop(unsafe { Box::from_raw(key) });
        }
    })
}

/// The number of usable signing keys in the set (0 if set is NULL).
#[no_mangle]
pub unsafe extern "C" fn jwks_key_set_len(set: *const jwks_key_set) -> usize {
    // SAFETY: the header requires `set` to be NULL (0) or a live, immutable key set.
    boundary_or(0, || unsafe { set.as_ref() }.map_or(0, |s| s.keys.len()))
}

/// The number of keys the set lists that libjwks skipped (unsupported type or curve, private
/// material, use other than sig, RSA outside 2048..8192 bits, ...). 0 if set is NULL.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_set_skipped(set: *const jwks_key_set) -> usize {
    // SAFETY: the header requires `set` to be NULL (0) or a live, immutable key set.
    boundary_or(0, || unsafe { set.as_ref() }.map_or(0, |s| s.skipped))
}

/// The key at `index` (0 ≤ index < jwks_key_set_len), lent until the set is freed; NULL when
/// out of range or set is NULL. Do not free it.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_set_get(
    set: *const jwks_key_set,
    index: usize,
) -> *const jwks_key {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the header requires `set` to be NULL (None) or a live, immutable key set;
        // the key returned is lent from it, valid until jwks_key_set_free.
        unsafe { set.as_ref() }
            .and_then(|s| s.keys.get(index))
            .map_or(std::ptr::null(), |k| k as *const jwks_key)
    })
}

/// The first key whose kid equals `kid` (PyJWT's match_kid), lent until the set is freed; NULL
/// when there is none or an argument is invalid.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_set_find(
    set: *const jwks_key_set,
    kid: *const libc::c_char,
    kid_len: usize,
) -> *const jwks_key {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the header requires `set` to be NULL (None) or a live, immutable key set.
        let set = unsafe { set.as_ref() };
        // SAFETY: (`kid`, `kid_len`) is a string in: by the header's convention `kid` is NULL
        // with length 0 or points to `kid_len` readable bytes, unchanged during the call; the
        // borrow is only compared, not kept.
        let kid = unsafe { super::arg_str(kid, kid_len, "kid") };
        let (Some(s), Ok(kid)) = (set, kid) else {
            return std::ptr::null();
        };
        s.keys
            .iter()
            .find(|k| k.kid.as_ref().is_some_and(|t| t.as_str() == kid))
            .map_or(std::ptr::null(), |k| k as *const jwks_key)
    })
}

/// The set's JSON text as the server sent it; NULL if set is NULL. Lent until the set is freed.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_set_json(
    set: *const jwks_key_set,
    len: *mut usize,
) -> *const libc::c_char {
    // SAFETY: the header requires `set` to be NULL (None) or a live, immutable key set, and
    // `len` to be NULL or a writable `size_t *`; the text is lent until the set is freed.
    boundary_or(std::ptr::null(), || unsafe {
        lend_opt(set.as_ref().map(|s| &s.json), len)
    })
}

/// Frees a key set and every key it lends. NULL is a no-op; freeing twice is undefined
/// behaviour.
#[no_mangle]
pub unsafe extern "C" fn jwks_key_set_free(set: *mut jwks_key_set) {
    boundary_or((), || {
        if !set.is_null() {
            // SAFETY: a non-NULL `set` came from jwks_key_set::into_raw (Box::into_raw), and
            // the header makes this its one free, with no other use during or after it; the
            // keys it lent go with it.
            drop(unsafe { Box::from_raw(set) });
        }
    })
}
