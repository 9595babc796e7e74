"""``libjwks.AsyncKeyFetcher``: pyjwt-key-fetcher's ``AsyncKeyFetcher`` (0.8) on libjwks.

``await fetcher.get_key(token)`` returns the mapping ``jwt.decode(token, **key, ...)`` takes
(``key`` and ``algorithms``). Keys are found by the token's ``iss`` through OpenID discovery, as
there; libjwks does the fetching on its own threads, so the event loop never waits: a cache hit
answers at once, a miss awaits a future the library resolves on the loop.

Decided here:
- ``http_client`` is refused (a ``TypeError`` naming the alternative): libjwks fetches with its
  own HTTP client, outside the loop and shared by every thread, and running a coroutine client
  from a library thread would need the loop the call came from.
- ``valid_issuers=None`` accepts any **https** issuer a token names, as pyjwt-key-fetcher does;
  it warns once per fetcher, since any token can then make the server fetch from a URL its
  sender chose.
- The refetch interval for unknown kids is ``min_refetch_interval`` (pyjwt-key-fetcher: a fixed
  300 s).
"""

from __future__ import annotations

import json
import warnings
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from . import _errors
from ._libjwks import Client as _NativeClient
from ._pyjwt import _require_pyjwt

try:
    import jwt as _jwt
except ImportError:
    _jwt = None

try:  # the errors are its classes' subclasses when pyjwt-key-fetcher is installed
    from pyjwt_key_fetcher import errors as _pkf
except ImportError:
    _pkf = None


def _base(name: str) -> tuple:
    cls = getattr(_pkf, name, None) if _pkf is not None else None
    return (cls,) if cls is not None else ()


class JWTKeyFetcherError(_errors.LibjwksError, *_base("JWTKeyFetcherError")):
    """The base of the fetcher's errors (pyjwt-key-fetcher's, when installed)."""


class JWTInvalidIssuerError(JWTKeyFetcherError, *_base("JWTInvalidIssuerError")):
    """The token's issuer is not one of ``valid_issuers`` (or not an https URL)."""


class JWTKeyNotFoundError(JWTKeyFetcherError, *_base("JWTKeyNotFoundError")):
    """The issuer's key set has no usable key with the token's kid."""


class JWTFormatError(JWTKeyFetcherError, *_base("JWTFormatError")):
    """The token has no kid or no iss."""


class JWTHTTPFetchError(JWTKeyFetcherError, *_base("JWTHTTPFetchError")):
    """The configuration or the key set could not be fetched."""


class JWTProviderConfigError(JWTKeyFetcherError, *_base("JWTProviderConfigError")):
    """The configuration document is not usable (no ``jwks_uri``, another issuer, ...)."""


class JWTProviderJWKSError(JWTKeyFetcherError, *_base("JWTProviderJWKSError")):
    """The key set is not usable."""


# How libjwks names a failed request (ErrorKind::name of the transport kinds).
_FETCH_FAILURES = (
    "connection failed",
    "timed out",
    "TLS failed",
    "HTTP error status",
    "response too large",
    "redirect refused",
)


def _as_fetcher_error(err: _errors.LibjwksError) -> Exception:
    kind, message = err.kind, err.message
    if kind == "MissingKid":
        return JWTFormatError("Missing 'kid' in header", kind)
    if kind == "MissingClaim" and '"iss"' in message:
        return JWTFormatError("Missing 'iss' in payload", kind)
    if kind in ("IssuerNotAllowed", "WrongIssuer"):
        return JWTInvalidIssuerError(message, kind)
    if kind == "KeyNotFound":
        return JWTKeyNotFoundError(message, kind)
    if kind in ("InvalidJwks", "NoSigningKeys"):
        return JWTProviderJWKSError(message, kind)
    if kind == "Discovery":
        # "discovery of ... failed: <reason>": the request failed (pyjwt-key-fetcher's
        # JWTHTTPFetchError), or the document is unusable (JWTProviderConfigError).
        reason = message.split(" failed: ", 1)[-1]
        if reason.startswith(_FETCH_FAILURES):
            return JWTHTTPFetchError(message, kind)
        return JWTProviderConfigError(message, kind)
    if isinstance(err, _errors.KeysUnavailableError):
        return JWTHTTPFetchError(message, kind)
    return err  # a malformed token stays libjwks's DecodeError, a jwt.PyJWTError


class Key(Mapping):
    """The key of a token, as ``jwt.decode(token, **key, ...)`` takes it: ``key`` (the
    public key object) and ``algorithms`` (the JWK's ``alg``, when it has one)."""

    def __init__(self, jwk_data: dict[str, Any]) -> None:
        pyjwk = _jwt.PyJWK(jwk_data)
        self._kid = pyjwk.key_id
        self.key = pyjwk.key
        self.algorithms = [jwk_data["alg"]] if "alg" in jwk_data else []

    @property
    def dct(self) -> dict[str, Any]:
        return {"key": self.key, "algorithms": self.algorithms}

    def __getitem__(self, item: str) -> Any:
        return self.dct[item]

    def __iter__(self):
        return iter(self.dct)

    def __len__(self) -> int:
        return 2

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(key=<{self.key.__class__.__name__}, kid: "
            f"{self._kid}>, algorithms={self.algorithms})"
        )


