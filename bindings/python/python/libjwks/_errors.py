"""The exceptions of libjwks, one class per family of the library's status codes.

When PyJWT is installed, each class also derives from PyJWT's matching exception
(``jwt.ExpiredSignatureError``, ``jwt.InvalidAudienceError``, ...), so ``except`` clauses
written for PyJWT keep catching them.
"""

from __future__ import annotations

try:  # PyJWT is optional: the native Client needs nothing else.
    import jwt as _jwt
except ImportError:  # pragma: no cover - exercised in the no-PyJWT test
    _jwt = None


def _pyjwt(name: str) -> tuple:
    """PyJWT's class of this name as an extra base, when PyJWT is installed."""
    cls = getattr(_jwt, name, None) if _jwt is not None else None
    return (cls,) if cls is not None else ()


class LibjwksError(Exception):
    """Every error libjwks raises. ``kind`` names the library's status (``"Expired"``, ...)."""

    def __init__(self, message: str = "", kind: str = "") -> None:
        Exception.__init__(self, message)
        self.message = message
        self.kind = kind

    def __str__(self) -> str:
        return self.message


class InvalidTokenError(LibjwksError, *_pyjwt("InvalidTokenError")):
    """The token was refused: its fault, not the keys'."""


class DecodeError(InvalidTokenError, *_pyjwt("DecodeError")):
    """Not a well-formed compact JWS (or too large)."""


class InvalidSignatureError(DecodeError, *_pyjwt("InvalidSignatureError")):
    """The signature does not verify with the key its kid names."""


class ExpiredSignatureError(InvalidTokenError, *_pyjwt("ExpiredSignatureError")):
    """``exp`` is past (beyond the leeway)."""


class ImmatureSignatureError(InvalidTokenError, *_pyjwt("ImmatureSignatureError")):
    """``nbf`` (or a future ``iat`` when checked) is ahead (beyond the leeway)."""


class InvalidAudienceError(InvalidTokenError, *_pyjwt("InvalidAudienceError")):
    """No accepted ``aud``."""


class InvalidIssuerError(InvalidTokenError, *_pyjwt("InvalidIssuerError")):
    """The ``iss`` is not the expected (or an allowed) issuer."""


class InvalidAlgorithmError(InvalidTokenError, *_pyjwt("InvalidAlgorithmError")):
    """The token's ``alg`` is not allowed, or does not fit the key."""


class MissingRequiredClaimError(InvalidTokenError, *_pyjwt("MissingRequiredClaimError")):
    """A required claim (``exp`` by default) is missing."""

    def __init__(self, message: str = "", kind: str = "") -> None:
        LibjwksError.__init__(self, message, kind)
        # PyJWT's class names the claim; the library's message does.
        self.claim = None


class KeyNotFoundError(InvalidTokenError, *_pyjwt("PyJWKClientError")):
    """No usable key with the token's kid in the set (after a refetch, when one was allowed)."""


class KeysUnavailableError(LibjwksError, *_pyjwt("PyJWKClientConnectionError")):
    """The keys could not be had: the IdP is unreachable, answered an error or a bad set, and
    nothing usable is cached. Not the token's fault: retry later."""


class InvalidArgumentError(LibjwksError, ValueError):
    """A setting or argument the library refuses."""


class CancelledError(LibjwksError):
    """The client was freed (or the call cancelled) before the call could complete."""


class ForkedError(LibjwksError):
    """A client made before ``os.fork()`` used in the child: make a new one there."""


class InternalError(LibjwksError, RuntimeError):
    """A bug in libjwks, caught."""


def _resolve(future, ok, value) -> None:
    """Settles an ``averify`` future on its loop, unless it was cancelled meanwhile."""
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
