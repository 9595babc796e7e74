// Package jwks verifies JWTs with the signing keys an identity provider publishes as a JWK
// Set, through libjwks's C library (linked statically with cgo: the installed libjwks-dev by
// default, see link_system.go).
//
//	client, err := jwks.New("https://idp.example.com/.well-known/jwks.json",
//		jwks.WithAudience("my-api"), jwks.WithIssuer("https://idp.example.com/"))
//	defer client.Close()
//	tok, err := client.Verify(ctx, rawToken)
//	if errors.Is(err, jwks.ErrExpired) { ... }
//	json.Unmarshal(tok.Claims, &myClaims)
//
// A Client is safe for many goroutines. Calls never leave a goroutine blocked in C: a cache
// hit answers at once; a call that must wait for a fetch waits in Go for the library's
// callback, honouring the context.
package jwks

/*
#include <stdlib.h>
#include <jwks.h>
#include "jwksgo.h"
*/
import "C"

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Client verifies tokens against one JWKS URL, or by issuer (discovery). Close it when done;
// a forgotten client is freed by the garbage collector.
type Client struct {
	mu      sync.RWMutex // calls hold it shared; Close exclusively, so it waits for them
	c       *C.jwks_client
	cleanup runtime.Cleanup
}

// Token is a verified token.
//
// Claims are data that users choose in part (names, emails): their text may hold any Unicode
// character, CR, LF and NUL included. Never put a claim, Kid or Typ into a header, a log line
// or any protocol as it is: HeaderValue and EscapeHeaderValue escape it by libjwks's rule.
type Token struct {
	// Claims is the token's decoded JSON payload, byte for byte, to unmarshal into your own
	// struct (or read with ClaimsMap). It is decoded into a map only when asked for.
	Claims []byte
	// Kid, Alg and Typ are the header's (Kid and Typ may be empty).
	Kid, Alg, Typ string
	// Stale says the key came from a set past its lifespan, serving while it is refreshed
	// in the background or because refreshing it failed.
	Stale bool
}

// ClaimsMap decodes the claims into a map. Claims is the text libjwks read and accepted with
// its one reading (serde_json), which refuses whatever two JSON readers could read
// differently: a name given twice at any depth, a number beyond an f64, a lone surrogate. So
// this map holds the members and values the library checked. Numbers are json.Number, their
// text as signed, so that none loses precision (2^53+1 stays exact): call Int64 or Float64.
func (t *Token) ClaimsMap() (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(t.Claims))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// HeaderValue returns the claim at pointer (an RFC 6901 JSON Pointer: "/sub", "/org/name",
// "/https:~1~1example.com~1roles"; "" for the whole payload) rendered safe for an HTTP
// header value, by the one rule of libjwks that its nginx and Envoy modules use too
// (jwks_token_header_value in jwks.h):
//   - no byte 0x00-0x1F other than HTAB, and no 0x7F, ever appears in the value;
//   - text (a string claim, each string of an array) has exactly those bytes and the
//     backslash written \xHH ("x\r\nX-Admin: 1" gives `x\x0D\x0AX-Admin: 1`); every other
//     byte, UTF-8 included, stays as it is;
//   - numbers and booleans are their JSON text; arrays their elements joined by commas;
//   - objects and the whole payload are compact, valid JSON of the same value, with those
//     bytes as \u00XX.
//
// ErrMissingClaim when the claim is absent or null. A present claim always has a value.
func (t *Token) HeaderValue(pointer string) (string, error) {
	cp, cn := cbytes(t.Claims)
	pp, pn := cstr(pointer)
	return sized(func(buf *C.char, cap C.size_t, n *C.size_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_claims_header_value(cp, cn, pp, pn, buf, cap, n, e)
	}, t.Claims, pointer)
}

// EscapeHeaderValue escapes s by HeaderValue's rule for text: bytes 0x00-0x1F but HTAB, 0x7F
// and the backslash become \xHH, every other byte stays. For values that are not claims (Kid,
// Typ, text of your own) on their way into a header. ErrInvalidArgument when s is not UTF-8.
func EscapeHeaderValue(s string) (string, error) {
	p, n := cstr(s)
	return sized(func(buf *C.char, cap C.size_t, out *C.size_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_header_value_escape(p, n, buf, cap, out, e)
	}, s)
}

