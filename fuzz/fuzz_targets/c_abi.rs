#![no_main]
// See jwks::fuzzing::c_abi (src/fuzzing.rs) for what this target feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| jwks::fuzzing::c_abi(data));