class AsyncKeyFetcher:
    """pyjwt-key-fetcher's ``AsyncKeyFetcher`` on libjwks: see the module's documentation."""

    def __init__(
        self,
        valid_issuers: Iterable[str] | None = None,
        http_client: Any = None,
        cache_ttl: int = 3600,
        cache_maxsize: int = 32,
        config_path: str = "/.well-known/openid-configuration",
        static_issuer_config: dict[str, Mapping[str, str]] | None = None,
        *,
        min_refetch_interval: float = 300,
        timeout: float = 30,
        ca_file: str | None = None,
        proxy: str | None = None,
    ) -> None:
        _require_pyjwt("AsyncKeyFetcher")
        if http_client is not None:
            raise TypeError(
                "libjwks.AsyncKeyFetcher fetches with libjwks's own HTTP client (on its own "
                "threads, never on the event loop); a custom http_client is not supported. "
                "Drop the argument (proxy=, ca_file= and timeout= cover the usual reasons), or "
                "keep pyjwt_key_fetcher.AsyncKeyFetcher for a custom client."
            )
        issuers = list(valid_issuers or [])
        statics = []
        for iss, config in (static_issuer_config or {}).items():
            uri = config.get("jwks_uri") or config.get("jwks_url")
            if not uri:
                raise JWTProviderConfigError(
                    f"static_issuer_config[{iss!r}] has neither 'jwks_uri' nor 'jwks_url'"
                )
            statics.append((iss, uri))
        self.config_path = config_path
        self.static_issuer_config = dict(static_issuer_config or {})
        self._inflight: weakref.WeakSet = weakref.WeakSet()
        any_issuer = not issuers and not statics
        if any_issuer:
            warnings.warn(
                "libjwks.AsyncKeyFetcher without valid_issuers accepts any https issuer a "
                "token names, so any token can make this server fetch from a URL its sender "
                "chose. Pass valid_issuers=[...] (or static_issuer_config) to restrict it.",
                UserWarning,
                stacklevel=2,
            )
        self._client = _NativeClient(
            None,
            issuers=issuers,
            allow_any_issuer=any_issuer,
            static_issuers=statics,
            discovery_config_path=config_path,
            issuer_ttl=float(cache_ttl),
            max_issuers=int(cache_maxsize),
            issuer_min_refetch_interval=float(min_refetch_interval),
            min_refetch_interval=float(min_refetch_interval),
            timeout=float(timeout),
            ca_file=ca_file,
            proxy=proxy,
        )

    @staticmethod
    def get_kid(token: str) -> str:
        """The token's kid (unverified). ``JWTFormatError`` without one."""
        kid = _jwt.get_unverified_header(token).get("kid")
        if kid is None:
            raise JWTFormatError("Missing 'kid' in header")
        return kid

    @staticmethod
    def get_issuer(token: str) -> str:
        """The token's iss (unverified). ``JWTFormatError`` without one."""
        payload = _jwt.decode(token, options={"verify_signature": False})
        if "iss" not in payload:
            raise JWTFormatError("Missing 'iss' in payload")
        return payload["iss"]

    async def get_key(self, token: str) -> Key:
        """The key for the token (the token is not verified: ``jwt.decode`` does that). A
        cache hit answers at once; otherwise the loop awaits the library's fetch."""
        try:
            future = self._client._signing_key_from_jwt_future(token)
            self._inflight.add(future)
            jwk = await future
        except _errors.LibjwksError as e:
            raise _as_fetcher_error(e) from None
        return Key(json.loads(jwk))

    async def get_key_by_iss_and_kid(self, iss: str, kid: str) -> Key:
        """The key of issuer ``iss`` with this kid: as ``get_key``, a cache hit answers at
        once, and otherwise the loop awaits the library's fetch."""
        try:
            future = self._client._signing_key_for_issuer_future(iss, kid)
            self._inflight.add(future)
            jwk = await future
        except _errors.LibjwksError as e:
            raise _as_fetcher_error(e) from None
        return Key(json.loads(jwk))

    async def aclose(self) -> None:
        """Closes the fetcher: its threads stop and calls still waiting end with
        ``libjwks.CancelledError``. (An unclosed fetcher is freed by the garbage collector.)"""
        self._client._close()
        # Calls still waiting (on a fetch in flight) end now, not when the fetch does.
        for future in list(self._inflight):
            if not future.done():
                future.set_exception(
                    _errors.CancelledError("the key fetcher was closed", "Cancelled")
                )
