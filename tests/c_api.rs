//! Runs the C tests (tests/c/test_capi.c) under AddressSanitizer and UBSan against real
//! servers on 127.0.0.1, runs the command-line verifier, and checks the packaging: committed
//! header up to date and clean in C and C++, only `jwks_*` exported, soname set.

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use support::cbuild;
use support::keys::{jwks, now, TestKey};
use support::server::{Reply, TestServer};
use support::tls::make_ca;

fn out_path(name: &str) -> PathBuf {
    cbuild::artifacts_dir().join(name)
}

/// The C tests' claims: those of `support::keys::claims` for audience "api".
fn claims() -> serde_json::Value {
    let mut c = support::keys::claims();
    c["aud"] = json!("api");
    c
}

#[test]
fn c_tests_pass_under_sanitizers() {
    let ec = TestKey::ec("ec", "ES256");
    let rsa = TestKey::rsa("rsa", "RS256");
    let mut set: serde_json::Value = serde_json::from_str(&jwks(&[&ec, &rsa])).unwrap();
    set["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kty": "XYZ", "kid": "odd"}));
    let server = TestServer::start();
    server.set_jwks(&set.to_string());
    server.set("/held-jwks", Reply::json(set.to_string()));
    server.set("/500", Reply::status(500, "boom"));
    server.set("/garbage", Reply::json("<html>"));
    server.set("/empty", Reply::json("{\"keys\": []}"));
    server.set("/big", Reply::json(vec![b' '; 5000]));
    server.set("/loop", Reply::redirect("/loop"));
    server.set(
        "/slow",
        Reply::json(jwks(&[&ec])).delayed(Duration::from_secs(3)),
    );
    let ca = make_ca("libjwks C test CA");
    let tls = TestServer::start_tls(ca.server_config.clone());
    tls.set_jwks(&jwks(&[&ec]));
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/jwks", l.local_addr().unwrap())
    };

    let header = |extra: serde_json::Value| {
        let mut h = json!({"alg": "ES256", "kid": "ec", "typ": "JWT"});
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        h
    };
    let with = |changes: serde_json::Value| {
        let mut c = claims();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        ec.sign_with("ES256", &header(json!({})), &c)
    };
    let good = ec.token(&claims());
    // Change a character inside the signature (the last one may carry only padding bits).
    let mut bad_sig = good.clone().into_bytes();
    let i = bad_sig.len() - 10;
    bad_sig[i] = if bad_sig[i] == b'A' { b'B' } else { b'A' };
    let bad_sig = String::from_utf8(bad_sig).unwrap();
    let b64 = support::keys::b64;
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "kid": "ec"}).to_string().as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    let hs = TestKey::hmac("ec", "HS256", &[1; 32]).token(&claims());
    // Claims a user chose, signed as raw bytes: CR/LF whitespace, CR, LF, NUL, DEL (escaped
    // and raw), a backslash and UTF-8. INJECT_COMPACT is what the header-safe rendering of
    // the whole payload must be.
    let exp = now() + 3600;
    let inject = format!(
        "{{\r\n\"sub\": \"x\\r\\nX-Admin: true\\u0000\\u007f\\\\\",\r\n\t\"iss\": \"https://issuer.test\",\
         \n\"aud\": \"api\", \"exp\": {exp}, \"org\": {{\"name\": \"a\\nb\"}}, \"roles\": [\"ok\", \"c\\rd\"],\
         \"del\": \"a{del}b\", \"name\": \"Zoë\"}}",
        del = '\u{7f}',
    );
    let inject_compact = format!(
        "{{\"sub\":\"x\\r\\nX-Admin: true\\u0000\\u007f\\\\\",\"iss\":\"https://issuer.test\",\
         \"aud\":\"api\",\"exp\":{exp},\"org\":{{\"name\":\"a\\nb\"}},\"roles\":[\"ok\",\"c\\rd\"],\
         \"del\":\"a\\u007fb\",\"name\":\"Zoë\"}}",
    );
    let tokens = [
        ("TOK_GOOD", good),
        (
            "TOK_INJECT",
            ec.sign_raw(
                "ES256",
                header(json!({})).to_string().as_bytes(),
                inject.as_bytes(),
            ),
        ),
        ("INJECT_COMPACT", inject_compact),
        ("TOK_RSA", rsa.token(&claims())),
        (
            "TOK_RICH",
            with(json!({
                "roles": ["admin", "dev"],
                "n": 42,
                "ok": true,
                "nothing": null,
                "realm_access": {"roles": ["x", 1]},
                "https://example.com/tenant": "t1"
            })),
        ),
        ("TOK_EXPIRED", with(json!({"exp": now() - 3600}))),
        ("TOK_NBF", with(json!({"nbf": now() + 3600}))),
        ("TOK_IAT_FUTURE", with(json!({"iat": now() + 864_000}))),
        ("TOK_WRONG_AUD", with(json!({"aud": "other-api"}))),
        ("TOK_WRONG_ISS", with(json!({"iss": "https://evil.test"}))),
        ("TOK_NO_EXP", with(json!({"exp": null}))),
        ("TOK_BAD_SIG", bad_sig),
        ("TOK_NONE", none),
        ("TOK_HS256", hs),
        (
            "TOK_XS",
            ec.sign_with("ES256", &header(json!({"alg": "XS999"})), &claims()),
        ),
        (
            "TOK_NO_KID",
            ec.sign_with("ES256", &json!({"alg": "ES256"}), &claims()),
        ),
        (
            "TOK_UNKNOWN_KID",
            ec.sign_with("ES256", &header(json!({"kid": "zzz"})), &claims()),
        ),
        (
            "TOK_CRIT",
            ec.sign_with("ES256", &header(json!({"crit": ["x"], "x": 1})), &claims()),
        ),
        // Issue 22: a number serde_json refuses, and a name twice in a nested object, each in
        // an otherwise valid, signed token: malformed, never verified with claims missing.
        (
            "TOK_BIG_NUMBER",
            ec.sign_raw(
                "ES256",
                header(json!({})).to_string().as_bytes(),
                format!(
                    r#"{{"sub":"user-1","aud":"api","exp":{exp},"role":"admin","note":1.7976931348623158e308}}"#
                )
                .as_bytes(),
            ),
        ),
        (
            "TOK_NESTED_DUP",
            ec.sign_raw(
                "ES256",
                header(json!({})).to_string().as_bytes(),
                format!(r#"{{"sub":"user-1","aud":"api","exp":{exp},"org":{{"role":"user","role":"admin"}}}}"#)
                    .as_bytes(),
            ),
        ),
    ];

    // Discovery: issuer "a" on the same server, and an Ed25519 issuer served only by the C
    // fetch callback.
    let a_key = TestKey::ec("a-key", "ES256");
    let issuer_a = server.url("/a");
    server.set(
        "/a/.well-known/openid-configuration",
        Reply::json(json!({"issuer": issuer_a, "jwks_uri": server.url("/a/jwks")}).to_string()),
    );
    server.set("/a/jwks", Reply::json(jwks(&[&a_key])));
    let iss_claims = |iss: &str| json!({"iss": iss, "sub": "d", "exp": now() + 3600});
    let cb_key = TestKey::ed25519("cb-key");
    let cb_issuer = "https://idp.invalid";
    let cb_config = json!({"issuer": cb_issuer, "jwks_uri": "https://keys.invalid/jwks"});
    // Issue 23: saved key sets planted by someone else, for an IdP that answers 500. Each
    // directory holds, under the name a client of DOWN_URL reads, an attacker's set: in a
    // file of mode 0666, in a 0777 directory, as a FIFO, as a symlink to /dev/zero, and (the
    // control) a 0600 file in a 0700 directory, which is the process's own and is trusted.
    server.set("/down", Reply::status(500, "down"));
    let down_url = server.url("/down");
    let attacker = TestKey::ec("ec", "ES256");
    let persist_dirs = plant_saved_sets(&down_url, &attacker);
    let discovery_env = [
        ("DOWN_URL", down_url.clone()),
        ("TOK_FORGED", attacker.token(&claims())),
        ("PERSIST_0666", persist_dirs[0].display().to_string()),
        ("PERSIST_0777", persist_dirs[1].display().to_string()),
        ("PERSIST_FIFO", persist_dirs[2].display().to_string()),
        ("PERSIST_ZERO", persist_dirs[3].display().to_string()),
        ("PERSIST_OWN", persist_dirs[4].display().to_string()),
        ("ISSUER_A", issuer_a.clone()),
        ("TOK_ISS_A", a_key.token(&iss_claims(&issuer_a))),
        ("TOK_ISS_B", a_key.token(&iss_claims(&server.url("/b")))),
        ("CB_ISSUER", cb_issuer.to_owned()),
        ("CB_CONFIG", cb_config.to_string()),
        ("CB_JWKS", jwks(&[&cb_key])),
        ("TOK_CB", cb_key.token(&iss_claims(cb_issuer))),
    ];

    let exe = out_path("test_capi");
    cbuild::build(
        &[cbuild::root().join("tests/c/test_capi.c")],
        &exe,
        false,
        &[
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer",
        ],
    );
    let output = Command::new(&exe)
        .envs(tokens.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .envs(
            discovery_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone())),
        )
        .env("JWKS_URL", server.url("/jwks"))
        .env("HELD_URL", server.url("/held-jwks"))
        .env("BASE", server.url(""))
        .env("CLOSED_URL", closed)
        .env("TLS_URL", tls.url("/jwks"))
        .env("TLS_CA_PEM", &ca.ca_pem)
        .env("RUST_BACKTRACE", "0")
        .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        .output()
        .expect("run the C tests");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    // The panic-boundary test prints Rust's panic message on stderr; sanitizer reports say
    // "Sanitizer" (ASan, LSan) or "runtime error" (UBSan).
    let reports = stderr.contains("Sanitizer") || stderr.contains("runtime error");
    assert!(
        output.status.success(),
        "C tests failed:\n{stdout}\n{stderr}"
    );
    assert!(!reports, "sanitizer reports:\n{stderr}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    // Ten clients fetch once each, plus three forced refreshes (get_jwk_set(refresh),
    // fetch_data, the async forced refresh) and one refetch for the unknown kid; nothing
    // refetches per verify, not even 1,600 verifies from 8 threads, nor the forked child
    // (refused before any lookup). The document store test adds two: its first client, and
    // the one whose store entry is refused; its second client starts warm from the store.
    assert_eq!(server.hits("/jwks"), 16);
    assert_eq!(server.hits("/a/.well-known/openid-configuration"), 1);
    assert_eq!(server.hits("/a/jwks"), 1);
    assert_eq!(server.hits("/b/.well-known/openid-configuration"), 0);
    // The warm-up and the one (held) background refresh.
    assert_eq!(server.hits("/held-jwks"), 2);
}

