"""libjwks.Client, the native fast path: claims as a dict, exceptions that PyJWT's except
clauses catch, the GIL released while a fetch is awaited, and averify that never blocks the
event loop."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time

import jwt
import pytest

import libjwks
from conftest import Key, wait_until


def test_verify_returns_the_claims(server, key):
    server.set_keys("/jwks", key)
    client = libjwks.Client(server.url("/jwks"), audience="api")
    claims = client.verify(key.token({"roles": ["a", "b"], "org": {"id": 7}, "n": 1.5}))
    assert claims["sub"] == "user-1"
    assert claims["roles"] == ["a", "b"] and claims["org"] == {"id": 7} and claims["n"] == 1.5
    assert isinstance(claims["exp"], int)
    client.verify(key.token())
    assert server.count("/jwks") == 1, "the second verification came from the cache"
    stats = client.stats()
    assert stats["fetches"] == 1 and stats["cache_hits"] >= 1


@pytest.mark.parametrize(
    "claims, headers, cls, pyjwt_cls",
    [
        ({"exp": int(time.time()) - 3600}, {}, libjwks.ExpiredSignatureError, jwt.ExpiredSignatureError),
        ({"nbf": int(time.time()) + 3600}, {}, libjwks.ImmatureSignatureError, jwt.ImmatureSignatureError),
        ({"aud": "other"}, {}, libjwks.InvalidAudienceError, jwt.InvalidAudienceError),
        ({"exp": None}, {}, libjwks.MissingRequiredClaimError, jwt.MissingRequiredClaimError),
        ({}, {"kid": "unknown"}, libjwks.KeyNotFoundError, jwt.PyJWKClientError),
    ],
)
def test_each_refusal_is_its_class_and_pyjwts(server, key, claims, headers, cls, pyjwt_cls):
    server.set_keys("/jwks", key)
    client = libjwks.Client(server.url("/jwks"), audience="api")
    with pytest.raises(cls) as caught:
        client.verify(key.token(claims, **headers))
    assert isinstance(caught.value, pyjwt_cls), type(caught.value).__mro__
    assert isinstance(caught.value, jwt.PyJWTError)
    assert isinstance(caught.value, libjwks.LibjwksError)
    assert caught.value.kind and str(caught.value)


def test_bad_signature_malformed_and_keys_unavailable(server, key):
    server.set_keys("/jwks", key)
    client = libjwks.Client(server.url("/jwks"), audience="api")
    forged = Key("a").token()  # the same kid, another key
    with pytest.raises(jwt.InvalidSignatureError) as caught:
        client.verify(forged)
    assert isinstance(caught.value, libjwks.InvalidSignatureError)
    with pytest.raises(libjwks.DecodeError):
        client.verify("not.a.token")
    with pytest.raises(jwt.DecodeError):
        client.verify("\u00e9\u00e9")
    # No keys can be had: not the token's fault, PyJWT's connection error.
    server.set_json("/down", {"error": "boom"}, status=500)
    down = libjwks.Client(server.url("/down"), audience="api")
    with pytest.raises(libjwks.KeysUnavailableError) as caught:
        down.verify(key.token())
    assert isinstance(caught.value, jwt.PyJWKClientConnectionError)
    assert "500" in str(caught.value)


def test_per_call_settings_and_bad_arguments(server, key):
    server.set_keys("/jwks", key)
    client = libjwks.Client(server.url("/jwks"), audience=["api", "web"], issuer="https://idp")
    token = key.token({"aud": "admin", "iss": "https://idp"})
    with pytest.raises(libjwks.InvalidAudienceError):
        client.verify(token)
    assert client.verify(token, audience="admin")["aud"] == "admin"
    with pytest.raises(libjwks.InvalidIssuerError):
        client.verify(token, audience="admin", issuer="https://other")
    late = key.token({"exp": int(time.time()) - 30, "iss": "https://idp"})
    assert client.verify(late, audience="api", leeway=120)
    with pytest.raises(ValueError):
        libjwks.Client("http://example.com/jwks")  # plain http to a host that is not loopback
    with pytest.raises(libjwks.InvalidArgumentError):
        libjwks.Client("")
    with pytest.raises(ValueError):
        libjwks.Client(server.url("/jwks"), algorithms=["XX999"])
    with pytest.raises(ValueError):
        client.verify(token, leeway=-1)


def test_local_keys_need_no_server(key):
    client = libjwks.Client(local_jwks=json.dumps({"keys": [key.jwk()]}), audience="api")
    assert client.verify(key.token())["sub"] == "user-1"
    with pytest.raises(libjwks.KeyNotFoundError):
        client.verify(Key("b").token())


def test_the_gil_is_released_while_a_fetch_is_awaited(server, key):
    server.set_keys("/jwks", key)
    server.hold("/jwks")
    client = libjwks.Client(server.url("/jwks"), audience="api")
    result = {}

    def verify():
        result["claims"] = client.verify(key.token())

    waiting = threading.Thread(target=verify)
    waiting.start()
    wait_until("the fetch is held", lambda: server.held_now("/jwks") == 1)
    # Python code in another thread runs to completion while verify waits.
    total = sum(i * i for i in range(200_000))
    assert total > 0
    assert waiting.is_alive() and "claims" not in result, "verify still waits on the held fetch"
    server.release("/jwks")
    waiting.join(30)
    assert result["claims"]["sub"] == "user-1"


def test_averify_never_blocks_the_loop(server, key):
    server.set_keys("/jwks", key)
    server.hold("/jwks")
    client = libjwks.Client(server.url("/jwks"), audience="api")

    async def main():
        tasks = [asyncio.ensure_future(client.averify(key.token())) for _ in range(200)]
        # Another coroutine runs to completion while every verification waits.
        ran = []

        async def other():
            for i in range(10):
                await asyncio.sleep(0)
                ran.append(i)

        await other()
        assert ran == list(range(10))
        assert not any(t.done() for t in tasks)
        await asyncio.get_running_loop().run_in_executor(
            None, wait_until, "the fetch is held", lambda: server.held_now("/jwks") == 1
        )
        server.release("/jwks")
        results = await asyncio.gather(*tasks)
        assert all(r["sub"] == "user-1" for r in results)
        # A cache hit: answered at once, the native future already done.
        fut = client._averify(key.token())
        assert fut.done()
        assert (await fut)["sub"] == "user-1"
        with pytest.raises(libjwks.InvalidAudienceError):
            await client.averify(key.token({"aud": "x"}))

    asyncio.run(main())
    assert server.count("/jwks") == 1, "one fetch for every waiting verification"


def test_averify_cancelled_and_on_a_second_loop(server, key):
    server.set_keys("/jwks", key)
    server.hold("/jwks")
    client = libjwks.Client(server.url("/jwks"), audience="api")

    async def cancelled():
        task = asyncio.ensure_future(client.averify(key.token()))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    server.release("/jwks")
    # Another loop in another thread uses the same client.
    out = {}
    t = threading.Thread(target=lambda: out.update(asyncio.run(client.averify(key.token()))))
    t.start()
    t.join(30)
    assert out["sub"] == "user-1"


def test_without_pyjwt_the_classes_stand_alone(key):
    code = (
        "import sys; sys.modules['jwt'] = None; sys.modules['pyjwt_key_fetcher'] = None\n"
        "import libjwks\n"
        "assert libjwks.ExpiredSignatureError.__mro__[1:4] == "
        "(libjwks.InvalidTokenError, libjwks.LibjwksError, Exception), "
        "libjwks.ExpiredSignatureError.__mro__\n"
        "assert libjwks.JWTKeyNotFoundError.__mro__[1:3] == "
        "(libjwks.JWTKeyFetcherError, libjwks.LibjwksError)\n"
        "for cls in (libjwks.PyJWKClient, libjwks.AsyncKeyFetcher):\n"
        "    try:\n"
        "        cls('https://idp.example/jwks') if cls is libjwks.PyJWKClient else cls()\n"
        "    except ImportError as e:\n"
        "        assert \"pip install 'libjwks[jwt]'\" in str(e), e\n"
        "    else:\n"
        "        raise AssertionError(cls)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
