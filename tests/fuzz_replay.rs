//! The fuzz targets' inputs, replayed on stable: every file of fuzz/corpus/<target> (the seeds
//! and what the fuzz runs kept, minimized) and of fuzz/regressions/<target> (each crash a fuzz
//! run found) goes through the entry point its target calls (jwks::fuzzing), which must
//! return without panicking. The live fuzzing runs by hand (SECURITY.md), not in CI.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::keys::{b64, TestKey};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Feeds every input of `target` to `entry`; returns how many there were.
fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| entry(&data));
            assert!(outcome.is_ok(), "{} panicked", file.display());
            count += 1;
        }
    }
    count
}

#[test]
fn token_inputs_replay() {
    assert!(replay("token", jwks::fuzzing::token) >= 20);
}

#[test]
fn jwk_set_inputs_replay() {
    assert!(replay("jwk_set", jwks::fuzzing::jwk_set) >= 10);
}

#[test]
fn discovery_inputs_replay() {
    assert!(replay("discovery", jwks::fuzzing::discovery_document) >= 6);
}

#[cfg(feature = "capi")]
#[test]
fn c_abi_inputs_replay() {
    assert!(replay("c_abi", jwks::ffi::fuzzing::c_abi) >= 28);
}

/// The fixed token still verifies against the fixed key set (the seeds depend on both).
#[cfg(feature = "capi")]
#[test]
fn the_fixed_token_verifies() {
    let client_input = jwks::ffi::fuzzing::FIXED_TOKEN.trim_end().as_bytes();
    // The C-ABI target asserts it verifies; op 4 reads a claim of it.
    let mut input = vec![4u8, 0];
    input.extend_from_slice(b"/sub");
    jwks::ffi::fuzzing::c_abi(&input);
    jwks::fuzzing::token(client_input);
}

