//! The C-ABI fuzz target (fuzz/fuzz_targets/c_abi.rs) and what it needs: compiled only with
//! the `fuzzing` feature, on the C ABI's side, so that no core file names an `ffi` item and
//! no production build carries it (a test checks libjwks.a with nm).

use std::sync::OnceLock;

use crate::fuzzing::{header_safe, AUDIENCE, FIXED_JWKS, ISSUER, JWKS_URL};

/// A valid token for the fixed key set (RS256, aud fuzz, exp in 2100), for the C-ABI target's
/// calls that need one.
pub const FIXED_TOKEN: &str = include_str!("../../fuzz/fixed_token.txt");

struct CClient(*mut super::jwks_client);
// SAFETY: a jwks_client is thread-safe (include/jwks.h); the pointer is never freed.
unsafe impl Send for CClient {}
// SAFETY: as for Send: the client may be used from any thread at once.
unsafe impl Sync for CClient {}

unsafe extern "C" fn serve_fixed_keys(
    _user_data: *mut libc::c_void,
    _url: *const libc::c_char,
    _url_len: usize,
    _headers: *const super::jwks_http_header,
    _header_count: usize,
    response: *mut super::jwks_http_response,
) -> libc::c_int {
    // SAFETY: `response` is the live response object libjwks passes to its fetch callback.
    unsafe {
        super::jwks_http_response_set_status(response, 200, std::ptr::null_mut());
        super::jwks_http_response_set_body(
            response,
            FIXED_JWKS.as_ptr(),
            FIXED_JWKS.len(),
            std::ptr::null_mut(),
        );
    }
    0
}

/// A client made through the C ABI, serving the fixed key set through a fetch callback.
fn c_client() -> *const super::jwks_client {
    use super::*;
    static CLIENT: OnceLock<CClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let null = std::ptr::null_mut();
            // SAFETY: every pointer is valid with its length; the options are freed once.
            unsafe {
                let o = jwks_options_new();
                jwks_options_set_uri(o, JWKS_URL.as_ptr().cast(), JWKS_URL.len(), null);
                jwks_options_set_fetch_callback(o, Some(serve_fixed_keys), null.cast(), null);
                jwks_options_add_audience(o, AUDIENCE.as_ptr().cast(), AUDIENCE.len(), null);
                jwks_options_set_issuer(o, ISSUER.as_ptr().cast(), ISSUER.len(), null);
                let mut client = std::ptr::null_mut();
                assert_eq!(jwks_client_new(o, &mut client, null), jwks_status::JWKS_OK);
                jwks_options_free(o);
                assert_eq!(jwks_client_warm_up(client, null), jwks_status::JWKS_OK);
                CClient(client)
            }
        })
        .0
}

/// Frees the error a call left, if any, and empties the slot for the next call.
///
/// # Safety
/// `*err` is NULL or an error object libjwks made and nobody freed.
unsafe fn clear(err: &mut *mut super::jwks_error) {
    // SAFETY: as the caller promises; the slot no longer holds it afterwards.
    unsafe { super::jwks_error_free(std::mem::replace(err, std::ptr::null_mut())) }
}

