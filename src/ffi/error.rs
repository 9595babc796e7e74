//! Status codes, error objects, version.

use std::ffi::CStr;

use super::{boundary, boundary_or, CText};
use crate::error::{Error, ErrorKind};

/// The result of every fallible call. Values are stable and never renumbered; new codes may be
/// added, so treat any unknown non-zero value as a failure.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum jwks_status {
    /// Success.
    JWKS_OK = 0,
    /// A NULL, malformed or out-of-range argument, or an invalid combination of options.
    JWKS_ERR_INVALID_ARGUMENT = 1,
    /// The JWKS server could not be reached (DNS, connection refused or reset).
    JWKS_ERR_CONNECTION = 2,
    /// The request did not complete within the timeout.
    JWKS_ERR_TIMEOUT = 3,
    /// TLS handshake or certificate verification failed.
    JWKS_ERR_TLS = 4,
    /// The server answered with a non-2xx HTTP status.
    JWKS_ERR_HTTP_STATUS = 5,
    /// The response is not a JWK Set.
    JWKS_ERR_INVALID_JWKS = 6,
    /// The JWK Set holds no usable signing key.
    JWKS_ERR_NO_SIGNING_KEYS = 7,
    /// No usable key has the requested kid (the message says "rate-limited" when the refetch
    /// was skipped because one happened less than min_refetch_interval ago).
    JWKS_ERR_KEY_NOT_FOUND = 8,
    /// The token is not a well-formed compact JWS (or a claim has the wrong type).
    JWKS_ERR_MALFORMED_TOKEN = 9,
    /// The token header has no kid and allow_missing_kid is off.
    JWKS_ERR_MISSING_KID = 10,
    /// The token's alg is not implemented by libjwks.
    JWKS_ERR_UNSUPPORTED_ALGORITHM = 11,
    /// The token's alg is not allowed (alg none, HMAC, not in the allow-list, or not fitting
    /// the key's type, curve or alg).
    JWKS_ERR_ALGORITHM_NOT_ALLOWED = 12,
    /// The signature does not verify.
    JWKS_ERR_BAD_SIGNATURE = 13,
    /// exp is in the past, beyond the leeway.
    JWKS_ERR_EXPIRED = 14,
    /// nbf is in the future, beyond the leeway.
    JWKS_ERR_NOT_YET_VALID = 15,
    /// aud matches none of the expected audiences.
    JWKS_ERR_WRONG_AUDIENCE = 16,
    /// iss is not the expected issuer.
    JWKS_ERR_WRONG_ISSUER = 17,
    /// typ is not one of the allowed values.
    JWKS_ERR_WRONG_TYP = 18,
    /// A required claim (exp by default, aud/iss when checked, or a configured one) is absent.
    JWKS_ERR_MISSING_CLAIM = 19,
    /// The token header has a crit parameter libjwks does not implement.
    JWKS_ERR_UNSUPPORTED_CRITICAL = 20,
    /// The JWKS response exceeds max_response_bytes.
    JWKS_ERR_RESPONSE_TOO_LARGE = 21,
    /// Too many redirects, or a redirect the transport rules refuse (https to http, or plain
    /// http to a non-loopback host).
    JWKS_ERR_REDIRECT = 22,
    /// The token exceeds max_token_bytes.
    JWKS_ERR_TOKEN_TOO_LARGE = 23,
    /// Discovery mode: the token's issuer is not an allowed (or static) issuer. Refused before
    /// any request.
    JWKS_ERR_ISSUER_NOT_ALLOWED = 24,
    /// Discovery mode: the issuer's configuration could not be used; the message says why
    /// (HTTP or transport error, not JSON, issuer mismatch, no jwks_uri, not https).
    JWKS_ERR_DISCOVERY = 25,
    /// The client is used in a process other than the one that made it (after fork): make
    /// clients in each worker after forking (nginx: init_process).
    JWKS_ERR_FORKED = 26,
    /// Not a failure: a non-blocking call (jwks_client_verify_nonblocking) could not answer
    /// from the cache and started a fetch in the background; call again later.
    JWKS_PENDING = 27,
    /// An asynchronous verification was not run: the client was freed first (the callback
    /// gets this status), or it is shutting down or overloaded (returned at once, no callback).
    JWKS_ERR_CANCELLED = 28,
    /// A bug in libjwks (for example a panic caught at the boundary). Please report it.
    JWKS_ERR_INTERNAL = 100,
}

