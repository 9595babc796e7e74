//! The shared library's soname, libjwks.so.<major>. (The header and the pkg-config file are
//! written by the jwks crate's build script.)

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libjwks.so.{major}");
    }
}
