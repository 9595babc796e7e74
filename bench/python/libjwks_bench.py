"""libjwks's Python package in the cross-language benchmark (bench/run.sh), on the same keys and
tokens as every other path.

    python libjwks_bench.py time URL TOKENS MILLIS   "py ALG ns" (libjwks.Client.verify) and
                                                     "py-pyjwkclient ALG ns" (libjwks.PyJWKClient
                                                     + jwt.decode), per verification
    python libjwks_bench.py threads URL TOKENS MILLIS  "py-threads RS256 ops1 ops2": verifications
                                                     per second with 1 and 2 threads
    python libjwks_bench.py rss URL TOKENS N          "py-rss RS256 kib10k kibN": RSS after 10,000
                                                     and after N verifications
"""

import json
import sys
import threading
import time

import jwt

import libjwks

ALGS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"]
CHECKS = {"audience": "bench", "issuer": "https://issuer.bench"}


def per_call(fn, millis: int) -> float:
    """Nanoseconds per call of fn, over at least `millis` ms."""
    n = 16
    while True:
        start = time.perf_counter_ns()
        for _ in range(n):
            fn()
        took = time.perf_counter_ns() - start
        if took >= millis * 1e6:
            return took / n
        n = max(2 * n, int(n * millis * 1e6 / max(took, 1)))


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    mode, url, tokens_path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(tokens_path) as f:
        tokens = json.load(f)
    client = libjwks.Client(url, **CHECKS)
    if mode == "time":
        millis = int(sys.argv[4])
        dropin = libjwks.PyJWKClient(url)
        for alg in ALGS:
            token = tokens[alg]
            assert client.verify(token)["sub"] == "user-1"
            print(f"py {alg} {per_call(lambda: client.verify(token), millis):.0f}", flush=True)

            def decode() -> dict:
                key = dropin.get_signing_key_from_jwt(token)
                return jwt.decode(token, key.key, algorithms=[alg], options={"require": ["exp"]},
                                  **CHECKS)

            assert decode()["sub"] == "user-1"
            print(f"py-pyjwkclient {alg} {per_call(decode, millis):.0f}", flush=True)
    elif mode == "threads":
        millis = int(sys.argv[4])
        token = tokens["RS256"]
        client.verify(token)

        def rate(threads: int) -> float:
            counts = [0] * threads
            stop = time.perf_counter() + millis / 1000

            def work(i: int) -> None:
                while time.perf_counter() < stop:
                    for _ in range(50):
                        client.verify(token)
                    counts[i] += 50

            started = time.perf_counter()
            workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            return sum(counts) / (time.perf_counter() - started)

        print(f"py-threads RS256 {rate(1):.0f} {rate(2):.0f}", flush=True)
    elif mode == "rss":
        n = int(sys.argv[4])
        token = tokens["RS256"]
        for _ in range(10_000):
            client.verify(token)
        after_10k = rss_kib()
        for _ in range(n - 10_000):
            client.verify(token)
        print(f"py-rss RS256 {after_10k} {rss_kib()}", flush=True)


if __name__ == "__main__":
    main()
