package jwtkeyfunc_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"libjwks.dev/jwks"
	"libjwks.dev/jwks/jwtkeyfunc"
)

func TestGolangJWTVerifiesWithLibjwksKeys(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding
	pad := func(b []byte) []byte { return append(make([]byte, 32-len(b)), b...) }
	set := map[string]any{"keys": []any{map[string]any{
		"kty": "EC", "kid": "k1", "alg": "ES256", "crv": "P-256",
		"x": b64.EncodeToString(pad(priv.X.Bytes())), "y": b64.EncodeToString(pad(priv.Y.Bytes())),
	}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer srv.Close()
	client, err := jwks.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	kf := jwtkeyfunc.New(client).Keyfunc

	sign := func(kid string, method jwt.SigningMethod, key any) string {
		tok := jwt.NewWithClaims(method, jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	parsed, err := jwt.Parse(sign("k1", jwt.SigningMethodES256, priv), kf)
	if err != nil || !parsed.Valid {
		t.Fatalf("valid token refused: %v", err)
	}
	if _, err := jwt.Parse(sign("nope", jwt.SigningMethodES256, priv), kf); !errors.Is(err, jwks.ErrKeyNotFound) {
		t.Fatalf("unknown kid: %v", err)
	}
	// An HMAC token naming the EC key's kid must not get a key at all.
	if _, err := jwt.Parse(sign("k1", jwt.SigningMethodHS256, []byte("secret")), kf); err == nil {
		t.Fatal("HS256 token accepted")
	}
}
