"""``libjwks.PyJWKClient``: PyJWT's ``PyJWKClient`` (2.12) on libjwks, a drop-in replacement.

Same constructor, methods and return types (PyJWT's own ``PyJWK`` and ``PyJWKSet``), same
exception classes (subclasses of PyJWT's). The defaults reproduce PyJWT's request counts: the
lifespan is absolute (no ``Cache-Control`` override), nothing is refreshed in the background,
and an expired set is fetched again before the call answers. Two things differ by default:

- an unknown kid refetches the set at most once per ``min_refetch_interval`` (60 s) across all
  callers, not at every call, so tokens with made-up kids cannot make the server hammer the IdP;
- a set that cannot be refreshed keeps serving for ``max_stale`` (24 h) past its lifespan
  (stale-if-error), where PyJWT 2.12 drops it and fails.

The rest of libjwks comes as keyword-only options.
"""

from __future__ import annotations

import json
import ssl
from typing import Any

from . import _errors
from ._libjwks import Client as _NativeClient

try:
    import jwt as _jwt
    from jwt import PyJWK, PyJWKSet
except ImportError:  # PyJWT is optional; these classes need it
    _jwt = None


def _require_pyjwt(what: str) -> None:
    if _jwt is None or not hasattr(_jwt, "PyJWKClient"):
        raise ImportError(
            f"libjwks.{what} returns PyJWT's key objects: install the extra, "
            "pip install 'libjwks[jwt]' (PyJWT[crypto])"
        )


def _from_ssl_context(context: ssl.SSLContext | None) -> tuple[str | None, bool]:
    """What libjwks can honour of an ``ssl.SSLContext``: the CA certificates loaded into it
    (``load_verify_locations(cafile=...)``, ``cadata``, ``load_default_certs``) and a
    verification turned off (``verify_mode = CERT_NONE``). Client certificates, ciphers and
    the certificates of a ``capath`` directory (loaded lazily) are not read."""
    if context is None:
        return None, False
    if not isinstance(context, ssl.SSLContext):
        raise TypeError("ssl_context must be an ssl.SSLContext")
    insecure = context.verify_mode == ssl.CERT_NONE
    pem = "".join(ssl.DER_cert_to_PEM_cert(der) for der in context.get_ca_certs(binary_form=True))
    return pem or None, insecure


class KeySetError(_errors.KeysUnavailableError, *_errors._pyjwt("PyJWKSetError")):
    """The endpoint's set holds no usable key (PyJWT: ``PyJWKSetError``)."""


class NotJsonError(_errors.KeysUnavailableError, json.JSONDecodeError):
    """The endpoint's answer is not JSON (PyJWT lets ``json.JSONDecodeError`` out)."""

    def __init__(self, message: str = "", kind: str = "") -> None:
        _errors.LibjwksError.__init__(self, message, kind)
        self.msg, self.doc, self.pos, self.lineno, self.colno = message, "", 0, 1, 1


def _as_pyjwt(err: _errors.LibjwksError, kid: Any = None) -> _errors.LibjwksError:
    """The exception PyJWT's client raises in the same case, still a libjwks one."""
    if err.kind == "NoSigningKeys":
        return KeySetError(err.message, err.kind)
    if err.kind == "InvalidJwks" and "not JSON" in err.message:
        return NotJsonError(err.message, err.kind)
    if isinstance(err, _errors.KeyNotFoundError):
        return _errors.KeyNotFoundError(
            f'Unable to find a signing key that matches: "{kid}"', err.kind
        )
    return err


