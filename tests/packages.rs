//! The Debian packages (issue 27) as their users meet them. `scripts/package-deb.sh` builds
//! them into target/deb/ (the test command runs it before `cargo test`: a cargo build inside a
//! running `cargo test` would wait for the lock cargo holds), with the Go module as a module
//! proxy on disk beside them. This test then installs them with apt-get and checks, each against
//! a JWKS server on 127.0.0.1:
//! - the C example built with pkg-config alone, shared and static, and the C++ example with
//!   CMake's find_package(jwks), both ways;
//! - Debian's stock nginx configuration, with only the package's modules-enabled link and a
//!   site: 401 without a token, 200 with one;
//! - a Go program outside the repository, its libjwks.dev/jwks fetched with `go get` from the
//!   proxy on disk and linked statically, with no cargo on PATH;
//! - then the purge: no file of the packages left, and the stock nginx still starts.
//!
//! It installs packages, so it needs root (CI is, on a throwaway machine); it is skipped
//! otherwise, unless JWKS_REQUIRE_ALL is set.

mod support;

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::json;
use support::bench::run as succeed;
use support::cbuild::{self, run};
use support::http::{bearer, get};
use support::keys::{claims, jwks, now, TestKey};
use support::server::TestServer;
use support::wait_until;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const PACKAGES: [&str; 3] = ["libjwks0", "libjwks-dev", "libnginx-mod-http-jwks"];

fn deb_dir() -> PathBuf {
    cbuild::lib_dir().parent().expect("target dir").join("deb")
}

fn deb(package: &str) -> PathBuf {
    let arch = run(Command::new("dpkg").arg("--print-architecture"));
    deb_dir().join(format!("{package}_{VERSION}_{}.deb", arch.trim()))
}

fn multiarch() -> String {
    run(Command::new("dpkg-architecture").arg("-qDEB_HOST_MULTIARCH"))
        .trim()
        .to_owned()
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
}

/// Asserts that a program exited with `code`; its standard output.
fn exits(out: &Output, code: i32, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// The files (not directories) a package's .deb holds, as absolute paths.
fn deb_files(deb: &Path) -> BTreeSet<String> {
    succeed(Command::new("dpkg-deb").arg("-c").arg(deb))
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| {
            // "-rw-r--r-- root/root 123 2026-12-05 09:00 ./usr/lib/x.so" or "... a -> b"
            let name = l.split_whitespace().nth(5).expect("a path");
            name.trim_start_matches('.').to_owned()
        })
        .collect()
}

fn needed(exe: &Path) -> String {
    succeed(Command::new("readelf").arg("-d").arg(exe))
        .lines()
        .filter(|l| l.contains("(NEEDED)") || l.contains("(SONAME)"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A fresh scratch directory outside the repository.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jwks-packages-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Installed packages, purged when dropped, so a failed check leaves no package behind.
struct Installed {
    purged: bool,
}

impl Installed {
    fn install() -> Installed {
        let debs: Vec<PathBuf> = PACKAGES.iter().map(|p| deb(p)).collect();
        succeed(
            Command::new("apt-get")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(&debs)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        );
        Installed { purged: false }
    }

    /// Purges the packages; returns the files they had installed (from dpkg -L) beforehand.
    fn purge(&mut self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for package in PACKAGES {
            for line in succeed(Command::new("dpkg").arg("-L").arg(package)).lines() {
                let path = PathBuf::from(line);
                if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
                    files.push(path);
                }
            }
        }
        succeed(&mut apt_purge());
        self.purged = true;
        files
    }
}

fn apt_purge() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.args(["purge", "-y", "-q"])
        .args(PACKAGES)
        .env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !self.purged {
            let _ = apt_purge().output();
        }
    }
}

