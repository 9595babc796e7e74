"""libjwks: JWKS fetching, caching and JWT verification, backed by the libjwks Rust library.

- ``libjwks.Client``: the native fast path (``verify`` returns the claims as a dict,
  ``averify`` is its awaitable form).
- ``libjwks.PyJWKClient``: PyJWT's ``PyJWKClient``, a drop-in replacement (needs the ``jwt``
  extra: PyJWT[crypto]).
- ``libjwks.AsyncKeyFetcher``: pyjwt-key-fetcher's ``AsyncKeyFetcher``, a drop-in replacement
  that never blocks the event loop (needs the ``jwt`` extra too).
- The exceptions in ``libjwks`` mirror the library's status codes, with PyJWT's classes as
  bases when PyJWT is installed.
"""

from ._errors import (
    CancelledError,
    DecodeError,
    ExpiredSignatureError,
    ForkedError,
    ImmatureSignatureError,
    InternalError,
    InvalidAlgorithmError,
    InvalidArgumentError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenError,
    KeyNotFoundError,
    KeysUnavailableError,
    LibjwksError,
    MissingRequiredClaimError,
)
from ._libjwks import Client as _NativeClient
from ._keyfetcher import (
    AsyncKeyFetcher,
    JWTFormatError,
    JWTHTTPFetchError,
    JWTInvalidIssuerError,
    JWTKeyFetcherError,
    JWTKeyNotFoundError,
    JWTProviderConfigError,
    JWTProviderJWKSError,
)
from ._pyjwt import KeySetError, NotJsonError, PyJWKClient
from ._libjwks import __version__


class Client(_NativeClient):
    """libjwks's client: fetches and caches the IdP's keys, verifies tokens with them.

    Thread-safe; make one per IdP (or set of issuers) for the life of the process. ``verify``
    returns the claims as a dict (blocking, with the GIL released, only while keys are
    fetched); ``averify`` is its coroutine form, which never blocks the event loop.
    """

    __slots__ = ()

    async def averify(self, token, *, audience=None, issuer=None, leeway=None):
        """``verify`` for the running event loop: a cache hit answers at once; otherwise the
        verification runs on a library thread and wakes the loop when done. Cancelling the
        task cancels the verification."""
        return await self._averify(token, audience=audience, issuer=issuer, leeway=leeway)

__all__ = [
    "AsyncKeyFetcher",
    "CancelledError",
    "Client",
    "DecodeError",
    "ExpiredSignatureError",
    "ForkedError",
    "ImmatureSignatureError",
    "InternalError",
    "InvalidAlgorithmError",
    "InvalidArgumentError",
    "InvalidAudienceError",
    "InvalidIssuerError",
    "InvalidSignatureError",
    "InvalidTokenError",
    "JWTFormatError",
    "JWTHTTPFetchError",
    "JWTInvalidIssuerError",
    "JWTKeyFetcherError",
    "JWTKeyNotFoundError",
    "JWTProviderConfigError",
    "JWTProviderJWKSError",
    "KeyNotFoundError",
    "KeySetError",
    "KeysUnavailableError",
    "LibjwksError",
    "MissingRequiredClaimError",
    "NotJsonError",
    "PyJWKClient",
    "__version__",
]
