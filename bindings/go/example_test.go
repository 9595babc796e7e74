package jwks_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"libjwks.dev/jwks"
)

// An identity provider on loopback that publishes one P-256 key, and a token it signed:
// what the example verifies. A real service points jwks.New at its provider's JWKS URL.
func exampleIssuer() (jwksURL, token string, stop func()) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	enc := base64.RawURLEncoding
	fixed := func(b []byte) []byte { return append(make([]byte, 32-len(b)), b...) }
	set, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "kid": "key-1", "alg": "ES256",
		"x": enc.EncodeToString(fixed(key.X.Bytes())), "y": enc.EncodeToString(fixed(key.Y.Bytes())),
	}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(set)
	}))
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": "key-1", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{
		"iss": "https://idp.example.com/", "aud": "my-api", "sub": "alice",
		"exp": time.Now().Add(time.Hour).Unix(),
	})
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	digest := sha256.Sum256([]byte(input))
	r, s, _ := ecdsa.Sign(rand.Reader, key, digest[:])
	signature := append(fixed(r.Bytes()), fixed(s.Bytes())...)
	return srv.URL + "/jwks.json", input + "." + enc.EncodeToString(signature), srv.Close
}

// Verify a token against the keys its provider publishes, then read its claims.
func Example() {
	jwksURL, token, stop := exampleIssuer()
	defer stop()

	client, err := jwks.New(jwksURL,
		jwks.WithAudience("my-api"), jwks.WithIssuer("https://idp.example.com/"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := client.Verify(ctx, token)
	if err != nil {
		fmt.Println(err)
		return
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(tok.Claims, &claims); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("verified:", claims.Sub, tok.Alg, tok.Kid)

	// Each refusal has its own error, for errors.Is.
	_, err = client.Verify(ctx, token[:len(token)-4]+"AAAA")
	fmt.Println("tampered:", errors.Is(err, jwks.ErrBadSignature))
	_, err = client.Verify(ctx, "not.a.token")
	fmt.Println("garbage:", errors.Is(err, jwks.ErrMalformedToken))
	// Output:
	// verified: alice ES256 key-1
	// tampered: true
	// garbage: true
}

// Forward claims in headers: users choose some of them (a display name), so escape them.
func ExampleToken_HeaderValue() {
	// The Token client.Verify returned, for a user who named themselves "Alice\r\nX-Admin: true".
	tok := &jwks.Token{Claims: []byte(`{"sub":"alice","name":"Alice\r\nX-Admin: true"}`)}

	upstream, _ := http.NewRequest("GET", "http://backend.internal/", nil)
	for header, claim := range map[string]string{"X-User": "/sub", "X-User-Name": "/name"} {
		value, err := tok.HeaderValue(claim)
		if err != nil {
			fmt.Println(err)
			return
		}
		upstream.Header.Set(header, value)
	}
	fmt.Println(upstream.Header.Get("X-User"))
	fmt.Println(upstream.Header.Get("X-User-Name"))
	_, err := tok.HeaderValue("/email")
	fmt.Println("absent:", errors.Is(err, jwks.ErrMissingClaim))
	// Output:
	// alice
	// Alice\x0D\x0AX-Admin: true
	// absent: true
}
