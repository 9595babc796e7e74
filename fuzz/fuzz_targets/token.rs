#![no_main]
// See jwks::fuzzing::token (src/fuzzing.rs) for what this target feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| jwks::fuzzing::token(data));
