"""libjwks.AsyncKeyFetcher: pyjwt-key-fetcher's class on libjwks. One discovery and one JWKS
request for a thousand concurrent calls, the loop never blocked, cancellation, aclose() with
calls in flight, a second loop, the any-issuer warning, and its errors."""

from __future__ import annotations

import asyncio
import socket
import threading
import warnings

import jwt
import pyjwt_key_fetcher
import pytest

import libjwks
from conftest import Key, wait_until

CONFIG = "/.well-known/openid-configuration"


def publish(server, key: Key) -> str:
    iss = server.url("")
    server.set_json(CONFIG, {"issuer": iss, "jwks_uri": server.url("/jwks")})
    server.set_keys("/jwks", key)
    return iss


def test_a_thousand_waiters_one_discovery_one_jwks_request_and_the_loop_runs(server, key):
    iss = publish(server, key)
    server.hold("/jwks")
    fetcher = libjwks.AsyncKeyFetcher(valid_issuers=[iss])
    token = key.token({"iss": iss})

    async def main():
        tasks = [asyncio.ensure_future(fetcher.get_key(token)) for _ in range(1000)]
        ran = []

        async def other():
            for i in range(20):
                await asyncio.sleep(0)
                ran.append(i)

        await other()
        assert len(ran) == 20 and not any(t.done() for t in tasks)
        await asyncio.get_running_loop().run_in_executor(
            None, wait_until, "the JWKS request is held", lambda: server.held_now("/jwks") == 1
        )
        server.release("/jwks")
        keys = await asyncio.gather(*tasks)
        assert all(k["algorithms"] == ["ES256"] for k in keys)
        claims = jwt.decode(token, **keys[0], audience="api")
        assert claims["iss"] == iss
        await fetcher.aclose()

    asyncio.run(main())
    assert server.count(CONFIG) == 1
    assert server.count("/jwks") == 1


def test_get_key_by_iss_and_kid_awaits_the_library_not_a_thread(server, key):
    iss = publish(server, key)
    server.hold("/jwks")
    fetcher = libjwks.AsyncKeyFetcher(valid_issuers=[iss])

    async def main():
        tasks = [asyncio.ensure_future(fetcher.get_key_by_iss_and_kid(iss, "a")) for _ in range(50)]
        await asyncio.get_running_loop().run_in_executor(
            None, wait_until, "the JWKS request is held", lambda: server.held_now("/jwks") == 1
        )
        assert not any(t.done() for t in tasks)
        assert fetcher._client.stats()["pending_requests"] >= 1, "library requests, not threads"
        server.release("/jwks")
        keys = await asyncio.gather(*tasks)
        assert all(k["algorithms"] == ["ES256"] for k in keys)
        # A cache hit: the future is done before it is awaited.
        future = fetcher._client._signing_key_for_issuer_future(iss, "a")
        assert future.done()
        with pytest.raises(pyjwt_key_fetcher.errors.JWTInvalidIssuerError):
            await fetcher.get_key_by_iss_and_kid("https://other.example", "a")
        await fetcher.aclose()

    asyncio.run(main())
    assert server.count(CONFIG) == 1
    assert server.count("/jwks") == 1


def test_cancellation_aclose_and_a_second_loop(server, key):
    iss = publish(server, key)
    server.hold("/jwks")
    fetcher = libjwks.AsyncKeyFetcher(valid_issuers=[iss])
    token = key.token({"iss": iss})

    async def cancel_then_close():
        waiting = [asyncio.ensure_future(fetcher.get_key(token)) for _ in range(10)]
        await asyncio.sleep(0)
        waiting[0].cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting[0]
        await asyncio.get_running_loop().run_in_executor(
            None, wait_until, "the JWKS request is held", lambda: server.held_now("/jwks") == 1
        )
        # Closed with calls in flight: they end, as cancelled, without waiting on the IdP.
        await fetcher.aclose()
        results = await asyncio.gather(*waiting[1:], return_exceptions=True)
        assert all(isinstance(r, libjwks.CancelledError) for r in results), results
        with pytest.raises(libjwks.CancelledError):
            await fetcher.get_key(token)

    asyncio.run(cancel_then_close())
    server.release("/jwks")

    # Another fetcher, used from a second loop in another thread.
    other = libjwks.AsyncKeyFetcher(valid_issuers=[iss])
    out = {}
    t = threading.Thread(target=lambda: out.update(k=asyncio.run(other.get_key(token))))
    t.start()
    t.join(30)
    assert out["k"]["algorithms"] == ["ES256"]


