package jwtkeyfunc_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"libjwks.dev/jwks"
	"libjwks.dev/jwks/jwtkeyfunc"
)

// Code that used keyfunc with golang-jwt keeps its jwt.Parse call and swaps the Keyfunc.
func Example() {
	// An identity provider on loopback publishing one P-256 key (a real service points
	// jwks.New at its provider's JWKS URL), and a token it signed.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	enc := base64.RawURLEncoding
	fixed := func(b []byte) []byte { return append(make([]byte, 32-len(b)), b...) }
	set, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "kid": "key-1", "alg": "ES256",
		"x": enc.EncodeToString(fixed(key.X.Bytes())), "y": enc.EncodeToString(fixed(key.Y.Bytes())),
	}}})
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(set)
	}))
	defer provider.Close()
	signed := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"sub": "alice", "aud": "my-api", "exp": time.Now().Add(time.Hour).Unix(),
	})
	signed.Header["kid"] = "key-1"
	raw, _ := signed.SignedString(key)

	client, err := jwks.New(provider.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	// Before: k, _ := keyfunc.NewDefault([]string{url}); jwt.Parse(raw, k.Keyfunc, ...)
	token, err := jwt.Parse(raw, jwtkeyfunc.New(client).Keyfunc, jwt.WithAudience("my-api"))
	if err != nil {
		fmt.Println(err)
		return
	}
	sub, _ := token.Claims.GetSubject()
	fmt.Println(token.Valid, sub)
	// Output: true alice
}
