//! Shared by the module benchmarks (examples/nginx_bench.rs, examples/envoy_bench.rs): wrk
//! runs, medians and the machine's name. Of the tests, only tests/packages.rs uses one of
//! these (`run`).
#![allow(dead_code)]

use std::process::Command;

use serde_json::json;

use super::keys::{jwks, now, TestKey};
use super::server::TestServer;

/// The benchmarks' issuer: a JWKS server on 127.0.0.1 with one RS256-2048 key, its JWKS URL,
/// and one token of it (audience "bench", valid for a day).
pub fn issuer() -> (TestServer, String, String) {
    let key = TestKey::rsa("bench", "RS256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let jwks_url = server.url("/jwks");
    let token = key.token(&json!({
        "sub": "bench-user", "iss": server.url(""), "aud": "bench",
        "iat": now(), "exp": now() + 86_400
    }));
    (server, jwks_url, token)
}

/// Runs a command and returns its standard output; panics with its output when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a command");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Requests per second of one wrk run.
pub fn wrk(url: &str, token: &str, seconds: u64) -> f64 {
    let out = run(Command::new("wrk")
        .args(["-t1", "-c32", &format!("-d{seconds}s")])
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .arg(url));
    assert!(!out.contains("Non-2xx"), "{url} answered errors:\n{out}");
    out.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in:\n{out}"))
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}
