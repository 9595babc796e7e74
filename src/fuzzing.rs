//! Entry points of the fuzz targets (`fuzz/fuzz_targets`) and of the replay of their corpora
//! and crash regressions under `cargo test` (`tests/fuzz_replay.rs`). Each takes arbitrary
//! bytes and must return: no panic, no hang, no memory it does not own. Hidden from the
//! documentation; not part of the API.

use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::jose::keys::KeyPolicy;
use crate::{Algorithm, Client, ClientOptions, HttpFetch, HttpRequest, HttpResponse, Result};

/// The key set the token targets verify against: an RS256, an ES256 and an EdDSA key, written
/// with the seed corpus by `write_seed_corpus` in tests/fuzz_replay.rs.
pub const FIXED_JWKS: &str = include_str!("../fuzz/fixed_jwks.json");
/// The audience and issuer the fixed client expects.
pub const AUDIENCE: &str = "fuzz";
pub const ISSUER: &str = "https://issuer.fuzz";
const JWKS_URL: &str = "https://keys.fuzz/jwks";

struct FixedKeys;

impl HttpFetch for FixedKeys {
    fn get(&self, _request: &HttpRequest<'_>) -> Result<HttpResponse> {
        Ok(HttpResponse {
            status: 200,
            headers: Vec::new(),
            body: FIXED_JWKS.as_bytes().to_vec(),
        })
    }
}

/// No byte that may not stand raw in an HTTP header value (0x00-0x1F but HTAB, and 0x7F).
fn header_safe(bytes: &[u8]) -> bool {
    !bytes.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

fn fixed_client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let mut o = ClientOptions::new(JWKS_URL);
        o.fetcher = Some(Arc::new(FixedKeys));
        o.validation.audience = vec![AUDIENCE.into()];
        o.validation.issuer = Some(ISSUER.into());
        let client = Client::new(o).expect("the fuzz client");
        client.warm_up().expect("the fixed key set");
        client
    })
}

/// A token: verified by a client holding the fixed key set, and its claims checked whatever
/// its signature (a fuzzer seldom forges one, and the claim checks deserve the same inputs).
pub fn token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let client = fixed_client();
    if let Ok(verified) = client.verify(text) {
        // The claims served are the payload as serde_json reads it, member for member, and
        // every one of them, and the whole payload, renders header-safe; a claim that is
        // present is never dropped.
        let payload: serde_json::Value =
            serde_json::from_str(verified.claims_json()).expect("a verified payload parses");
        assert_eq!(payload.as_object(), Some(verified.claims()));
        let whole = verified
            .header_value("")
            .expect("the payload always renders");
        assert!(header_safe(whole.as_bytes()), "{whole:?}");
        for (name, value) in verified.claims() {
            let pointer = format!("/{}", name.replace('~', "~0").replace('/', "~1"));
            let text = verified.claim(&pointer);
            assert_eq!(text, crate::claim_text(&payload, &pointer), "{pointer:?}");
            assert_eq!(text.is_some(), !value.is_null(), "{pointer:?}");
            let rendered = verified.header_value(&pointer);
            assert_eq!(rendered.is_some(), !value.is_null(), "{pointer:?}");
            assert!(header_safe(rendered.unwrap_or_default().as_bytes()));
        }
    }
    // Any text escapes, and any text compacts, to header-safe bytes.
    assert!(header_safe(crate::escape_header_text(text).as_bytes()));
    assert!(header_safe(
        crate::client::header_value::compact_json(text).as_bytes()
    ));
    let validation = client.validation();
    let _ = crate::jose::jwt::peek(text, 1 << 20);
    let mut scratch = crate::jose::jwt::Scratch::new();
    if let Ok(parsed) =
        crate::jose::jwt::parse(text.as_bytes(), 1 << 20, validation, false, &mut scratch)
    {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let _ = crate::jose::validation::check_claims(&parsed.claims, validation, now);
    }
    readers_agree(text);
    for part in text.split('.') {
        readers_agree(part);
    }
}

