// A Go program as a libjwks user writes it outside this repository: tests/packages.rs copies
// it into an empty module, fetches libjwks.dev/jwks with `go get` from a module proxy on disk
// and builds it against the installed libjwks-dev, with no cargo on PATH.
//
//	consumer JWKS_URL AUDIENCE TOKEN
//
// prints "verified <sub> <alg> <kid>", then "tampered: <error>" for the same token with its
// signature changed, then "golang-jwt: <valid> <sub>" for the token parsed by golang-jwt with
// libjwks's keys (libjwks.dev/jwks/jwtkeyfunc, what a keyfunc user switches to). Exit status 0
// when the token verified both ways and the tampered one was refused as a bad signature, 1
// otherwise.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"libjwks.dev/jwks"
	"libjwks.dev/jwks/jwtkeyfunc"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: consumer JWKS_URL AUDIENCE TOKEN")
		os.Exit(2)
	}
	url, audience, token := os.Args[1], os.Args[2], os.Args[3]
	client, err := jwks.New(url, jwks.WithAudience(audience))
	if err != nil {
		fmt.Fprintln(os.Stderr, "new:", err)
		os.Exit(1)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := client.Verify(ctx, token)
	if err != nil {
		fmt.Fprintln(os.Stderr, "verify:", err)
		os.Exit(1)
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(tok.Claims, &claims); err != nil {
		fmt.Fprintln(os.Stderr, "claims:", err)
		os.Exit(1)
	}
	fmt.Println("verified", claims.Sub, tok.Alg, tok.Kid)

	_, err = client.Verify(ctx, token[:len(token)-4]+"AAAA")
	fmt.Println("tampered:", err)
	if !errors.Is(err, jwks.ErrBadSignature) {
		os.Exit(1)
	}

	// Before: k, _ := keyfunc.NewDefault([]string{url}); jwt.Parse(token, k.Keyfunc, ...)
	parsed, err := jwt.Parse(token, jwtkeyfunc.New(client).Keyfunc, jwt.WithAudience(audience))
	if err != nil {
		fmt.Fprintln(os.Stderr, "golang-jwt:", err)
		os.Exit(1)
	}
	sub, _ := parsed.Claims.GetSubject()
	fmt.Println("golang-jwt:", parsed.Valid, sub)
}