/// Debian's stock nginx: its own /etc/nginx/nginx.conf (so /etc/nginx/modules-enabled/ is
/// what loads modules), with only the pid file, the error log and the sites include moved into
/// a scratch directory, and `site` as the one site. Stopped when dropped.
struct StockNginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl StockNginx {
    fn config(name: &str, site: &str) -> (PathBuf, u16) {
        let dir = scratch(name);
        let port = support::free_port();
        let stock = std::fs::read_to_string("/etc/nginx/nginx.conf").expect("Debian's nginx.conf");
        let d = dir.display();
        let mut conf = String::new();
        let mut replaced = 0;
        for line in stock.lines() {
            let t = line.trim();
            let new = if t.starts_with("pid ") {
                format!("pid {d}/nginx.pid;")
            } else if t.starts_with("error_log ") {
                format!("error_log {d}/error.log;")
            } else if t.starts_with("include /etc/nginx/sites-enabled/") {
                format!("include {d}/site.conf;")
            } else {
                conf.push_str(line);
                conf.push('\n');
                continue;
            };
            replaced += 1;
            conf.push_str(&new);
            conf.push('\n');
        }
        assert_eq!(replaced, 3, "the stock nginx.conf changed shape:\n{stock}");
        assert!(conf.contains("include /etc/nginx/modules-enabled/*.conf;"));
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let site = site
            .replace("{port}", &port.to_string())
            .replace("{dir}", &d.to_string());
        std::fs::write(dir.join("site.conf"), site).unwrap();
        std::fs::create_dir_all(dir.join("www")).unwrap();
        std::fs::write(dir.join("www/index.html"), "hello\n").unwrap();
        (dir, port)
    }

    fn test(name: &str, site: &str) -> Output {
        let (dir, _) = StockNginx::config(name, site);
        let out = output(
            Command::new("nginx")
                .arg("-t")
                .arg("-c")
                .arg(dir.join("nginx.conf")),
        );
        let _ = std::fs::remove_dir_all(&dir);
        out
    }

    fn start(name: &str, site: &str) -> StockNginx {
        let (dir, port) = StockNginx::config(name, site);
        let child = Command::new("nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start nginx");
        let nginx = StockNginx { child, port, dir };
        wait_until("nginx to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        nginx
    }
}

impl Drop for StockNginx {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A site that serves a file only to a valid token of `jwks_url`'s keys.
fn jwks_site(jwks_url: &str) -> String {
    format!(
        "server {{\n  listen 127.0.0.1:{{port}};\n  root {{dir}}/www;\n  \
         jwks_uri {jwks_url} issuer=https://issuer.test;\n  jwks_audience api;\n  \
         location / {{\n    jwks_auth \"api\";\n    add_header X-Sub $jwks_claim_sub always;\n  }}\n}}\n"
    )
}

const PLAIN_SITE: &str =
    "server {\n  listen 127.0.0.1:{port};\n  root {dir}/www;\n  location / { }\n}\n";

/// PATH without any directory that holds cargo or rustc.
fn path_without_rust() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|d| !d.join("cargo").exists() && !d.join("rustc").exists())
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// The symbols file lists every function the header declares (dpkg-gensymbols then fails a
/// package build that loses one under the same soname; a new one only warns there, so this
/// test is what keeps the file complete).
#[test]
fn the_symbols_file_lists_every_function_of_the_header() {
    let header = std::fs::read_to_string(cbuild::root().join("include/jwks.h")).unwrap();
    // Every identifier that starts with jwks_ and is followed by "(": a declaration or a
    // mention of a function (the header mentions only its own).
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut declared = BTreeSet::new();
    let mut rest = header.as_str();
    while let Some(at) = rest.find("jwks_") {
        let before = header.len() - rest.len() + at;
        let name: String = rest[at..].chars().take_while(|&c| ident(c)).collect();
        let after = &rest[at + name.len()..];
        let standalone = header[..before]
            .chars()
            .next_back()
            .is_none_or(|c| !ident(c));
        if standalone && after.starts_with('(') {
            declared.insert(name.clone());
        }
        rest = &rest[at + name.len().max(1)..];
    }
    let symbols = std::fs::read_to_string(cbuild::root().join("debian/libjwks0.symbols")).unwrap();
    let mut lines = symbols.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "libjwks.so.{} libjwks0 #MINVER#",
                env!("CARGO_PKG_VERSION_MAJOR")
            )
            .as_str()
        )
    );
    let listed: BTreeSet<String> = lines
        .filter_map(|l| l.strip_prefix(' '))
        .map(|l| l.split('@').next().unwrap().to_owned())
        .collect();
    assert!(declared.len() > 100, "the header's functions: {declared:?}");
    assert_eq!(
        declared.difference(&listed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "functions missing from debian/libjwks0.symbols: add them with the version that \
         introduces them"
    );
    assert_eq!(
        listed.difference(&declared).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "symbols no longer in the header: removing a function needs a new soname"
    );
}

