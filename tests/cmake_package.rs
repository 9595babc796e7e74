//! The installable package: `cmake --install` of the library cargo built into a scratch prefix,
//! then consumers built only from what was installed: the C++ example through
//! `find_package(jwks)` and `jwks::jwks`, static and shared, and the C example through the
//! installed pkg-config files (`jwks`, shared, and `jwks-static`). Each runs against a JWKS
//! server on 127.0.0.1.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::json;
use support::cbuild::{self, run};
use support::keys::{claims, jwks, now, TestKey};
use support::server::{Reply, TestServer};

/// Runs `exe args` with `input` on standard input, in an environment with no library path.
fn run_with_stdin(exe: &Path, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(exe)
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn needed_libraries(exe: &Path) -> String {
    run(Command::new("readelf").arg("-d").arg(exe))
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn install(prefix: &Path) {
    let build = prefix.with_extension("build");
    let _ = std::fs::remove_dir_all(prefix);
    cbuild::cmake_build(
        &cbuild::root(),
        &build,
        &[format!(
            "JWKS_PREBUILT_DIR={}",
            cbuild::artifacts_dir().display()
        )],
    );
    run(Command::new("cmake")
        .arg("--install")
        .arg(&build)
        .arg("--prefix")
        .arg(prefix));
}

fn build_example(prefix: &Path, static_libs: bool) -> PathBuf {
    let dir = cbuild::artifacts_dir().join(if static_libs {
        "example-cpp-static"
    } else {
        "example-cpp-shared"
    });
    let linkage = if static_libs { "ON" } else { "OFF" };
    cbuild::cmake_build(
        &cbuild::root().join("examples/cpp"),
        &dir,
        &[
            format!("CMAKE_PREFIX_PATH={}", prefix.display()),
            format!("JWKS_USE_STATIC_LIBS={linkage}"),
        ],
    );
    dir.join("jwks_verify_cpp")
}

#[test]
fn installed_package_serves_cmake_and_pkg_config_consumers() {
    let key = TestKey::rsa("k1", "RS256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let mut c = claims();
    c["aud"] = json!("api");
    let good = key.token(&c);
    c["exp"] = json!(now() - 3600);
    let expired = key.token(&c);
    let url = server.url("/jwks");
    // The same key found by issuer, through discovery.
    let issuer = server.url("/iss");
    server.set(
        "/iss/.well-known/openid-configuration",
        Reply::json(json!({"issuer": issuer, "jwks_uri": url}).to_string()),
    );
    let mut ic = claims();
    ic["iss"] = json!(issuer);
    let by_issuer = key.token(&ic);

    let prefix = cbuild::artifacts_dir().join("jwks-prefix");
    install(&prefix);
    for file in [
        "include/jwks.h",
        "include/jwks.hpp",
        "lib/libjwks.a",
        "lib/libjwks.so.0",
        "lib/libjwks.so",
        "lib/cmake/jwks/jwksConfig.cmake",
        "lib/cmake/jwks/jwksConfigVersion.cmake",
        "lib/pkgconfig/jwks.pc",
        "lib/pkgconfig/jwks-static.pc",
    ] {
        assert!(prefix.join(file).exists(), "{file} is not installed");
    }

    for static_libs in [true, false] {
        let exe = build_example(&prefix, static_libs);
        let needed = needed_libraries(&exe);
        assert_eq!(
            needed.contains("libjwks.so.0"),
            !static_libs,
            "static={static_libs}: {needed}"
        );
        // Two good tokens and an expired one, one per line, with blank lines and spaces.
        let input = format!("{good}\n\n  {expired}  \n{good}\n");
        let out = run_with_stdin(&exe, &["--jwks", &url, "--aud", "api"], &input);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        for line in lines {
            let claims: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(claims["sub"], "user-1");
        }
        assert!(stderr.starts_with("JWKS_ERR_EXPIRED: "), "{stderr}");
        let ok = run_with_stdin(&exe, &["--jwks", &url, "--aud", "api"], &good);
        assert_eq!(ok.status.code(), Some(0));
        let setup = run_with_stdin(&exe, &["--jwks", "not a url"], "");
        assert_eq!(setup.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&setup.stderr).contains("JWKS_ERR_INVALID_ARGUMENT"));
    }
    assert_eq!(server.hits("/jwks"), 4, "one fetch per run that verified");

    // By issuer: the example discovers the keys from the issuer named in the token.
    let exe = cbuild::artifacts_dir().join("example-cpp-static/jwks_verify_cpp");
    let out = run_with_stdin(&exe, &["--issuer", &issuer], &by_issuer);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("\"iss\":\"{issuer}\"")),
        "{stdout}"
    );
    let out = run_with_stdin(&exe, &["--issuer", "https://other.invalid"], &by_issuer);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("JWKS_ERR_ISSUER_NOT_ALLOWED"));
    assert_eq!(server.hits("/iss/.well-known/openid-configuration"), 1);

    // pkg-config: the installed .pc (relocatable) builds the C example against libjwks.so.
    let pc = run(Command::new("pkg-config")
        .args(["--cflags", "--libs", "jwks"])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")));
    let c_exe = cbuild::artifacts_dir().join("example-c-pkgconfig");
    run(Command::new("cc")
        .arg(cbuild::root().join("examples/c/jwks_verify.c"))
        .args(pc.split_whitespace())
        .arg(format!("-Wl,-rpath,{}", prefix.join("lib").display()))
        .arg("-o")
        .arg(&c_exe));
    assert!(needed_libraries(&c_exe).contains("libjwks.so.0"));
    let out = run_with_stdin(&c_exe, &["--jwks", &url, "--aud", "api", &good], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // jwks-static: libjwks.a by its path, though libjwks.so sits beside it.
    let pc = run(Command::new("pkg-config")
        .args(["--cflags", "--libs", "jwks-static"])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")));
    assert!(pc.contains("libjwks.a"), "{pc}");
    let c_static = cbuild::artifacts_dir().join("example-c-pkgconfig-static");
    run(Command::new("cc")
        .arg(cbuild::root().join("examples/c/jwks_verify.c"))
        .args(pc.split_whitespace())
        .arg("-o")
        .arg(&c_static));
    assert!(!needed_libraries(&c_static).contains("libjwks"));
    let out = run_with_stdin(&c_static, &["--jwks", &url, "--aud", "api", &good], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