impl jwks_status {
    pub(crate) fn from_kind(kind: ErrorKind) -> jwks_status {
        use jwks_status::*;
        match kind {
            ErrorKind::InvalidArgument => JWKS_ERR_INVALID_ARGUMENT,
            ErrorKind::Connection => JWKS_ERR_CONNECTION,
            ErrorKind::Timeout => JWKS_ERR_TIMEOUT,
            ErrorKind::Tls => JWKS_ERR_TLS,
            ErrorKind::HttpStatus => JWKS_ERR_HTTP_STATUS,
            ErrorKind::InvalidJwks => JWKS_ERR_INVALID_JWKS,
            ErrorKind::NoSigningKeys => JWKS_ERR_NO_SIGNING_KEYS,
            ErrorKind::KeyNotFound => JWKS_ERR_KEY_NOT_FOUND,
            ErrorKind::MalformedToken => JWKS_ERR_MALFORMED_TOKEN,
            ErrorKind::MissingKid => JWKS_ERR_MISSING_KID,
            ErrorKind::UnsupportedAlgorithm => JWKS_ERR_UNSUPPORTED_ALGORITHM,
            ErrorKind::AlgorithmNotAllowed => JWKS_ERR_ALGORITHM_NOT_ALLOWED,
            ErrorKind::BadSignature => JWKS_ERR_BAD_SIGNATURE,
            ErrorKind::Expired => JWKS_ERR_EXPIRED,
            ErrorKind::NotYetValid => JWKS_ERR_NOT_YET_VALID,
            ErrorKind::WrongAudience => JWKS_ERR_WRONG_AUDIENCE,
            ErrorKind::WrongIssuer => JWKS_ERR_WRONG_ISSUER,
            ErrorKind::WrongTyp => JWKS_ERR_WRONG_TYP,
            ErrorKind::MissingClaim => JWKS_ERR_MISSING_CLAIM,
            ErrorKind::UnsupportedCritical => JWKS_ERR_UNSUPPORTED_CRITICAL,
            ErrorKind::ResponseTooLarge => JWKS_ERR_RESPONSE_TOO_LARGE,
            ErrorKind::Redirect => JWKS_ERR_REDIRECT,
            ErrorKind::TokenTooLarge => JWKS_ERR_TOKEN_TOO_LARGE,
            ErrorKind::IssuerNotAllowed => JWKS_ERR_ISSUER_NOT_ALLOWED,
            ErrorKind::Discovery => JWKS_ERR_DISCOVERY,
            ErrorKind::Forked => JWKS_ERR_FORKED,
            ErrorKind::Pending => JWKS_PENDING,
            ErrorKind::Cancelled => JWKS_ERR_CANCELLED,
            ErrorKind::Internal => JWKS_ERR_INTERNAL,
        }
    }
}

/// Details of a failure: its status and a message for logs (never containing token or key
/// bytes). Created by the library, freed with jwks_error_free.
pub struct jwks_error {
    status: jwks_status,
    message: CText,
}

impl jwks_error {
    pub(crate) fn into_raw(e: Error) -> *mut jwks_error {
        Box::into_raw(Box::new(jwks_error {
            status: jwks_status::from_kind(e.kind()),
            message: CText::new(e.message()),
        }))
    }
}

/// The status this error was returned with. A NULL error gives JWKS_ERR_INVALID_ARGUMENT.
/// Never blocks; thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_error_status(error: *const jwks_error) -> jwks_status {
    boundary_or(jwks_status::JWKS_ERR_INTERNAL, || {
        // SAFETY: the header requires `error` to be NULL (None) or a live error object, which
        // is immutable and so may be read from any thread.
        unsafe { error.as_ref() }.map_or(jwks_status::JWKS_ERR_INVALID_ARGUMENT, |e| e.status)
    })
}

/// The error's message: NUL-terminated UTF-8, lent until jwks_error_free(error). A NULL error
/// gives "". Never blocks; thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_error_message(error: *const jwks_error) -> *const libc::c_char {
    // SAFETY: the header requires `error` to be NULL (None) or a live, immutable error object;
    // the message is lent from it until jwks_error_free.
    boundary_or(c"".as_ptr(), || match unsafe { error.as_ref() } {
        // SAFETY: a NULL `len` is allowed by lend's contract: no length is written.
        Some(e) => unsafe { e.message.lend(std::ptr::null_mut()) },
        None => c"".as_ptr(),
    })
}

/// Frees an error object. NULL is a no-op; freeing twice is undefined behaviour.
#[no_mangle]
pub unsafe extern "C" fn jwks_error_free(error: *mut jwks_error) {
    boundary_or((), || {
        if !error.is_null() {
            // SAFETY: a non-NULL `error` came from jwks_error::into_raw (Box::into_raw), and
            // the header makes this its one free, with no other use during or after it.
            drop(unsafe { Box::from_raw(error) });
        }
    })
}

