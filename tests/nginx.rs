//! The nginx module (modules/nginx) in real nginx (Debian's 1.22, installed by .ci/run), against
//! JWKS servers on 127.0.0.1: built once with modules/nginx/build.sh, then each test starts its
//! own nginx with its own configuration and port.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use serde_json::json;
use support::backends::Backends;
use support::cbuild;
use support::corpus::{corpus, DiffKeys, Verdict};
use support::http::{bearer, get, request, Response};
use support::keys::{b64, jwks, now, TestKey};
use support::server::{Reply, TestServer};
use support::{free_port, wait_until};

/// Builds the module against the static library cargo built (once per test binary).
fn module() -> &'static Path {
    static MODULE: OnceLock<PathBuf> = OnceLock::new();
    MODULE.get_or_init(|| {
        let lib = cbuild::static_lib();
        let target = lib.parent().unwrap().parent().unwrap().to_path_buf();
        let out = Command::new("bash")
            .arg(cbuild::root().join("modules/nginx/build.sh"))
            .arg("debug")
            .env("JWKS_NGINX_NO_CARGO", "1")
            // The benchmark's control module (bench/spin) is built too, so it cannot rot.
            .env("JWKS_NGINX_BENCH", "1")
            // The hook that lets a test kill a worker in the middle of a save (inert unless
            // the configuration passes its environment variable in).
            .env("JWKS_NGINX_TEST_HOOKS", "1")
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("run modules/nginx/build.sh");
        assert!(
            out.status.success(),
            "building the nginx module failed (are nginx and nginx-dev installed?):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("nginx/debug/ngx_http_jwks_module.so")
    })
}

/// A running nginx (master and workers), stopped when dropped.
struct Nginx {
    child: Child,
    dir: PathBuf,
    port: u16,
    /// Workers the test kills itself: their end is in the log, and no crash.
    kills_expected: bool,
}

impl Nginx {
    /// Starts nginx with `workers` workers and `http` as the body of its http block, where
    /// `{port}` is the port to listen on.
    fn start(name: &str, workers: usize, http: &str) -> Nginx {
        Nginx::start_as(name, workers, http, &default_user())
    }

