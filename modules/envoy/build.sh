#!/usr/bin/env bash
# Builds libjwks_envoy.so, the Envoy dynamic module, linking libjwks.a statically.
#
#   modules/envoy/build.sh [debug|release]     (default: release; cargo builds the library)
#
# Needs g++ (C++17), nlohmann/json and RE2 (Debian: nlohmann-json3-dev, libre2-dev).
# Output: target/envoy/<profile>/libjwks_envoy.so (load it with dynamic_module_config
# {name: jwks_envoy} and ENVOY_DYNAMIC_MODULES_SEARCH_PATH set to that directory).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
profile=${1:-release}
target=${CARGO_TARGET_DIR:-$root/target}
# The tests pass JWKS_ENVOY_NO_CARGO=1: they run inside cargo, which built the library.
if [ -z "${JWKS_ENVOY_NO_CARGO:-}" ]; then
    case "$profile" in
        release) cargo build --release --locked --manifest-path "$root/Cargo.toml" --quiet ;;
        debug) cargo build --locked --manifest-path "$root/Cargo.toml" --quiet ;;
        *) echo "usage: $0 [debug|release]" >&2; exit 2 ;;
    esac
fi
if [ ! -f /usr/include/nlohmann/json.hpp ]; then
    echo "nlohmann/json.hpp is missing: apt-get install nlohmann-json3-dev" >&2
    exit 1
fi
# RE2 for safe_regex, as Envoy's own matchers (linear time on whatever path a client sends).
# Linked as a shared library (libre2-9 at run time): Debian's libre2.a is not position-
# independent. Envoy exports no RE2 symbol, so the module's calls reach this RE2, not Envoy's.
if [ ! -f /usr/include/re2/re2.h ]; then
    echo "RE2 is missing: apt-get install libre2-dev" >&2
    exit 1
fi
out="$target/envoy/$profile"
mkdir -p "$out"
opt=-O2
[ "$profile" = debug ] && opt="-O1 -g"
# --exclude-libs keeps libjwks.a's symbols (and Rust's) out of the module's exports: Envoy
# sees only the envoy_dynamic_module_on_* hooks. libgcc_s provides unwinding for Rust.
# Only the hooks are exported (the C++ library's inline functions would be, too).
printf '{ global: envoy_dynamic_module_on_*; local: *; };\n' > "$out/exports.map"
g++ -std=c++17 $opt -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden \
    -I"$root/include" "$here"/*.cc "$target/$profile/libjwks.a" \
    -Wl,--exclude-libs,ALL -Wl,--version-script="$out/exports.map" \
    -lre2 -lpthread -ldl -lm -lrt -lutil -lgcc_s \
    -o "$out/libjwks_envoy.so.tmp"
mv "$out/libjwks_envoy.so.tmp" "$out/libjwks_envoy.so"
echo "$out/libjwks_envoy.so"