/// The C ABI fed arbitrary bytes and lengths. The first byte picks an entry point, the second
/// which arguments are NULL (with a nonzero length) instead of the bytes; the rest are the
/// bytes, passed with their exact length, or split in two where a call takes two strings. The
/// harness itself never hands over a length longer than its buffer.
pub fn c_abi(data: &[u8]) {
    use super::*;
    use libc::c_char;
    let [op, nulls, bytes @ ..] = data else {
        return;
    };
    let split = bytes.len() / 2;
    let (first, second) = bytes.split_at(split);
    let arg = |bit: u8, b: &[u8]| -> (*const c_char, usize) {
        if nulls & bit != 0 {
            (std::ptr::null(), b.len().max(1))
        } else {
            (b.as_ptr().cast(), b.len())
        }
    };
    let (p, n) = arg(1, bytes);
    let (p1, n1) = arg(2, first);
    let (p2, n2) = arg(4, second);
    let client = c_client();
    let mut err: *mut jwks_error = std::ptr::null_mut();
    // SAFETY: each pointer is NULL or points at `n` readable bytes; outputs are freed once.
    unsafe {
        match op % 14 {
            0 => {
                let mut out = std::ptr::null_mut();
                jwks_client_verify(client, p, n, std::ptr::null(), &mut out, &mut err);
                jwks_token_free(out);
            }
            1 => {
                let mut out = std::ptr::null_mut();
                jwks_client_verify_nonblocking(client, p, n, std::ptr::null(), &mut out, &mut err);
                jwks_token_free(out);
            }
            2 => {
                let mut out = std::ptr::null_mut();
                jwks_client_get_signing_key(client, p, n, &mut out, &mut err);
                jwks_key_free(out);
            }
            3 => {
                let mut out = std::ptr::null_mut();
                jwks_client_get_signing_key_from_jwt(client, p, n, &mut out, &mut err);
                jwks_key_free(out);
            }
            4 => {
                // One claim of a verified token, by an arbitrary pointer.
                let mut token = std::ptr::null_mut();
                let s = jwks_client_verify(
                    client,
                    FIXED_TOKEN.as_ptr().cast(),
                    FIXED_TOKEN.trim_end().len(),
                    std::ptr::null(),
                    &mut token,
                    std::ptr::null_mut(),
                );
                assert_eq!(
                    s,
                    jwks_status::JWKS_OK,
                    "the fixed token no longer verifies"
                );
                let mut buf = [0u8; 64];
                let mut len = 0usize;
                let room = if nulls & 8 != 0 { 0 } else { buf.len() };
                let out = if room == 0 {
                    std::ptr::null_mut()
                } else {
                    buf.as_mut_ptr().cast()
                };
                jwks_token_claim(token, p, n, out, room, &mut len, &mut err);
                clear(&mut err);
                // The same pointer header-safe, an arbitrary payload text with the second half
                // as pointer, and arbitrary text escaped: whatever is written is header-safe.
                let written = |s: jwks_status, len: usize| s == jwks_status::JWKS_OK && len <= room;
                let s = jwks_token_header_value(token, p, n, out, room, &mut len, &mut err);
                assert!(!written(s, len) || header_safe(&buf[..len]));
                clear(&mut err);
                let s = jwks_claims_header_value(p1, n1, p2, n2, out, room, &mut len, &mut err);
                assert!(!written(s, len) || header_safe(&buf[..len]));
                clear(&mut err);
                let s = jwks_header_value_escape(p, n, out, room, &mut len, &mut err);
                assert!(!written(s, len) || header_safe(&buf[..len]));
                jwks_token_free(token);
            }
            5 => {
                let o = jwks_options_new();
                jwks_options_set_uri(o, p, n, &mut err);
                clear(&mut err);
                jwks_options_set_algorithms(o, p1, n1, &mut err);
                clear(&mut err);
                jwks_options_set_proxy(o, p2, n2, &mut err);
                clear(&mut err);
                let mut c = std::ptr::null_mut();
                jwks_client_new(o, &mut c, &mut err);
                jwks_client_free(c);
                jwks_options_free(o);
            }
            6 => {
                let o = jwks_options_new();
                jwks_options_add_header(o, p1, n1, p2, n2, &mut err);
                jwks_options_free(o);
            }
            7 => {
                let o = jwks_options_new();
                jwks_options_add_ca_pem(o, p.cast(), n, &mut err);
                jwks_options_free(o);
            }
            8 => {
                let o = jwks_options_new();
                jwks_options_add_static_issuer(o, p1, n1, p2, n2, &mut err);
                clear(&mut err);
                jwks_options_set_discovery_config_path(o, p2, n2, &mut err);
                clear(&mut err);
                let mut c = std::ptr::null_mut();
                jwks_client_new(o, &mut c, &mut err);
                jwks_client_free(c);
                jwks_options_free(o);
            }
            9 => {
                let o = jwks_options_new();
                jwks_options_add_typ(o, p1, n1, &mut err);
                clear(&mut err);
                jwks_options_add_required_claim(o, p2, n2, &mut err);
                jwks_options_free(o);
            }
            10 => {
                // Per-call options, then a verification of the fixed token with them.
                let v = jwks_verify_options_new();
                jwks_verify_options_set_algorithms(v, p1, n1, &mut err);
                clear(&mut err);
                jwks_verify_options_add_audience(v, p2, n2, &mut err);
                clear(&mut err);
                let mut out = std::ptr::null_mut();
                jwks_client_verify(
                    client,
                    FIXED_TOKEN.as_ptr().cast(),
                    FIXED_TOKEN.trim_end().len(),
                    v,
                    &mut out,
                    &mut err,
                );
                jwks_token_free(out);
                jwks_verify_options_free(v);
            }
            11 => {
                // Asynchronous and queued: an answer now, or a request freed before its result.
                let mut out = std::ptr::null_mut();
                let mut request = std::ptr::null_mut();
                jwks_client_verify_async_queued(
                    client,
                    p,
                    n,
                    std::ptr::null(),
                    7,
                    &mut out,
                    &mut request,
                    &mut err,
                );
                jwks_token_free(out);
                jwks_request_free(request);
            }
            12 => {
                let status = i32::from_le_bytes([
                    bytes.first().copied().unwrap_or(0),
                    bytes.get(1).copied().unwrap_or(0),
                    bytes.get(2).copied().unwrap_or(0),
                    bytes.get(3).copied().unwrap_or(0),
                ]);
                let s = jwks_status_str(status);
                assert!(!s.is_null());
                assert!(!jwks_error_message(std::ptr::null()).is_null());
            }
            _ => {
                // An error's accessors, after a refused call.
                jwks_client_verify(
                    client,
                    p,
                    n,
                    std::ptr::null(),
                    std::ptr::null_mut(),
                    &mut err,
                );
                if !err.is_null() {
                    assert!(!jwks_error_message(err).is_null());
                    let _ = jwks_error_status(err);
                }
            }
        }
        jwks_error_free(err);
    }
}