/// The directories of the saved-set cases (see the C tests' test_persist_trust), in the order
/// 0666 file, 0777 directory, FIFO, symlink to /dev/zero, and the trusted control.
fn plant_saved_sets(url: &str, key: &TestKey) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, url.as_bytes());
    let name: String = hash.as_ref()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let record = json!({
        "version": 1, "uri": url, "fetched_at_unix_ms": now() * 1000, "jwks": jwks(&[key])
    })
    .to_string();
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    ["0666", "0777", "fifo", "zero", "own"]
        .iter()
        .map(|case| {
            let dir = out_path(&format!("persist-{case}"));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            mode(&dir, if *case == "0777" { 0o777 } else { 0o700 });
            let file = dir.join(format!("jwks-{name}.json"));
            match *case {
                "fifo" => assert!(Command::new("mkfifo")
                    .arg(&file)
                    .status()
                    .unwrap()
                    .success()),
                "zero" => std::os::unix::fs::symlink("/dev/zero", &file).unwrap(),
                _ => {
                    std::fs::write(&file, &record).unwrap();
                    mode(&file, if *case == "0666" { 0o666 } else { 0o600 });
                }
            }
            dir
        })
        .collect()
}

#[test]
fn command_line_verifier_reports_each_token() {
    let key = TestKey::ec("cli", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let exe = out_path("jwks_verify");
    cbuild::build(
        &[cbuild::root().join("examples/c/jwks_verify.c")],
        &exe,
        false,
        &[],
    );
    let good = key.token(&claims());
    let mut c = claims();
    c["exp"] = json!(now() - 3600);
    let expired = key.token(&c);

    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(&exe)
            .args(["--jwks", &server.url("/jwks"), "--aud", "api"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(&[&good], "");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("verified (kid cli, alg ES256)") && out.contains("\"sub\":\"user-1\""));

    // What it prints is header-safe: a DEL (which JSON allows raw) in a claim, and a kid with
    // CR/LF, come out escaped.
    let mut hostile = claims();
    hostile["sub"] = json!("a\u{7f}b\u{1b}[2J");
    let (code, out) = run(&[&key.token(&hostile)], "");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(r#""sub":"a\u007fb\u001b[2J""#), "{out}");
    assert!(
        !out.bytes().any(|b| (b < 0x20 && b != b'\n') || b == 0x7f),
        "{out:?}"
    );

    let (code, out) = run(&[], &format!("{good}\n\n{expired}\r\n"));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("token 1: verified"), "{out}");
    assert!(
        out.contains("token 2: JWKS_ERR_EXPIRED: token has expired"),
        "{out}"
    );

    let (code, out) = run(&["--no-exp", "--leeway", "0", &expired], "");
    assert_eq!(code, Some(0), "{out}");
    let (code, _) = run(&["--alg", "NOPE", &good], "");
    assert_eq!(code, Some(2));
    let (code, out) = run(&["--iss", "https://other", &good], "");
    assert_eq!(code, Some(1));
    assert!(out.contains("JWKS_ERR_WRONG_ISSUER"), "{out}");

    // By issuer alone (discovery), and a token from an issuer not listed.
    let iss = server.url("");
    server.set(
        "/.well-known/openid-configuration",
        Reply::json(json!({"issuer": iss, "jwks_uri": server.url("/jwks")}).to_string()),
    );
    let mut c = claims();
    c["iss"] = json!(iss);
    let by_issuer = key.token(&c);
    c["iss"] = json!("https://stranger.example");
    let stranger = key.token(&c);
    let out = Command::new(&exe)
        .args(["--issuer", &iss, "--aud", "api", &by_issuer, &stranger])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("token 1: verified (kid cli, alg ES256)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("token 2: JWKS_ERR_ISSUER_NOT_ALLOWED"),
        "{stdout}"
    );
    assert_eq!(server.hits("/.well-known/openid-configuration"), 1);
}

#[test]
fn committed_header_is_fresh_and_compiles_in_c_and_cpp() {
    let fresh = include_str!(concat!(env!("OUT_DIR"), "/jwks.h"));
    let committed = std::fs::read_to_string(cbuild::root().join("include/jwks.h")).unwrap();
    assert!(
        fresh == committed,
        "include/jwks.h is stale: run scripts/update-header.sh and commit it"
    );
    cbuild::syntax_check(&cbuild::root().join("tests/c/header_c99.c"), false, "c99");
    cbuild::syntax_check(
        &cbuild::root().join("tests/c/header_twice.cpp"),
        true,
        "c++11",
    );
}

#[test]
fn shared_library_exports_only_jwks_symbols_and_has_a_soname() {
    let so = cbuild::artifacts_dir().join("libjwks.so");
    let nm = Command::new("nm")
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(&so)
        .output()
        .expect("nm");
    assert!(nm.status.success());
    let symbols: Vec<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(symbols.iter().any(|s| s == "jwks_client_verify"));
    let foreign: Vec<&String> = symbols.iter().filter(|s| !s.starts_with("jwks_")).collect();
    assert!(foreign.is_empty(), "exported non-jwks symbols: {foreign:?}");
    let readelf = Command::new("readelf")
        .arg("-d")
        .arg(&so)
        .output()
        .expect("readelf");
    let dynamic = String::from_utf8_lossy(&readelf.stdout);
    assert!(
        dynamic.contains(&format!("[libjwks.so.{}]", env!("CARGO_PKG_VERSION_MAJOR"))),
        "{dynamic}"
    );
}

/// The fuzz targets' code is compiled only with the `fuzzing` feature (issue 22): neither the
/// debug nor the release libjwks.a may carry any of it. `scripts/test.sh` builds the release
/// library first; without it (a bare `cargo test`) only the debug one is checked, unless
/// JWKS_REQUIRE_ALL makes its absence a failure.
#[test]
fn the_static_libraries_carry_no_fuzzing_code() {
    let debug = cbuild::static_lib();
    let release = debug
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("release/libjwks.a");
    let mut libs = vec![debug];
    if support::require(
        "the release libjwks.a (cargo build --release -p jwks-capi, as scripts/test.sh does)",
        release.exists(),
    ) {
        libs.push(release);
    }
    for lib in libs {
        let nm = Command::new("nm").arg("-a").arg(&lib).output().expect("nm");
        assert!(nm.status.success(), "nm {}", lib.display());
        let symbols = String::from_utf8_lossy(&nm.stdout);
        // The check can see: the C ABI's own functions are there.
        assert!(symbols.contains("jwks_client_verify"), "{}", lib.display());
        let fuzzing: Vec<&str> = symbols.lines().filter(|l| l.contains("fuzzing")).collect();
        assert!(
            fuzzing.is_empty(),
            "{} carries fuzzing code: {:?}",
            lib.display(),
            &fuzzing[..fuzzing.len().min(5)]
        );
    }
}

#[cfg(feature = "capi")]
#[test]
fn version_matches_cargo_toml() {
    let v = unsafe { std::ffi::CStr::from_ptr(jwks::ffi::jwks_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    let header = std::fs::read_to_string(cbuild::root().join("include/jwks.h")).unwrap();
    assert!(header.contains(&format!(
        "#define JWKS_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION")
    )));
}

#[test]
fn pkg_config_file_links_a_program_against_the_shared_library() {
    let lib_dir = cbuild::artifacts_dir();
    let pc = Command::new("pkg-config")
        .args(["--cflags", "--libs", "jwks"])
        .env("PKG_CONFIG_PATH", &lib_dir)
        .output()
        .expect("pkg-config is installed");
    assert!(
        pc.status.success(),
        "{}",
        String::from_utf8_lossy(&pc.stderr)
    );
    let flags = String::from_utf8_lossy(&pc.stdout).into_owned();
    assert!(flags.contains("-ljwks"), "{flags}");
    let exe = out_path("header_c99_shared");
    let status = Command::new("cc")
        .arg(cbuild::root().join("tests/c/header_c99.c"))
        .args(flags.split_whitespace())
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap();
    assert!(status.success());
    let run = Command::new(&exe)
        .env("LD_LIBRARY_PATH", &lib_dir)
        .status()
        .unwrap();
    assert!(
        run.success(),
        "the program linked with pkg-config flags runs"
    );
}
