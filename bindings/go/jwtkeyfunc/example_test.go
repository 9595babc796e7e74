package jwtkeyfunc_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"libjwks.dev/jwks"
	"libjwks.dev/jwks/jwtkeyfunc"
)

// Code that used keyfunc with golang-jwt keeps its jwt.Parse call and swaps the Keyfunc.
func Example() {
	// An identity provider on loopback publishing one Ed25519 key (a real service points
	// jwks.New at its provider's JWKS URL), and a token it signed.
	public, private, _ := ed25519.GenerateKey(rand.Reader)
	set := fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"key-1","x":%q}]}`,
		base64.RawURLEncoding.EncodeToString(public))
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, set)
	}))
	defer provider.Close()
	signed := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"sub": "alice", "aud": "my-api", "exp": time.Now().Add(time.Hour).Unix(),
	})
	signed.Header["kid"] = "key-1"
	raw, _ := signed.SignedString(private)

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