#[test]
fn the_packages_install_serve_c_nginx_and_go_and_purge_clean() {
    if !support::require("root (this test installs packages with apt-get)", is_root()) {
        return;
    }
    for tool in [
        "apt-get",
        "dpkg-deb",
        "lintian",
        "pkg-config",
        "nginx",
        "go",
        "cc",
    ] {
        if !support::require(tool, on_path(tool)) {
            return;
        }
    }
    let built = PACKAGES.iter().all(|p| deb(p).exists());
    if !support::require(
        "target/deb/*.deb of this version (scripts/package-deb.sh, as scripts/test.sh runs it)",
        built,
    ) {
        return;
    }

    check_contents();
    check_symbols_guard();
    check_lintian();

    let key = TestKey::rsa("k1", "RS256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let url = server.url("/jwks");
    let mut c = claims();
    c["aud"] = json!("api");
    let good = key.token(&c);
    c["exp"] = json!(now() - 3600);
    let expired = key.token(&c);

    let mut installed = Installed::install();
    let enabled = Path::new("/etc/nginx/modules-enabled/50-mod-http-jwks.conf");
    assert_eq!(
        std::fs::read_link(enabled).ok(),
        Some(PathBuf::from(
            "/usr/share/nginx/modules-available/mod-http-jwks.conf"
        )),
        "the package enables the module as Debian's module packages do"
    );

    c_example_with_pkg_config(&url, &good, &expired);
    cpp_example_with_find_package(&url, &good);
    stock_nginx_with_the_module(&url, &good, &expired);
    go_module_from_the_proxy(&url, &good);

    let before = server.hits("/jwks");
    assert!(before >= 4, "each consumer fetched the keys: {before}");

    let files = installed.purge();
    assert!(files.len() >= 10, "{files:?}");
    let left: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.symlink_metadata().is_ok())
        .collect();
    assert!(left.is_empty(), "files left after the purge: {left:?}");
    assert!(
        enabled.symlink_metadata().is_err(),
        "the modules-enabled link outlived the purge"
    );
    let status =
        succeed(Command::new("dpkg-query").args(["-W", "-f", "${db:Status-Abbrev} ${Package}\\n"]));
    for package in PACKAGES {
        assert!(
            !status.lines().any(|l| l.ends_with(&format!(" {package}"))
                && !l.starts_with("un")
                && !l.starts_with("pn")),
            "{package} is still known to dpkg:\n{status}"
        );
    }
    // The stock nginx still starts (its own configuration, and one serving a plain site).
    succeed(Command::new("nginx").arg("-t"));
    let nginx = StockNginx::start("after-purge", PLAIN_SITE);
    let r = get(nginx.port, "/", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Each package holds what it should and nothing else.
fn check_contents() {
    let ma = multiarch();
    let doc = |p: &str| {
        [
            format!("/usr/share/doc/{p}/changelog.gz"),
            format!("/usr/share/doc/{p}/copyright"),
        ]
    };
    let set = |files: &[String]| files.iter().cloned().collect::<BTreeSet<String>>();

    let mut lib = vec![format!("/usr/lib/{ma}/libjwks.so.0")];
    lib.extend(doc("libjwks0"));
    assert_eq!(deb_files(&deb("libjwks0")), set(&lib));

    let mut dev: Vec<String> = [
        "/usr/include/jwks.h",
        "/usr/include/jwks.hpp",
        "/usr/lib/{ma}/libjwks.a",
        "/usr/lib/{ma}/libjwks.so",
        "/usr/lib/{ma}/pkgconfig/jwks.pc",
        "/usr/lib/{ma}/pkgconfig/jwks-static.pc",
        "/usr/lib/{ma}/cmake/jwks/jwksConfig.cmake",
        "/usr/lib/{ma}/cmake/jwks/jwksConfigVersion.cmake",
    ]
    .iter()
    .map(|f| f.replace("{ma}", &ma))
    .collect();
    dev.extend(doc("libjwks-dev"));
    assert_eq!(deb_files(&deb("libjwks-dev")), set(&dev));

    let mut module = vec![
        "/usr/lib/nginx/modules/ngx_http_jwks_module.so".to_owned(),
        "/usr/share/nginx/modules-available/mod-http-jwks.conf".to_owned(),
    ];
    module.extend(doc("libnginx-mod-http-jwks"));
    assert_eq!(deb_files(&deb("libnginx-mod-http-jwks")), set(&module));

    // Fields: versions from Cargo.toml, the exact nginx ABI, the dev package on its library.
    let field = |p: &str, f: &str| {
        succeed(Command::new("dpkg-deb").arg("-f").arg(deb(p)).arg(f))
            .trim()
            .to_owned()
    };
    for p in PACKAGES {
        assert_eq!(field(p, "Version"), VERSION, "{p}");
    }
    let abi = std::fs::read_to_string("/usr/share/nginx/src/debian/libnginx-mod.abisubstvars")
        .expect("nginx-dev's ABI substvars");
    let abi = abi
        .lines()
        .find_map(|l| l.strip_prefix("nginx:abi="))
        .expect("nginx:abi")
        .trim()
        .to_owned();
    assert!(abi.starts_with("nginx-abi-"), "{abi}");
    let depends = field("libnginx-mod-http-jwks", "Depends");
    assert!(
        depends.split(", ").any(|d| d == abi),
        "{depends} (wanted {abi})"
    );
    assert!(!depends.contains("libjwks"), "{depends}");
    assert_eq!(
        field("libjwks-dev", "Depends"),
        format!("libjwks0 (= {VERSION})")
    );
    // The Go binding's cgo runs pkg-config.
    assert_eq!(field("libjwks-dev", "Recommends"), "pkg-config");

    // The binaries: the soname, and the module without libjwks.so.
    let dir = scratch("contents");
    for p in PACKAGES {
        succeed(Command::new("dpkg-deb").arg("-x").arg(deb(p)).arg(&dir));
    }
    let lib = needed(&dir.join(format!("usr/lib/{ma}/libjwks.so.0")));
    assert!(lib.contains("Library soname: [libjwks.so.0]"), "{lib}");
    let module = needed(&dir.join("usr/lib/nginx/modules/ngx_http_jwks_module.so"));
    assert!(!module.contains("libjwks"), "{module}");
    let conf =
        std::fs::read_to_string(dir.join("usr/share/nginx/modules-available/mod-http-jwks.conf"))
            .unwrap();
    assert_eq!(conf, "load_module modules/ngx_http_jwks_module.so;\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// dpkg-gensymbols, as dh_makeshlibs runs it, fails when the library lost a symbol the symbols
/// file lists: shown with the packaged library and the file plus one symbol it no longer has,
/// built as the next version (a symbol added and dropped within one unreleased version is not
/// a loss to dpkg).
fn check_symbols_guard() {
    let dir = scratch("symbols");
    succeed(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb("libjwks0"))
            .arg(&dir),
    );
    let lib = dir.join(format!("usr/lib/{}/libjwks.so.0", multiarch()));
    let symbols = std::fs::read_to_string(cbuild::root().join("debian/libjwks0.symbols")).unwrap();
    let gensymbols = |file: &Path| {
        output(
            Command::new("dpkg-gensymbols")
                .args(["-plibjwks0", "-c1"])
                .arg(format!("-v{VERSION}.1"))
                .arg(format!("-P{}", dir.display()))
                .arg(format!("-e{}", lib.display()))
                .arg(format!("-I{}", file.display()))
                .arg(format!("-O{}", dir.join("out.symbols").display()))
                .current_dir(cbuild::root()),
        )
    };
    let kept = dir.join("kept.symbols");
    std::fs::write(&kept, &symbols).unwrap();
    let out = gensymbols(&kept);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lost = dir.join("lost.symbols");
    std::fs::write(
        &lost,
        format!("{symbols} jwks_function_that_was_removed@Base 0.1.0\n"),
    )
    .unwrap();
    let out = gensymbols(&lost);
    assert!(!out.status.success(), "a lost symbol passed");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("jwks_function_that_was_removed"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// lintian: no error and no warning. The informational tags it prints are accepted in
/// debian/README.source, each with its reason.
fn check_lintian() {
    let debs: Vec<PathBuf> = PACKAGES.iter().map(|p| deb(p)).collect();
    let out = output(
        Command::new("lintian")
            .args(["--fail-on", "error,warning"])
            .args(&debs),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "lintian:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let complaints: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(complaints.is_empty(), "{complaints:?}");
}

/// examples/c/jwks_verify.c built with pkg-config alone against the installed packages, shared
/// (jwks) and static (jwks-static), run with no library path.
fn c_example_with_pkg_config(url: &str, good: &str, expired: &str) {
    let dir = scratch("c");
    for (module, shared) in [("jwks", true), ("jwks-static", false)] {
        let flags = succeed(
            Command::new("pkg-config")
                .args(["--cflags", "--libs", module])
                .env_remove("PKG_CONFIG_PATH"),
        );
        assert!(!flags.contains("target"), "{flags}");
        let exe = dir.join(module);
        succeed(
            Command::new("cc")
                .arg(cbuild::root().join("examples/c/jwks_verify.c"))
                .args(flags.split_whitespace())
                .arg("-o")
                .arg(&exe),
        );
        assert_eq!(
            needed(&exe).contains("libjwks.so.0"),
            shared,
            "{module}: {}",
            needed(&exe)
        );
        let out = output(
            Command::new(&exe)
                .args(["--jwks", url, "--aud", "api", good])
                .env_remove("LD_LIBRARY_PATH"),
        );
        let stdout = exits(&out, 0, module);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines.first(),
            Some(&"token 1: verified (kid k1, alg RS256)"),
            "{stdout}"
        );
        let claims: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(claims["sub"], "user-1");
        let out = output(
            Command::new(&exe)
                .args(["--jwks", url, "--aud", "api", expired])
                .env_remove("LD_LIBRARY_PATH"),
        );
        let stdout = exits(&out, 1, module);
        assert!(
            stdout.starts_with("token 1: JWKS_ERR_EXPIRED: "),
            "{stdout}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// examples/cpp built with CMake's find_package(jwks) against the installed package, with no
/// prefix given (CMake finds /usr/lib/<multiarch>/cmake/jwks itself), shared and static.
fn cpp_example_with_find_package(url: &str, good: &str) {
    let dir = scratch("cpp");
    for (static_libs, shared) in [("OFF", true), ("ON", false)] {
        let build = dir.join(format!("static-{static_libs}"));
        cbuild::cmake_build(
            &cbuild::root().join("examples/cpp"),
            &build,
            &[format!("JWKS_USE_STATIC_LIBS={static_libs}")],
        );
        let exe = build.join("jwks_verify_cpp");
        assert_eq!(
            needed(&exe).contains("libjwks.so.0"),
            shared,
            "{}",
            needed(&exe)
        );
        // It reads the tokens from standard input.
        let mut child = Command::new(&exe)
            .args(["--jwks", url, "--aud", "api"])
            .env_remove("LD_LIBRARY_PATH")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), good.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = exits(&out, 0, "the C++ example");
        assert!(stdout.contains("\"sub\":\"user-1\""), "{stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Debian's stock nginx loads the module through the package's link alone.
fn stock_nginx_with_the_module(url: &str, good: &str, expired: &str) {
    let site = jwks_site(url);
    let t = StockNginx::test("t", &site);
    assert!(
        t.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&t.stderr)
    );
    let nginx = StockNginx::start("module", &site);
    let r = get(nginx.port, "/", &[]);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r
        .header("www-authenticate")
        .is_some_and(|h| h.starts_with("Bearer")));
    let r = get(nginx.port, "/", &[("Authorization", &bearer(expired))]);
    assert_eq!(r.status, 401);
    let r = get(nginx.port, "/", &[("Authorization", &bearer(good))]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "hello\n");
    assert_eq!(r.header("x-sub"), Some("user-1"));
    drop(nginx);

    // Without the link the directive is unknown: the link is what loads the module.
    let enabled = Path::new("/etc/nginx/modules-enabled/50-mod-http-jwks.conf");
    let target = std::fs::read_link(enabled).unwrap();
    std::fs::remove_file(enabled).unwrap();
    let t = StockNginx::test("t-unlinked", &site);
    std::os::unix::fs::symlink(&target, enabled).unwrap();
    assert!(!t.status.success());
    assert!(
        String::from_utf8_lossy(&t.stderr).contains("unknown directive \"jwks_uri\""),
        "{}",
        String::from_utf8_lossy(&t.stderr)
    );
}

/// The Go module cache's download directory, a module proxy on disk itself, when it holds
/// golang-jwt at the version jwtkeyfunc requires (scripts/test.sh downloads it).
fn golang_jwt_cache() -> Option<PathBuf> {
    let cache = succeed(Command::new("go").args(["env", "GOMODCACHE"]));
    let download = PathBuf::from(cache.trim()).join("cache/download");
    let sum = std::fs::read_to_string(cbuild::root().join("bindings/go/jwtkeyfunc/go.sum")).ok()?;
    let version = sum
        .lines()
        .find_map(|l| l.strip_prefix("github.com/golang-jwt/jwt/v5 "))?
        .split_whitespace()
        .next()?
        .to_owned();
    download
        .join(format!("github.com/golang-jwt/jwt/v5/@v/{version}.zip"))
        .exists()
        .then_some(download)
}

/// A Go developer's module outside the repository: `go get libjwks.dev/jwks` and its
/// jwtkeyfunc from the proxy on disk, built against the installed libjwks-dev with no cargo on
/// PATH, linked statically. No network: golang-jwt comes from the local module cache (a
/// second proxy on disk), checked against the hashes jwtkeyfunc's go.sum holds.
fn go_module_from_the_proxy(url: &str, good: &str) {
    let proxy = deb_dir().join("goproxy");
    for module in ["jwks", "jwks/jwtkeyfunc"] {
        assert!(
            proxy.join(format!("libjwks.dev/{module}/@v/list")).exists(),
            "{} holds no {module} (scripts/package-deb.sh writes it)",
            proxy.display()
        );
    }
    let Some(golang_jwt) = golang_jwt_cache() else {
        // The test command downloads it (`go mod download` in bindings/go/jwtkeyfunc).
        support::require("golang-jwt in the Go module cache", false);
        return;
    };
    let dir = scratch("go");
    let module = dir.join("consumer");
    std::fs::create_dir_all(&module).unwrap();
    std::fs::copy(
        cbuild::root().join("tests/packages/consumer.go"),
        module.join("main.go"),
    )
    .unwrap();
    std::fs::copy(
        cbuild::root().join("bindings/go/jwtkeyfunc/go.sum"),
        module.join("go.sum"),
    )
    .unwrap();
    let path = path_without_rust();
    let go = |args: &[&str]| {
        let mut cmd = Command::new("go");
        cmd.args(args)
            .current_dir(&module)
            .env("PATH", &path)
            .env(
                "GOPROXY",
                format!("file://{},file://{}", proxy.display(), golang_jwt.display()),
            )
            // No checksum database (it is a network service): libjwks's modules are not
            // published, and golang-jwt's hashes are in the go.sum copied above.
            .env("GOSUMDB", "off")
            .env("GOFLAGS", "-modcacherw")
            .env("GOTOOLCHAIN", "local")
            .env("GOMODCACHE", dir.join("modcache"))
            .env("CGO_ENABLED", "1")
            .env_remove("PKG_CONFIG_PATH")
            .env_remove("CARGO_TARGET_DIR");
        succeed(&mut cmd)
    };
    assert!(
        !Command::new("sh")
            .args(["-c", "command -v cargo"])
            .env("PATH", &path)
            .output()
            .unwrap()
            .status
            .success(),
        "cargo is still on PATH={path}"
    );
    go(&["mod", "init", "example.com/consumer"]);
    go(&[
        "get",
        &format!("libjwks.dev/jwks@v{VERSION}"),
        &format!("libjwks.dev/jwks/jwtkeyfunc@v{VERSION}"),
    ]);
    go(&["build", "-o", "consumer", "."]);
    let exe = module.join("consumer");
    let libs = needed(&exe);
    assert!(!libs.contains("libjwks"), "{libs}");
    let gomod = std::fs::read_to_string(module.join("go.mod")).unwrap();
    assert!(
        gomod.contains(&format!("libjwks.dev/jwks v{VERSION}")),
        "{gomod}"
    );
    let out = output(Command::new(&exe).args([url, "api", good]));
    let stdout = exits(&out, 0, "the Go consumer");
    assert!(stdout.starts_with("verified user-1 RS256 k1\n"), "{stdout}");
    assert!(stdout.contains("tampered: "), "{stdout}");
    assert!(stdout.ends_with("golang-jwt: true user-1\n"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
