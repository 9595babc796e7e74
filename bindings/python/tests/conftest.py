"""A JWKS server on 127.0.0.1 for the tests (started by them), with keys to sign tokens."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec


class Key:
    """An EC P-256 key with a kid: its public JWK, and tokens signed with it."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> dict:
        d = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key()))
        d.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
        return d

    def token(self, claims: dict | None = None, **headers) -> str:
        c = {"sub": "user-1", "aud": "api", "exp": int(time.time()) + 600}
        c.update(claims or {})
        for k in [k for k, v in c.items() if v is None]:
            del c[k]
        h = {"kid": self.kid}
        h.update(headers)
        if h.get("kid") is None:
            del h["kid"]
        return jwt.encode(c, self.private, algorithm="ES256", headers=h)


class Server:
    """Answers each path with a configured (status, body, headers); counts requests; can hold
    a path's answers until released."""

    def __init__(self) -> None:
        self.replies: dict[str, tuple[int, bytes, dict]] = {}
        self.hits: dict[str, int] = {}
        self.headers_seen: dict[str, dict] = {}
        self.held: dict[str, threading.Event] = {}
        self.waiting: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path
                with server.lock:
                    server.hits[path] = server.hits.get(path, 0) + 1
                    server.headers_seen[path] = dict(self.headers)
                    gate = server.held.get(path)
                    if gate is not None:
                        server.waiting[path] = server.waiting.get(path, 0) + 1
                if gate is not None:
                    gate.wait(60)
                    with server.lock:
                        server.waiting[path] -= 1
                status, body, headers = server.replies.get(path, (404, b"not found", {}))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set_json(self, path: str, value, status: int = 200, headers: dict | None = None) -> None:
        body = value if isinstance(value, bytes) else json.dumps(value).encode()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        self.replies[path] = (status, body, h)

    def set_keys(self, path: str, *keys: Key) -> None:
        self.set_json(path, {"keys": [k.jwk() for k in keys]})

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits.get(path, 0)

    def hold(self, path: str) -> None:
        with self.lock:
            self.held[path] = threading.Event()

    def release(self, path: str) -> None:
        with self.lock:
            gate = self.held.pop(path, None)
        if gate is not None:
            gate.set()

    def held_now(self, path: str) -> int:
        with self.lock:
            return self.waiting.get(path, 0)

    def close(self) -> None:
        for path in list(self.held):
            self.release(path)
        self.httpd.shutdown()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(scope="session")
def key() -> Key:
    return Key("a")


def wait_until(what: str, done, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"still waiting: {what}"
        time.sleep(0.002)
