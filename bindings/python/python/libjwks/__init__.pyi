from ._errors import (
    CancelledError as CancelledError,
    DecodeError as DecodeError,
    ExpiredSignatureError as ExpiredSignatureError,
    ForkedError as ForkedError,
    ImmatureSignatureError as ImmatureSignatureError,
    InternalError as InternalError,
    InvalidAlgorithmError as InvalidAlgorithmError,
    InvalidArgumentError as InvalidArgumentError,
    InvalidAudienceError as InvalidAudienceError,
    InvalidIssuerError as InvalidIssuerError,
    InvalidSignatureError as InvalidSignatureError,
    InvalidTokenError as InvalidTokenError,
    KeyNotFoundError as KeyNotFoundError,
    KeysUnavailableError as KeysUnavailableError,
    LibjwksError as LibjwksError,
    MissingRequiredClaimError as MissingRequiredClaimError,
)
from collections.abc import Sequence
from typing import Any

from ._keyfetcher import (
    AsyncKeyFetcher as AsyncKeyFetcher,
    JWTFormatError as JWTFormatError,
    JWTHTTPFetchError as JWTHTTPFetchError,
    JWTInvalidIssuerError as JWTInvalidIssuerError,
    JWTKeyFetcherError as JWTKeyFetcherError,
    JWTKeyNotFoundError as JWTKeyNotFoundError,
    JWTProviderConfigError as JWTProviderConfigError,
    JWTProviderJWKSError as JWTProviderJWKSError,
)
from ._libjwks import Client as _NativeClient, __version__ as __version__
from ._pyjwt import (
    KeySetError as KeySetError,
    NotJsonError as NotJsonError,
    PyJWKClient as PyJWKClient,
)

class Client(_NativeClient):
    async def averify(
        self,
        token: str,
        *,
        audience: str | Sequence[str] | None = None,
        issuer: str | None = None,
        leeway: float | None = None,
    ) -> dict[str, Any]: ...