/// Writes the fixed key set, the fixed token and the seed corpora. Run by hand
/// (`cargo test --test fuzz_replay -- --ignored write_seed_corpus`) only to start over: it
/// makes new keys, so every seed changes.
#[test]
#[ignore]
fn write_seed_corpus() {
    let rs = TestKey::rsa("fuzz-rs", "RS256");
    let es = TestKey::ec("fuzz-es", "ES256");
    let ed = TestKey::ed25519("fuzz-ed");
    let jwks_doc = support::keys::jwks(&[&rs, &es, &ed]);
    let dir = fuzz_dir();
    std::fs::write(dir.join("fixed_jwks.json"), &jwks_doc).unwrap();
    let iss = "https://issuer.fuzz";
    let far = 4_102_444_800u64; // 2100-01-01
    let base = json!({"sub": "fuzz-user", "iss": iss, "aud": "fuzz", "iat": 1_700_000_000u64,
                      "exp": far, "roles": ["a", "b"], "org": {"id": 7}});
    let with = |changes: Value| {
        let mut c = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let fixed = rs.token(&base);
    std::fs::write(dir.join("fixed_token.txt"), format!("{fixed}\n")).unwrap();
    let parts: Vec<String> = fixed.split('.').map(str::to_owned).collect();

    let tokens: Vec<String> = vec![
        fixed.clone(),
        es.token(&base),
        ed.token(&base),
        rs.token(&with(json!({"exp": 1_000_000_000u64}))),
        rs.token(&with(json!({"nbf": far}))),
        rs.token(&with(json!({"aud": ["x", "fuzz"]}))),
        rs.token(&with(json!({"aud": "other"}))),
        rs.token(&with(json!({"iss": "https://other"}))),
        rs.token(&with(json!({"exp": "soon"}))),
        rs.sign_with("RS256", &json!({"alg": "RS256", "kid": "nobody"}), &base),
        rs.sign_with("RS256", &json!({"alg": "RS256"}), &base),
        rs.sign_with(
            "RS256",
            &json!({"alg": "RS256", "kid": "fuzz-rs", "crit": ["b64"], "b64": false}),
            &base,
        ),
        rs.sign_with("PS256", &json!({"alg": "PS256", "kid": "fuzz-rs"}), &base),
        TestKey::hmac("fuzz-rs", "HS256", &rs.public_key_bytes()).sign_with(
            "HS256",
            &json!({"alg": "HS256", "kid": "fuzz-rs"}),
            &base,
        ),
        format!("{}.{}.", b64(br#"{"alg":"none"}"#), parts[1]),
        format!("{}.{}", parts[0], parts[1]),
        format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        rs.sign_raw(
            "RS256",
            br#"{"alg":"RS256","alg":"HS256","kid":"fuzz-rs"}"#,
            b"{}",
        ),
        rs.sign_raw("RS256", br#"{"alg":"RS256","kid":"fuzz-rs"}"#, b"[1,2,3]"),
        rs.sign_raw("RS256", br#"{"alg":"RS256","kid":"fuzz-rs"}"#, b"not json"),
        rs.sign_raw(
            "RS256",
            br#"{"alg":"RS256","kid":"fuzz-rs"}"#,
            format!(r#"{{"exp":1,"exp":{far},"aud":"fuzz","iss":"{iss}"}}"#).as_bytes(),
        ),
        String::new(),
        "..".into(),
        "a.b.c".into(),
    ];
    write_seeds("token", tokens.iter().map(|t| t.as_bytes().to_vec()));

    let jwk_sets: Vec<Vec<u8>> = vec![
        jwks_doc.clone().into_bytes(),
        br#"{"keys":[]}"#.to_vec(),
        br#"{"keys":{}}"#.to_vec(),
        br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256","kid":"h"}]}"#.to_vec(),
        br#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"tiny"}]}"#.to_vec(),
        br#"{"keys":[{"kty":"RSA","n":"AQAB","e":"","kid":"e0"}]}"#.to_vec(),
        br#"{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA","kid":"off"}]}"#.to_vec(),
        br#"{"keys":[{"kty":"OKP","crv":"Ed448","x":"AAAA"}]}"#.to_vec(),
        br#"{"keys":[],"keys":[]}"#.to_vec(),
        format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes(),
        br#"{"keys":[{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}, 1, null, "x"]}"#.to_vec(),
    ];
    write_seeds("jwk_set", jwk_sets.into_iter());

    let docs: Vec<Vec<u8>> = vec![
        json!({"issuer": iss, "jwks_uri": "https://keys.fuzz/jwks"})
            .to_string()
            .into_bytes(),
        json!({"issuer": iss, "jwks_url": "https://keys.fuzz/jwks"})
            .to_string()
            .into_bytes(),
        json!({"issuer": "https://other", "jwks_uri": "https://keys.fuzz/jwks"})
            .to_string()
            .into_bytes(),
        json!({"issuer": iss}).to_string().into_bytes(),
        json!({"issuer": iss, "jwks_uri": "http://keys.fuzz/jwks"})
            .to_string()
            .into_bytes(),
        json!({"issuer": iss, "jwks_uri": 7})
            .to_string()
            .into_bytes(),
        b"[]".to_vec(),
        b"not json".to_vec(),
    ];
    write_seeds("discovery", docs.into_iter());

    let mut calls: Vec<Vec<u8>> = Vec::new();
    for op in 0u8..14 {
        for nulls in [0u8, 7] {
            let payload: &[u8] = match op {
                4 => b"/sub",
                5 => b"https://keys.fuzz/jwksRS256,ES256",
                6 => b"X-Api-Keysecret",
                8 => b"https://issuer.fuzzhttps://keys.fuzz/jwks",
                9 => b"JWTsub",
                10 => b"RS256fuzz",
                12 => &[3, 0, 0, 0],
                _ => fixed.as_bytes(),
            };
            let mut input = vec![op, nulls];
            input.extend_from_slice(payload);
            calls.push(input);
        }
    }
    write_seeds("c_abi", calls.into_iter());
}

fn write_seeds(target: &str, inputs: impl Iterator<Item = Vec<u8>>) {
    let dir = fuzz_dir().join("corpus").join(target);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (i, input) in inputs.enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), input).unwrap();
    }
}
