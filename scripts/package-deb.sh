#!/usr/bin/env bash
# Builds the Debian packages from this repository: libjwks0 (the shared library), libjwks-dev
# (header, static library, pkg-config and CMake files) and libnginx-mod-http-jwks (the nginx
# module, libjwks linked in statically, enabled as Debian's nginx module packages are). They
# land in target/deb/, with the Go module libjwks.dev/jwks as a module proxy on disk in
# target/deb/goproxy/. Needs debhelper, dpkg-dev, nginx-dev, cmake and pkg-config (Debian), a
# Rust toolchain on PATH (rustup's is fine: -d skips dpkg's check of the build dependencies,
# which would want Debian's cargo and rustc packages) and Go.
#
# dpkg-buildpackage writes beside the source tree and its clean step would wipe target/, so the
# tracked files are copied into target/deb/build/ and built there, with CARGO_TARGET_DIR
# pointing back at this repository's target/ and the release library built here first (one
# release build, reused; see debian/rules).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
version=$(sed -n 's/^version = "\([^"]*\)"/\1/p' Cargo.toml | head -n 1)
out="$target/deb"
build="$out/build"
src="$build/libjwks-$version"
rm -rf "$build" "$out"/*.deb
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$src"
# The version comes from Cargo.toml.
cat > "$src/debian/changelog" <<CHANGELOG
libjwks ($version) unstable; urgency=medium

  * Built from the repository by scripts/package-deb.sh.

 -- libjwks developers <libjwks@example.org>  $(date -R)
CHANGELOG
# The release library, built here (a no-op when the test command has built it already).
cargo build --release --locked -p jwks-capi --quiet
(cd "$src" && CARGO_TARGET_DIR="$target" JWKS_CARGO_BUILT=1 \
    dpkg-buildpackage -b -us -uc -d > "$build/build.log" 2>&1) || {
    tail -n 60 "$build/build.log" >&2
    exit 1
}
mv "$build"/*.deb "$out/"
ls "$out"/*.deb

# The Go binding as a module proxy on disk (GOPROXY=file://$out/goproxy), at the same
# version: libjwks.dev/jwks, which builds against the installed libjwks-dev, and
# libjwks.dev/jwks/jwtkeyfunc (golang-jwt's Keyfunc, for keyfunc's users), which requires it.
if ! grep -q "^[[:space:]]*libjwks.dev/jwks v$version\$" bindings/go/jwtkeyfunc/go.mod; then
    echo "bindings/go/jwtkeyfunc/go.mod must require libjwks.dev/jwks v$version (Cargo.toml's version)" >&2
    exit 1
fi
rm -rf "$out/goproxy"
for module in bindings/go bindings/go/jwtkeyfunc; do
    (cd scripts/goproxy && go run . -dir "$root/$module" -version "v$version" -out "$out/goproxy")
done
