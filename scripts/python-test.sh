#!/usr/bin/env bash
# The Python package (bindings/python): builds its abi3 wheel with maturin (release), installs
# it into a venv with pytest, PyJWT[crypto] and pyjwt-key-fetcher from PyPI (the peers the
# parity tests compare against), runs its tests, installs the package from source with pip (PEP
# 517), then installs the same wheel into a fresh venv with cargo stripped from PATH and verifies
# a token there (a user without Rust).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${CARGO_TARGET_DIR:-$root/target}/python
venv="$out/venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    'maturin>=1.5,<2' pytest 'PyJWT[crypto]==2.12.*' 'pyjwt-key-fetcher==0.8.*'
rm -rf "$out/wheels"
"$venv/bin/maturin" build --quiet --release --locked -m bindings/python/Cargo.toml -o "$out/wheels"
wheel=$(ls "$out"/wheels/libjwks-*.whl)
case "$wheel" in
    *abi3*) ;;
    *) echo "not an abi3 wheel: $wheel" >&2; exit 1 ;;
esac
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"
(cd bindings/python/tests && "$venv/bin/python" -m pytest -q -p no:cacheprovider)

# From source, as a user with Rust does (PEP 517, maturin backend): pip install ./bindings/python.
src_venv="$out/from-source"
rm -rf "$src_venv"
python3 -m venv "$src_venv"
"$src_venv/bin/pip" install --quiet --disable-pip-version-check ./bindings/python
"$src_venv/bin/python" -c 'import libjwks; assert libjwks.Client and libjwks.__version__'

# The wheel alone, for a machine without Rust: a fresh venv, no cargo on PATH, no PyJWT.
fresh="$out/fresh"
rm -rf "$fresh"
python3 -m venv "$fresh"
no_cargo=$(printf '%s' "$PATH" | tr ':' '\n' | while read -r dir; do
    [ -x "$dir/cargo" ] || printf '%s:' "$dir"
done)
PATH="${no_cargo%:}" "$fresh/bin/pip" install --quiet --disable-pip-version-check --no-index "$wheel"
token_and_set=$("$venv/bin/python" - <<'PY'
import json, sys, time
sys.path.insert(0, "bindings/python/tests")
from conftest import Key
k = Key("wheel")
print(json.dumps({"token": k.token(), "jwks": {"keys": [k.jwk()]}}))
PY
)
PATH="${no_cargo%:}" JWKS_WHEEL_CHECK="$token_and_set" "$fresh/bin/python" - <<'PY'
import json, os, shutil
assert shutil.which("cargo") is None, "cargo is still on PATH"
import libjwks
d = json.loads(os.environ["JWKS_WHEEL_CHECK"])
client = libjwks.Client(local_jwks=json.dumps(d["jwks"]), audience="api")
assert client.verify(d["token"])["sub"] == "user-1"
print("the wheel installs and verifies without Rust:", libjwks.__version__)
PY
