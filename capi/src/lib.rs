//! libjwks, the C library: the `jwks` crate's C ABI (`jwks::ffi`, declared in
//! `include/jwks.h`), built as `libjwks.a` and `libjwks.so`.

pub use jwks_core::ffi::*;
