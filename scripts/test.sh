#!/usr/bin/env bash
# Runs every check and test: rustfmt, clippy, the Rust unit/integration/doc tests, the C tests
# under AddressSanitizer+UBSan (driven by tests/c_api.rs), the interoperability test against
# oauth2-mock-server (installed from npm here), the Go binding's tests under the race detector,
# the Python package's tests (scripts/python-test.sh), the Debian packages (built here by
# scripts/package-deb.sh, installed and tried by tests/packages.rs), the demo, and rustdoc with
# warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all --check

step "clippy"
cargo clippy --all-targets --locked -- -D warnings
cargo clippy -p jwks --all-targets --features capi,fuzzing --locked -- -D warnings

step "build (libjwks.a / libjwks.so for the C tests, and the release libjwks.a the fuzzing check reads)"
cargo build --locked
cargo build --locked --release -p jwks-capi

step "Debian packages (scripts/package-deb.sh into target/deb; tests/packages.rs installs and tries them)"
if command -v dpkg-buildpackage >/dev/null 2>&1 && command -v dh_nginx >/dev/null 2>&1; then
    bash scripts/package-deb.sh
    # golang-jwt into the Go module cache: tests/packages.rs builds a keyfunc user's program
    # from the proxy on disk and this cache, with no network.
    (cd bindings/go/jwtkeyfunc && go mod download)
elif [ -n "${JWKS_REQUIRE_ALL:-}" ]; then
    echo "dpkg-buildpackage or dh_nginx is missing (apt-get install debhelper dpkg-dev nginx-dev)" >&2
    exit 1
else
    echo "skipped: dpkg-buildpackage or dh_nginx is missing (apt-get install debhelper dpkg-dev nginx-dev)"
fi

step "interop dependencies (oauth2-mock-server from npm)"
npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error

step "tests (Rust, C, interop)"
JWKS_INTEROP=1 cargo test --locked

step "fuzz corpus replay (the fuzz targets' entry points exist only with the fuzzing feature)"
cargo test --locked -p jwks --features capi,fuzzing --test fuzz_replay

step "Go binding (go vet, go test -race, against the debug static library)"
for module in bindings/go bindings/go/jwtkeyfunc bindings/go/bench scripts/goproxy; do
    (
        cd "$module"
        unformatted=$(gofmt -l .)
        if [ -n "$unformatted" ]; then echo "gofmt needed in $module: $unformatted"; exit 1; fi
        go vet -tags jwks_debug ./...
        # The benchmark module is compiled (vet) here; its benchmarks run by hand (README).
        # scripts/goproxy (the release tool) has no tests of its own: tests/packages.rs uses it.
        if [ "$module" != bindings/go/bench ] && [ "$module" != scripts/goproxy ]; then
            go test -tags jwks_debug -race -count=1 ./...
        fi
        if [ "$module" = bindings/go ]; then
            unformatted=$(gofmt -l ../../tests/packages)
            if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted"; exit 1; fi
            # RSS shows a leak only without the race detector's own bookkeeping.
            go test -tags jwks_debug -count=1 -run '^TestForgottenClientsAreFreed$' .
        fi
    )
done

step "Python package (maturin wheel, pytest, the wheel in a fresh venv without Rust)"
bash scripts/python-test.sh

step "demo"
cargo run --locked --quiet --example demo

step "rustdoc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet

echo
echo "all checks passed"
