//! Shared by the integration tests (and the demo issuer): a loopback HTTP server and test keys.
pub mod cbuild;
pub mod keys;
pub mod server;
pub mod tls;
