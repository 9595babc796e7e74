// C trampolines for the Go callbacks: the cgo.Handle travels as the callback's user data, cast
// here in C so no Go code turns an integer into a pointer.
#include <stdint.h>
#include <string.h>
#include <jwks.h>
#include "_cgo_export.h"
#include "jwksgo.h"

jwks_status jwksgo_set_async(const jwks_client *c, bool refresh, uintptr_t h, jwks_key_set **out,
                             jwks_request **req, jwks_error **err) {
    return jwks_client_get_jwk_set_async(c, refresh, jwksgoSetDone, (void *)h, out, req, err);
}

jwks_status jwksgo_key_from_jwt_async(const jwks_client *c, const char *t, size_t n, uintptr_t h,
                                      jwks_key **out, jwks_request **req, jwks_error **err) {
    return jwks_client_get_signing_key_from_jwt_async(c, t, n, jwksgoKeyDone, (void *)h, out, req,
                                                      err);
}

jwks_status jwksgo_verify_async(const jwks_client *c, const char *t, size_t n, uintptr_t h,
                                jwks_token **out, jwks_request **req, jwks_error **err) {
    return jwks_client_verify_async(c, t, n, NULL, jwksgoVerifyDone, (void *)h, out, req, err);
}

jwks_status jwksgo_key_async(const jwks_client *c, const char *kid, size_t n, uintptr_t h,
                             jwks_key **out, jwks_request **req, jwks_error **err) {
    return jwks_client_get_signing_key_async(c, kid, n, jwksgoKeyDone, (void *)h, out, req, err);
}

/* Verify's cache hit in one cgo call: verifies without waiting and, on success, copies the
 * token's claims, kid, alg and typ one after the other into buf after the header (the token's
 * length always suffices for them, its texts being decoded from it), writes the header, and
 * frees the token. When buf is too small, the token is handed over in the header instead.
 * Everything the call returns lives in buf, so Go allocates nothing else for it. */
jwks_status jwksgo_verify_now(const jwks_client *c, const char *t, size_t n, char *buf, size_t cap) {
    jwksgo_verified *out = (jwksgo_verified *)buf;
    char *texts_at = buf + sizeof(jwksgo_verified);
    cap -= sizeof(jwksgo_verified);
    jwks_token *tok = NULL;
    out->err = NULL;
    out->token = NULL;
    jwks_status st = jwks_client_verify_nonblocking(c, t, n, NULL, &tok, &out->err);
    if (st != JWKS_OK) return st;
    const char *texts[4];
    size_t lens[4] = {0, 0, 0, 0};
    texts[0] = jwks_token_claims(tok, &lens[0]);
    texts[1] = jwks_token_kid(tok, &lens[1]);
    texts[2] = jwks_token_alg(tok, &lens[2]);
    texts[3] = jwks_token_typ(tok, &lens[3]);
    out->stale = jwks_token_stale(tok);
    if (lens[0] + lens[1] + lens[2] + lens[3] > cap) {
        out->token = tok;
        return st;
    }
    size_t at = 0;
    for (int i = 0; i < 4; i++) {
        if (lens[i] > 0) memcpy(texts_at + at, texts[i], lens[i]);
        at += lens[i];
    }
    out->claims = lens[0];
    out->kid = lens[1];
    out->alg = lens[2];
    out->typ = lens[3];
    jwks_token_free(tok);
    return st;
}
