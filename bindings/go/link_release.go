//go:build jwks_release && !jwks_debug

package jwks

// With -tags jwks_release: the release static library of this checkout (`cargo build
// --release` at the repository root), named itself so cgo never picks libjwks.so, and the
// checkout's header. The benchmarks build this way.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libjwks.a -lpthread -ldl -lm
import "C"
