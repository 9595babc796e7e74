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

// verifyAsync verifies through the library's callback, for a token the cache cannot answer
// yet: one handle and channel per call that has to wait, none for cache hits.
func verifyAsync(ctx context.Context, c *C.jwks_client, token string) (tokenResult, error) {
	ch := make(chan tokenResult, 1)
	h := cgo.NewHandle(ch)
	defer h.Delete()
	var out *C.jwks_token
	var req *C.jwks_request
	var e *C.jwks_error
	p, n := cstr(token)
	st := C.jwksgo_verify_async(c, p, n, C.uintptr_t(h), &out, &req, &e)
	runtime.KeepAlive(token)
	switch st {
	case C.JWKS_OK: // the fetch landed meanwhile
		defer C.jwks_token_free(out)
		return tokenResult{tok: tokenFromC(out)}, nil
	case C.JWKS_PENDING:
		return await(ctx, req, ch)
	default:
		return tokenResult{err: takeError(st, e)}, nil
	}
}

// keyAsync looks a key up through the library's callback, as verifyAsync does.
func keyAsync(ctx context.Context, c *C.jwks_client, kid string) (keyResult, error) {
	ch := make(chan keyResult, 1)
	h := cgo.NewHandle(ch)
	defer h.Delete()
	var out *C.jwks_key
	var req *C.jwks_request
	var e *C.jwks_error
	p, n := cstr(kid)
	st := C.jwksgo_key_async(c, p, n, C.uintptr_t(h), &out, &req, &e)
	runtime.KeepAlive(kid)
	switch st {
	case C.JWKS_OK:
		defer C.jwks_key_free(out)
		return keyResult{key: keyFromC(out)}, nil
	case C.JWKS_PENDING:
		return await(ctx, req, ch)
	default:
		return keyResult{err: takeError(st, e)}, nil
	}
}

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
	ch := make(chan setResult, 1)
	h := cgo.NewHandle(ch)
	defer h.Delete()
	var out *C.jwks_key_set
	var req *C.jwks_request
	var e *C.jwks_error
	switch st := C.jwksgo_set_async(c, C.bool(refresh), C.uintptr_t(h), &out, &req, &e); st {
	case C.JWKS_OK:
		defer C.jwks_key_set_free(out)
		return setFromC(out), nil
	case C.JWKS_PENDING:
		r, err := await(ctx, req, ch)
		if err != nil {
			return nil, err
		}
		return r.set, r.err
	default:
		return nil, takeError(st, e)
	}
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
	ch := make(chan keyResult, 1)
	h := cgo.NewHandle(ch)
	defer h.Delete()
	var out *C.jwks_key
	var req *C.jwks_request
	var e *C.jwks_error
	p, n := cstr(token)
	st := C.jwksgo_key_from_jwt_async(c, p, n, C.uintptr_t(h), &out, &req, &e)
	runtime.KeepAlive(token)
	switch st {
	case C.JWKS_OK:
		defer C.jwks_key_free(out)
		return keyFromC(out), nil
	case C.JWKS_PENDING:
		r, err := await(ctx, req, ch)
		if err != nil {
			return nil, err
		}
		return r.key, r.err
	default:
		return nil, takeError(st, e)
	}
}