/// The constant's name for a status value, e.g. "JWKS_ERR_EXPIRED"; "JWKS_ERR_UNKNOWN" for a
/// value this version does not define. The string is static. Never blocks; thread-safe.
#[no_mangle]
pub extern "C" fn jwks_status_str(status: libc::c_int) -> *const libc::c_char {
    // The names come from the jwks_status enum above, read by build.rs: the table is written
    // once.
    let name: &'static CStr = include!(concat!(env!("OUT_DIR"), "/status_names.rs"));
    name.as_ptr()
}

/// What a status means for a request being authenticated, as an HTTP server answers it. Every
/// status has one; servers map these rather than lists of statuses, so that a status added
/// later lands in the right answer.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum jwks_outcome {
    /// JWKS_OK: the token verified.
    JWKS_OUTCOME_VERIFIED = 0,
    /// The token is refused (malformed, expired, bad signature, unknown key, wrong audience,
    /// ...): the client's fault; HTTP 401.
    JWKS_OUTCOME_REJECTED = 1,
    /// The keys cannot be had now (the identity provider unreachable or broken with no usable
    /// cached set, or the library overloaded): not the token's fault; HTTP 503, try again
    /// later.
    JWKS_OUTCOME_KEYS_UNAVAILABLE = 2,
    /// Misuse or a bug on this side (an invalid argument, a client used after fork, a
    /// libjwks bug, a status this version does not define): HTTP 500.
    JWKS_OUTCOME_INTERNAL = 3,
    /// JWKS_PENDING: no answer yet; ask again later (or wait for the callback).
    JWKS_OUTCOME_PENDING = 4,
}

/// The outcome of a status (see jwks_outcome); JWKS_OUTCOME_INTERNAL for a value this
/// version does not define. Never blocks; thread-safe.
#[no_mangle]
pub extern "C" fn jwks_status_outcome(status: libc::c_int) -> jwks_outcome {
    use jwks_outcome::*;
    use jwks_status::*;
    // The int-to-status table comes from the jwks_status enum above, read by build.rs.
    let known: Option<jwks_status> = include!(concat!(env!("OUT_DIR"), "/status_values.rs"));
    let Some(status) = known else {
        return JWKS_OUTCOME_INTERNAL;
    };
    match status {
        JWKS_OK => JWKS_OUTCOME_VERIFIED,
        JWKS_PENDING => JWKS_OUTCOME_PENDING,
        JWKS_ERR_CONNECTION
        | JWKS_ERR_TIMEOUT
        | JWKS_ERR_TLS
        | JWKS_ERR_HTTP_STATUS
        | JWKS_ERR_INVALID_JWKS
        | JWKS_ERR_NO_SIGNING_KEYS
        | JWKS_ERR_RESPONSE_TOO_LARGE
        | JWKS_ERR_REDIRECT
        | JWKS_ERR_DISCOVERY
        | JWKS_ERR_CANCELLED => JWKS_OUTCOME_KEYS_UNAVAILABLE,
        JWKS_ERR_INVALID_ARGUMENT | JWKS_ERR_FORKED | JWKS_ERR_INTERNAL => JWKS_OUTCOME_INTERNAL,
        JWKS_ERR_KEY_NOT_FOUND
        | JWKS_ERR_MALFORMED_TOKEN
        | JWKS_ERR_MISSING_KID
        | JWKS_ERR_UNSUPPORTED_ALGORITHM
        | JWKS_ERR_ALGORITHM_NOT_ALLOWED
        | JWKS_ERR_BAD_SIGNATURE
        | JWKS_ERR_EXPIRED
        | JWKS_ERR_NOT_YET_VALID
        | JWKS_ERR_WRONG_AUDIENCE
        | JWKS_ERR_WRONG_ISSUER
        | JWKS_ERR_WRONG_TYP
        | JWKS_ERR_MISSING_CLAIM
        | JWKS_ERR_UNSUPPORTED_CRITICAL
        | JWKS_ERR_TOKEN_TOO_LARGE
        | JWKS_ERR_ISSUER_NOT_ALLOWED => JWKS_OUTCOME_REJECTED,
    }
}

/// The library version, e.g. "0.1.0" (equal to JWKS_VERSION_STRING of the header it was built
/// with). The string is static.
#[no_mangle]
pub extern "C" fn jwks_version() -> *const libc::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Test hook for the panic boundary: panics inside the library, which must come back as
/// JWKS_ERR_INTERNAL with an error object, never as a crash. Prints a panic message to stderr.
/// Not for production use.
#[no_mangle]
pub unsafe extern "C" fn jwks_debug_trigger_panic(err: *mut *mut jwks_error) -> jwks_status {
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives
    // the JWKS_ERR_INTERNAL error made from the panic.
    unsafe { boundary(err, || panic!("jwks_debug_trigger_panic called")) }
}
