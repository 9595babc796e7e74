//! # libjwks
//!
//! A JWKS (JSON Web Key Set) client: it fetches an identity provider's signing keys, caches them
//! safely and verifies JWTs with them. This crate is the safe Rust core; the same library is
//! shipped as a C ABI (`include/jwks.h`, the `ffi` module) for C, C++ and Go servers.
//!
//! ```no_run
//! use jwks::{Client, ClientOptions};
//!
//! let mut options = ClientOptions::new("https://idp.example.com/.well-known/jwks.json");
//! options.validation.audience = vec!["my-api".into()];
//! options.validation.issuer = Some("https://idp.example.com/".into());
//! let client = Client::new(options)?;
//! # let token = "";
//! let verified = client.verify(token)?;
//! println!("{}", verified.claims_json());
//! # Ok::<(), jwks::Error>(())
//! ```
//!
//! See `DESIGN.md` in the repository for the behaviour every layer relies on.

#![warn(missing_docs)]

mod alg;
mod async_verify;
mod cache;
mod client;
mod clock;
mod der;
mod discovery;
mod error;
mod fetch;
mod flight;
mod freshness;
#[doc(hidden)]
pub mod fuzzing;
mod jwt;
mod keys;
mod log;
mod options;
mod persist;
mod process;
mod source;
mod stats;
mod validation;
mod worker;

#[cfg(feature = "capi")]
pub mod ffi;

pub use alg::Algorithm;
pub use async_verify::{Async, AsyncVerify, Callback, Request};
pub use client::{claim_text, Client, Verified};
pub use clock::{Clock, ManualClock, SystemClock, MONOTONIC_ORIGIN};
pub use discovery::{config_url, DiscoveryOptions, DEFAULT_CONFIG_PATH};
pub use error::{Error, ErrorKind, Result};
pub use fetch::{HttpFetch, HttpRequest, HttpResponse};
pub use keys::{match_kid, Key, KeySet, SkippedKey, RSA_MAX_BITS, RSA_MIN_BITS};
pub use log::{LogFn, LogLevel, Logger};
pub use options::{
    ClientOptions, MAX_CACHED_KEYS_LIMIT, MAX_ISSUERS_LIMIT, MAX_KIDLESS_CANDIDATES,
};
pub use stats::Stats;
pub use validation::{Validation, VerifyOptions};
