//! Which keys and tokens are accepted: symmetric keys, kid-less tokens, leeway, the claim checks, audiences, issuer, algorithms, typ and required claims.

use super::*;

/// Accepts oct (HMAC) keys from the JWK Set (default off: a published secret is no secret).
/// HS256/384/512 must then also be named in jwks_options_set_algorithms.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_allow_symmetric_keys(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.allow_symmetric_keys = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Tries a token without kid against the keys that fit its alg, at most 4 (default off:
/// JWKS_ERR_MISSING_KID).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_allow_missing_kid(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.allow_missing_kid = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Allowed clock skew for exp and nbf (default 60000 ms).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_leeway_ms(
    options: *mut jwks_options,
    leeway_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.validation.leeway = millis(leeway_ms);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Requires exp and rejects expired tokens (default on; PyJWT's verify_exp).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_verify_exp(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.validation.verify_exp = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Rejects tokens whose nbf is in the future (default on).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_verify_nbf(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.validation.verify_nbf = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Rejects tokens whose iat is in the future beyond the leeway, with JWKS_ERR_NOT_YET_VALID
/// (default off: RFC 7519 gives iat no validity meaning). A non-numeric iat is
/// JWKS_ERR_MALFORMED_TOKEN either way.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_verify_iat(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.validation.verify_iat = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Checks aud against the configured audiences when there are any (default on).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_verify_aud(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.validation.verify_aud = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Checks iss against the configured issuer when one is set (default on).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_verify_iss(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.validation.verify_iss = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Adds an accepted audience; a token passes when its aud contains any one of them. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_add_audience(
    options: *mut jwks_options,
    audience: *const libc::c_char,
    audience_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions, aud: &str| {
        o.validation.audience.push(aud.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call, `err` to be NULL or writable, and (`audience`, `audience_len`) to be
    // NULL with length 0 or `audience_len` readable bytes unchanged during the call; it is copied.
    unsafe { set_text(options, err, audience, audience_len, "audience", apply) }
}

/// Sets the expected issuer (exact match). Copied. An empty string removes it.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_issuer(
    options: *mut jwks_options,
    issuer: *const libc::c_char,
    issuer_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions, iss: &str| {
        o.validation.issuer = (!iss.is_empty()).then(|| iss.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call, `err` to be NULL or writable, and (`issuer`, `issuer_len`) to be
    // NULL with length 0 or `issuer_len` readable bytes unchanged during the call; it is copied.
    unsafe { set_text(options, err, issuer, issuer_len, "issuer", apply) }
}

/// Replaces the allowed algorithms with a list such as "RS256,ES256" (names as in JWS headers,
/// separated by commas or spaces). Default: RS256..RS512, PS256..PS512, ES256..ES512, EdDSA.
/// An unknown name or an empty list is JWKS_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_algorithms(
    options: *mut jwks_options,
    algorithms: *const libc::c_char,
    algorithms_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions, list: &str| {
        o.validation.algorithms = parse_algorithms(list)?;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call, `err` to be NULL or writable, and (`algorithms`, `algorithms_len`) to be
    // NULL with length 0 or `algorithms_len` readable bytes unchanged during the call; it is copied.
    unsafe {
        set_text(
            options,
            err,
            algorithms,
            algorithms_len,
            "algorithms",
            apply,
        )
    }
}

/// Adds an allowed typ header value (compared case-insensitively, "application/" ignored, so
/// "at+jwt" matches "application/at+jwt"). With none added, typ is not checked. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_add_typ(
    options: *mut jwks_options,
    typ: *const libc::c_char,
    typ_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions, typ: &str| {
        o.validation.typ.push(typ.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call, `err` to be NULL or writable, and (`typ`, `typ_len`) to be
    // NULL with length 0 or `typ_len` readable bytes unchanged during the call; it is copied.
    unsafe { set_text(options, err, typ, typ_len, "typ", apply) }
}

/// Adds a claim that must be present in every token. Copied.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_add_required_claim(
    options: *mut jwks_options,
    claim: *const libc::c_char,
    claim_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions, claim: &str| {
        if claim.is_empty() {
            return Err(Error::invalid_argument("required claim name is empty"));
        }
        o.validation.required_claims.push(claim.to_owned());
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call, `err` to be NULL or writable, and (`claim`, `claim_len`) to be
    // NULL with length 0 or `claim_len` readable bytes unchanged during the call; it is copied.
    unsafe { set_text(options, err, claim, claim_len, "claim", apply) }
}
