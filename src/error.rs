//! The error model: one [`ErrorKind`] per failure class plus a human-readable message that
//! never contains token or key bytes. The C ABI maps each kind to its status code
//! (`ffi::error`); the core knows nothing of C names or numbers.

use std::fmt;

/// The class of a failure. Each maps to one status of every binding (the C ABI's
/// `jwks_status`, Go's `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A caller-supplied argument or option is invalid (also: bad configuration).
    InvalidArgument,
    /// The JWKS server could not be reached (DNS, refused, reset, proxy).
    Connection,
    /// The request did not finish within the configured timeout.
    Timeout,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// The server answered with a non-success HTTP status.
    HttpStatus,
    /// The response is not a JWK Set (not JSON, no `keys` array, ...).
    InvalidJwks,
    /// The JWK Set holds no usable signing key.
    NoSigningKeys,
    /// No usable key has the token's `kid` (after the refetch the rules allow).
    KeyNotFound,
    /// The token is not a well-formed compact JWS.
    MalformedToken,
    /// The token header has no `kid` and the client requires one.
    MissingKid,
    /// The token's `alg` is not one this library implements.
    UnsupportedAlgorithm,
    /// The token's `alg` is not allowed by the configuration, or does not fit the key.
    AlgorithmNotAllowed,
    /// The signature does not verify.
    BadSignature,
    /// The token's `exp` is in the past (beyond the leeway).
    Expired,
    /// The token's `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// The token's `aud` matches none of the expected audiences.
    WrongAudience,
    /// The token's `iss` is not the expected issuer.
    WrongIssuer,
    /// The token's `typ` header is not one of the allowed values.
    WrongTyp,
    /// A required claim is absent.
    MissingClaim,
    /// The token lists a `crit` header parameter this library does not understand.
    UnsupportedCritical,
    /// The response body is larger than the configured limit.
    ResponseTooLarge,
    /// Too many redirects, or a redirect the transport rules refuse.
    Redirect,
    /// The token is longer than the configured limit.
    TokenTooLarge,
    /// Discovery mode: the token's issuer is not allowed (no request was made).
    IssuerNotAllowed,
    /// Discovery mode: the issuer's configuration could not be used (HTTP or transport error,
    /// not JSON, issuer mismatch, no `jwks_uri`, not https); the message says which.
    Discovery,
    /// The client was made in another process: it was used after `fork`, where its state
    /// (locks, fetches in flight) cannot be trusted. Make clients after forking.
    Forked,
    /// A non-blocking call could not answer from the cache: a fetch has been started in the
    /// background; ask again later (or use the asynchronous call).
    Pending,
    /// An asynchronous verification could not run: the client was freed first (or is
    /// shutting down, or its queue is full).
    Cancelled,
    /// A bug in the library (a caught panic, a broken invariant).
    Internal,
}

impl ErrorKind {
    /// A short description of the kind, as the start of an error's text ("expired: ...").
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Connection => "connection failed",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Tls => "TLS failed",
            ErrorKind::HttpStatus => "HTTP error status",
            ErrorKind::InvalidJwks => "invalid JWK Set",
            ErrorKind::NoSigningKeys => "no signing keys",
            ErrorKind::KeyNotFound => "key not found",
            ErrorKind::MalformedToken => "malformed token",
            ErrorKind::MissingKid => "missing kid",
            ErrorKind::UnsupportedAlgorithm => "unsupported algorithm",
            ErrorKind::AlgorithmNotAllowed => "algorithm not allowed",
            ErrorKind::BadSignature => "bad signature",
            ErrorKind::Expired => "expired",
            ErrorKind::NotYetValid => "not yet valid",
            ErrorKind::WrongAudience => "wrong audience",
            ErrorKind::WrongIssuer => "wrong issuer",
            ErrorKind::WrongTyp => "wrong typ",
            ErrorKind::MissingClaim => "missing claim",
            ErrorKind::UnsupportedCritical => "unsupported critical header",
            ErrorKind::ResponseTooLarge => "response too large",
            ErrorKind::Redirect => "redirect refused",
            ErrorKind::TokenTooLarge => "token too large",
            ErrorKind::IssuerNotAllowed => "issuer not allowed",
            ErrorKind::Discovery => "discovery failed",
            ErrorKind::Forked => "used after fork",
            ErrorKind::Pending => "pending",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failure: its [`ErrorKind`] and a message for humans (never token or key bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// Makes an error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The class of the failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind's name.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::MalformedToken, message)
    }
}

/// Shorthand for `Result<T, jwks::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
