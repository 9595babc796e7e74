//! Generates the C header with cbindgen into OUT_DIR (a test compares it with the committed
//! `include/jwks.h`; `scripts/update-header.sh` refreshes that copy) and writes an uninstalled
//! pkg-config file (and the soname link) next to the libraries capi/ builds.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=JWKS_UPDATE_HEADER");

    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    write_status_names(&crate_dir, &out_dir);
    let version = env::var("CARGO_PKG_VERSION").unwrap();

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is valid");
    config.after_includes = Some(format!(
        "\n#define JWKS_VERSION_MAJOR {}\n#define JWKS_VERSION_MINOR {}\n#define JWKS_VERSION_PATCH {}\n#define JWKS_VERSION_STRING \"{version}\"\n",
        env::var("CARGO_PKG_VERSION_MAJOR").unwrap(),
        env::var("CARGO_PKG_VERSION_MINOR").unwrap(),
        env::var("CARGO_PKG_VERSION_PATCH").unwrap(),
    ));
    let header = out_dir.join("jwks.h");
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write_to_file(&header);
    if env::var_os("JWKS_UPDATE_HEADER").is_some() {
        fs::copy(&header, crate_dir.join("include/jwks.h")).expect("update include/jwks.h");
    }

    // The soname is set by capi/build.rs, the package that builds libjwks.so.

    // OUT_DIR is <target>/<profile>/build/jwks-<hash>/out: the libraries land in <profile>/.
    if let Some(lib_dir) = out_dir.ancestors().nth(3) {
        let pc = format!(
            "prefix={root}\nlibdir={lib}\nincludedir={root}/include\n\nName: jwks\nDescription: JWKS client and JWT verifier (uninstalled build tree)\nVersion: {version}\nLibs: -L${{libdir}} -ljwks\nLibs.private: -lpthread -ldl -lm\nCflags: -I${{includedir}}\n",
            root = crate_dir.display(),
            lib = lib_dir.display(),
        );
        let _ = fs::write(lib_dir.join("jwks.pc"), pc);
        // The soname's link, so programs linked in the build tree find the library at run time
        // (dangling until rustc writes libjwks.so, which it does right after this script).
        #[cfg(unix)]
        {
            let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
            let link = lib_dir.join(format!("libjwks.so.{major}"));
            if fs::symlink_metadata(&link).is_err() {
                let _ = std::os::unix::fs::symlink("libjwks.so", &link);
            }
        }
    }
}

/// jwks_status_str's table and the int-to-status table of jwks_status_outcome, read off the
/// `jwks_status` enum in src/ffi/error.rs (its `NAME = value,` lines), so that the status
/// table is written once: a `match` on `status` giving each constant's name, and one giving
/// the constant.
fn write_status_names(crate_dir: &std::path::Path, out_dir: &std::path::Path) {
    let source = fs::read_to_string(crate_dir.join("src/ffi/error.rs")).expect("src/ffi/error.rs");
    let start = source
        .find("pub enum jwks_status {")
        .expect("the jwks_status enum");
    let body = &source[start..source[start..].find("\n}").expect("its end") + start];
    let mut names = String::from("match status {\n");
    let mut values = String::from("match status {\n");
    for line in body.lines() {
        let line = line.trim();
        if let Some((name, value)) = line.strip_suffix(',').and_then(|l| l.split_once(" = ")) {
            if name.starts_with("JWKS_") {
                names.push_str(&format!("    {value} => c\"{name}\",\n"));
                values.push_str(&format!("    {value} => Some(jwks_status::{name}),\n"));
            }
        }
    }
    names.push_str("    _ => c\"JWKS_ERR_UNKNOWN\",\n}\n");
    values.push_str("    _ => None,\n}\n");
    fs::write(out_dir.join("status_names.rs"), names).expect("write status_names.rs");
    fs::write(out_dir.join("status_values.rs"), values).expect("write status_values.rs");
}