def test_errors_are_pyjwt_key_fetchers(server, key):
    iss = publish(server, key)
    fetcher = libjwks.AsyncKeyFetcher(valid_issuers=[iss], min_refetch_interval=0)

    async def main():
        with pytest.raises(pyjwt_key_fetcher.errors.JWTInvalidIssuerError):
            await fetcher.get_key(key.token({"iss": "https://other.example"}))
        with pytest.raises(pyjwt_key_fetcher.errors.JWTFormatError):
            await fetcher.get_key(key.token({"iss": iss}, kid=None))
        with pytest.raises(pyjwt_key_fetcher.errors.JWTKeyNotFoundError):
            await fetcher.get_key(Key("zz").token({"iss": iss}))
        with pytest.raises(jwt.DecodeError):
            await fetcher.get_key("not-a-token")
        # min_refetch_interval=0: each unknown kid may refetch.
        before = server.count("/jwks")
        with pytest.raises(libjwks.LibjwksError):
            await fetcher.get_key(Key("zz").token({"iss": iss}))
        assert server.count("/jwks") == before + 1
        key_entry = await fetcher.get_key_by_iss_and_kid(iss, "a")
        assert key_entry["algorithms"] == ["ES256"]

    asyncio.run(main())
    with pytest.raises(TypeError, match="http_client"):
        libjwks.AsyncKeyFetcher(valid_issuers=[iss], http_client=object())


def test_a_failed_discovery_request_and_an_unusable_document_have_their_own_errors(server, key):
    # pyjwt-key-fetcher's split: the request failed (JWTHTTPFetchError: an error status, a
    # refused connection), or the document cannot be used (JWTProviderConfigError).
    iss = server.url("")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    gone = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    fetcher = libjwks.AsyncKeyFetcher(valid_issuers=[iss, gone])

    async def main():
        server.set_json(CONFIG, {"error": "down"}, status=500)
        with pytest.raises(libjwks.JWTHTTPFetchError) as e:
            await fetcher.get_key(key.token({"iss": iss}))
        assert isinstance(e.value, pyjwt_key_fetcher.errors.JWTHTTPFetchError)
        with pytest.raises(libjwks.JWTHTTPFetchError):
            await fetcher.get_key(key.token({"iss": gone}))

    asyncio.run(main())
    fetcher = libjwks.AsyncKeyFetcher(valid_issuers=[iss])

    async def unusable():
        server.set_json(CONFIG, {"issuer": iss})  # no jwks_uri
        with pytest.raises(libjwks.JWTProviderConfigError) as e:
            await fetcher.get_key(key.token({"iss": iss}))
        assert isinstance(e.value, pyjwt_key_fetcher.errors.JWTProviderConfigError)
        assert not isinstance(e.value, libjwks.JWTHTTPFetchError)

    asyncio.run(unusable())
    assert server.count("/jwks") == 0


def test_any_issuer_warns_once_and_takes_https_only(server, key):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fetcher = libjwks.AsyncKeyFetcher()
    assert len([w for w in caught if "valid_issuers" in str(w.message)]) == 1

    # A plain-http issuer that answers, on loopback: a token that names it must not make the
    # server fetch from its own plain-http services.
    iss = publish(server, key)

    async def main():
        for named in (iss, "http://attacker.example"):
            with pytest.raises(pyjwt_key_fetcher.errors.JWTKeyFetcherError, match="https"):
                await fetcher.get_key(key.token({"iss": named}))

    asyncio.run(main())
    assert server.count(CONFIG) == 0
    assert sum(server.hits.values()) == 0


def test_static_issuer_config_skips_discovery(server, key):
    iss = "https://static.example"
    server.set_keys("/jwks", key)
    fetcher = libjwks.AsyncKeyFetcher(
        valid_issuers=[iss], static_issuer_config={iss: {"jwks_uri": server.url("/jwks")}}
    )
    k = asyncio.run(fetcher.get_key(key.token({"iss": iss})))
    assert k["algorithms"] == ["ES256"]
    assert server.count(CONFIG) == 0 and server.count("/jwks") == 1