    /// `start` with `user` as the main context's user directive (or "").
    fn start_as(name: &str, workers: usize, http: &str, user: &str) -> Nginx {
        let (dir, port) = Nginx::configure(name, workers, http, user);
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx (is it installed?)");
        let nginx = Nginx {
            child,
            dir,
            port,
            kills_expected: false,
        };
        wait_until("nginx to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        nginx
    }

    /// `nginx -t` of the configuration `start` would run: whether it passed, and its output.
    fn config_test(name: &str, http: &str) -> (bool, String) {
        Nginx::config_test_as(name, http, &default_user())
    }

    fn config_test_as(name: &str, http: &str, user: &str) -> (bool, String) {
        let (ok, out, _) = Nginx::config_test_text(name, http, user);
        (ok, out)
    }

    /// `config_test_as`, with the configuration's text.
    fn config_test_text(name: &str, http: &str, user: &str) -> (bool, String, String) {
        let (dir, _) = Nginx::configure(name, 1, http, user);
        let conf = std::fs::read_to_string(dir.join("nginx.conf")).unwrap();
        let out = Command::new("nginx")
            .arg("-t")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .output()
            .expect("run nginx -t (is it installed?)");
        let _ = std::fs::remove_dir_all(&dir);
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), text, conf)
    }

    /// Writes the configuration of `start` into a fresh directory: the directory and port.
    fn configure(name: &str, workers: usize, http: &str, user: &str) -> (PathBuf, u16) {
        let dir = std::env::temp_dir().join(format!("jwks-nginx-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let d = dir.display();
        let conf = format!(
            "load_module {module};\n{user}\nworker_processes {workers};\n\
             error_log {d}/error.log info;\npid {d}/nginx.pid;\ndaemon off;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{http}\n}}\n",
            module = module().display(),
            http = http
                .replace("{port}", &port.to_string())
                .replace("{dir}", &dir.display().to_string()),
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        (dir, port)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// The pids of the master and its workers.
    fn pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let mut pids = vec![master];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(master) {
                pids.push(pid);
            }
        }
        pids
    }

    fn signal(&self, signal: libc::c_int) {
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        get(self.port, path, headers)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.signal(libc::SIGTERM);
        let _ = self.child.wait();
        let log = self.error_log();
        assert!(
            thread::panicking() || self.kills_expected || !log.contains("exited on signal"),
            "a worker crashed:\n{log}"
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Workers run as the test's user: root in CI (nginx would switch to nobody otherwise).
fn default_user() -> String {
    if is_root() {
        "user root;".to_owned()
    } else {
        String::new()
    }
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// One server on the test's port, holding `locations` (nginx text).
fn server(locations: &[String]) -> String {
    format!(
        "  server {{\n    listen 127.0.0.1:{{port}};\n{}\n  }}",
        locations.concat()
    )
}

/// A location at `path` guarded by `jwks_auth "realm"`, with `settings` (one directive per
/// line) and `then` (`proxy_pass URL` or `return 200`) after them.
fn location(path: &str, realm: &str, settings: &str, then: &str) -> String {
    let settings: String = settings
        .lines()
        .map(|l| format!("      {}\n", l.trim()))
        .collect();
    format!(
        "    location {path} {{\n      jwks_auth \"{realm}\";\n{settings}      {then};\n    }}\n"
    )
}

fn claims() -> serde_json::Value {
    json!({
        "sub": "user-1", "aud": "api", "exp": now() + 3600,
        "roles": ["a", "b"], "https://example.com/tenant": "t1",
        "org": {"id": 7}
    })
}

fn backends() -> Backends {
    support::backends::backends(&[
        "/api/x",
        "/admin/x",
        "/scoped/x",
        "/strict/x",
        "/cookie/x",
        "/idp/x",
    ])
}

fn api_server(b: &Backends) -> String {
    format!(
        r#"
  jwks_claim_set $tenant "https://example.com/tenant";
  jwks_claim_set $org_id org id;
  map $jwks_claim_sub $user_class {{ user-1 first; default other; }}
  log_format jwks "$jwks_claim_sub $jwks_kid $jwks_stale $status";
  server {{
    listen 127.0.0.1:{{port}};
    access_log {{dir}}/access.log jwks;
    jwks_uri {jwks};
    jwks_audience api;
    location /api/ {{
      jwks_auth "api";
      proxy_set_header X-Sub $jwks_claim_sub;
      proxy_set_header X-Roles $jwks_claim_roles;
      proxy_set_header X-Tenant $tenant;
      proxy_set_header X-Org $org_id;
      proxy_set_header X-Kid $jwks_kid;
      proxy_set_header X-Alg $jwks_alg;
      proxy_set_header X-Class $user_class;
      add_header X-Stale $jwks_stale always;
      proxy_pass {up};
    }}
    location /admin/ {{
      jwks_auth "admin";
      jwks_require $jwks_claim_admin error=403;
      proxy_pass {up};
    }}
    location /scoped/ {{
      jwks_auth "api";
      jwks_require $jwks_claim_scope;
      proxy_pass {up};
    }}
    location /strict/ {{
      jwks_auth "api";
      jwks_verify_iat on;
      proxy_pass {up};
    }}
    location /cookie/ {{
      jwks_auth "api";
      jwks_token $cookie_access;
      proxy_pass {up};
    }}
    location /open {{
      return 200 "open";
    }}
  }}"#,
        jwks = b.jwks.url("/jwks"),
        up = b.upstream.url(""),
    )
}

/// nginx and its module build tree (Debian's nginx and nginx-dev); without them the tests are
/// skipped (a failure under JWKS_REQUIRE_ALL, which .ci/run sets).
fn available() -> bool {
    let present = Command::new("nginx").arg("-v").output().is_ok()
        && Path::new("/usr/share/nginx/src/conf_flags").exists();
    support::require(
        "nginx with its build tree (apt-get install nginx nginx-dev)",
        present,
    )
}

#[test]
fn valid_tokens_pass_with_claims_in_variables_and_bad_ones_get_rfc6750_challenges() {
    if !available() {
        return;
    }
    let b = backends();
    let nginx = Nginx::start("basic", 1, &api_server(&b));
    let good = b.ec.token(&claims());

    let r = nginx.get("/api/x", &[("Authorization", &bearer(&good))]);
    assert_eq!(r.status, 200, "{r:?}\n{}", nginx.error_log());
    assert_eq!(r.body, "upstream");
    assert_eq!(r.header("X-Stale"), Some("0"));
    let seen = |h: &str| b.upstream.last_header("/api/x", h);
    assert_eq!(seen("x-sub").as_deref(), Some("user-1"));
    assert_eq!(seen("x-roles").as_deref(), Some("a,b"));
    assert_eq!(seen("x-tenant").as_deref(), Some("t1"));
    assert_eq!(seen("x-org").as_deref(), Some("7"));
    assert_eq!(seen("x-kid").as_deref(), Some("ec"));
    assert_eq!(seen("x-alg").as_deref(), Some("ES256"));
    assert_eq!(seen("x-class").as_deref(), Some("first"), "through a map");
    let r = nginx.get(
        "/api/x",
        &[("Authorization", &bearer(&b.rsa.token(&claims())))],
    );
    assert_eq!(r.status, 200);
    assert_eq!(seen("x-alg").as_deref(), Some("RS256"));

    // No token: a challenge without an error attribute (RFC 6750 §3.1).
    let r = nginx.get("/api/x", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("WWW-Authenticate"), Some(r#"Bearer realm="api""#));

    let mut c = claims();
    c["exp"] = json!(now() - 3600);
    let expired = b.ec.token(&c);
    let mut c = claims();
    c["aud"] = json!("other");
    let wrong_aud = b.ec.token(&c);
    let mut bad_sig = good.clone().into_bytes();
    let i = bad_sig.len() - 10;
    bad_sig[i] = if bad_sig[i] == b'A' { b'B' } else { b'A' };
    let bad_sig = String::from_utf8(bad_sig).unwrap();
    let unknown_kid = TestKey::ec("zzz", "ES256").token(&claims());
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "kid": "ec"}).to_string().as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    // Issue 22: a signed claim serde_json refuses (out of an f64's range) makes the token
    // malformed; it is never let through with its claims missing.
    let big_number = b.ec.out_of_range_token("api");
    let cases = [
        (big_number.as_str(), "the token is malformed"),
        (expired.as_str(), "the token has expired"),
        (bad_sig.as_str(), "the signature does not verify"),
        (unknown_kid.as_str(), "no key with the token's kid"),
        (wrong_aud.as_str(), "the audience is not accepted"),
        (none.as_str(), "the algorithm is not accepted"),
        ("not-a-jwt", "the token is malformed"),
    ];
    for (token, description) in cases {
        let r = nginx.get("/api/x", &[("Authorization", &bearer(token))]);
        assert_eq!(r.status, 401, "{description}");
        assert_eq!(
            r.header("WWW-Authenticate").unwrap_or_default(),
            format!(
                r#"Bearer realm="api", error="invalid_token", error_description="{description}""#
            )
        );
    }

    // The token from a cookie; a required claim (403 when missing, as configured).
    let r = nginx.get("/cookie/x", &[("Cookie", &format!("access={good}"))]);
    assert_eq!(r.status, 200);
    assert_eq!(nginx.get("/cookie/x", &[]).status, 401);
    assert_eq!(
        nginx
            .get("/admin/x", &[("Authorization", &bearer(&good))])
            .status,
        403
    );
    // jwks_require's default answer: 401 (as auth_jwt_require's).
    let r = nginx.get("/scoped/x", &[("Authorization", &bearer(&good))]);
    assert_eq!(r.status, 401);
    assert!(r
        .header("WWW-Authenticate")
        .unwrap_or_default()
        .contains("a required claim value is missing"));
    // An iat in the future: accepted by default, refused where jwks_verify_iat is on.
    let mut c = claims();
    c["iat"] = json!(now() + 864_000);
    let issued_later = bearer(&b.ec.token(&c));
    assert_eq!(
        nginx
            .get("/api/x", &[("Authorization", &issued_later)])
            .status,
        200
    );
    let r = nginx.get("/strict/x", &[("Authorization", &issued_later)]);
    assert_eq!(r.status, 401);
    assert!(r
        .header("WWW-Authenticate")
        .unwrap_or_default()
        .contains("the token is not valid yet"));
    assert_eq!(
        nginx
            .get("/strict/x", &[("Authorization", &bearer(&good))])
            .status,
        200
    );
    // Bytes no JWT has (here non-ASCII) are a malformed token, not a server error.
    let r = nginx.get("/api/x", &[("Authorization", "Bearer a\u{ff}b.c.d")]);
    assert_eq!(r.status, 401);
    assert!(r
        .header("WWW-Authenticate")
        .unwrap_or_default()
        .contains("the token is malformed"));
    let mut c = claims();
    c["admin"] = json!(true);
    let admin = b.ec.token(&c);
    assert_eq!(
        nginx
            .get("/admin/x", &[("Authorization", &bearer(&admin))])
            .status,
        200
    );
    assert_eq!(
        b.jwks.hits("/jwks"),
        2,
        "the worker's warm-up, and one refetch for the unknown kid"
    );
    let log = nginx.error_log();
    assert!(!log.contains("another process"), "no forked client:\n{log}");
    // log_format sees the variables (the access log is written as each request ends).
    let access = std::fs::read_to_string(nginx.dir.join("access.log")).unwrap();
    assert!(access.lines().any(|l| l == "user-1 ec 0 200"), "{access}");
}

#[test]
fn a_cold_start_parks_requests_without_blocking_the_worker() {
    if !available() {
        return;
    }
    let b = backends();
    b.jwks.hold("/jwks");
    let nginx = Nginx::start("cold", 2, &api_server(&b));
    // The workers warm up at start, without waiting: one (held) request for both, the other
    // worker waiting on the shared zone's claim for its set.
    wait_until("the warm-up request", || b.jwks.held("/jwks") == 1);

    let good = b.ec.token(&claims());
    let done = Arc::new(AtomicUsize::new(0));
    let parked: Vec<_> = (0..100)
        .map(|_| {
            let (port, token, done) = (nginx.port, good.clone(), done.clone());
            thread::spawn(move || {
                let r = get(port, "/api/x", &[("Authorization", &bearer(&token))]);
                done.fetch_add(1, Ordering::SeqCst);
                r.status
            })
        })
        .collect();
    // Requests that end while parked: their clients go away.
    for _ in 0..20 {
        let mut conn = TcpStream::connect(("127.0.0.1", nginx.port)).unwrap();
        let request =
            format!("GET /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {good}\r\n\r\n");
        conn.write_all(request.as_bytes()).unwrap();
    }
    // The workers are not blocked: other locations answer meanwhile.
    for _ in 0..20 {
        assert_eq!(nginx.get("/open", &[]).body, "open");
    }
    assert_eq!(
        done.load(Ordering::SeqCst),
        0,
        "the verifications are parked"
    );

    b.jwks.release("/jwks");
    for handle in parked {
        assert_eq!(handle.join().unwrap(), 200);
    }
    assert_eq!(
        b.jwks.hits("/jwks"),
        1,
        "one JWKS request for the whole nginx"
    );
    assert_eq!(
        nginx
            .get("/api/x", &[("Authorization", &bearer(&good))])
            .status,
        200
    );
}

#[test]
fn with_the_idp_down_after_warm_up_tokens_still_pass_flagged_stale() {
    if !available() {
        return;
    }
    let b = backends();
    let idp = TestServer::start();
    idp.set_jwks(&jwks(&[&b.ec]));
    let http = format!(
        r#"
  server {{
    listen 127.0.0.1:{{port}};
    location /api/ {{
      jwks_auth "api";
      jwks_uri {jwks};
      jwks_audience api;
      jwks_cache_time 1s;
      add_header X-Stale $jwks_stale always;
      proxy_pass {up};
    }}
  }}"#,
        jwks = idp.url("/jwks"),
        up = b.upstream.url(""),
    );
    let nginx = Nginx::start("stale", 1, &http);
    let good = bearer(&b.ec.token(&claims()));
    let r = nginx.get("/api/x", &[("Authorization", &good)]);
    assert_eq!((r.status, r.header("X-Stale")), (200, Some("0")));
    drop(idp); // the IdP goes down
    thread::sleep(Duration::from_millis(1500)); // past the 1 s lifespan; nothing is timed
    for _ in 0..5 {
        let r = nginx.get("/api/x", &[("Authorization", &good)]);
        assert_eq!((r.status, r.header("X-Stale")), (200, Some("1")));
    }
    // The failed refresh reached nginx's error log from the worker thread.
    wait_until("the refresh failure in the error log", || {
        nginx.error_log().contains("jwks: JWKS")
    });
}

#[test]
fn a_cold_cache_with_the_idp_down_or_silent_answers_503_never_hangs() {
    if !available() {
        return;
    }
    let b = backends();
    let closed = format!("http://127.0.0.1:{}/jwks", free_port());
    b.jwks.hold("/silent");
    let http = format!(
        r#"
  server {{
    listen 127.0.0.1:{{port}};
    location /api/ {{ jwks_auth "api"; jwks_uri {closed}; proxy_pass {up}; }}
    location /cookie/ {{
      jwks_auth "api"; jwks_uri {silent}; jwks_timeout 500ms; proxy_pass {up};
    }}
  }}"#,
        up = b.upstream.url(""),
        silent = b.jwks.url("/silent"),
    );
    let nginx = Nginx::start("down", 1, &http);
    let good = bearer(&b.ec.token(&claims()));
    for _ in 0..3 {
        assert_eq!(nginx.get("/api/x", &[("Authorization", &good)]).status, 503);
    }
    // An IdP that accepts and never answers: the fetch times out, the parked request gets 503.
    assert_eq!(
        nginx.get("/cookie/x", &[("Authorization", &good)]).status,
        503
    );
    b.jwks.release("/silent");
}

#[test]
fn a_location_with_an_issuer_verifies_that_issuers_tokens_only() {
    if !available() {
        return;
    }
    let b = backends();
    let iss = b.jwks.url("/idp");
    b.jwks.set(
        "/idp/.well-known/openid-configuration",
        Reply::json(json!({"issuer": iss, "jwks_uri": b.jwks.url("/jwks")}).to_string()),
    );
    let http = format!(
        r#"
  server {{
    listen 127.0.0.1:{{port}};
    jwks_uri {jwks};
    location /idp/ {{
      jwks_auth "idp";
      jwks_issuer {iss};
      jwks_audience api;
      proxy_set_header X-Iss $jwks_claim_iss;
      proxy_pass {up};
    }}
  }}"#,
        jwks = b.jwks.url("/jwks"),
        up = b.upstream.url(""),
    );
    let nginx = Nginx::start("discovery", 1, &http);
    let mut c = claims();
    c["iss"] = json!(iss);
    let r = nginx.get("/idp/x", &[("Authorization", &bearer(&b.ec.token(&c)))]);
    assert_eq!(r.status, 200, "{}", nginx.error_log());
    assert_eq!(
        b.upstream.last_header("/idp/x", "x-iss").as_deref(),
        Some(iss.as_str())
    );
    c["iss"] = json!(b.jwks.url("/other"));
    let r = nginx.get("/idp/x", &[("Authorization", &bearer(&b.ec.token(&c)))]);
    assert_eq!(r.status, 401);
    assert!(r
        .header("WWW-Authenticate")
        .unwrap_or_default()
        .contains("the issuer is not accepted"));
    assert_eq!(b.jwks.hits("/other/.well-known/openid-configuration"), 0);
}

#[test]
fn ten_thousand_garbage_tokens_kill_no_worker() {
    if !available() {
        return;
    }
    let b = backends();
    let nginx = Nginx::start("garbage", 2, &api_server(&b));
    let statuses: Vec<Vec<u16>> = (0..4u32)
        .map(|t| {
            let port = nginx.port;
            thread::spawn(move || {
                let mut seed = 0x9e37_79b9_u32.wrapping_mul(t + 1);
                (0..2500)
                    .map(|i| {
                        // Printable garbage of varying length, with dots in some.
                        let len = 1 + (i * 7 + t as usize) % 300;
                        let token: String = (0..len)
                            .map(|_| {
                                seed ^= seed << 13;
                                seed ^= seed >> 17;
                                seed ^= seed << 5;
                                b"ABCxyz0189-_.=+/~"[(seed % 17) as usize] as char
                            })
                            .collect();
                        get(port, "/api/x", &[("Authorization", &bearer(&token))]).status
                    })
                    .collect()
            })
        })
        .map(|h| h.join().unwrap())
        .collect();
    assert!(statuses.iter().flatten().all(|&s| s == 401));
    let log = nginx.error_log();
    assert!(!log.contains("exited on signal"), "{log}");
}

/// Threads and open descriptors over nginx's processes.
fn threads_and_fds(nginx: &Nginx) -> (usize, usize) {
    let count = |pid: u32, what: &str| {
        std::fs::read_dir(format!("/proc/{pid}/{what}")).map_or(0, |d| d.count())
    };
    let pids = nginx.pids();
    (
        pids.iter().map(|&p| count(p, "task")).sum(),
        pids.iter().map(|&p| count(p, "fd")).sum(),
    )
}

#[test]
fn reload_under_load_serves_every_request_and_new_workers_start_warm_from_the_saved_set() {
    if !available() {
        return;
    }
    let b = backends();
    let persist = std::env::temp_dir().join(format!("jwks-nginx-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&persist);
    std::fs::create_dir_all(&persist).unwrap();
    let http = api_server(&b).replace(
        "jwks_audience api;",
        &format!(
            "jwks_audience api;\n    jwks_persist_dir {};",
            persist.display()
        ),
    );
    let nginx = Nginx::start("reload", 2, &http);
    let good = bearer(&b.ec.token(&claims()));
    wait_until("the workers warm", || {
        b.jwks.hits("/jwks") >= 1 && nginx.get("/api/x", &[("Authorization", &good)]).status == 200
    });
    let workers = nginx.pids().len();
    // Idle: each process is down to its main thread (the library's threads have exited).
    wait_until("the library's idle threads to exit", || {
        threads_and_fds(&nginx).0 == workers
    });
    let (_, fds) = threads_and_fds(&nginx);

    // From now on the IdP never answers: new workers can only be warm from the saved set.
    b.jwks.hold("/jwks");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (port, good, stop) = (nginx.port, good.clone(), stop.clone());
            thread::spawn(move || {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    statuses.push(get(port, "/api/x", &[("Authorization", &good)]).status);
                }
                statuses
            })
        })
        .collect();
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(300));
        nginx.signal(libc::SIGHUP);
    }
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let statuses: Vec<u16> = load.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert!(statuses.len() > 10, "load ran: {}", statuses.len());
    assert!(
        statuses.iter().all(|&s| s == 200),
        "every request passed through the reloads: {:?}",
        statuses.iter().filter(|&&s| s != 200).collect::<Vec<_>>()
    );
    assert_eq!(b.jwks.held("/jwks"), 0, "no new worker fetched");

    // The old workers are gone and nothing leaked: threads and descriptors back to their level.
    wait_until("old workers to exit and threads to settle", || {
        nginx.pids().len() == workers && threads_and_fds(&nginx).0 == workers
    });
    assert_eq!(threads_and_fds(&nginx).1, fds, "open descriptors");
    b.jwks.release("/jwks");
    let _ = std::fs::remove_dir_all(&persist);
}

/// Runs `during` while 4 threads send `token` to `path` in a loop; their statuses.
fn under_load(port: u16, path: &str, token: &str, during: impl FnOnce()) -> Vec<u16> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (path, token, stop) = (path.to_owned(), token.to_owned(), stop.clone());
            thread::spawn(move || {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    statuses.push(get(port, &path, &[("Authorization", &token)]).status);
                }
                statuses
            })
        })
        .collect();
    during();
    stop.store(true, Ordering::SeqCst);
    load.into_iter().flat_map(|h| h.join().unwrap()).collect()
}

