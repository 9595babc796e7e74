package jwks

/*
#include <stdint.h>
#include <jwks.h>
jwks_status jwksgo_set_async(const jwks_client *c, bool refresh, uintptr_t h, jwks_key_set **out,
                             jwks_request **req, jwks_error **err);
jwks_status jwksgo_key_from_jwt_async(const jwks_client *c, const char *t, size_t n, uintptr_t h,
                                      jwks_key **out, jwks_request **req, jwks_error **err);
jwks_status jwksgo_verify_async(const jwks_client *c, const char *t, size_t n, uintptr_t h,
                                jwks_token **out, jwks_request **req, jwks_error **err);
jwks_status jwksgo_key_async(const jwks_client *c, const char *kid, size_t n, uintptr_t h,
                             jwks_key **out, jwks_request **req, jwks_error **err);
*/
import "C"

import (
	"context"
	"runtime"
	"runtime/cgo"
	"unsafe"
)

// KeySet is a JWK Set: its usable signing keys, the JSON as served, and how many keys libjwks
// skipped (unsupported type, private material, ...).
type KeySet struct {
	Keys    []*Key
	JSON    []byte
	Skipped int
}

type keyResult struct {
	key *Key
	err error
}

type tokenResult struct {
	tok *Token
	err error
}

type setResult struct {
	set *KeySet
	err error
}

func setFromC(s *C.jwks_key_set) *KeySet {
	var n C.size_t
	out := &KeySet{Skipped: int(C.jwks_key_set_skipped(s))}
	out.JSON = []byte(goString(C.jwks_key_set_json(s, &n), n))
	for i := C.size_t(0); i < C.jwks_key_set_len(s); i++ {
		out.Keys = append(out.Keys, keyFromC(C.jwks_key_set_get(s, i)))
	}
	return out
}

//export jwksgoSetDone
func jwksgoSetDone(userData unsafe.Pointer, status C.jwks_status, s *C.jwks_key_set, e *C.jwks_error) {
	r := setResult{}
	if status == C.JWKS_OK {
		r.set = setFromC(s)
		C.jwks_key_set_free(s)
	} else {
		r.err = takeError(status, e)
	}
	cgo.Handle(uintptr(userData)).Value().(chan setResult) <- r
}

//export jwksgoKeyDone
func jwksgoKeyDone(userData unsafe.Pointer, status C.jwks_status, k *C.jwks_key, e *C.jwks_error) {
	r := keyResult{}
	if status == C.JWKS_OK {
		r.key = keyFromC(k)
		C.jwks_key_free(k)
	} else {
		r.err = takeError(status, e)
	}
	cgo.Handle(uintptr(userData)).Value().(chan keyResult) <- r
}

//export jwksgoVerifyDone
func jwksgoVerifyDone(userData unsafe.Pointer, status C.jwks_status, t *C.jwks_token, e *C.jwks_error) {
	r := tokenResult{}
	if status == C.JWKS_OK {
		r.tok = tokenFromC(t)
		C.jwks_token_free(t)
	} else {
		r.err = takeError(status, e)
	}
	cgo.Handle(uintptr(userData)).Value().(chan tokenResult) <- r
}

// asyncCall runs one asynchronous C call whose callback reports on a channel reached through
// a cgo.Handle (never a Go pointer): start makes the call; an answer at once goes through
// ready, a pending one is awaited within ctx, a failure becomes failed's result. The handle
// and channel exist only for the duration of the call.
func asyncCall[R any, P any](ctx context.Context,
	start func(h C.uintptr_t, out *P, req **C.jwks_request, e **C.jwks_error) C.jwks_status,
	ready func(P) R, failed func(error) R) (R, error) {
	ch := make(chan R, 1)
	h := cgo.NewHandle(ch)
	defer h.Delete()
	var out P
	var req *C.jwks_request
	var e *C.jwks_error
	switch st := start(C.uintptr_t(h), &out, &req, &e); st {
	case C.JWKS_OK:
		return ready(out), nil
	case C.JWKS_PENDING:
		return await(ctx, req, ch)
	default:
		return failed(takeError(st, e)), nil
	}
}

