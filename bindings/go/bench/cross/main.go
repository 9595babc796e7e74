// Command cross is the Go side of the cross-language benchmark (bench/run.sh): the libjwks
// binding and keyfunc v3 + golang-jwt v5 on the same keys and tokens, and two measurements of
// the binding itself.
//
//	cross time URL TOKENS MILLIS   one round: "go ALG ns allocs", "cgo-loop ALG ns allocs" (a
//	                               plain cgo loop calling jwks_client_verify, no binding),
//	                               "keyfunc ALG ns allocs" and "keyfunc-registered ALG ns
//	                               allocs" for each algorithm
//	cross heap URL TOKENS          Go heap after a GC, after 10,000 and after 200,000 more
//	                               verifications: "heap BYTES_10K BYTES_210K"
//	cross cgo                      what a cgo call costs around C work of 1 to 40 µs (medians
//	                               of five interleaved runs): "cgo WORK_US NS_IN_C
//	                               NS_THROUGH_CGO"
//
// TOKENS is bench/fixtures/tokens.json. Both libraries are set up alike: audience "bench",
// issuer "https://issuer.bench", exp required; keyfunc with its defaults.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../../../../include
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jwks.h>

// A client made through the C ABI directly, for the plain cgo loop.
static jwks_client *raw_client(const char *url) {
	jwks_options *o = jwks_options_new();
	jwks_client *c = NULL;
	if (jwks_options_set_uri(o, url, strlen(url), NULL) != JWKS_OK ||
	    jwks_options_add_audience(o, "bench", 5, NULL) != JWKS_OK ||
	    jwks_options_set_issuer(o, "https://issuer.bench", 20, NULL) != JWKS_OK ||
	    jwks_client_new(o, &c, NULL) != JWKS_OK || jwks_client_warm_up(c, NULL) != JWKS_OK)
		c = NULL;
	jwks_options_free(o);
	return c;
}

// One verification through the C ABI, as a C server does it.
static int raw_verify(const jwks_client *c, const char *t, size_t n) {
	jwks_token *tok = NULL;
	jwks_status st = jwks_client_verify(c, t, n, NULL, &tok, NULL);
	jwks_token_free(tok);
	return st;
}

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// Busy C work of about ns nanoseconds (a verification's stand-in).
static void spin(uint64_t ns) {
	uint64_t end = now_ns() + ns;
	while (now_ns() < end) {
	}
}

// n calls of spin from C: the same work without cgo.
static uint64_t spin_loop(uint64_t ns, int n) {
	uint64_t start = now_ns();
	for (int i = 0; i < n; i++) spin(ns);
	return now_ns() - start;
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"libjwks.dev/jwks"
)

var algs = []string{"RS256", "PS256", "ES256", "ES384", "EdDSA"}

const (
	audience = "bench"
	issuer   = "https://issuer.bench"
)

func main() {
	testing.Init() // registers -test.benchtime, which bench sets
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: cross time URL TOKENS MILLIS | heap URL TOKENS | cgo"))
	}
	switch os.Args[1] {
	case "time":
		millis, _ := strconv.Atoi(arg(4))
		timeRound(arg(2), tokens(arg(3)), time.Duration(millis)*time.Millisecond)
	case "heap":
		heap(arg(2), tokens(arg(3)))
	case "cgo":
		cgo()
	default:
		fail(fmt.Errorf("unknown mode %q", os.Args[1]))
	}
}

func arg(i int) string {
	if i >= len(os.Args) {
		fail(fmt.Errorf("missing argument %d", i))
	}
	return os.Args[i]
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cross:", err)
	os.Exit(1)
}

func tokens(path string) map[string]string {
	data, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	var t map[string]string
	if err := json.Unmarshal(data, &t); err != nil {
		fail(err)
	}
	return t
}

func client(url string) *jwks.Client {
	c, err := jwks.New(url, jwks.WithAudience(audience), jwks.WithIssuer(issuer))
	if err != nil {
		fail(err)
	}
	return c
}

// bench runs f under testing.Benchmark for about d: ns and allocations per call.
func bench(d time.Duration, f func() error) (float64, int64) {
	if err := f(); err != nil { // warm, and fail loudly on a setup mistake
		fail(err)
	}
	if err := flag.Set("test.benchtime", d.String()); err != nil {
		fail(err)
	}
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := f(); err != nil {
				b.Fatal(err)
			}
		}
	})
	return float64(r.T.Nanoseconds()) / float64(r.N), r.AllocsPerOp()
}

func timeRound(url string, toks map[string]string, d time.Duration) {
	c := client(url)
	defer c.Close()
	kf, err := keyfunc.NewDefaultCtx(context.Background(), []string{url})
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	curl := C.CString(url)
	defer C.free(unsafe.Pointer(curl))
	raw := C.raw_client(curl)
	if raw == nil {
		fail(fmt.Errorf("the C client could not start"))
	}
	defer C.jwks_client_free(raw)
	for _, alg := range algs {
		token := toks[alg]
		ns, allocs := bench(d, func() error {
			_, err := c.Verify(ctx, token)
			return err
		})
		fmt.Printf("go %s %.0f %d\n", alg, ns, allocs)
		ctoken := C.CString(token)
		ns, allocs = bench(d, func() error {
			if st := C.raw_verify(raw, ctoken, C.size_t(len(token))); st != C.JWKS_OK {
				return fmt.Errorf("status %d", st)
			}
			return nil
		})
		C.free(unsafe.Pointer(ctoken))
		fmt.Printf("cgo-loop %s %.0f %d\n", alg, ns, allocs)
		opts := []jwt.ParserOption{jwt.WithAudience(audience), jwt.WithIssuer(issuer),
			jwt.WithExpirationRequired(), jwt.WithValidMethods([]string{alg})}
		// keyfunc's documented use: jwt.Parse, the claims decoded into a map.
		ns, allocs = bench(d, func() error {
			_, err := jwt.Parse(token, kf.Keyfunc, opts...)
			return err
		})
		fmt.Printf("keyfunc %s %.0f %d\n", alg, ns, allocs)
		// golang-jwt's leaner form: the claims decoded into its struct of registered claims.
		ns, allocs = bench(d, func() error {
			_, err := jwt.ParseWithClaims(token, &jwt.RegisteredClaims{}, kf.Keyfunc, opts...)
			return err
		})
		fmt.Printf("keyfunc-registered %s %.0f %d\n", alg, ns, allocs)
	}
}

func heap(url string, toks map[string]string) {
	c := client(url)
	defer c.Close()
	ctx := context.Background()
	token := toks["RS256"]
	measure := func(n int) uint64 {
		for i := 0; i < n; i++ {
			if _, err := c.Verify(ctx, token); err != nil {
				fail(err)
			}
		}
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	first := measure(10_000)
	fmt.Printf("heap %d %d\n", first, measure(200_000))
}

// cgo times calls of C work of each size, from C and through cgo, interleaved five times
// (medians): the difference is what the cgo call costs.
func cgo() {
	for _, us := range []int{1, 5, 10, 15, 20, 25, 40} {
		ns := C.uint64_t(us * 1000)
		n := 100_000 / us
		var inC, through []float64
		for r := 0; r < 5; r++ {
			inC = append(inC, float64(C.spin_loop(ns, C.int(n)))/float64(n))
			start := time.Now()
			for i := 0; i < n; i++ {
				C.spin(ns)
			}
			through = append(through, float64(time.Since(start).Nanoseconds())/float64(n))
		}
		fmt.Printf("cgo %d %.0f %.0f\n", us, median(inC), median(through))
	}
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}