fn assert_all_passed(statuses: &[u16]) {
    assert!(statuses.len() > 10, "load ran: {}", statuses.len());
    let failed: Vec<_> = statuses.iter().filter(|&&s| s != 200).collect();
    assert!(failed.is_empty(), "every request passed: {failed:?}");
}

/// The workers of one nginx share the key set through the shared zone, on by default: one
/// fetch at start for all of them (the others wait for its set, not for the IdP), and one per
/// refresh after that. The control, `jwks_shared_zone off`, fetches once per worker.
#[test]
fn four_workers_make_one_jwks_request_per_refresh() {
    if !available() {
        return;
    }
    for zone in [true, false] {
        let b = backends();
        // Each request's worker in pids.log, to see that all of them had traffic.
        let http = api_server(&b)
            .replace(
                "jwks_audience api;",
                "jwks_audience api;\n    jwks_cache_time 2s;",
            )
            .replace(
                "access_log {dir}/access.log jwks;",
                "access_log {dir}/access.log jwks;\n    access_log {dir}/pids.log pids;",
            );
        let http = format!("  log_format pids \"$pid\";\n{http}");
        let http = if zone {
            http
        } else {
            format!("  jwks_shared_zone off;\n{http}")
        };
        let nginx = Nginx::start(if zone { "zone-on" } else { "zone-off" }, 4, &http);
        let good = bearer(&b.ec.token(&claims()));
        wait_until("nginx answers", || {
            nginx.get("/api/x", &[("Authorization", &good)]).status == 200
        });
        // Every worker warmed up when it started; a fetch of its own would show by now.
        thread::sleep(Duration::from_millis(1000));
        let at_start = b.jwks.hits("/jwks");
        if !zone {
            assert_eq!(at_start, 4, "without the zone, one fetch per worker");
            continue;
        }
        assert_eq!(at_start, 1, "one fetch for the four workers");
        // The refresh (due at 80% of 2 s) is held at the IdP. The worker that claimed it waits
        // on the IdP; the others, whose sets come due as well under the load, wait for the
        // zone, not the IdP: while it is held, one request has reached the IdP, not four.
        std::fs::write(nginx.dir.join("pids.log"), "").unwrap();
        b.jwks.hold("/jwks");
        let statuses = under_load(nginx.port, "/api/x", &good, || {
            wait_until("the refresh to reach the IdP", || b.jwks.held("/jwks") == 1);
            // Past every worker's lifespan (2 s), well within the claim's wait (jwks_timeout,
            // 10 s): a worker that fetched for itself would be held here too.
            thread::sleep(Duration::from_millis(2500));
            assert_eq!(
                b.jwks.held("/jwks"),
                1,
                "one refresh request for the four workers"
            );
            b.jwks.release("/jwks");
            // The others take the claimer's set from the zone.
            thread::sleep(Duration::from_millis(300));
        });
        assert_all_passed(&statuses);
        assert_eq!(b.jwks.hits("/jwks"), at_start + 1);
        let pids: std::collections::BTreeSet<String> =
            std::fs::read_to_string(nginx.dir.join("pids.log"))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect();
        assert!(pids.len() >= 3, "the load reached the workers: {pids:?}");
    }
}

