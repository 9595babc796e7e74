package jwks_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"libjwks.dev/jwks"
)

var b64 = base64.RawURLEncoding

type testKey struct {
	kid, alg string
	jwk      map[string]any
	sign     func(msg []byte) []byte
}

func rsaKey(t testing.TB, kid string) testKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid, "RS256", map[string]any{
		"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64.EncodeToString(k.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
	}, func(msg []byte) []byte {
		h := sha256.Sum256(msg)
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}}
}

func ecKey(t testing.TB, kid string) testKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pad := func(b []byte) []byte { return append(make([]byte, 32-len(b)), b...) }
	return testKey{kid, "ES256", map[string]any{
		"kty": "EC", "kid": kid, "alg": "ES256", "crv": "P-256",
		"x": b64.EncodeToString(pad(k.X.Bytes())), "y": b64.EncodeToString(pad(k.Y.Bytes())),
	}, func(msg []byte) []byte {
		h := sha256.Sum256(msg)
		r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return append(pad(r.Bytes()), pad(s.Bytes())...)
	}}
}

func edKey(t testing.TB, kid string) testKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid, "EdDSA", map[string]any{
		"kty": "OKP", "kid": kid, "alg": "EdDSA", "crv": "Ed25519", "x": b64.EncodeToString(pub),
	}, func(msg []byte) []byte { return ed25519.Sign(priv, msg) }}
}

func (k testKey) token(claims map[string]any) string {
	h, _ := json.Marshal(map[string]any{"alg": k.alg, "kid": k.kid, "typ": "JWT"})
	c, _ := json.Marshal(claims)
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	return input + "." + b64.EncodeToString(k.sign([]byte(input)))
}

func claims(extra map[string]any) map[string]any {
	c := map[string]any{"sub": "user-1", "aud": "api", "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

type jwksServer struct {
	*httptest.Server
	hits  atomic.Int64
	delay atomic.Int64 // nanoseconds
	mu    sync.Mutex
	keys  []testKey
	gate  atomic.Pointer[chan struct{}] // while set, requests wait until it is closed
	held  atomic.Int64                  // requests waiting on the gate now
}

// hold makes requests wait (counted, unanswered) until the returned release is called; call
// release before the test ends (it is idempotent).
func (s *jwksServer) hold() (release func()) {
	gate := make(chan struct{})
	s.gate.Store(&gate)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.gate.Store(nil)
			close(gate)
		})
	}
}

func serve(t testing.TB, keys ...testKey) *jwksServer {
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if gate := s.gate.Load(); gate != nil {
			s.held.Add(1)
			<-*gate
			s.held.Add(-1)
		}
		time.Sleep(time.Duration(s.delay.Load()))
		s.mu.Lock()
		var set []map[string]any
		for _, k := range s.keys {
			set = append(set, k.jwk)
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": set})
	}))
	t.Cleanup(s.Close)
	return s
}

