"""libjwks.PyJWKClient against PyJWT's PyJWKClient: the same scenarios, one loopback IdP, the
same keys, exception classes and request counts wherever PyJWT's behaviour is defined. Where
libjwks differs on purpose, the test says so and asserts both sides."""

from __future__ import annotations

import json
import time

import jwt
import pytest

import libjwks
from conftest import Key, wait_until

CLIENTS = {"pyjwt": jwt.PyJWKClient, "libjwks": libjwks.PyJWKClient}


def numbers(pyjwk) -> tuple:
    return pyjwk.key.public_numbers().x, pyjwk.key.public_numbers().y


@pytest.fixture(params=sorted(CLIENTS))
def which(request) -> str:
    return request.param


def test_keys_and_lifespan(server, key, which):
    server.set_keys("/jwks", key, Key("b"))
    client = CLIENTS[which](server.url("/jwks"), lifespan=2)
    first = client.get_signing_key("a")
    assert numbers(first) == numbers(jwt.PyJWK(key.jwk()))
    client.get_signing_key("a")
    client.get_signing_key("b")
    assert server.count("/jwks") == 1, which
    time.sleep(2.2)  # past the lifespan
    client.get_signing_key("a")
    assert server.count("/jwks") == 2, which
    assert [k.key_id for k in client.get_signing_keys()] == ["a", "b"]
    assert isinstance(client.get_jwk_set(), jwt.PyJWKSet)
    assert client.fetch_data()["keys"][0]["kid"] == "a"
    assert server.count("/jwks") == 3, "fetch_data always fetches"


def test_without_the_set_cache_every_call_fetches(server, key, which):
    server.set_keys("/jwks", key)
    client = CLIENTS[which](server.url("/jwks"), cache_jwk_set=False)
    for _ in range(3):
        client.get_signing_key("a")
    assert server.count("/jwks") == 3, which


def test_the_key_lru(server, key, which):
    server.set_keys("/jwks", key)
    client = CLIENTS[which](server.url("/jwks"), cache_keys=True, cache_jwk_set=False)
    for _ in range(3):
        client.get_signing_key("a")
    assert server.count("/jwks") == 1, which


def test_an_unknown_kid(server, key, which):
    server.set_keys("/jwks", key)
    client = CLIENTS[which](server.url("/jwks"))
    client.get_signing_key("a")
    with pytest.raises(jwt.PyJWKClientError, match='Unable to find a signing key that matches: "nope"'):
        client.get_signing_key("nope")
    assert server.count("/jwks") == 2, "the cached set lacks the kid: one refetch"
    with pytest.raises(jwt.PyJWKClientError):
        client.get_signing_key("nope")
    # The difference: PyJWT refetches at every call; libjwks at most once per interval.
    assert server.count("/jwks") == {"pyjwt": 3, "libjwks": 2}[which]


def test_headers_are_sent(server, key, which):
    server.set_keys("/jwks", key)
    client = CLIENTS[which](server.url("/jwks"), headers={"X-Api-Key": "k1", "User-agent": "ua"})
    client.get_signing_key("a")
    seen = {k.lower(): v for k, v in server.headers_seen["/jwks"].items()}
    assert seen["x-api-key"] == "k1" and seen["user-agent"] == "ua", which


def test_a_timeout(server, key, which):
    server.set_keys("/jwks", key)
    server.hold("/jwks")
    client = CLIENTS[which](server.url("/jwks"), timeout=0.5)
    with pytest.raises(jwt.PyJWKClientConnectionError):
        client.get_signing_key("a")
    with pytest.raises(jwt.PyJWKClientConnectionError):
        client.get_signing_key("a")
    # Each call tries again, as PyJWT does (libjwks's failure backoff is off in the drop-in).
    wait_until("both held requests", lambda: server.count("/jwks") == 2)
    server.release("/jwks")


def test_an_idp_error_is_retried_at_each_call(server, which):
    server.set_json("/jwks", {"error": "down"}, status=503)
    client = CLIENTS[which](server.url("/jwks"))
    for _ in range(3):
        with pytest.raises(jwt.PyJWKClientConnectionError):
            client.get_signing_key("a")
    assert server.count("/jwks") == 3, which


