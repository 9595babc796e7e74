#!/usr/bin/env bash
# Regenerates include/jwks.h from the Rust sources (src/ffi/) with the pinned cbindgen.
set -euo pipefail
cd "$(dirname "$0")/.."
touch build.rs
JWKS_UPDATE_HEADER=1 cargo build --quiet
echo "include/jwks.h updated"
