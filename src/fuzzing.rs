//! Entry points of the fuzz targets (`fuzz/fuzz_targets`) and of the replay of their corpora
//! and crash regressions under `cargo test --features fuzzing` (`tests/fuzz_replay.rs`). Each
//! takes arbitrary bytes and must return: no panic, no hang, no memory it does not own.
//! Compiled only with the `fuzzing` feature (no production build carries it); hidden from the
//! documentation; not part of the API. The C-ABI target is on the C ABI's side
//! (`ffi::fuzzing`).

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
/// The URL the fixed key set is served at (by the fetch hook, never the network).
pub const JWKS_URL: &str = "https://keys.fuzz/jwks";

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
pub fn header_safe(bytes: &[u8]) -> bool {
    !bytes
        .iter()
        .any(|&b| crate::client::header_value::is_control(b))
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