// sized runs a C call that writes a text of unknown length into a caller's buffer: once with
// 128 bytes, and again with the length it told when that was too small. keep are the Go
// values whose memory the call reads.
func sized(f func(buf *C.char, cap C.size_t, n *C.size_t, e **C.jwks_error) C.jwks_status, keep ...any) (string, error) {
	buf := make([]byte, 128)
	for {
		var n C.size_t
		err := call(func(e **C.jwks_error) C.jwks_status {
			return f((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &n, e)
		})
		runtime.KeepAlive(keep)
		if err != nil {
			return "", err
		}
		if int(n) <= len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, n)
	}
}

// cbytes passes a Go byte slice to C as pointer + length without copying (C does not keep it).
func cbytes(b []byte) (*C.char, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.char)(unsafe.Pointer(unsafe.SliceData(b))), C.size_t(len(b))
}

// cstr passes a Go string to C as pointer + length without copying (C does not keep it).
func cstr(s string) (*C.char, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

func newClient(build func(*C.jwks_options) error, opts []Option) (*Client, error) {
	o := C.jwks_options_new()
	defer C.jwks_options_free(o)
	if err := build(o); err != nil {
		return nil, err
	}
	for _, opt := range opts {
		if opt.apply == nil {
			continue // the zero Option does nothing
		}
		if err := opt.apply(o); err != nil {
			return nil, err
		}
	}
	var c *C.jwks_client
	var e *C.jwks_error
	if st := C.jwks_client_new(o, &c, &e); st != C.JWKS_OK {
		return nil, takeError(st, e)
	}
	client := &Client{c: c}
	client.cleanup = runtime.AddCleanup(client, freeForgotten, c)
	return client, nil
}

// forgottenFreed counts the clients freed by their cleanup rather than by Close; a test reads it.
var forgottenFreed atomic.Int64

func freeForgotten(c *C.jwks_client) {
	C.jwks_client_free(c)
	forgottenFreed.Add(1)
}

// New makes a client for the JWKS at url (https, or http to a loopback host).
func New(url string, opts ...Option) (*Client, error) {
	return newClient(func(o *C.jwks_options) error {
		p, n := cstr(url)
		return call(func(e **C.jwks_error) C.jwks_status { return C.jwks_options_set_uri(o, p, n, e) })
	}, opts)
}

// NewLocal makes a client whose keys are the JWK Set jwksJSON, held instead of fetched
// (jwt_authn's local_jwks): parsed now with the rules of a fetched set (a set with no usable
// key fails with ErrNoSigningKeys or ErrInvalidJWKS), never refreshed, no request ever made;
// a token whose kid it lacks fails with ErrKeyNotFound at once.
func NewLocal(jwksJSON []byte, opts ...Option) (*Client, error) {
	return newClient(func(o *C.jwks_options) error {
		p, n := cstr(string(jwksJSON))
		return call(func(e **C.jwks_error) C.jwks_status { return C.jwks_options_set_local_jwks(o, p, n, e) })
	}, opts)
}

// NewLocalFile is NewLocal with the set read from path, once, now (NGINX Plus's
// auth_jwt_key_file). The file must be a regular file owned by root or this process's user,
// not writable by group or others; anything else fails with ErrInvalidArgument, naming the
// check.
func NewLocalFile(path string, opts ...Option) (*Client, error) {
	return newClient(func(o *C.jwks_options) error {
		p, n := cstr(path)
		return call(func(e **C.jwks_error) C.jwks_status { return C.jwks_options_set_local_jwks_file(o, p, n, e) })
	}, opts)
}

// NewDiscovery makes a client that finds each token's keys through its issuer's OpenID
// Connect discovery document; only the listed issuers are accepted.
func NewDiscovery(issuers []string, opts ...Option) (*Client, error) {
	return newClient(func(o *C.jwks_options) error {
		for _, iss := range issuers {
			p, n := cstr(iss)
			if err := call(func(e **C.jwks_error) C.jwks_status {
				return C.jwks_options_add_allowed_issuer(o, p, n, e)
			}); err != nil {
				return err
			}
		}
		return nil
	}, opts)
}

// Close frees the client after the calls in flight return. Idempotent; later calls fail with
// ErrClosed. A Go program forks only through syscall.ForkExec (which execs at once), so a
// client never reaches a forked child from Go; one that does through cgo misuse (C code
// calling fork()) answers ErrForked there, and freeing it, by Close or by the cleanup of a
// forgotten client, touches nothing of the parent's threads (libjwks leaks it deliberately).
func (cl *Client) Close() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.c != nil {
		cl.cleanup.Stop()
		C.jwks_client_free(cl.c)
		cl.c = nil
	}
	return nil
}

// acquire returns the C client for one call, or ErrClosed; release with cl.mu.RUnlock.
func (cl *Client) acquire() (*C.jwks_client, error) {
	cl.mu.RLock()
	if cl.c == nil {
		cl.mu.RUnlock()
		return nil, ErrClosed
	}
	return cl.c, nil
}

