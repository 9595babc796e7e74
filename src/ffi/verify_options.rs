//! `jwks_verify_options`: per-call overrides of the client's verification settings.

use std::time::Duration;

use super::options::parse_algorithms;
use super::{
    arg_mut, arg_ref, arg_str, boundary, boundary_or, jwks_client, jwks_error, jwks_status,
};
use crate::error::Error;
use crate::jose::validation::VerifyOptions;

/// Per-call verification settings for jwks_client_verify. Each setting that is set replaces the
/// client's; algorithms can only narrow the client's list, so HMAC or any other algorithm the
/// client does not allow can never be switched on per call. Made by jwks_verify_options_new,
/// freed by jwks_verify_options_free. May be shared by many threads for jwks_client_verify once
/// it is no longer changed; do not change it while a verify uses it.
pub struct jwks_verify_options {
    pub(crate) inner: VerifyOptions,
}

/// Makes an empty per-call settings object (everything from the client). Never returns NULL.
#[no_mangle]
pub extern "C" fn jwks_verify_options_new() -> *mut jwks_verify_options {
    boundary_or(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(jwks_verify_options {
            inner: VerifyOptions::default(),
        }))
    })
}

/// Frees a per-call settings object. NULL is a no-op; freeing twice is undefined behaviour.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_free(options: *mut jwks_verify_options) {
    boundary_or((), || {
        if !options.is_null() {
            // SAFETY: a non-NULL `options` came from jwks_verify_options_new (Box::into_raw),
            // and the header makes this its one free, with no verify still using it.
            drop(unsafe { Box::from_raw(options) });
        }
    })
}

/// Applies `f` to the per-call settings behind the boundary.
///
/// # Safety
///
/// `options` must be NULL (refused) or point to a live `jwks_verify_options` from
/// jwks_verify_options_new that nothing else reads, writes or frees during the call (no
/// jwks_client_verify may be using it); `err` as for [`boundary`].
unsafe fn set(
    options: *mut jwks_verify_options,
    err: *mut *mut jwks_error,
    f: impl FnOnce(&mut VerifyOptions) -> Result<(), Error>,
) -> jwks_status {
    let call = || {
        // SAFETY: by this function's contract `options` is NULL or a live settings object
        // no one else uses during the call, so the unique borrow (ended when `f` returns)
        // is sound.
        let o = unsafe { arg_mut(options, "options")? };
        f(&mut o.inner)
    };
    // SAFETY: `err` is passed on under this function's own contract, which is boundary's.
    unsafe { boundary(err, call) }
}

