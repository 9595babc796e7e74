#![no_main]
// See jwks::ffi::fuzzing::c_abi (src/ffi/fuzzing.rs) for what this target feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| jwks::ffi::fuzzing::c_abi(data));
