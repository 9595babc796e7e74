//! JOSE: the token format (compact JWS and its claims), algorithms, JWK parsing and DER
//! encoding of public keys, and the claim checks' settings.

pub(crate) mod alg;
#[allow(unsafe_code)] // SIMD intrinsics; each use says why it is sound
pub(crate) mod b64;
pub(crate) mod der;
pub(crate) mod jwt;
pub(crate) mod keys;
pub(crate) mod strict_json;
pub(crate) mod validation;