/// Replaces the leeway for exp and nbf.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_leeway_ms(
    options: *mut jwks_verify_options,
    leeway_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut VerifyOptions| {
        o.leeway = Some(Duration::from_millis(leeway_ms));
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live per-call settings object that no
    // verify or other thread uses while it changes, and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Replaces the exp check switch.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_verify_exp(
    options: *mut jwks_verify_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut VerifyOptions| {
        o.verify_exp = Some(enabled);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live per-call settings object that no
    // verify or other thread uses while it changes, and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Replaces the nbf check switch.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_verify_nbf(
    options: *mut jwks_verify_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut VerifyOptions| {
        o.verify_nbf = Some(enabled);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live per-call settings object that no
    // verify or other thread uses while it changes, and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Replaces the iat check switch (jwks_options_set_verify_iat).
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_verify_iat(
    options: *mut jwks_verify_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut VerifyOptions| {
        o.verify_iat = Some(enabled);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live per-call settings object that no
    // verify or other thread uses while it changes, and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Replaces the aud check switch.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_verify_aud(
    options: *mut jwks_verify_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut VerifyOptions| {
        o.verify_aud = Some(enabled);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live per-call settings object that no
    // verify or other thread uses while it changes, and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Replaces the iss check switch.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_verify_iss(
    options: *mut jwks_verify_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut VerifyOptions| {
        o.verify_iss = Some(enabled);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live per-call settings object that no
    // verify or other thread uses while it changes, and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Adds an accepted audience; the first call replaces the client's audiences. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_add_audience(
    options: *mut jwks_verify_options,
    audience: *const libc::c_char,
    audience_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut VerifyOptions| {
        // SAFETY: (`audience`, `audience_len`) is a string in: by the header's convention
        // `audience` is NULL with length 0 or points to `audience_len` readable bytes, unchanged
        // during the call; the setter copies the text, so the borrow does not outlive the call.
        let aud = unsafe { arg_str(audience, audience_len, "audience")? };
        o.audience.get_or_insert_with(Vec::new).push(aud.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live per-call settings object that no
    // verify or other thread uses while it changes, and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Replaces the expected issuer. Copied. An empty issuer is JWKS_ERR_INVALID_ARGUMENT (to skip
/// the check for one call, use jwks_verify_options_set_verify_iss).
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_issuer(
    options: *mut jwks_verify_options,
    issuer: *const libc::c_char,
    issuer_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut VerifyOptions| {
        // SAFETY: (`issuer`, `issuer_len`) is a string in: by the header's convention `issuer` is
        // NULL with length 0 or points to `issuer_len` readable bytes, unchanged during the call;
        // the setter copies the text, so the borrow does not outlive the call.
        let iss = unsafe { arg_str(issuer, issuer_len, "issuer")? };
        if iss.is_empty() {
            return Err(Error::invalid_argument("per-call issuer is empty"));
        }
        o.issuer = Some(iss.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live per-call settings object that no
    // verify or other thread uses while it changes, and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Narrows the allowed algorithms to those of the client that are in this list (e.g.
/// "ES256"). A list sharing none with the client's makes jwks_client_verify fail with
/// JWKS_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_algorithms(
    options: *mut jwks_verify_options,
    algorithms: *const libc::c_char,
    algorithms_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut VerifyOptions| {
        // SAFETY: (`algorithms`, `algorithms_len`) is a string in: by the header's convention
        // `algorithms` is NULL with length 0 or points to `algorithms_len` readable bytes,
        // unchanged during the call; the setter copies the text, so the borrow does not outlive the
        // call.
        let list = unsafe { arg_str(algorithms, algorithms_len, "algorithms")? };
        o.algorithms = Some(parse_algorithms(list)?);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live per-call settings object that no
    // verify or other thread uses while it changes, and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Adds an allowed typ; the first call replaces the client's list. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_add_typ(
    options: *mut jwks_verify_options,
    typ: *const libc::c_char,
    typ_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut VerifyOptions| {
        // SAFETY: (`typ`, `typ_len`) is a string in: by the header's convention `typ` is NULL with
        // length 0 or points to `typ_len` readable bytes, unchanged during the call; the setter
        // copies the text, so the borrow does not outlive the call.
        let typ = unsafe { arg_str(typ, typ_len, "typ")? };
        o.typ.get_or_insert_with(Vec::new).push(typ.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live per-call settings object that no
    // verify or other thread uses while it changes, and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Adds a required claim; the first call replaces the client's list. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_add_required_claim(
    options: *mut jwks_verify_options,
    claim: *const libc::c_char,
    claim_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut VerifyOptions| {
        // SAFETY: (`claim`, `claim_len`) is a string in: by the header's convention `claim` is NULL
        // with length 0 or points to `claim_len` readable bytes, unchanged during the call; the
        // setter copies the text, so the borrow does not outlive the call.
        let claim = unsafe { arg_str(claim, claim_len, "claim")? };
        if claim.is_empty() {
            return Err(Error::invalid_argument("required claim name is empty"));
        }
        o.required_claims
            .get_or_insert_with(Vec::new)
            .push(claim.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live per-call settings object that no
    // verify or other thread uses while it changes, and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Whether `options` can ever verify with `client`: JWKS_OK, or JWKS_ERR_INVALID_ARGUMENT with
/// the reason every jwks_client_verify with them would give (per-call algorithms that share
/// none with the client's allowed ones, such as "HS256" on a client without symmetric keys).
/// For configuration checks (nginx -t, Envoy's config load), so that a setting that can never
/// verify fails there rather than on every request. A NULL client or options is
/// JWKS_ERR_INVALID_ARGUMENT; neither is changed or taken. Never blocks; thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_check_verify_options(
    client: *const jwks_client,
    options: *const jwks_verify_options,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: the header requires `client` to be NULL (refused here) or a live client that
        // no thread frees during the call; the client is thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        // SAFETY: the header requires `options` to be NULL (refused here) or a live per-call
        // settings object that no thread changes during the call.
        let options = unsafe { arg_ref(options, "options")? };
        client.inner.check_verify_options(&options.inner)
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`.
    unsafe { boundary(err, call) }
}