/// Three reloads under load with the IdP silent and no directive beyond the README's first
/// example: every request passes and no new worker asks the IdP (it would be held there).
/// Then workers killed with SIGKILL are replaced warm, still without a request.
#[test]
fn reloads_and_a_killed_worker_start_warm_from_the_zone_with_the_idp_silent() {
    if !available() {
        return;
    }
    let b = backends();
    // Beside the README's fixed URL, an issuer found by discovery (its own JWKS path): its
    // configuration document and key set come from the zone after a reload too.
    let iss = b.jwks.url("/iss");
    b.jwks.set(
        "/iss/.well-known/openid-configuration",
        Reply::json(json!({"issuer": iss, "jwks_uri": b.jwks.url("/iss/jwks")}).to_string()),
    );
    b.jwks.set("/iss/jwks", Reply::json(jwks(&[&b.ec])));
    let http = api_server(&b).replace(
        "    location /open {",
        &format!(
            "    location /idp/ {{\n      jwks_auth \"idp\";\n      jwks_issuer {iss};\n      \
             proxy_pass {};\n    }}\n    location /open {{",
            b.upstream.url("")
        ),
    );
    let mut nginx = Nginx::start("zone-reload", 2, &http);
    nginx.kills_expected = true;
    let good = bearer(&b.ec.token(&claims()));
    let mut by_issuer = claims();
    by_issuer["iss"] = json!(iss);
    let by_issuer = bearer(&b.ec.token(&by_issuer));
    wait_until("nginx answers", || {
        nginx.get("/api/x", &[("Authorization", &good)]).status == 200
    });
    // Each worker asks for the issuer's keys once it has a request for it; every worker
    // (two) gets one, over its own connections.
    for _ in 0..8 {
        assert_eq!(
            nginx.get("/idp/x", &[("Authorization", &by_issuer)]).status,
            200
        );
    }
    let idp_paths = ["/iss/.well-known/openid-configuration", "/iss/jwks"];
    let idp_hits = |b: &Backends| idp_paths.map(|p| b.jwks.hits(p));
    let before = idp_hits(&b);
    assert_eq!(b.jwks.hits("/jwks"), 1);
    b.jwks.hold("/jwks");
    for p in idp_paths {
        b.jwks.hold(p);
    }
    let statuses = under_load(nginx.port, "/api/x", &good, || {
        for _ in 0..3 {
            thread::sleep(Duration::from_millis(300));
            nginx.signal(libc::SIGHUP);
        }
        thread::sleep(Duration::from_millis(500));
    });
    assert_all_passed(&statuses);
    assert_eq!(b.jwks.held("/jwks"), 0, "no new worker asked the IdP");
    assert_eq!(b.jwks.hits("/jwks"), 1);
    wait_until("the old workers to exit", || nginx.pids().len() == 3);
    // The new workers verify the issuer's tokens with the zone's documents, not the IdP's.
    let statuses = under_load(nginx.port, "/idp/x", &by_issuer, || {
        thread::sleep(Duration::from_millis(500))
    });
    assert_all_passed(&statuses);
    assert_eq!(idp_paths.map(|p| b.jwks.held(p)), [0, 0]);
    assert_eq!(idp_hits(&b), before);

    // Every worker killed (a request in flight on a killed worker is lost with it): what
    // answers next can only be their replacements.
    let victims = nginx.pids()[1..].to_vec();
    for &victim in &victims {
        unsafe { libc::kill(victim as libc::pid_t, libc::SIGKILL) };
    }
    wait_until("new workers replace them", || {
        let pids = nginx.pids();
        pids.len() == 3 && pids[1..].iter().all(|p| !victims.contains(p))
    });
    let statuses = under_load(nginx.port, "/api/x", &good, || {
        thread::sleep(Duration::from_millis(500))
    });
    assert_all_passed(&statuses);
    assert_eq!(
        b.jwks.held("/jwks"),
        0,
        "the new workers did not ask the IdP"
    );
    assert_eq!(b.jwks.hits("/jwks"), 1);
    b.jwks.release("/jwks");
    for p in idp_paths {
        b.jwks.release(p);
    }
}

