//! The error model: one [`ErrorKind`] per failure class (each maps to one C status code) plus a
//! human-readable message that never contains token or key bytes.

use std::fmt;

/// The class of a failure. Every kind maps to exactly one C `jwks_status` code, whose numeric
/// value is given here and never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A caller-supplied argument or option is invalid (also: bad configuration).
    InvalidArgument = 1,
    /// The JWKS server could not be reached (DNS, refused, reset, proxy).
    Connection = 2,
    /// The request did not finish within the configured timeout.
    Timeout = 3,
    /// TLS handshake or certificate verification failed.
    Tls = 4,
    /// The server answered with a non-success HTTP status.
    HttpStatus = 5,
    /// The response is not a JWK Set (not JSON, no `keys` array, ...).
    InvalidJwks = 6,
    /// The JWK Set holds no usable signing key.
    NoSigningKeys = 7,
    /// No usable key has the token's `kid` (after the refetch the rules allow).
    KeyNotFound = 8,
    /// The token is not a well-formed compact JWS.
    MalformedToken = 9,
    /// The token header has no `kid` and the client requires one.
    MissingKid = 10,
    /// The token's `alg` is not one this library implements.
    UnsupportedAlgorithm = 11,
    /// The token's `alg` is not allowed by the configuration, or does not fit the key.
    AlgorithmNotAllowed = 12,
    /// The signature does not verify.
    BadSignature = 13,
    /// The token's `exp` is in the past (beyond the leeway).
    Expired = 14,
    /// The token's `nbf` is in the future (beyond the leeway).
    NotYetValid = 15,
    /// The token's `aud` matches none of the expected audiences.
    WrongAudience = 16,
    /// The token's `iss` is not the expected issuer.
    WrongIssuer = 17,
    /// The token's `typ` header is not one of the allowed values.
    WrongTyp = 18,
    /// A required claim is absent.
    MissingClaim = 19,
    /// The token lists a `crit` header parameter this library does not understand.
    UnsupportedCritical = 20,
    /// The response body is larger than the configured limit.
    ResponseTooLarge = 21,
    /// Too many redirects, or a redirect the transport rules refuse.
    Redirect = 22,
    /// The token is longer than the configured limit.
    TokenTooLarge = 23,
    /// Discovery mode: the token's issuer is not allowed (no request was made).
    IssuerNotAllowed = 24,
    /// Discovery mode: the issuer's configuration could not be used (HTTP or transport error,
    /// not JSON, issuer mismatch, no `jwks_uri`, not https); the message says which.
    Discovery = 25,
    /// The client was made in another process: it was used after `fork`, where its state
    /// (locks, fetches in flight) cannot be trusted. Make clients after forking.
    Forked = 26,
    /// A non-blocking call could not answer from the cache: a fetch has been started in the
    /// background; ask again later (or use the asynchronous call).
    Pending = 27,
    /// An asynchronous verification could not run: the client was freed first (or is
    /// shutting down, or its queue is full).
    Cancelled = 28,
    /// A bug in the library (a caught panic, a broken invariant).
    Internal = 100,
}

impl ErrorKind {
    /// The stable, upper-case name of the kind, as the C status constants spell it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "JWKS_ERR_INVALID_ARGUMENT",
            ErrorKind::Connection => "JWKS_ERR_CONNECTION",
            ErrorKind::Timeout => "JWKS_ERR_TIMEOUT",
            ErrorKind::Tls => "JWKS_ERR_TLS",
            ErrorKind::HttpStatus => "JWKS_ERR_HTTP_STATUS",
            ErrorKind::InvalidJwks => "JWKS_ERR_INVALID_JWKS",
            ErrorKind::NoSigningKeys => "JWKS_ERR_NO_SIGNING_KEYS",
            ErrorKind::KeyNotFound => "JWKS_ERR_KEY_NOT_FOUND",
            ErrorKind::MalformedToken => "JWKS_ERR_MALFORMED_TOKEN",
            ErrorKind::MissingKid => "JWKS_ERR_MISSING_KID",
            ErrorKind::UnsupportedAlgorithm => "JWKS_ERR_UNSUPPORTED_ALGORITHM",
            ErrorKind::AlgorithmNotAllowed => "JWKS_ERR_ALGORITHM_NOT_ALLOWED",
            ErrorKind::BadSignature => "JWKS_ERR_BAD_SIGNATURE",
            ErrorKind::Expired => "JWKS_ERR_EXPIRED",
            ErrorKind::NotYetValid => "JWKS_ERR_NOT_YET_VALID",
            ErrorKind::WrongAudience => "JWKS_ERR_WRONG_AUDIENCE",
            ErrorKind::WrongIssuer => "JWKS_ERR_WRONG_ISSUER",
            ErrorKind::WrongTyp => "JWKS_ERR_WRONG_TYP",
            ErrorKind::MissingClaim => "JWKS_ERR_MISSING_CLAIM",
            ErrorKind::UnsupportedCritical => "JWKS_ERR_UNSUPPORTED_CRITICAL",
            ErrorKind::ResponseTooLarge => "JWKS_ERR_RESPONSE_TOO_LARGE",
            ErrorKind::Redirect => "JWKS_ERR_REDIRECT",
            ErrorKind::TokenTooLarge => "JWKS_ERR_TOKEN_TOO_LARGE",
            ErrorKind::IssuerNotAllowed => "JWKS_ERR_ISSUER_NOT_ALLOWED",
            ErrorKind::Discovery => "JWKS_ERR_DISCOVERY",
            ErrorKind::Forked => "JWKS_ERR_FORKED",
            ErrorKind::Pending => "JWKS_PENDING",
            ErrorKind::Cancelled => "JWKS_ERR_CANCELLED",
            ErrorKind::Internal => "JWKS_ERR_INTERNAL",
        }
    }

    /// The numeric value of the matching C status code.
    pub fn code(self) -> i32 {
        self as i32
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
