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
// The core is safe Rust: `unsafe` is allowed only in the C ABI (`ffi`), the token's vector
// code (`jose::b64`) and the OS calls (`os`), each marked where it is declared.
#![deny(unsafe_code)]

mod cache;
mod client;
mod clock;
mod discovery;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod jose;
mod log;
mod options;
#[allow(unsafe_code)] // pthread_atfork, clock_gettime
mod os;
mod process;
mod source;
mod stats;
pub mod store;
mod worker;

#[cfg(feature = "capi")]
#[allow(unsafe_code)] // the C ABI: raw pointers in and out, each checked where it is used
pub mod ffi;

pub use client::async_verify::{Async, AsyncVerify, Callback, Request};
pub use client::{
    check_persist_dir, claim_text, claims_header_value, escape_header_text, Client, Verified,
};
pub use clock::{Clock, ManualClock, SystemClock, MONOTONIC_ORIGIN};
pub use discovery::{config_url, DiscoveryOptions, DEFAULT_CONFIG_PATH};
pub use error::{Error, ErrorKind, Result};
pub use http::{HttpFetch, HttpRequest, HttpResponse};
pub use jose::alg::Algorithm;
pub use jose::keys::{match_kid, Key, KeySet, SkippedKey, RSA_MAX_BITS, RSA_MIN_BITS};
pub use jose::validation::{Validation, VerifyOptions};
pub use log::{LogFn, LogLevel, Logger};
pub use options::{
    ClientOptions, LocalJwks, MAX_CACHED_KEYS_LIMIT, MAX_ISSUERS_LIMIT, MAX_KIDLESS_CANDIDATES,
};
pub use stats::Stats;
pub use store::{DocumentKind, DocumentStore, FileStore, StoreKey, StoredDocument};
