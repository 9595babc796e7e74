#!/usr/bin/env bash
# Builds the dynamic module ngx_http_jwks_module.so against Debian's nginx (packages nginx and
# nginx-dev: the build tree in /usr/share/nginx/src and its configure flags), linking
# libjwks.a statically.
#
#   modules/nginx/build.sh [debug|release]     (default: release; cargo builds the library)
#
# Output: target/nginx/<profile>/ngx_http_jwks_module.so. With JWKS_NGINX_BENCH=1 it also builds
# the benchmark's control, ngx_http_bench_spin_module.so (bench/spin), beside it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
profile=${1:-release}
target=${CARGO_TARGET_DIR:-$root/target}
lib="$target/$profile/libjwks.a"
# The tests pass JWKS_NGINX_NO_CARGO=1: they run inside cargo, which built the library.
if [ -z "${JWKS_NGINX_NO_CARGO:-}" ]; then
    case "$profile" in
        release) cargo build --release --locked --manifest-path "$root/Cargo.toml" --quiet ;;
        debug) cargo build --locked --manifest-path "$root/Cargo.toml" --quiet ;;
        *) echo "usage: $0 [debug|release]" >&2; exit 2 ;;
    esac
fi
out="$target/nginx/$profile"
src=/usr/share/nginx/src
if [ ! -f "$src/conf_flags" ]; then
    echo "$src/conf_flags is missing: install nginx-dev (apt-get install nginx nginx-dev)" >&2
    exit 1
fi

# The build tree is copied: configure and make write into it.
rm -rf "$out/build"
mkdir -p "$out"
cp -r "$src" "$out/build"
# conf_flags is a bash array (NGX_CONF_FLAGS), not a flag string.
# shellcheck disable=SC1091
source "$src/conf_flags"
cd "$out/build"
extra=()
# Compiler and linker flags beyond nginx's own (debian/rules passes dpkg-buildflags' hardening
# flags here, as Debian's nginx module packages get them).
if [ -n "${JWKS_NGINX_CC_OPT:-}" ]; then
    extra+=(--with-cc-opt="$JWKS_NGINX_CC_OPT")
fi
if [ -n "${JWKS_NGINX_LD_OPT:-}" ]; then
    extra+=(--with-ld-opt="$JWKS_NGINX_LD_OPT")
fi
if [ -n "${JWKS_NGINX_BENCH:-}" ]; then
    extra+=(--add-dynamic-module="$here/bench/spin")
fi
JWKS_LIB="$lib" ./configure "${NGX_CONF_FLAGS[@]}" --add-dynamic-module="$here" "${extra[@]}" \
    > configure.log
# `make modules` alone fails in this tree; the generated Makefile is objs/Makefile.
make -f objs/Makefile modules > make.log 2>&1 || { cat make.log >&2; exit 1; }
cp objs/ngx_http_jwks_module.so "$out/"
if [ -n "${JWKS_NGINX_BENCH:-}" ]; then
    cp objs/ngx_http_bench_spin_module.so "$out/"
fi
echo "$out/ngx_http_jwks_module.so"