class PyJWKClient:
    """PyJWT's ``PyJWKClient`` on libjwks: see the module's documentation."""

    def __init__(
        self,
        uri: str,
        cache_keys: bool = False,
        max_cached_keys: int = 16,
        cache_jwk_set: bool = True,
        lifespan: float = 300,
        headers: dict[str, Any] | None = None,
        timeout: float = 30,
        ssl_context: ssl.SSLContext | None = None,
        *,
        honor_cache_control: bool = False,
        refresh_ahead: bool = False,
        background_refresh: bool = False,
        min_refetch_interval: float = 60,
        max_stale: float = 86400,
        failure_backoff: float = 0,
        proxy: str | None = None,
        ca_file: str | None = None,
        allow_http: bool = False,
    ) -> None:
        _require_pyjwt("PyJWKClient")
        if cache_jwk_set and lifespan <= 0:
            raise _jwt.PyJWKClientError(
                f'Lifespan must be greater than 0, the input is "{lifespan}"'
            )
        self.uri = uri
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.ssl_context = ssl_context
        ca_pem, insecure = _from_ssl_context(ssl_context)
        self._client = _NativeClient(
            uri,
            lifespan=float(lifespan) if cache_jwk_set else 300.0,
            cache_jwk_set=cache_jwk_set,
            cache_keys=cache_keys,
            max_cached_keys=max_cached_keys,
            headers=[(str(k), str(v)) for k, v in self.headers.items()],
            timeout=float(timeout),
            honor_cache_control=honor_cache_control,
            refresh_ahead=refresh_ahead,
            background_refresh=background_refresh,
            refresh_jitter=0.0,
            stale_while_revalidate=False,
            min_refetch_interval=float(min_refetch_interval),
            max_stale=float(max_stale),
            failure_backoff=float(failure_backoff),
            proxy=proxy,
            ca_file=ca_file,
            ca_pem=ca_pem,
            danger_accept_invalid_certs=insecure,
            allow_http=allow_http,
        )

    def fetch_data(self) -> Any:
        """A request for the set now (the cache keeps it); its parsed JSON."""
        try:
            return json.loads(self._client._fetch_data())
        except _errors.LibjwksError as e:
            raise _as_pyjwt(e) from None

    def get_jwk_set(self, refresh: bool = False) -> PyJWKSet:
        """The set, from the cache unless expired or ``refresh``."""
        try:
            data = json.loads(self._client._jwk_set_json(refresh))
        except _errors.LibjwksError as e:
            raise _as_pyjwt(e) from None
        if not isinstance(data, dict):
            raise _jwt.PyJWKClientError("The JWKS endpoint did not return a JSON object")
        return PyJWKSet.from_dict(data)

    def get_signing_keys(self, refresh: bool = False) -> list[PyJWK]:
        """The set's keys meant for signatures (``use`` is ``sig`` or absent) with a kid."""
        jwk_set = self.get_jwk_set(refresh)
        signing_keys = [
            k for k in jwk_set.keys if k.public_key_use in ["sig", None] and k.key_id
        ]
        if not signing_keys:
            raise _errors.KeyNotFoundError(
                "The JWKS endpoint did not contain any signing keys", "NoSigningKeys"
            )
        return signing_keys

    def get_signing_key(self, kid: str) -> PyJWK:
        """The key with this kid; a set that lacks it is fetched again, at most once per
        ``min_refetch_interval``."""
        if not isinstance(kid, str):
            # PyJWT would match a key without a kid to None; no key matches a missing kid
            # here (as for a token without one), and there is no request for it.
            raise _jwt.PyJWKClientError(f'Unable to find a signing key that matches: "{kid}"')
        try:
            return PyJWK(json.loads(self._client._signing_key_json(kid)))
        except _errors.LibjwksError as e:
            raise _as_pyjwt(e, kid) from None

    def get_signing_key_from_jwt(self, token: str | bytes) -> PyJWK:
        """The key the token's kid names (the token is not verified)."""
        if isinstance(token, bytes):
            token = token.decode("utf-8", "replace")
        try:
            return PyJWK(json.loads(self._client._signing_key_from_jwt_json(token)))
        except _errors.LibjwksError as e:
            kid = None
            try:
                kid = _jwt.get_unverified_header(token).get("kid")
            except Exception:
                pass
            raise _as_pyjwt(e, kid) from None

    @staticmethod
    def match_kid(signing_keys: list[PyJWK], kid: str) -> PyJWK | None:
        """The key of ``signing_keys`` with this kid, or None."""
        for key in signing_keys:
            if key.key_id == kid:
                return key
        return None
