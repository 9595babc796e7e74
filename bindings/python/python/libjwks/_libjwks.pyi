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
