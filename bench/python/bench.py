"""The Python peer of the cross-language benchmark (bench/run.sh): PyJWKClient and jwt.decode,
as PyJWT documents them, on the same keys and tokens.

    python bench.py URL TOKENS MILLIS   one round: prints "python ALG ns_per_verification"
"""

import json
import sys
import time

import jwt
from jwt import PyJWKClient

ALGS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"]


def main() -> None:
    url, tokens_path, millis = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(tokens_path) as f:
        tokens = json.load(f)
    client = PyJWKClient(url)
    for alg in ALGS:
        token = tokens[alg]

        def verify() -> dict:
            key = client.get_signing_key_from_jwt(token)
            return jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience="bench",
                issuer="https://issuer.bench",
                options={"require": ["exp"]},
            )

        assert verify()["sub"] == "user-1"
        n = 16
        while True:
            start = time.perf_counter_ns()
            for _ in range(n):
                verify()
            took = time.perf_counter_ns() - start
            if took >= millis * 1e6:
                break
            n = max(2 * n, int(n * millis * 1e6 / max(took, 1)))
        print(f"python {alg} {took / n:.0f}", flush=True)


if __name__ == "__main__":
    main()
