//go:build jwks_debug

package jwks

// With -tags jwks_debug: the debug static library of this checkout (a plain `cargo build`),
// and the checkout's header. The repository's test command builds this way, to avoid a
// second, release, build.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: ${SRCDIR}/../../target/debug/libjwks.a -lpthread -ldl -lm
import "C"
