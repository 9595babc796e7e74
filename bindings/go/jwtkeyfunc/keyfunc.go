// Package jwtkeyfunc adapts a libjwks client to github.com/golang-jwt/jwt/v5, so code that
// uses keyfunc switches with one line:
//
//	token, err := jwt.Parse(raw, jwtkeyfunc.New(client).Keyfunc)
//
// golang-jwt then checks the signature and claims itself with the key libjwks found (fetched,
// cached, rotated and rate-limited by libjwks): it reads the token and its claims with its own
// JSON reader, not libjwks's. For libjwks's own, faster verification and its one reading of
// the claims, call client.Verify instead.
package jwtkeyfunc

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"libjwks.dev/jwks"
)

// Adapter finds golang-jwt's verification keys through a libjwks client.
type Adapter struct {
	client  *jwks.Client
	timeout time.Duration
}

// New wraps client; a key lookup that must fetch waits at most 10 s.
func New(client *jwks.Client) *Adapter {
	return &Adapter{client: client, timeout: 10 * time.Second}
}

// Keyfunc is a jwt.Keyfunc: it returns the public key named by the token's kid, refusing
// tokens whose alg the key may not verify.
func (a *Adapter) Keyfunc(token *jwt.Token) (any, error) {
	kid, _ := token.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New("jwtkeyfunc: token header has no kid")
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	key, err := a.client.GetSigningKey(ctx, kid)
	if err != nil {
		return nil, err
	}
	alg, _ := token.Header["alg"].(string)
	allowed := false
	for _, a := range key.Algorithms {
		allowed = allowed || a == alg
	}
	if !allowed {
		return nil, fmt.Errorf("jwtkeyfunc: key %q may not verify %q", kid, alg)
	}
	return x509.ParsePKIXPublicKey(key.DER)
}
