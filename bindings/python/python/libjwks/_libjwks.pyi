from collections.abc import Awaitable, Sequence
from typing import Any

__version__: str

class Client:
    """libjwks's client: fetches and caches the IdP's keys, verifies tokens with them.

    Thread-safe; make one per IdP (or set of issuers) for the life of the process.
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        issuers: str | Sequence[str] | None = None,
        audience: str | Sequence[str] | None = None,
        issuer: str | None = None,
        algorithms: str | Sequence[str] | None = None,
        leeway: float | None = None,
        lifespan: float | None = None,
        honor_cache_control: bool = True,
        timeout: float | None = None,
        headers: Sequence[tuple[str, str]] | None = None,
        ca_file: str | None = None,
        proxy: str | None = None,
        persist_dir: str | None = None,
        local_jwks: str | None = None,
        local_jwks_file: str | None = None,
        max_stale: float | None = None,
        min_refetch_interval: float | None = None,
        refresh_ahead: bool = True,
        background_refresh: bool = False,
        allow_http: bool = False,
        allow_missing_kid: bool = False,
        cache_jwk_set: bool = True,
        cache_keys: bool = False,
        max_cached_keys: int = 16,
        refresh_jitter: float | None = None,
        stale_while_revalidate: bool = True,
        ca_pem: str | None = None,
        danger_accept_invalid_certs: bool = False,
        allow_any_issuer: bool = False,
        static_issuers: Sequence[tuple[str, str]] | None = None,
        discovery_config_path: str | None = None,
        issuer_ttl: float | None = None,
        max_issuers: int | None = None,
        issuer_min_refetch_interval: float | None = None,
        failure_backoff: float | None = None,
    ) -> None: ...
    def verify(
        self,
        token: str,
        *,
        audience: str | Sequence[str] | None = None,
        issuer: str | None = None,
        leeway: float | None = None,
    ) -> dict[str, Any]:
        """The token's claims. Blocks (GIL released) only while keys are fetched."""
    def _averify(
        self,
        token: str,
        *,
        audience: str | Sequence[str] | None = None,
        issuer: str | None = None,
        leeway: float | None = None,
    ) -> Awaitable[dict[str, Any]]: ...
    def stats(self) -> dict[str, int]: ...
    # For libjwks.PyJWKClient and libjwks.AsyncKeyFetcher: JWKs and sets as JSON text.
    def _signing_key_from_jwt_future(self, token: str) -> Awaitable[str]: ...
    def _signing_key_for_issuer_future(self, issuer: str, kid: str) -> Awaitable[str]: ...
    def _close(self) -> None: ...
    def _jwk_set_json(self, refresh: bool = False) -> str: ...
    def _fetch_data(self) -> str: ...
    def _signing_key_json(self, kid: str) -> str: ...
    def _signing_key_from_jwt_json(self, token: str) -> str: ...

class Pending:
    """A pending averify; cancelling its future cancels the library's request."""

    def _done(self, future: Any) -> None: ...
