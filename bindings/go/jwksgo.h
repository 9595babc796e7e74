/* Declarations shared by the Go preamble (jwks.go) and the C helpers (callbacks.c). */
#ifndef JWKSGO_H
#define JWKSGO_H
#include <stdbool.h>
#include <stddef.h>
#include <jwks.h>

/* What jwksgo_verify_now copied: the lengths of the claims, kid, alg and typ laid one after
 * another in the caller's buffer, or the token itself when the buffer was too small. */
typedef struct {
    size_t claims, kid, alg, typ;
    bool stale;
    jwks_token *token;
} jwksgo_verified;

jwks_status jwksgo_verify_now(const jwks_client *c, const char *t, size_t n, char *buf, size_t cap,
                              jwksgo_verified *out, jwks_error **err);
#endif
