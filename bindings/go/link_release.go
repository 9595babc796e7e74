//go:build !jwks_debug

package jwks

// The static library, named itself so cgo never picks libjwks.so: build it first with
// `cargo build --release` at the repository root.

// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libjwks.a -lpthread -ldl -lm
import "C"