func newClient(t testing.TB, url string, opts ...jwks.Option) *jwks.Client {
	c, err := jwks.New(url, append([]jwks.Option{jwks.WithAudience("api")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestVerifiesEveryKeyType(t *testing.T) {
	keys := []testKey{rsaKey(t, "r"), ecKey(t, "e"), edKey(t, "d")}
	srv := serve(t, keys...)
	c := newClient(t, srv.URL)
	for _, k := range keys {
		tok, err := c.Verify(context.Background(), k.token(claims(nil)))
		if err != nil {
			t.Fatalf("%s: %v", k.alg, err)
		}
		if tok.Kid != k.kid || tok.Alg != k.alg || tok.Typ != "JWT" || tok.Stale {
			t.Fatalf("%s: %+v", k.alg, tok)
		}
		var got struct{ Sub string }
		if err := json.Unmarshal(tok.Claims, &got); err != nil || got.Sub != "user-1" {
			t.Fatalf("claims %s: %v", tok.Claims, err)
		}
		m, err := tok.ClaimsMap()
		if err != nil || m["aud"] != "api" || m["exp"] == nil {
			t.Fatalf("claims map %v: %v", m, err)
		}
	}
	if srv.hits.Load() != 1 {
		t.Fatalf("%d fetches, want 1", srv.hits.Load())
	}
}

// A cache hit allocates the Token and one buffer, which its Claims, Kid and Typ share
// without stepping on each other.
func TestACacheHitAllocatesTwiceAndItsTextsStayApart(t *testing.T) {
	k := rsaKey(t, "kid-that-is-long-enough")
	c := newClient(t, serve(t, k).URL)
	ctx := context.Background()
	token := k.token(claims(nil))
	if _, err := c.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := c.Verify(ctx, token); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Fatalf("%.1f allocations per cache hit, want at most 2", allocs)
	}
	tok, err := c.Verify(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	claimsBefore := string(tok.Claims)
	for i := range tok.Claims {
		tok.Claims[i] = 'x'
	}
	tok.Claims = append(tok.Claims, "more claims than before"...)
	if tok.Kid != "kid-that-is-long-enough" || tok.Alg != "RS256" || tok.Typ != "JWT" {
		t.Fatalf("texts changed with the claims: %+v", tok)
	}
	again, err := c.Verify(ctx, token)
	if err != nil || string(again.Claims) != claimsBefore {
		t.Fatalf("a later token shares the earlier one's memory: %s %v", again.Claims, err)
	}
}

func TestErrorsAreComparable(t *testing.T) {
	k := ecKey(t, "e")
	srv := serve(t, k)
	c := newClient(t, srv.URL, jwks.WithMinRefetchInterval(time.Hour))
	ctx := context.Background()
	cases := []struct {
		token string
		want  error
	}{
		{k.token(claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})), jwks.ErrExpired},
		{k.token(claims(map[string]any{"aud": "other"})), jwks.ErrWrongAudience},
		{ecKey(t, "e").token(claims(nil)), jwks.ErrBadSignature},
		{ecKey(t, "unknown").token(claims(nil)), jwks.ErrKeyNotFound},
		{"not.a.token", jwks.ErrMalformedToken},
	}
	for _, tc := range cases {
		_, err := c.Verify(ctx, tc.token)
		if !errors.Is(err, tc.want) {
			t.Fatalf("got %v, want %v", err, tc.want)
		}
		var je *jwks.Error
		if !errors.As(err, &je) || je.Message == "" {
			t.Fatalf("errors.As: %v", err)
		}
	}
	if _, err := jwks.New("http://idp.example.com/jwks"); !errors.Is(err, jwks.ErrInvalidArgument) {
		t.Fatalf("plain http to a remote host: %v", err)
	}
	if _, err := jwks.New(srv.URL, jwks.WithAlgorithms("NOPE")); !errors.Is(err, jwks.ErrInvalidArgument) {
		t.Fatalf("bad algorithm: %v", err)
	}
}

func TestRotationAndKeys(t *testing.T) {
	a, b := ecKey(t, "a"), rsaKey(t, "b")
	srv := serve(t, a)
	c := newClient(t, srv.URL)
	ctx := context.Background()
	if _, err := c.Verify(ctx, a.token(claims(nil))); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	srv.keys = append(srv.keys, b)
	srv.mu.Unlock()
	if _, err := c.Verify(ctx, b.token(claims(nil))); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	key, err := c.GetSigningKey(ctx, "b")
	if err != nil || key.Kty != "RSA" || key.Alg != "RS256" || len(key.DER) == 0 || key.Algorithms[0] != "RS256" {
		t.Fatalf("%+v %v", key, err)
	}
	if srv.hits.Load() != 2 {
		t.Fatalf("%d fetches, want 2", srv.hits.Load())
	}
	st, err := c.Stats()
	if err != nil || st.Fetches != 2 || st.KeysHeld != 2 || st.LastSuccess.IsZero() {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestManyGoroutines(t *testing.T) {
	k := edKey(t, "d")
	srv := serve(t, k)
	srv.delay.Store(int64(50 * time.Millisecond))
	c := newClient(t, srv.URL)
	tok := k.token(claims(nil))
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Verify(context.Background(), tok); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if srv.hits.Load() != 1 {
		t.Fatalf("%d fetches, want 1 (single-flight)", srv.hits.Load())
	}
}

func TestIatIsCheckedOnlyWhenAsked(t *testing.T) {
	k := ecKey(t, "e")
	srv := serve(t, k)
	tok := k.token(claims(map[string]any{"iat": time.Now().Add(240 * time.Hour).Unix()}))
	if _, err := newClient(t, srv.URL).Verify(context.Background(), tok); err != nil {
		t.Fatalf("iat is not checked by default: %v", err)
	}
	_, err := newClient(t, srv.URL, jwks.WithVerifyIat(true)).Verify(context.Background(), tok)
	if !errors.Is(err, jwks.ErrNotYetValid) {
		t.Fatalf("got %v, want ErrNotYetValid", err)
	}
}

// waitFor polls cond (up to 20 s) for work the library does on its own threads.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting: %s", what)
		}
	}
}

func TestExpiryNeverMakesACallerWait(t *testing.T) {
	k := ecKey(t, "e")
	srv := serve(t, k)
	c := newClient(t, srv.URL, jwks.WithLifespan(300*time.Millisecond))
	tok := k.token(claims(nil))
	if _, err := c.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	release := srv.hold()
	defer release()
	time.Sleep(400 * time.Millisecond) // only so that the lifespan is over; nothing is timed

	type answer struct {
		stale bool
		err   error
	}
	answers := make(chan answer, 8)
	for i := 0; i < 8; i++ {
		go func() {
			v, err := c.Verify(context.Background(), tok)
			answers <- answer{v != nil && v.Stale, err}
		}()
	}
	timeout := time.After(20 * time.Second)
	for i := 0; i < 8; i++ {
		select {
		case a := <-answers:
			if a.err != nil || !a.stale {
				t.Fatalf("answer %d: stale %v, error %v", i, a.stale, a.err)
			}
		case <-timeout:
			t.Fatal("a caller waited for the held refresh")
		}
	}
	waitFor(t, "the refresh to reach the server", func() bool { return srv.held.Load() == 1 })
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Refreshing != 1 || st.BackgroundRefreshes != 1 || st.ServedWhileRefreshing != 8 {
		t.Fatalf("stats while held: %+v", st)
	}
	release()
	waitFor(t, "the refresh to land", func() bool { st, _ := c.Stats(); return st.Refreshing == 0 })
	if v, err := c.Verify(context.Background(), tok); err != nil || v.Stale {
		t.Fatalf("after the refresh: %+v, %v", v, err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d requests, want 2 (warm-up, one refresh)", n)
	}
}

func TestContextCancelDuringASlowFetch(t *testing.T) {
	k := ecKey(t, "e")
	srv := serve(t, k)
	srv.delay.Store(int64(2 * time.Second))
	c := newClient(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// A Verify that ignored ctx would wait out the 2 s fetch and succeed.
	_, err := c.Verify(ctx, k.token(claims(nil)))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestCloseIsIdempotentWaitsForCallsAndThenRefuses(t *testing.T) {
	k := ecKey(t, "e")
	srv := serve(t, k)
	c, err := jwks.New(srv.URL, jwks.WithAudience("api"))
	if err != nil {
		t.Fatal(err)
	}
	tok := k.token(claims(nil))
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				_, err := c.Verify(context.Background(), tok)
				if err != nil && !errors.Is(err, jwks.ErrClosed) {
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(10 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(context.Background(), tok); !errors.Is(err, jwks.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if _, err := c.Stats(); !errors.Is(err, jwks.ErrClosed) {
		t.Fatalf("stats after close: %v", err)
	}
	// ErrClosed is its own error: not an invalid argument, and no invalid argument is it.
	if _, err := c.Verify(context.Background(), tok); errors.Is(err, jwks.ErrInvalidArgument) {
		t.Fatalf("a closed client's error is an invalid argument: %v", err)
	}
	if _, err := jwks.New("ftp://example.com/jwks"); errors.Is(err, jwks.ErrClosed) || !errors.Is(err, jwks.ErrInvalidArgument) {
		t.Fatalf("a bad URL: %v", err)
	}
}

func TestOptionsRefuseNegativeDurationsAndKeepTheLibrarysMessages(t *testing.T) {
	srv := serve(t, ecKey(t, "e"))
	for name, opt := range map[string]jwks.Option{
		"leeway":               jwks.WithLeeway(-time.Second),
		"timeout":              jwks.WithTimeout(-1),
		"lifespan":             jwks.WithLifespan(-time.Minute),
		"min refetch interval": jwks.WithMinRefetchInterval(-time.Second),
		"max stale":            jwks.WithMaxStale(-time.Hour),
		"issuer ttl":           jwks.WithIssuerCache(10, -time.Second),
	} {
		_, err := jwks.New(srv.URL, opt)
		var e *jwks.Error
		if !errors.As(err, &e) || e.Status != jwks.StatusInvalidArgument || !strings.Contains(e.Message, name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The C library's own message comes through, not only its status.
	_, err := jwks.New("ftp://example.com/jwks")
	var e *jwks.Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "ftp") {
		t.Fatalf("no message from the library: %#v", err)
	}
	if _, err := jwks.New(srv.URL, jwks.WithAlgorithms("XS256")); err == nil || !strings.Contains(err.Error(), "XS256") {
		t.Fatalf("an unknown algorithm: %v", err)
	}
	// The zero Option does nothing.
	c, err := jwks.New(srv.URL, jwks.Option{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// rssBytes reads the process's resident set size (Linux).
func rssBytes(t *testing.T) int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(data), &size, &resident); err != nil {
		t.Fatal(err)
	}
	return resident * int64(os.Getpagesize())
}

func TestForgottenClientsAreFreed(t *testing.T) {
	srv := serve(t, ecKey(t, "e"))
	// settle collects until every forgotten client's cleanup has run (they run on their own
	// goroutine), or fails after a generous deadline: a client never freed is a leak.
	settle := func(want int64) {
		deadline := time.Now().Add(30 * time.Second)
		for jwks.ForgottenFreed() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%d forgotten clients freed, want %d", jwks.ForgottenFreed(), want)
			}
			runtime_GC()
			time.Sleep(10 * time.Millisecond)
		}
	}
	forget := func(n int) {
		want := jwks.ForgottenFreed() + int64(n)
		for i := 0; i < n; i++ {
			if _, err := jwks.New(srv.URL); err != nil {
				t.Fatal(err)
			}
			if i%250 == 0 {
				runtime_GC()
			}
		}
		settle(want)
	}
	forget(5000) // warm up the allocator
	// What 2,500 clients cost when they stay alive: the yardstick for a leak.
	before := rssBytes(t)
	kept := make([]*jwks.Client, 0, 2500)
	for i := 0; i < 2500; i++ {
		c, err := jwks.New(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, c)
	}
	alive := rssBytes(t) - before
	freed := jwks.ForgottenFreed()
	for _, c := range kept {
		_ = c.Close()
	}
	kept = nil
	runtime_GC()
	// Closed clients are freed by Close, never a second time by their cleanup.
	if n := jwks.ForgottenFreed() - freed; n != 0 {
		t.Fatalf("%d closed clients were freed again by their cleanup", n)
	}
	// 10,000 forgotten clients: leaked, they would cost four times the yardstick.
	before = rssBytes(t)
	forget(10000)
	grown := rssBytes(t) - before
	t.Logf("2,500 live clients: %d KiB; RSS change over 10,000 forgotten ones: %d KiB", alive/1024, grown/1024)
	if raceDetector {
		// The race detector keeps records that grow with every freed object, so RSS cannot
		// show a leak under it: the counts above are the check, and scripts/test.sh runs this
		// test again without -race for the RSS one.
		return
	}
	if grown > alive {
		t.Fatalf("RSS grew %d KiB over 10,000 forgotten clients (2,500 live ones take %d KiB)", grown/1024, alive/1024)
	}
}

func TestSetsAndKeysFromTokens(t *testing.T) {
	a, b := ecKey(t, "a"), rsaKey(t, "b")
	srv := serve(t, a, b)
	srv.delay.Store(int64(30 * time.Millisecond))
	c := newClient(t, srv.URL)
	ctx := context.Background()
	key, err := c.GetSigningKeyFromJWT(ctx, b.token(claims(nil)))
	if err != nil || key.Kid != "b" {
		t.Fatalf("%+v %v", key, err)
	}
	set, err := c.GetJWKSet(ctx, false)
	if err != nil || len(set.Keys) != 2 || set.Skipped != 0 || !json.Valid(set.JSON) {
		t.Fatalf("%+v %v", set, err)
	}
	keys, err := c.GetSigningKeys(ctx, false)
	if err != nil || len(keys) != 2 {
		t.Fatalf("%v %v", keys, err)
	}
	if srv.hits.Load() != 1 {
		t.Fatalf("%d fetches, want 1", srv.hits.Load())
	}
	data, err := c.FetchData(ctx)
	if err != nil || !json.Valid(data) || srv.hits.Load() != 2 {
		t.Fatalf("fetch data: %s %v (%d fetches)", data, err, srv.hits.Load())
	}
	if _, err := c.GetSigningKeyFromJWT(ctx, "garbage"); !errors.Is(err, jwks.ErrMalformedToken) {
		t.Fatalf("garbage: %v", err)
	}
	// A context that ends while the fetch runs.
	srv.delay.Store(int64(2 * time.Second))
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.FetchData(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled fetch: %v", err)
	}
}

func TestEveryClaimErrorClass(t *testing.T) {
	k := ecKey(t, "e")
	srv := serve(t, k)
	c := newClient(t, srv.URL, jwks.WithIssuer("https://issuer.test"), jwks.WithTyp("at+jwt"),
		jwks.WithRequiredClaims("scope"), jwks.WithLeeway(0))
	ctx := context.Background()
	good := map[string]any{"iss": "https://issuer.test", "scope": "read"}
	withTyp := func(typ string, extra map[string]any) string {
		h, _ := json.Marshal(map[string]any{"alg": "ES256", "kid": "e", "typ": typ})
		body, _ := json.Marshal(claims(extra))
		input := b64.EncodeToString(h) + "." + b64.EncodeToString(body)
		return input + "." + b64.EncodeToString(k.sign([]byte(input)))
	}
	merge := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for key, v := range good {
			m[key] = v
		}
		for key, v := range extra {
			m[key] = v
		}
		return m
	}
	if _, err := c.Verify(ctx, withTyp("at+jwt", good)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		token string
		want  error
	}{
		{withTyp("JWT", good), jwks.ErrWrongTyp},
		{withTyp("at+jwt", merge(map[string]any{"iss": "https://evil.test"})), jwks.ErrWrongIssuer},
		{withTyp("at+jwt", merge(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()})), jwks.ErrNotYetValid},
		{withTyp("at+jwt", merge(map[string]any{"scope": nil})), jwks.ErrMissingClaim},
	}
	for _, tc := range cases {
		if _, err := c.Verify(ctx, tc.token); !errors.Is(err, tc.want) {
			t.Fatalf("got %v, want %v", err, tc.want)
		}
	}
	hdr := func(h map[string]any) string {
		h["typ"] = "at+jwt"
		hb, _ := json.Marshal(h)
		body, _ := json.Marshal(claims(good))
		return b64.EncodeToString(hb) + "." + b64.EncodeToString(body) + ".AAAA"
	}
	more := []struct {
		token string
		want  error
	}{
		{hdr(map[string]any{"alg": "none", "kid": "e"}), jwks.ErrAlgorithmNotAllowed},
		{hdr(map[string]any{"alg": "XS999", "kid": "e"}), jwks.ErrUnsupportedAlgorithm},
		{hdr(map[string]any{"alg": "ES256"}), jwks.ErrMissingKid},
		{hdr(map[string]any{"alg": "ES256", "kid": "e", "crit": []string{"x"}}), jwks.ErrUnsupportedCritical},
	}
	for _, tc := range more {
		if _, err := c.Verify(ctx, tc.token); !errors.Is(err, tc.want) {
			t.Fatalf("got %v, want %v", err, tc.want)
		}
	}
}

func TestFetchErrorClasses(t *testing.T) {
	k := ecKey(t, "e")
	tok := k.token(claims(nil))
	ctx := context.Background()
	status := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer status.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>"))
	}))
	defer garbage.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	cases := []struct {
		url  string
		want error
	}{
		{status.URL, jwks.ErrHTTPStatus},
		{garbage.URL, jwks.ErrInvalidJWKS},
		{closedURL, jwks.ErrConnection},
		{tlsSrv.URL, jwks.ErrTLS},
	}
	for _, tc := range cases {
		c := newClient(t, tc.url)
		if _, err := c.Verify(ctx, tok); !errors.Is(err, tc.want) {
			t.Fatalf("%s: got %v, want %v", tc.url, err, tc.want)
		}
	}
}

// Claims are user data: HeaderValue escapes them by libjwks's rule, so no claim can add a
// header line when a Go server forwards it, and EscapeHeaderValue does the same for the kid.
func TestHeaderValueEscapesWhatUsersTyped(t *testing.T) {
	k := ecKey(t, "e\r\nX-Kid-Inj: 1")
	srv := serve(t, k)
	c := newClient(t, srv.URL)
	exp := time.Now().Add(time.Hour).Unix()
	// Raw CR/LF as JSON whitespace, as a hostile issuer may sign it.
	payload := fmt.Sprintf("{\r\n\"sub\": \"x\\r\\nX-Admin: true\\u0000\\u007f\\\\\",\r\n\t\"aud\": \"api\","+
		" \"exp\": %d, \"org\": {\"name\": \"a\\nb\"}, \"roles\": [\"ok\", \"c\\rd\"], \"name\": \"Zoë 漢字\"}", exp)
	h, _ := json.Marshal(map[string]any{"alg": k.alg, "kid": k.kid})
	input := b64.EncodeToString(h) + "." + b64.EncodeToString([]byte(payload))
	token := input + "." + b64.EncodeToString(k.sign([]byte(input)))

	tok, err := c.Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if string(tok.Claims) != payload {
		t.Fatalf("Claims is not the payload byte for byte: %q", tok.Claims)
	}
	for pointer, want := range map[string]string{
		"/sub":      `x\x0D\x0AX-Admin: true\x00\x7F\x5C`,
		"/org/name": `a\x0Ab`,
		"/roles":    `ok,c\x0Dd`,
		"/org":      `{"name":"a\nb"}`,
		"/exp":      fmt.Sprint(exp),
		"/name":     "Zoë 漢字",
		"": fmt.Sprintf(`{"sub":"x\r\nX-Admin: true\u0000\u007f\\","aud":"api","exp":%d,`+
			`"org":{"name":"a\nb"},"roles":["ok","c\rd"],"name":"Zoë 漢字"}`, exp),
	} {
		got, err := tok.HeaderValue(pointer)
		if err != nil || got != want {
			t.Errorf("HeaderValue(%q) = %q, %v; want %q", pointer, got, err, want)
		}
	}
	if _, err := tok.HeaderValue("/absent"); !errors.Is(err, jwks.ErrMissingClaim) {
		t.Errorf("an absent claim: %v", err)
	}
	// A payload longer than the first buffer takes the second call.
	long := &jwks.Token{Claims: []byte(`{"n":"` + strings.Repeat("\\n", 300) + `"}`)}
	if got, err := long.HeaderValue("/n"); err != nil || got != strings.Repeat(`\x0A`, 300) {
		t.Errorf("a long value: %q, %v", got, err)
	}
	// Claims that are no JSON object are refused, never rendered empty.
	if _, err := (&jwks.Token{Claims: []byte("[1]")}).HeaderValue("/0"); !errors.Is(err, jwks.ErrInvalidArgument) {
		t.Errorf("a non-object payload: %v", err)
	}
	if _, err := (&jwks.Token{}).HeaderValue(""); !errors.Is(err, jwks.ErrInvalidArgument) {
		t.Errorf("no payload: %v", err)
	}

	if got, err := jwks.EscapeHeaderValue(tok.Kid); err != nil || got != `e\x0D\x0AX-Kid-Inj: 1` {
		t.Errorf("EscapeHeaderValue(kid) = %q, %v", got, err)
	}
	if got, err := jwks.EscapeHeaderValue(""); err != nil || got != "" {
		t.Errorf("EscapeHeaderValue(\"\") = %q, %v", got, err)
	}
	if _, err := jwks.EscapeHeaderValue("\xff"); !errors.Is(err, jwks.ErrInvalidArgument) {
		t.Errorf("not UTF-8: %v", err)
	}
}

// One reading (issue 22): what the library refuses never verifies, and ClaimsMap holds the
// values the library read, numbers exact.
func TestClaimsMapHoldsTheValuesTheLibraryRead(t *testing.T) {
	k := ecKey(t, "e")
	srv := serve(t, k)
	c := newClient(t, srv.URL)
	exp := time.Now().Add(time.Hour).Unix()
	sign := func(payload string) string {
		h, _ := json.Marshal(map[string]any{"alg": k.alg, "kid": k.kid})
		input := b64.EncodeToString(h) + "." + b64.EncodeToString([]byte(payload))
		return input + "." + b64.EncodeToString(k.sign([]byte(input)))
	}
	ctx := context.Background()
	for _, claims := range []string{
		`"role":"admin","note":1.7976931348623158e308`,
		`"org":{"role":"user","role":"admin"}`,
	} {
		_, err := c.Verify(ctx, sign(fmt.Sprintf(`{"aud":"api","exp":%d,%s}`, exp, claims)))
		if !errors.Is(err, jwks.ErrMalformedToken) {
			t.Errorf("%s: %v", claims, err)
		}
	}
	tok, err := c.Verify(ctx, sign(fmt.Sprintf(
		`{"aud":"api","exp":%d,"n":9007199254740993,"f":-0.5e-3,"o":{"k":[1,"s"]}}`, exp)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := tok.ClaimsMap()
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := m["n"].(json.Number); !ok || n.String() != "9007199254740993" {
		t.Errorf("n = %#v", m["n"])
	}
	if f, ok := m["f"].(json.Number); !ok || f.String() != "-0.5e-3" {
		t.Errorf("f = %#v", m["f"])
	}
	if got, _ := tok.HeaderValue("/n"); got != "9007199254740993" {
		t.Errorf("the library's own rendering of n: %q", got)
	}
	if o, ok := m["o"].(map[string]any); !ok || fmt.Sprint(o["k"]) != "[1 s]" {
		t.Errorf("o = %#v", m["o"])
	}
}

// A local set verifies with no request, and a kid it lacks is ErrKeyNotFound at once; a key
// file others can write is refused.
func TestLocalKeySet(t *testing.T) {
	k, other := ecKey(t, "local"), ecKey(t, "other")
	set, err := json.Marshal(map[string]any{"keys": []map[string]any{k.jwk}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := jwks.NewLocal(set, jwks.WithAudience("api"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if tok, err := c.Verify(context.Background(), k.token(claims(nil))); err != nil || tok.Kid != "local" {
		t.Fatalf("%+v, %v", tok, err)
	}
	if _, err := c.Verify(context.Background(), other.token(claims(nil))); !errors.Is(err, jwks.ErrKeyNotFound) {
		t.Fatalf("another kid: %v", err)
	}
	if st, err := c.Stats(); err != nil || st.Fetches != 0 || st.KeysHeld != 1 {
		t.Fatalf("stats %+v, %v", st, err)
	}
	if _, err := jwks.NewLocal([]byte(`{"keys":[]}`)); !errors.Is(err, jwks.ErrNoSigningKeys) {
		t.Fatalf("empty set: %v", err)
	}

	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, set, 0o600); err != nil {
		t.Fatal(err)
	}
	fc, err := jwks.NewLocalFile(path, jwks.WithAudience("api"))
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	if _, err := fc.Verify(context.Background(), k.token(claims(nil))); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := jwks.NewLocalFile(path); !errors.Is(err, jwks.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("0666 key file: %v", err)
	}
}
