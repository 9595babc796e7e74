package jwks_test

import "runtime"

func runtime_GC() {
	runtime.GC()
	runtime.GC()
}
