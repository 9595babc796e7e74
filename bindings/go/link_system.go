//go:build !jwks_debug && !jwks_release

package jwks

// By default: the installed libjwks (Debian's libjwks-dev, or `cmake --install`), linked
// statically so the Go binary stands alone. The jwks-static pkg-config module names libjwks.a
// by its path: `-ljwks` would pick libjwks.so, which the same package installs beside it. For
// an install prefix other than /usr, set PKG_CONFIG_PATH to its lib/pkgconfig.

// #cgo pkg-config: jwks-static
import "C"