/// A worker killed with SIGKILL in the middle of a save (the test build stalls a save halfway,
/// holding the zone's mutex, when the trigger file exists) leaves the zone usable: the master
/// unlocks the mutex, the half-written entry reads as none, the next save rewrites it, and
/// after that a reload with the IdP silent starts warm from it.
#[test]
fn a_worker_killed_during_a_save_leaves_the_zone_usable() {
    if !available() {
        return;
    }
    let b = backends();
    let dir = std::env::temp_dir().join(format!("jwks-nginx-stall-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let trigger = dir.join("stall");
    let marker = dir.join("stall.stalled");
    let main = format!(
        "{}\nenv JWKS_TEST_STALL_SAVE={};",
        default_user(),
        trigger.display()
    );
    let http = api_server(&b).replace(
        "jwks_audience api;",
        "jwks_audience api;\n    jwks_cache_time 1s;",
    );
    let (conf_dir, port) = Nginx::configure("zone-stall", 2, &http, &main);
    let child = Command::new("nginx")
        .arg("-p")
        .arg(&conf_dir)
        .arg("-c")
        .arg(conf_dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start nginx");
    let nginx = Nginx {
        child,
        dir: conf_dir,
        port,
        kills_expected: true,
    };
    let good = bearer(&b.ec.token(&claims()));
    wait_until("nginx answers", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
            && nginx.get("/api/x", &[("Authorization", &good)]).status == 200
    });
    // The next save (a refresh, due within a second under traffic) stalls halfway.
    std::fs::write(&trigger, b"").unwrap();
    let statuses = under_load(port, "/api/x", &good, || {
        wait_until("a save to stall", || marker.exists());
    });
    assert_all_passed(&statuses);
    let text = std::fs::read_to_string(&marker).unwrap();
    let victim: libc::pid_t = text.trim().parse().unwrap();
    std::fs::remove_file(&trigger).unwrap();
    // From here the IdP is silent: no save can mend the zone, whose previous document must
    // still be whole (the stalled save wrote into a spare slot).
    b.jwks.hold("/jwks");
    // Killed between requests (one in flight on it would be lost with it).
    unsafe { libc::kill(victim, libc::SIGKILL) };
    wait_until("a new worker replaces it", || {
        let pids = nginx.pids();
        pids.len() == 3 && !pids.contains(&(victim as u32))
    });
    let statuses = under_load(port, "/api/x", &good, || {
        thread::sleep(Duration::from_millis(300))
    });
    assert_all_passed(&statuses);
    assert!(
        nginx.error_log().contains("was locked by"),
        "the master unlocked the zone the killed worker held:\n{}",
        nginx.error_log()
    );
    // The workers of a reload start from the zone's previous document, the IdP silent.
    let before = nginx.pids();
    nginx.signal(libc::SIGHUP);
    wait_until("new workers", || {
        let pids = nginx.pids();
        pids.len() == 3 && pids[1..].iter().all(|p| !before.contains(p))
    });
    let statuses = under_load(port, "/api/x", &good, || {
        thread::sleep(Duration::from_millis(300))
    });
    assert_all_passed(&statuses);
    b.jwks.release("/jwks");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Claims are user data (display names, emails): none may add a header, a line or a request.
/// Each hostile value of support::inject, signed as written in `sub`, in a nested claim
/// (`jwks_claim_set`) and in an array, in a payload laid out with raw CR/LF whitespace, goes
/// through every variable to a raw-socket upstream behind a keep-alive pool and back to the
/// client through `add_header`. The upstream must receive exactly one request, with only the
/// headers the config wrote, no control byte in any, and each value escaped by the library's
/// one rule; the client the same in its response.
#[test]
fn claims_cannot_inject_headers_or_smuggle_requests() {
    use support::http::raw_get;
    use support::inject::{cases, header, one_message, RawUpstream};

    if !available() {
        return;
    }
    let b = backends();
    let upstream = RawUpstream::start();
    let nginx = Nginx::start(
        "inject",
        1,
        &format!(
            r#"
  large_client_header_buffers 4 512k;
  jwks_claim_set $org_name org name;
  upstream raw {{ server 127.0.0.1:{raw}; keepalive 4; }}
  server {{
    listen 127.0.0.1:{{port}};
    jwks_uri {jwks};
    jwks_audience api;
    location /inject/ {{
      jwks_auth "api";
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Sub $jwks_claim_sub;
      proxy_set_header X-Org $org_name;
      proxy_set_header X-Roles $jwks_claim_roles;
      proxy_set_header X-Claims $jwks_claims;
      proxy_set_header X-Kid $jwks_kid;
      proxy_set_header X-Alg $jwks_alg;
      add_header X-Resp-Sub $jwks_claim_sub always;
      add_header X-Resp-Claims $jwks_claims always;
      proxy_pass http://raw;
    }}
  }}"#,
            raw = upstream.port,
            jwks = b.jwks.url("/jwks"),
        ),
    );
    let allowed = [
        "host",
        "connection",
        "authorization",
        "x-sub",
        "x-org",
        "x-roles",
        "x-claims",
        "x-kid",
        "x-alg",
    ];
    let jose = br#"{"alg":"ES256","kid":"ec","typ":"JWT"}"#;
    for case in cases() {
        let what = case.name;
        let body = case.payload("api", "https://issuer.test");
        let signed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let token = b.ec.sign_raw("ES256", jose, &body);

        let response = raw_get(
            nginx.port,
            "/inject/x",
            &[("Authorization", &bearer(&token))],
        );
        let (status, headers) = one_message(&response, 2, &format!("{what}: to the client"));
        assert!(status.starts_with("HTTP/1.1 200"), "{what}: {status}");
        assert_eq!(
            header(&headers, "x-resp-sub"),
            Some(case.header.as_bytes()),
            "{what}"
        );
        let claims: serde_json::Value =
            serde_json::from_slice(header(&headers, "x-resp-claims").unwrap()).unwrap();
        assert_eq!(claims, signed, "{what}: $jwks_claims keeps the value");

        let (line, headers) = upstream.one_request(what);
        assert_eq!(line, "GET /inject/x HTTP/1.1", "{what}");
        for (name, _) in &headers {
            assert!(
                allowed.contains(&name.as_str()),
                "{what}: a header the config did not write: {name}"
            );
        }
        let value = |name| header(&headers, name).map(|v| v.to_vec());
        assert_eq!(
            value("x-sub"),
            Some(case.header.clone().into_bytes()),
            "{what}"
        );
        assert_eq!(value("x-org"), case.nested(), "{what}");
        assert_eq!(value("x-roles"), case.roles(), "{what}");
        assert_eq!(value("x-kid").as_deref(), Some(&b"ec"[..]), "{what}");
        assert_eq!(value("x-alg").as_deref(), Some(&b"ES256"[..]), "{what}");
        let forwarded: serde_json::Value =
            serde_json::from_slice(&value("x-claims").unwrap()).unwrap();
        assert_eq!(forwarded, signed, "{what}: $jwks_claims keeps the value");
    }
    assert!(
        upstream.take().is_empty(),
        "no connection beyond one per request"
    );
}

/// Issue 23: a `jwks_persist_dir` that others can write is refused at `nginx -t`, with the
/// directive's file and line and the check's name; a private one passes.
#[test]
fn a_persist_dir_others_can_write_fails_nginx_t() {
    use std::os::unix::fs::PermissionsExt;

    if !available() {
        return;
    }
    let b = backends();
    for (mode, passes) in [(0o777, false), (0o700, true)] {
        let dir =
            std::env::temp_dir().join(format!("jwks-saved-sets-{mode:o}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let http = format!(
            r#"
  server {{
    listen 127.0.0.1:{{port}};
    location / {{
      jwks_auth "api";
      jwks_uri {jwks};
      jwks_persist_dir {dir};
      return 200;
    }}
  }}"#,
            jwks = b.jwks.url("/jwks"),
            dir = dir.display()
        );
        let (ok, out) = Nginx::config_test(&format!("persist-{mode:o}"), &http);
        assert_eq!(ok, passes, "mode {mode:o}:\n{out}");
        if !passes {
            assert!(
                out.contains("writable by others") && out.contains("nginx.conf:"),
                "{out}"
            );
        }
        // The master runs as root; the directory is checked for the workers' user, who
        // could never write root's private directory.
        if passes && is_root() {
            let (ok, out) = Nginx::config_test_as("persist-nobody", &http, NOBODY);
            assert!(!ok, "{out}");
            assert!(
                out.contains("cannot be written by uid 65534") && out.contains("nginx.conf:"),
                "{out}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

const NOBODY: &str = "user nobody nogroup;";

/// The saved-set files under `dir`.
fn saved_sets(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// A missing `jwks_persist_dir` is made by the master, mode 0700, owned by the workers' user
/// (at `nginx -t` too, as nginx makes its temp paths), and the workers save their sets there.
#[test]
fn a_missing_persist_dir_is_made_for_the_workers_and_holds_their_saved_sets() {
    use std::os::unix::fs::MetadataExt;

    if !available() {
        return;
    }
    if !is_root() {
        eprintln!("skipped: workers of another user need a master running as root (CI is root)");
        return;
    }
    let b = backends();
    let base = std::env::temp_dir().join(format!("jwks-nginx-made-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let dir = base.join("saved");
    let http = api_server(&b).replace(
        "jwks_audience api;",
        &format!(
            "jwks_audience api;\n    jwks_persist_dir {};",
            dir.display()
        ),
    );
    let (ok, out) = Nginx::config_test_as("made-t", &http, NOBODY);
    assert!(ok, "{out}");
    let meta = std::fs::metadata(&dir).expect("nginx -t made the directory");
    assert_eq!((meta.mode() & 0o7777, meta.uid()), (0o700, 65534));
    std::fs::remove_dir(&dir).unwrap();

    let nginx = Nginx::start_as("made", 1, &http, NOBODY);
    let good = bearer(&b.ec.token(&claims()));
    wait_until("the worker to verify", || {
        nginx.get("/api/x", &[("Authorization", &good)]).status == 200
    });
    wait_until("the worker to save its set", || {
        !saved_sets(&dir).is_empty()
    });
    for file in saved_sets(&dir) {
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(
            (meta.mode() & 0o777, meta.uid()),
            (0o600, 65534),
            "{}",
            file.display()
        );
    }
    drop(nginx);
    let _ = std::fs::remove_dir_all(&base);
}

/// A reload whose persist directory fails the check is refused and the running configuration
/// keeps serving, as with any configuration error (the check runs where nginx expects one).
#[test]
fn a_reload_with_an_unsafe_persist_dir_keeps_the_running_configuration() {
    use std::os::unix::fs::PermissionsExt;

    if !available() {
        return;
    }
    let b = backends();
    let dir = std::env::temp_dir().join(format!("jwks-nginx-reload-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let http = api_server(&b).replace(
        "jwks_audience api;",
        &format!(
            "jwks_audience api;\n    jwks_persist_dir {};",
            dir.display()
        ),
    );
    let nginx = Nginx::start("reload-dir", 1, &http);
    let good = bearer(&b.ec.token(&claims()));
    wait_until("the worker to verify", || {
        nginx.get("/api/x", &[("Authorization", &good)]).status == 200
    });
    let workers = nginx.pids();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    nginx.signal(libc::SIGHUP);
    wait_until("the reload to be refused", || {
        nginx.error_log().contains("writable by others")
    });
    assert_eq!(nginx.pids(), workers, "the old worker keeps running");
    assert_eq!(nginx.get("/api/x", &[("Authorization", &good)]).status, 200);
    drop(nginx);
    let _ = std::fs::remove_dir_all(&dir);
}

/// With a fixed JWKS URL, `issuer=` makes the tokens' `iss` checked, as jwt_authn's `issuer`.
#[test]
fn a_fixed_url_with_an_issuer_accepts_that_issuers_tokens_only() {
    if !available() {
        return;
    }
    let b = backends();
    let (jwks, up) = (
        b.jwks.url("/jwks"),
        format!("proxy_pass {}", b.upstream.url("")),
    );
    let http = server(&[
        location(
            "/api/",
            "api",
            &format!("jwks_audience api;\njwks_uri {jwks} issuer=https://idp.example.com/;"),
            &up,
        ),
        location(
            "/idp/",
            "any",
            &format!("jwks_audience api;\njwks_uri {jwks};"),
            &up,
        ),
    ]);
    let nginx = Nginx::start("uri-issuer", 1, &http);
    let token = |iss: Option<&str>| {
        let mut c = claims();
        if let Some(iss) = iss {
            c["iss"] = json!(iss);
        }
        bearer(&b.ec.token(&c))
    };
    let status = |path: &str, t: &str| nginx.get(path, &[("Authorization", t)]).status;
    assert_eq!(
        status("/api/x", &token(Some("https://idp.example.com/"))),
        200
    );
    let wrong = nginx.get(
        "/api/x",
        &[("Authorization", &token(Some("https://evil.example/")))],
    );
    assert_eq!(wrong.status, 401);
    assert!(
        wrong
            .header("www-authenticate")
            .unwrap_or_default()
            .contains("invalid_token"),
        "{:?}",
        wrong.header("www-authenticate")
    );
    assert_eq!(status("/api/x", &token(None)), 401, "no iss at all");
    // The same URL without issuer= accepts any issuer: one client serves both locations.
    assert_eq!(status("/idp/x", &token(Some("https://evil.example/"))), 200);
    assert_eq!(b.jwks.hits("/jwks"), 1);
}

/// Everything `nginx -t` can know is checked there, and each message names the directive, the
/// file and the line, and only settings that exist.
#[test]
fn nginx_t_refuses_settings_that_can_never_work_naming_the_directive_and_line() {
    if !available() {
        return;
    }
    let b = backends();
    let jwks = b.jwks.url("/jwks");
    use std::os::unix::fs::PermissionsExt;
    // Key files nginx -t must refuse: one others may write, one over the 1 MiB limit.
    let files = std::env::temp_dir().join(format!("jwks-nginx-t-keys-{}", std::process::id()));
    std::fs::create_dir_all(&files).unwrap();
    let shared = files.join("shared.json");
    std::fs::write(&shared, support::keys::jwks(&[&TestKey::ec("k", "ES256")])).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o666)).unwrap();
    let big = files.join("big.json");
    std::fs::write(
        &big,
        format!("{{\"keys\": [], \"pad\": \"{}\"}}", "x".repeat(1 << 21)),
    )
    .unwrap();
    std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "key-file-shared",
            format!("jwks_key_file {};", shared.display()),
            "jwks_key_file: key file",
        ),
        (
            "key-file-big",
            format!("jwks_key_file {};", big.display()),
            "jwks_key_file: key file",
        ),
        (
            "algorithms-hs",
            format!("jwks_uri {jwks};\n      jwks_algorithms HS256;"),
            "can never verify",
        ),
        (
            "algorithms-bad",
            format!("jwks_uri {jwks};\n      jwks_algorithms \"RS256 XX999\";"),
            "jwks_algorithms:",
        ),
        (
            "issuer-http",
            "jwks_issuer http://idp.example.com;".to_owned(),
            "jwks_issuer: ",
        ),
        (
            "uri-http",
            "jwks_uri http://idp.example.com/jwks;".to_owned(),
            "jwks_uri: ",
        ),
        (
            "uri-param",
            format!("jwks_uri {jwks} iss=x;"),
            "unknown parameter",
        ),
        (
            "timeout",
            format!("jwks_uri {jwks};\n      jwks_timeout 0;"),
            "\"jwks_timeout\" directive must be positive",
        ),
        (
            "cache-time",
            format!("jwks_uri {jwks};\n      jwks_cache_time 0;"),
            "\"jwks_cache_time\" directive must be positive",
        ),
        (
            "ca-file",
            format!("jwks_uri {jwks};\n      jwks_ca_file /nonexistent/ca.pem;"),
            "jwks_ca_file: ",
        ),
        // Found when the location is merged: named by the location's jwks_auth.
        (
            "two-sources",
            format!("jwks_uri {jwks};\n      jwks_issuer https://idp.example.com;"),
            "excludes jwks_uri and jwks_key_file",
        ),
    ];
    for (name, settings, expected) in cases {
        let http = server(&[location("/", "api", &settings, "return 200")]);
        let (ok, out, conf) = Nginx::config_test_text(&format!("t-{name}"), &http, &default_user());
        assert!(!ok, "{name} passed nginx -t:\n{out}");
        // The line of the directive at fault: the last of the settings, or for what only the
        // whole location shows, its jwks_auth.
        let directive = match name {
            "two-sources" => "jwks_auth \"api\";",
            _ => settings.lines().last().unwrap().trim(),
        };
        let line = conf
            .lines()
            .position(|l| l.trim() == directive)
            .expect("the directive is in the configuration")
            + 1;
        assert!(out.contains(expected), "{name}: {out}");
        assert!(
            out.contains(&format!("nginx.conf:{line}")),
            "{name}, line {line}: {out}"
        );
        for lacking in ["allow_http", "local_jwks", "max_response_bytes"] {
            assert!(
                !out.contains(lacking),
                "{name} names a setting nginx lacks ({lacking}): {out}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&files);
    // The shared zone's size, in the http block.
    for (value, expected) in [
        ("10k", "jwks_shared_zone 10k is too small: at least 256k"),
        (
            "lots",
            "jwks_shared_zone takes a size (for example 2m) or off, not \"lots\"",
        ),
    ] {
        let directive = format!("jwks_shared_zone {value};");
        let http = format!(
            "  {directive}\n{}",
            server(&[location(
                "/",
                "api",
                &format!("jwks_uri {jwks};"),
                "return 200"
            )])
        );
        let (ok, out, conf) = Nginx::config_test_text("t-zone", &http, &default_user());
        assert!(!ok, "{value} passed nginx -t:\n{out}");
        let line = conf.lines().position(|l| l.trim() == directive).unwrap() + 1;
        assert!(out.contains(expected), "{value}: {out}");
        assert!(
            out.contains(&format!("nginx.conf:{line}")),
            "{value}: {out}"
        );
    }
    // The controls: the same shapes with good values pass.
    for settings in [
        format!("jwks_uri {jwks} issuer=https://idp.example.com/;\n      jwks_algorithms \"RS256 ES256\";"),
        "jwks_issuer https://idp.example.com;".to_owned(),
        format!("jwks_uri {jwks};\n      jwks_timeout 1s;\n      jwks_cache_time 1s;"),
    ] {
        let http = server(&[location("/", "api", &settings, "return 200")]);
        let (ok, out) = Nginx::config_test("t-good", &http);
        assert!(ok, "{settings}: {out}");
    }
}

/// `jwks_cache_time` is absolute, as jwt_authn's `cache_duration` and NGINX Plus's
/// `auth_jwt_key_cache`: an IdP's `Cache-Control: max-age=3600` does not stretch it. With
/// `jwks_cache_control on`, the IdP's header decides. Both run side by side, with traffic, in
/// the same time: the first refetches, the second does not.
#[test]
fn jwks_cache_time_is_absolute_unless_cache_control_is_on() {
    if !available() {
        return;
    }
    let b = backends();
    b.serve_for_an_hour(&["/absolute", "/headers"]);
    let up = format!("proxy_pass {}", b.upstream.url(""));
    let (absolute, headers) = (b.jwks.url("/absolute"), b.jwks.url("/headers"));
    let http = server(&[
        location("/api/", "api", &format!("jwks_audience api;\njwks_uri {absolute};\njwks_cache_time 1s;"), &up),
        location(
            "/idp/",
            "idp",
            &format!("jwks_audience api;\njwks_uri {headers};\njwks_cache_time 1s;\njwks_cache_control on;"),
            &up,
        ),
    ]);
    let nginx = Nginx::start("cache-time", 1, &http);
    let good = bearer(&b.ec.token(&claims()));
    wait_until("three fetches of the absolute set", || {
        assert_eq!(nginx.get("/api/x", &[("Authorization", &good)]).status, 200);
        assert_eq!(nginx.get("/idp/x", &[("Authorization", &good)]).status, 200);
        thread::sleep(Duration::from_millis(100));
        b.jwks.hits("/absolute") >= 3
    });
    assert_eq!(
        b.jwks.hits("/headers"),
        1,
        "max-age=3600 kept the other set"
    );
}

/// `jwks_key_file` (NGINX Plus's `auth_jwt_key_file`): the master reads the file when the
/// configuration is loaded, at start and on each reload, and never per request; it is trusted
/// only with strict modes (`nginx -t` and a reload refuse a file others can write).
#[test]
fn a_key_file_verifies_with_no_request_and_is_read_again_on_reload() {
    use std::os::unix::fs::PermissionsExt;

    if !available() {
        return;
    }
    let b = backends();
    let dir = std::env::temp_dir().join(format!("jwks-keys-for-nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keys.json");
    let write = |keys: &[&TestKey], mode: u32| {
        std::fs::write(&file, jwks(keys)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write(&[&b.ec], 0o644);
    let settings = format!("jwks_audience api;\njwks_key_file {};", file.display());
    let up = format!("proxy_pass {}", b.upstream.url(""));
    let http = server(&[location("/api/", "api", &settings, &up)]);
    let nginx = Nginx::start("key-file", 2, &http);
    let (ec, rsa) = (
        bearer(&b.ec.token(&claims())),
        bearer(&b.rsa.token(&claims())),
    );
    let status = |t: &str| nginx.get("/api/x", &[("Authorization", t)]).status;
    assert_eq!(status(&ec), 200);
    assert_eq!(status(&rsa), 401, "a kid the file lacks");
    // Never read per request: the workers hold the set the master read.
    std::fs::remove_file(&file).unwrap();
    assert_eq!(status(&ec), 200);

    // Read again on reload.
    write(&[&b.rsa], 0o644);
    nginx.signal(libc::SIGHUP);
    wait_until("the reloaded key file", || {
        status(&rsa) == 200 && status(&ec) == 401
    });

    // A reload with a file others can write is refused; the running set keeps serving.
    write(&[&b.ec], 0o666);
    nginx.signal(libc::SIGHUP);
    wait_until("the refused reload", || {
        nginx.error_log().contains("writable by group or others")
    });
    assert_eq!(status(&rsa), 200);
    assert_eq!(b.jwks.hits("/jwks"), 0, "no key was ever fetched");

    let (ok, out) = Nginx::config_test("key-file-t", &http);
    assert!(
        !ok && out.contains("jwks_key_file: ") && out.contains("nginx.conf:"),
        "{out}"
    );
    drop(nginx);
    let _ = std::fs::remove_dir_all(&dir);
}

/// In `limit_except`, as NGINX Plus's `auth_jwt`: the methods the block covers need a token,
/// the others do not.
#[test]
fn jwks_auth_in_limit_except_guards_only_the_other_methods() {
    if !available() {
        return;
    }
    let b = backends();
    let http = format!(
        r#"
  server {{
    listen 127.0.0.1:{{port}};
    location /api/ {{
      jwks_uri {jwks};
      jwks_audience api;
      limit_except GET {{
        jwks_auth "write";
      }}
      proxy_pass {up};
    }}
  }}"#,
        jwks = b.jwks.url("/jwks"),
        up = b.upstream.url(""),
    );
    let nginx = Nginx::start("limit-except", 1, &http);
    let good = bearer(&b.ec.token(&claims()));
    assert_eq!(nginx.get("/api/x", &[]).status, 200, "GET needs no token");
    let delete = |headers: &[(&str, &str)]| request(nginx.port, "DELETE", "/api/x", headers);
    let refused = delete(&[]);
    assert_eq!(refused.status, 401);
    assert!(refused
        .header("www-authenticate")
        .unwrap_or_default()
        .contains("realm=\"write\""));
    assert_eq!(delete(&[("Authorization", &good)]).status, 200);
}

/// The token's header fields, as NGINX Plus's `$jwt_header_*` and `auth_jwt_header_set`, by the
/// claims' rule: a field the issuer filled with CR/LF arrives escaped, never as header bytes.
#[test]
fn header_fields_reach_variables_escaped() {
    if !available() {
        return;
    }
    let b = backends();
    let settings = format!(
        "jwks_audience api;\njwks_uri {};\nadd_header X-Typ $jwks_header_typ always;\n\
         add_header X-Thumb $thumb always;\nadd_header X-Note $jwks_header_note always;\n\
         add_header X-Absent \"[$jwks_header_cty]\" always;",
        b.jwks.url("/jwks")
    );
    let up = format!("proxy_pass {}", b.upstream.url(""));
    let http = format!(
        "  jwks_header_set $thumb x5t;\n{}",
        server(&[location("/api/", "api", &settings, &up)])
    );
    let nginx = Nginx::start("header-vars", 1, &http);
    let header = r#"{"alg":"ES256","kid":"ec","typ":"JWT","x5t":"abc","note":"a\r\nX-Evil: 1"}"#;
    let token =
        b.ec.sign_raw("ES256", header.as_bytes(), claims().to_string().as_bytes());
    let r = nginx.get("/api/x", &[("Authorization", &bearer(&token))]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-typ"), Some("JWT"));
    assert_eq!(r.header("x-thumb"), Some("abc"));
    assert_eq!(r.header("x-note"), Some("a\\x0D\\x0AX-Evil: 1"));
    assert_eq!(r.header("x-evil"), None);
    assert_eq!(r.header("x-absent"), Some("[]"));
}

/// The differential corpus of the Envoy module (support::corpus), through nginx: each token's
/// answer must be the library's own outcome for that token with the same settings (200 when it
/// verifies, 401 otherwise); the cases that are about HTTP rather than the token (the scheme's
/// case, two spaces, a query parameter, no token) must get the RFCs' verdict. The README carries
/// the table this prints.
#[test]
fn the_differential_corpus_answers_as_the_library_does() {
    if !available() {
        return;
    }
    let k = DiffKeys::new();
    let server = TestServer::start();
    server.set_jwks(&jwks(&k.all()));
    let upstream = TestServer::start();
    upstream.set("/api/x", Reply::status(200, "upstream"));
    let settings = format!(
        "jwks_uri {} issuer=https://issuer.test;\njwks_audience api;",
        server.url("/jwks")
    );
    let http = self::server(&[location(
        "/api/",
        "api",
        &settings,
        &format!("proxy_pass {}", upstream.url("")),
    )]);
    let nginx = Nginx::start("differential", 1, &http);
    let mut o = jwks::ClientOptions::new(server.url("/jwks"));
    o.validation.issuer = Some("https://issuer.test".into());
    o.validation.audience = vec!["api".into()];
    let library = jwks::Client::new(o).unwrap();

    let cases = corpus(&k);
    assert_eq!(cases.len(), 45, "the corpus holds 45 cases");
    let mut table = String::from("| case | RFCs | libjwks | nginx |\n|---|---|---|---|\n");
    for c in &cases {
        let headers: Vec<(&str, &str)> = c
            .authorization
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let answer = nginx.get(&c.path, &headers).status;
        let token = c
            .authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .filter(|t| !t.starts_with(' ') && c.path == "/api/x");
        let (expected, by) = match token {
            Some(t) => match library.verify(t) {
                Ok(_) => (200, "verifies".to_owned()),
                Err(e) => (401, e.kind().to_string()),
            },
            None => match c.verdict {
                Verdict::Accept | Verdict::Either(true) => (200, "(HTTP) accept".to_owned()),
                Verdict::Reject | Verdict::Either(false) => (401, "(HTTP) reject".to_owned()),
            },
        };
        let verdict = match c.verdict {
            Verdict::Accept => "accept",
            Verdict::Reject => "reject",
            Verdict::Either(_) => "either",
        };
        table.push_str(&format!(
            "| {} | {verdict} ({}) | {by} | {answer} |\n",
            c.name, c.why
        ));
        assert_eq!(
            answer, expected,
            "{}: nginx answered {answer}, expected {expected} ({by})\n{table}",
            c.name
        );
    }
    eprintln!("{table}");
}

/// Several key sources in one location, as NGINX Plus's repeated `auth_jwt_key_request` and
/// `auth_jwt_key_file`: each token verifies with the source that has its key; a refusal of
/// the token itself (expired) answers at once, without trying the others; a source whose keys
/// cannot be had does not stop another from verifying, and when no source verifies while one
/// was unavailable, the answer is 503 (the key may be there).
#[test]
fn several_key_sources_in_one_location() {
    use std::os::unix::fs::PermissionsExt;

    if !available() {
        return;
    }
    let b = backends();
    let second = TestServer::start();
    let other = TestKey::ec("other", "ES256");
    second.set_jwks(&jwks(&[&other]));
    let down = TestServer::start();
    down.set("/jwks", Reply::status(500, "down"));
    let local = TestKey::ec("local", "ES256");
    let dir = std::env::temp_dir().join(format!("jwks-keys-several-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keys.json");
    std::fs::write(&file, jwks(&[&local])).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let up = format!("proxy_pass {}", b.upstream.url(""));
    let three = format!(
        "jwks_audience api;\njwks_uri {};\njwks_uri {};\njwks_key_file {};",
        b.jwks.url("/jwks"),
        second.url("/jwks"),
        file.display()
    );
    let with_down = format!(
        "jwks_audience api;\njwks_uri {};\njwks_uri {};",
        down.url("/jwks"),
        second.url("/jwks")
    );
    let http = server(&[
        location("/api/", "api", &three, &up),
        location("/idp/", "idp", &with_down, &up),
    ]);
    let nginx = Nginx::start("several", 1, &http);
    let status = |path: &str, key: &TestKey, c: serde_json::Value| {
        nginx
            .get(path, &[("Authorization", &bearer(&key.token(&c)))])
            .status
    };
    let mut expired = claims();
    expired["exp"] = json!(now() - 7200);
    // Answered with its own refusal, not another source's "no such key".
    let refused = nginx.get(
        "/api/x",
        &[("Authorization", &bearer(&b.ec.token(&expired)))],
    );
    assert_eq!(refused.status, 401);
    let challenge = refused.header("www-authenticate").unwrap_or_default();
    assert!(challenge.contains("expired"), "{challenge}");
    assert_eq!(status("/api/x", &b.ec, claims()), 200);
    assert_eq!(status("/api/x", &other, claims()), 200);
    assert_eq!(status("/api/x", &local, claims()), 200);
    // Each URL was fetched at warm-up and refetched once for a kid it lacks (the unknown-kid
    // rule: at most once per interval, whatever the kid), so a kid no source has costs nothing
    // more and answers 401.
    assert_eq!((b.jwks.hits("/jwks"), second.hits("/jwks")), (2, 2));
    let stranger = TestKey::ec("stranger", "ES256");
    assert_eq!(status("/api/x", &stranger, claims()), 401);
    assert_eq!((b.jwks.hits("/jwks"), second.hits("/jwks")), (2, 2));

    // The first source is down and cold: the second still verifies its tokens, and a token
    // no source can verify is 503, not 401.
    assert_eq!(status("/idp/x", &other, claims()), 200);
    assert_eq!(status("/idp/x", &stranger, claims()), 503);
    drop(nginx);
    let _ = std::fs::remove_dir_all(&dir);
}