func goString(p *C.char, n C.size_t) string {
	if p == nil {
		return ""
	}
	return C.GoStringN(p, C.int(n))
}

// Verify checks a compact JWT: its key (fetched if needed, within ctx), algorithm, signature
// and claims. A cached key answers at once, with no allocation beyond the Token; only a call
// that must wait for a fetch takes the library's asynchronous path, and it waits in Go on the
// library's callback, never inside C.
func (cl *Client) Verify(ctx context.Context, token string) (*Token, error) {
	c, err := cl.acquire()
	if err != nil {
		return nil, err
	}
	defer cl.mu.RUnlock()
	// One allocation holds what the call returns (a header of lengths, then the claims,
	// kid, alg and typ); the C side fills it in the same call that verifies. A Verify that
	// hits the cache allocates it and the Token. The texts all come from the header and the
	// payload, so they take at most 3/4 of the characters before the last dot (the C side
	// hands back the token itself should they not fit).
	texts := 0
	if dot := strings.LastIndexByte(token, '.'); dot > 0 {
		texts = dot/4*3 + 3
	}
	buf := make([]byte, headerSize+texts)
	p, n := cstr(token)
	st := C.jwksgo_verify_now(c, p, n, (*C.char)(unsafe.Pointer(unsafe.SliceData(buf))), C.size_t(len(buf)))
	runtime.KeepAlive(token)
	v := (*C.jwksgo_verified)(unsafe.Pointer(unsafe.SliceData(buf)))
	if st == C.JWKS_PENDING {
		C.jwks_error_free(v.err)
		r, err := verifyAsync(ctx, c, token)
		if err != nil {
			return nil, err
		}
		return r.tok, r.err
	}
	if st != C.JWKS_OK {
		return nil, takeError(st, v.err)
	}
	if v.token != nil {
		defer C.jwks_token_free(v.token)
		return tokenFromC(v.token), nil
	}
	return tokenFromBuf(buf[headerSize:], v), nil
}

// headerSize is the room jwksgo_verify_now's header takes at the start of its buffer.
const headerSize = int(unsafe.Sizeof(C.jwksgo_verified{}))

// tokenFromBuf makes a Token of the texts jwksgo_verify_now copied into buf. Kid and Typ
// share buf's memory past the end (and capacity) of Claims, so nothing written through
// Claims reaches them; Alg is one of the constant names.
func tokenFromBuf(buf []byte, v *C.jwksgo_verified) *Token {
	claims, kid, alg, typ := int(v.claims), int(v.kid), int(v.alg), int(v.typ)
	tok := &Token{Claims: buf[:claims:claims], Stale: v.stale != 0}
	at := claims
	if kid > 0 {
		tok.Kid = unsafe.String(&buf[at], kid)
	}
	at += kid
	tok.Alg = algName(buf[at : at+alg])
	at += alg
	if typ > 0 {
		tok.Typ = unsafe.String(&buf[at], typ)
	}
	return tok
}

// algNames are the algorithm names libjwks verifies, shared by every Token.
var algNames = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
	"ES512", "EdDSA", "HS256", "HS384", "HS512"}

func algName(b []byte) string {
	for _, name := range algNames {
		if string(b) == name {
			return name
		}
	}
	return string(b)
}

// tokenFromC copies a verified token into Go memory (the caller frees t).
func tokenFromC(t *C.jwks_token) *Token {
	var cn C.size_t
	claims := C.jwks_token_claims(t, &cn)
	out := &Token{
		Claims: C.GoBytes(unsafe.Pointer(claims), C.int(cn)),
		Stale:  bool(C.jwks_token_stale(t)),
	}
	var ln C.size_t
	out.Kid = goString(C.jwks_token_kid(t, &ln), ln)
	out.Alg = goString(C.jwks_token_alg(t, &ln), ln)
	out.Typ = goString(C.jwks_token_typ(t, &ln), ln)
	return out
}

// Key is a signing key from the JWK Set.
type Key struct {
	Kid, Alg, Kty, Use string
	// JWK is the key as JSON; PEM and DER (SubjectPublicKeyInfo) the public key.
	JWK []byte
	PEM string
	DER []byte
	// Algorithms the key may verify.
	Algorithms []string
}

