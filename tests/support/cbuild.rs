//! Compiles C (and C++) programs against the committed header and the static library with the
//! `cc` crate's compiler detection, for the C tests and the demo.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The profile directory holding `libjwks.a`: the running binary lives in `<dir>/deps` (tests)
/// or `<dir>/examples` (examples).
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("profile dir")
        .to_path_buf()
}

fn newest_source() -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut dirs = vec![root().join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(m) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(m);
            }
        }
    }
    newest
}

/// The directory holding the C library's artifacts (`libjwks.a`, `libjwks.so`, `jwks.pc`): the
/// profile directory `cargo build` filled, when its static library is newer than every source
/// file; otherwise (a fresh clone's `cargo test`, or sources changed since) one built here,
/// with cargo, in a target directory of its own (the running cargo holds the usual one).
pub fn artifacts_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let lib = lib_dir().join("libjwks.a");
        let fresh = std::fs::metadata(&lib)
            .and_then(|m| m.modified())
            .is_ok_and(|built| built >= newest_source());
        if fresh {
            return lib_dir();
        }
        let dir = lib_dir()
            .parent()
            .expect("the target directory")
            .join("for-tests");
        eprintln!(
            "{} is missing or older than src/: building the C library in {}",
            lib.display(),
            dir.display()
        );
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--lib", "--locked", "--quiet", "--manifest-path"])
            .arg(root().join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &dir)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of the C library failed");
        dir.join("debug")
    })
    .clone()
}

/// The static library (see artifacts_dir).
pub fn static_lib() -> PathBuf {
    artifacts_dir().join("libjwks.a")
}

fn compiler(cpp: bool) -> Command {
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    cc::Build::new()
        .cpp(cpp)
        .cargo_metadata(false)
        .target(&target)
        .host(&target)
        .opt_level(1)
        .debug(true)
        .get_compiler()
        .to_command()
}

/// Compiles and links `sources` into `out` with strict warnings; `extra` adds flags (e.g.
/// sanitizers). Panics with the compiler's output on failure.
pub fn build(sources: &[PathBuf], out: &Path, cpp: bool, extra: &[&str]) {
    let mut cmd = compiler(cpp);
    cmd.args(["-Wall", "-Wextra", "-Wpedantic", "-Werror"])
        .arg(format!("-I{}", root().join("include").display()))
        .args(extra)
        .args(sources)
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(out);
    let output = cmd.output().expect("run the C compiler");
    assert!(
        output.status.success(),
        "compiling {sources:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Only compiles (no link), for header checks.
pub fn syntax_check(source: &Path, cpp: bool, std: &str) {
    let mut cmd = compiler(cpp);
    cmd.args(["-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only"])
        .arg(format!("-std={std}"))
        .arg(format!("-I{}", root().join("include").display()))
        .arg(source);
    let output = cmd.output().expect("run the compiler");
    assert!(
        output.status.success(),
        "{} does not compile cleanly:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `cmd` and returns its stdout and stderr; panics with both when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Configures the CMake project in `source` into a fresh `build` directory with `defines`
/// (`NAME=VALUE`), then builds it.
pub fn cmake_build(source: &Path, build: &Path, defines: &[String]) {
    let _ = std::fs::remove_dir_all(build);
    run(Command::new("cmake")
        .arg("-S")
        .arg(source)
        .arg("-B")
        .arg(build)
        .args(defines.iter().map(|d| format!("-D{d}"))));
    run(Command::new("cmake").arg("--build").arg(build).arg("-j2"));
}
