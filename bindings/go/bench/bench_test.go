// Benchmarks of a warm-cache verification, libjwks (through cgo) side by side with
// keyfunc v3 + golang-jwt v5 on the same tokens and keys: libjwks's Verify (the claims as
// bytes, a map only when asked for), the same with the claims decoded into a map, and
// golang-jwt's jwt.Parse (map claims). Run (after `cargo build --release` at the repository
// root; the tag links that checkout build instead of the installed library):
//
//	go test -tags jwks_release -bench . -benchtime 2s
//
// The interleaved, all-language comparison is bench/run.sh at the repository root (this
// module's cross/ program is its Go part).
package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"libjwks.dev/jwks"
)

type fixture struct {
	token  string
	client *jwks.Client
	kf     keyfunc.Keyfunc
}

var b64 = base64.RawURLEncoding

func setup(b *testing.B, alg string) *fixture {
	b.Helper()
	var method jwt.SigningMethod
	var signKey any
	var jwk map[string]any
	switch alg {
	case "RS256":
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		method, signKey = jwt.SigningMethodRS256, k
		jwk = map[string]any{"kty": "RSA", "n": b64.EncodeToString(k.N.Bytes()),
			"e": b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	case "ES256":
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pad := func(v []byte) []byte { return append(make([]byte, 32-len(v)), v...) }
		method, signKey = jwt.SigningMethodES256, k
		jwk = map[string]any{"kty": "EC", "crv": "P-256",
			"x": b64.EncodeToString(pad(k.X.Bytes())), "y": b64.EncodeToString(pad(k.Y.Bytes()))}
	case "EdDSA":
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		method, signKey = jwt.SigningMethodEdDSA, priv
		jwk = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(pub)}
	}
	jwk["kid"], jwk["alg"], jwk["use"] = "k", alg, "sig"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{jwk}})
	}))
	b.Cleanup(srv.Close)
	tok := jwt.NewWithClaims(method, jwt.MapClaims{
		"sub": "user-1", "aud": "api", "iss": "https://issuer.test",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	})
	tok.Header["kid"] = "k"
	token, err := tok.SignedString(signKey)
	if err != nil {
		b.Fatal(err)
	}
	client, err := jwks.New(srv.URL, jwks.WithAudience("api"), jwks.WithIssuer("https://issuer.test"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Close() })
	kf, err := keyfunc.NewDefaultCtx(context.Background(), []string{srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{token: token, client: client, kf: kf}
	// Warm both caches.
	if _, err := f.libjwks(); err != nil {
		b.Fatal(err)
	}
	if _, err := f.golangJWT(); err != nil {
		b.Fatal(err)
	}
	return f
}

func (f *fixture) libjwks() (map[string]any, error) {
	_, err := f.client.Verify(context.Background(), f.token)
	return nil, err
}

func (f *fixture) libjwksMap() (map[string]any, error) {
	tok, err := f.client.Verify(context.Background(), f.token)
	if err != nil {
		return nil, err
	}
	return tok.ClaimsMap()
}

func (f *fixture) golangJWT() (map[string]any, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(f.token, claims, f.kf.Keyfunc,
		jwt.WithAudience("api"), jwt.WithIssuer("https://issuer.test"), jwt.WithExpirationRequired())
	return claims, err
}

func run(b *testing.B, alg string, parallel bool, verify func(*fixture) (map[string]any, error)) {
	f := setup(b, alg)
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for i := 0; i < b.N; i++ {
			if _, err := verify(f); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := verify(f); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		for _, parallel := range []bool{false, true} {
			mode := "1"
			if parallel {
				mode = "GOMAXPROCS"
			}
			b.Run(alg+"/"+mode+"/libjwks", func(b *testing.B) {
				run(b, alg, parallel, (*fixture).libjwks)
			})
			b.Run(alg+"/"+mode+"/libjwks+map", func(b *testing.B) {
				run(b, alg, parallel, (*fixture).libjwksMap)
			})
			b.Run(alg+"/"+mode+"/keyfunc+golang-jwt", func(b *testing.B) {
				run(b, alg, parallel, (*fixture).golangJWT)
			})
		}
	}
}