// verifyAsync verifies through the library's callback, for a token the cache cannot answer
// yet: one handle and channel per call that has to wait, none for cache hits.
func verifyAsync(ctx context.Context, c *C.jwks_client, token string) (tokenResult, error) {
	defer runtime.KeepAlive(token)
	p, n := cstr(token)
	return asyncCall(ctx, func(h C.uintptr_t, out **C.jwks_token, req **C.jwks_request, e **C.jwks_error) C.jwks_status {
		return C.jwksgo_verify_async(c, p, n, h, out, req, e)
	}, func(t *C.jwks_token) tokenResult {
		defer C.jwks_token_free(t)
		return tokenResult{tok: tokenFromC(t)}
	}, func(err error) tokenResult { return tokenResult{err: err} })
}

// keyAsync looks a key up through the library's callback, as verifyAsync does.
func keyAsync(ctx context.Context, c *C.jwks_client, kid string) (keyResult, error) {
	defer runtime.KeepAlive(kid)
	p, n := cstr(kid)
	return asyncCall(ctx, func(h C.uintptr_t, out **C.jwks_key, req **C.jwks_request, e **C.jwks_error) C.jwks_status {
		return C.jwksgo_key_async(c, p, n, h, out, req, e)
	}, readyKey, failedKey)
}

func readyKey(k *C.jwks_key) keyResult {
	defer C.jwks_key_free(k)
	return keyResult{key: keyFromC(k)}
}

func failedKey(err error) keyResult { return keyResult{err: err} }

// await waits for a pending request's one callback, or for ctx; either way the request is
// freed (which cancels it) before the handle can go away.
func await[T any](ctx context.Context, req *C.jwks_request, ch chan T) (T, error) {
	select {
	case r := <-ch:
		C.jwks_request_free(req)
		return r, nil
	case <-ctx.Done():
		C.jwks_request_free(req) // after this the callback cannot run
		var zero T
		return zero, ctx.Err()
	}
}

// GetJWKSet returns the JWK Set (fixed-URL clients), from the cache unless it is stale or
// refresh asks for a fetch, waiting for a fetch within ctx.
func (cl *Client) GetJWKSet(ctx context.Context, refresh bool) (*KeySet, error) {
	c, err := cl.acquire()
	if err != nil {
		return nil, err
	}
	defer cl.mu.RUnlock()
	r, err := asyncCall(ctx, func(h C.uintptr_t, out **C.jwks_key_set, req **C.jwks_request, e **C.jwks_error) C.jwks_status {
		return C.jwksgo_set_async(c, C.bool(refresh), h, out, req, e)
	}, func(s *C.jwks_key_set) setResult {
		defer C.jwks_key_set_free(s)
		return setResult{set: setFromC(s)}
	}, func(err error) setResult { return setResult{err: err} })
	if err != nil {
		return nil, err
	}
	return r.set, r.err
}

// GetSigningKeys returns the usable signing keys (fixed-URL clients).
func (cl *Client) GetSigningKeys(ctx context.Context, refresh bool) ([]*Key, error) {
	set, err := cl.GetJWKSet(ctx, refresh)
	if err != nil {
		return nil, err
	}
	return set.Keys, nil
}

// FetchData fetches the JWKS now and returns its JSON text (fixed-URL clients).
func (cl *Client) FetchData(ctx context.Context) ([]byte, error) {
	set, err := cl.GetJWKSet(ctx, true)
	if err != nil {
		return nil, err
	}
	return set.JSON, nil
}

// GetSigningKeyFromJWT returns the key named by the token's kid (and, in discovery mode, its
// iss). The token is not verified.
func (cl *Client) GetSigningKeyFromJWT(ctx context.Context, token string) (*Key, error) {
	c, err := cl.acquire()
	if err != nil {
		return nil, err
	}
	defer cl.mu.RUnlock()
	defer runtime.KeepAlive(token)
	p, n := cstr(token)
	r, err := asyncCall(ctx, func(h C.uintptr_t, out **C.jwks_key, req **C.jwks_request, e **C.jwks_error) C.jwks_status {
		return C.jwksgo_key_from_jwt_async(c, p, n, h, out, req, e)
	}, readyKey, failedKey)
	if err != nil {
		return nil, err
	}
	return r.key, r.err
}
