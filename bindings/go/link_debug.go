//go:build jwks_debug

package jwks

// With -tags jwks_debug: the debug static library from a plain `cargo build` (the test run
// uses it to avoid a second, release, build).

// #cgo LDFLAGS: ${SRCDIR}/../../target/debug/libjwks.a -lpthread -ldl -lm
import "C"