func keyFromC(k *C.jwks_key) *Key {
	var n C.size_t
	key := &Key{}
	key.Kid = goString(C.jwks_key_kid(k, &n), n)
	key.Alg = goString(C.jwks_key_alg(k, &n), n)
	key.Kty = goString(C.jwks_key_kty(k, &n), n)
	key.Use = goString(C.jwks_key_use(k, &n), n)
	key.JWK = []byte(goString(C.jwks_key_jwk_json(k, &n), n))
	key.PEM = goString(C.jwks_key_pem(k, &n), n)
	der := C.jwks_key_der(k, &n)
	if der != nil {
		key.DER = C.GoBytes(unsafe.Pointer(der), C.int(n))
	}
	if algs := goString(C.jwks_key_algorithms(k, &n), n); algs != "" {
		key.Algorithms = strings.Split(algs, ",")
	}
	return key
}

// GetSigningKey returns the signing key with this kid (fixed-URL clients), fetching the set
// if needed within ctx (as Verify waits: in Go, on the library's callback).
func (cl *Client) GetSigningKey(ctx context.Context, kid string) (*Key, error) {
	c, err := cl.acquire()
	if err != nil {
		return nil, err
	}
	defer cl.mu.RUnlock()
	var k *C.jwks_key
	var e *C.jwks_error
	p, n := cstr(kid)
	st := C.jwks_client_get_signing_key_nonblocking(c, p, n, &k, &e)
	if st == C.JWKS_PENDING {
		C.jwks_error_free(e)
		r, err := keyAsync(ctx, c, kid)
		if err != nil {
			return nil, err
		}
		return r.key, r.err
	}
	runtime.KeepAlive(kid)
	if st != C.JWKS_OK {
		return nil, takeError(st, e)
	}
	defer C.jwks_key_free(k)
	return keyFromC(k), nil
}

// Stats are a client's counters since it was made (see jwks_stats in jwks.h for each).
type Stats struct {
	Fetches, FetchFailures, NotModified, CacheHits, CacheMisses, StaleServes uint64
	UnknownKidRefetches, UnknownKidRateLimited, KeysHeld, PendingRequests    uint64
	// BackgroundRefreshes counts requests made by background refreshes (apart from
	// unknown-kid refetches); ServedWhileRefreshing counts lookups answered from the cache
	// while a refresh of that set was in flight; Refreshing is how many are in flight now.
	BackgroundRefreshes, ServedWhileRefreshing, Refreshing uint64
	// PersistRefused counts reads of a saved key set or configuration document
	// (WithPersistDir) that were refused: a file not trusted (not a regular file, another
	// owner, writable by group or others, in a directory others can write), too large, or not
	// a valid saved record.
	PersistRefused uint64
	// StoreAdopted counts key sets and configuration documents taken from the document
	// store (a persist directory's files, or a server's shared store) instead of a fetch:
	// newer and still fresh, because another client or process fetched them.
	StoreAdopted uint64
	// StoreClaimWaits counts fetches that first waited for another process holding the
	// store's claim on that URL.
	StoreClaimWaits          uint64
	LastSuccess, LastFailure time.Time // zero when none yet
}

// Stats reads the client's counters. Never blocks on the network.
func (cl *Client) Stats() (Stats, error) {
	c, err := cl.acquire()
	if err != nil {
		return Stats{}, err
	}
	defer cl.mu.RUnlock()
	var s C.jwks_stats
	s.size = C.size_t(unsafe.Sizeof(s))
	if err := call(func(e **C.jwks_error) C.jwks_status { return C.jwks_client_stats(c, &s, e) }); err != nil {
		return Stats{}, err
	}
	at := func(ms C.uint64_t) time.Time {
		if ms == 0 {
			return time.Time{}
		}
		return time.UnixMilli(int64(ms))
	}
	return Stats{
		Fetches: uint64(s.fetches), FetchFailures: uint64(s.fetch_failures),
		NotModified: uint64(s.not_modified), CacheHits: uint64(s.cache_hits),
		CacheMisses: uint64(s.cache_misses), StaleServes: uint64(s.stale_serves),
		UnknownKidRefetches:   uint64(s.unknown_kid_refetches),
		UnknownKidRateLimited: uint64(s.unknown_kid_rate_limited),
		KeysHeld:              uint64(s.keys_held), PendingRequests: uint64(s.pending_requests),
		BackgroundRefreshes:   uint64(s.background_refreshes),
		ServedWhileRefreshing: uint64(s.served_while_refreshing),
		Refreshing:            uint64(s.refreshing),
		PersistRefused:        uint64(s.persist_refused),
		StoreAdopted:          uint64(s.store_adopted),
		StoreClaimWaits:       uint64(s.store_claim_waits),
		LastSuccess:           at(s.last_success_unix_ms), LastFailure: at(s.last_failure_unix_ms),
	}, nil
}