def test_a_body_that_is_not_json(server, which):
    server.set_json("/jwks", b"<html>oops</html>")
    client = CLIENTS[which](server.url("/jwks"))
    with pytest.raises(json.JSONDecodeError):
        client.get_signing_key("a")
    with pytest.raises(json.JSONDecodeError):
        client.get_signing_key("a")
    assert server.count("/jwks") == 2, which


def test_an_empty_set(server, which):
    server.set_json("/jwks", {"keys": []})
    client = CLIENTS[which](server.url("/jwks"))
    with pytest.raises(jwt.PyJWKSetError):
        client.get_signing_key("a")
    with pytest.raises(jwt.PyJWKSetError):
        client.get_signing_key("a")
    # A difference outside the two defaults (README): PyJWT caches the keyless document for
    # its lifespan; libjwks never installs a set without keys, so the next call asks again.
    assert server.count("/jwks") == {"pyjwt": 1, "libjwks": 2}[which]


def test_a_token_without_kid(server, key, which):
    server.set_keys("/jwks", key)
    client = CLIENTS[which](server.url("/jwks"))
    with pytest.raises(jwt.PyJWKClientError):
        client.get_signing_key_from_jwt(key.token(kid=None))
    # The difference: PyJWT fetches, looks for the kid None and refetches; libjwks refuses
    # the token before any request, since no key can match it.
    assert server.count("/jwks") == {"pyjwt": 2, "libjwks": 0}[which]
    if which == "libjwks":
        # The same for a kid of None asked for directly: PyJWT's error, not a TypeError.
        with pytest.raises(jwt.PyJWKClientError, match='matches: "None"'):
            client.get_signing_key(None)
        assert server.count("/jwks") == 0


def test_a_malformed_token(server, key, which):
    server.set_keys("/jwks", key)
    client = CLIENTS[which](server.url("/jwks"))
    with pytest.raises(jwt.DecodeError):
        client.get_signing_key_from_jwt("not-a-token")


def test_stale_if_error(server, key, which):
    # The other difference: past its lifespan, a set the IdP cannot refresh keeps serving.
    server.set_keys("/jwks", key)
    client = CLIENTS[which](server.url("/jwks"), lifespan=1)
    client.get_signing_key("a")
    server.set_json("/jwks", {"error": "down"}, status=503)
    time.sleep(1.2)
    if which == "pyjwt":
        with pytest.raises(jwt.PyJWKClientConnectionError):
            client.get_signing_key("a")
    else:
        assert client.get_signing_key("a").key_id == "a"
    assert server.count("/jwks") == 2


def test_the_seed_examples_with_only_the_import_changed(server, key):
    """PyJWT's documented PyJWKClient usage, run as written with libjwks's class."""
    from libjwks import PyJWKClient

    server.set_keys("/jwks", key)
    token = key.token({"aud": "https://expenses-api"})
    url = server.url("/jwks")

    # Retrieve RSA/EC signing keys from a JWKS endpoint (PyJWT's usage example).
    optional_custom_headers = {"User-agent": "custom-user-agent"}
    jwks_client = PyJWKClient(url, headers=optional_custom_headers)
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    data = jwt.decode(
        token,
        signing_key.key,
        algorithms=["ES256"],
        audience="https://expenses-api",
        options={"verify_exp": False},
    )
    assert data["sub"] == "user-1"

    # Caching the keys by kid.
    jwks_client = PyJWKClient(url, cache_keys=True)
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    assert jwt.decode(token, signing_key, algorithms=["ES256"], audience="https://expenses-api")

    # Every signing key, and a fallback key when the token's kid is unknown.
    jwks_client = PyJWKClient(url)
    signing_keys = jwks_client.get_signing_keys()
    assert [k.key_id for k in signing_keys] == ["a"]
    fallback = PyJWKClient.match_kid(signing_keys, "a")
    assert jwt.decode(token, fallback.key, algorithms=["ES256"], audience="https://expenses-api")
    assert PyJWKClient.match_kid(signing_keys, "zz") is None


def test_an_ssl_context_is_honoured_or_refused(server, key):
    import ssl

    server.set_keys("/jwks", key)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    client = libjwks.PyJWKClient(server.url("/jwks"), ssl_context=ctx)
    assert client.get_signing_key("a").key_id == "a"
    with pytest.raises(TypeError):
        libjwks.PyJWKClient(server.url("/jwks"), ssl_context="not a context")