/// The token's readers against references: base64url decoding against the `base64` crate,
/// and the one JSON reading (serde_json with no name twice) against plain serde_json, which
/// must give the same value wherever the reading accepts, and may accept more only for a
/// duplicate name. A disagreement is a finding.
fn readers_agree(text: &str) {
    use crate::jose::b64;
    use crate::jose::strict_json::{self, Refused};
    use base64::Engine;
    let reference = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok();
    // Into a buffer of the decoded length, and into one with room for whole blocks.
    for len in [
        b64::decoded_len(text.len()).unwrap_or(0),
        b64::room(text.len()),
    ] {
        let mut out = vec![0; len];
        let ours = b64::decode_into(text.as_bytes(), &mut out).map(|n| out[..n].to_vec());
        assert_eq!(
            ours, reference,
            "base64url decoders disagree on {text:?} ({len} bytes)"
        );
    }
    for candidate in [
        Some(text),
        reference
            .as_deref()
            .and_then(|b| std::str::from_utf8(b).ok()),
    ]
    .into_iter()
    .flatten()
    {
        let plain = serde_json::from_str::<serde_json::Value>(candidate);
        match (strict_json::object(candidate), plain) {
            (Ok(ours), Ok(theirs)) => assert_eq!(
                serde_json::Value::Object(ours),
                theirs,
                "read differently: {candidate:?}"
            ),
            (Ok(_), Err(e)) => panic!("accepted here, refused by serde_json ({e}): {candidate:?}"),
            (Err(Refused::Invalid(e)), Ok(theirs)) if theirs.is_object() => assert!(
                e.to_string().contains("twice"),
                "refused here ({e}), accepted by serde_json: {candidate:?}"
            ),
            _ => {}
        }
    }
}

/// A JWK Set document, under the default policy and one that admits HMAC keys.
pub fn jwk_set(data: &[u8]) {
    let mut policy = KeyPolicy {
        allowed: Algorithm::ALL.to_vec(),
        allow_oct: false,
        max_keys: 1000,
    };
    let _ = crate::jose::keys::parse_jwk_set(data, &policy);
    policy.allow_oct = true;
    if let Ok(set) = crate::jose::keys::parse_jwk_set(data, &policy) {
        for key in set.keys() {
            let _ = key.public_key_pem();
            let _ = key.verify_signature(Algorithm::RS256, b"x", b"y");
        }
    }
}

/// An OpenID Provider configuration document, asked about the fixed issuer.
pub fn discovery_document(data: &[u8]) {
    let _ = crate::discovery::parse_configuration(data, ISSUER, false);
    let _ = crate::discovery::parse_configuration(data, ISSUER, true);
}

/// A valid token for the fixed key set (RS256, aud fuzz, exp in 2100), for the C-ABI target's
/// calls that need one.
#[cfg(feature = "capi")]
pub const FIXED_TOKEN: &str = include_str!("../fuzz/fixed_token.txt");

#[cfg(feature = "capi")]
struct CClient(*mut crate::ffi::jwks_client);
// SAFETY: a jwks_client is thread-safe (include/jwks.h); the pointer is never freed.
#[cfg(feature = "capi")]
unsafe impl Send for CClient {}
#[cfg(feature = "capi")]
unsafe impl Sync for CClient {}

#[cfg(feature = "capi")]
unsafe extern "C" fn serve_fixed_keys(
    _user_data: *mut libc::c_void,
    _url: *const libc::c_char,
    _url_len: usize,
    _headers: *const crate::ffi::jwks_http_header,
    _header_count: usize,
    response: *mut crate::ffi::jwks_http_response,
) -> libc::c_int {
    // SAFETY: `response` is the live response object libjwks passes to its fetch callback.
    unsafe {
        crate::ffi::jwks_http_response_set_status(response, 200, std::ptr::null_mut());
        crate::ffi::jwks_http_response_set_body(
            response,
            FIXED_JWKS.as_ptr(),
            FIXED_JWKS.len(),
            std::ptr::null_mut(),
        );
    }
    0
}

/// A client made through the C ABI, serving the fixed key set through a fetch callback.
#[cfg(feature = "capi")]
fn c_client() -> *const crate::ffi::jwks_client {
    use crate::ffi::*;
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
#[cfg(feature = "capi")]
unsafe fn clear(err: &mut *mut crate::ffi::jwks_error) {
    // SAFETY: as the caller promises; the slot no longer holds it afterwards.
    unsafe { crate::ffi::jwks_error_free(std::mem::replace(err, std::ptr::null_mut())) }
}

/// The C ABI fed arbitrary bytes and lengths. The first byte picks an entry point, the second
/// which arguments are NULL (with a nonzero length) instead of the bytes; the rest are the
/// bytes, passed with their exact length, or split in two where a call takes two strings. The
/// harness itself never hands over a length longer than its buffer.
#[cfg(feature = "capi")]
pub fn c_abi(data: &[u8]) {
    use crate::ffi::*;
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
