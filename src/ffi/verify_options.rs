//! `jwks_verify_options`: per-call overrides of the client's verification settings.

use std::time::Duration;

use super::options::parse_algorithms;
use super::{arg_mut, arg_str, boundary, boundary_or, jwks_error, jwks_status};
use crate::error::Error;
use crate::validation::VerifyOptions;

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
            // SAFETY: made by jwks_verify_options_new, freed once.
            drop(unsafe { Box::from_raw(options) });
        }
    })
}

fn set(
    options: *mut jwks_verify_options,
    err: *mut *mut jwks_error,
    f: impl FnOnce(&mut VerifyOptions) -> Result<(), Error>,
) -> jwks_status {
    boundary(err, || {
        let o = unsafe { arg_mut(options, "options")? };
        f(&mut o.inner)
    })
}

/// Replaces the leeway for exp and nbf.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_leeway_ms(
    options: *mut jwks_verify_options,
    leeway_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    set(options, err, |o| {
        o.leeway = Some(Duration::from_millis(leeway_ms));
        Ok(())
    })
}

/// Replaces the exp check switch.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_verify_exp(
    options: *mut jwks_verify_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    set(options, err, |o| {
        o.verify_exp = Some(enabled);
        Ok(())
    })
}

/// Replaces the nbf check switch.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_verify_nbf(
    options: *mut jwks_verify_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    set(options, err, |o| {
        o.verify_nbf = Some(enabled);
        Ok(())
    })
}

/// Replaces the iat check switch (jwks_options_set_verify_iat).
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_verify_iat(
    options: *mut jwks_verify_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    set(options, err, |o| {
        o.verify_iat = Some(enabled);
        Ok(())
    })
}

/// Replaces the aud check switch.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_verify_aud(
    options: *mut jwks_verify_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    set(options, err, |o| {
        o.verify_aud = Some(enabled);
        Ok(())
    })
}

/// Replaces the iss check switch.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_set_verify_iss(
    options: *mut jwks_verify_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    set(options, err, |o| {
        o.verify_iss = Some(enabled);
        Ok(())
    })
}

/// Adds an accepted audience; the first call replaces the client's audiences. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_add_audience(
    options: *mut jwks_verify_options,
    audience: *const libc::c_char,
    audience_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    set(options, err, |o| {
        let aud = unsafe { arg_str(audience, audience_len, "audience")? };
        o.audience.get_or_insert_with(Vec::new).push(aud.to_owned());
        Ok(())
    })
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
    set(options, err, |o| {
        let iss = unsafe { arg_str(issuer, issuer_len, "issuer")? };
        if iss.is_empty() {
            return Err(Error::invalid_argument("per-call issuer is empty"));
        }
        o.issuer = Some(iss.to_owned());
        Ok(())
    })
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
    set(options, err, |o| {
        let list = unsafe { arg_str(algorithms, algorithms_len, "algorithms")? };
        o.algorithms = Some(parse_algorithms(list)?);
        Ok(())
    })
}

/// Adds an allowed typ; the first call replaces the client's list. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_add_typ(
    options: *mut jwks_verify_options,
    typ: *const libc::c_char,
    typ_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    set(options, err, |o| {
        let typ = unsafe { arg_str(typ, typ_len, "typ")? };
        o.typ.get_or_insert_with(Vec::new).push(typ.to_owned());
        Ok(())
    })
}

/// Adds a required claim; the first call replaces the client's list. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_verify_options_add_required_claim(
    options: *mut jwks_verify_options,
    claim: *const libc::c_char,
    claim_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    set(options, err, |o| {
        let claim = unsafe { arg_str(claim, claim_len, "claim")? };
        if claim.is_empty() {
            return Err(Error::invalid_argument("required claim name is empty"));
        }
        o.required_claims
            .get_or_insert_with(Vec::new)
            .push(claim.to_owned());
        Ok(())
    })
}
