/* Declarations shared by the Go preamble (jwks.go) and the C helpers (callbacks.c). */
#ifndef JWKSGO_H
#define JWKSGO_H
#include <stdbool.h>
#include <stddef.h>
#include <jwks.h>

/* What jwksgo_verify_now writes at the start of the caller's buffer: the lengths of the
 * claims, kid, alg and typ laid one after another after this header, or the token itself when
 * the buffer was too small; and the error of a failure. */
typedef struct {
    size_t claims, kid, alg, typ;
    jwks_token *token;
    jwks_error *err;
    size_t stale;
} jwksgo_verified;

/* buf holds cap bytes, 8-byte aligned, at least sizeof(jwksgo_verified). */
jwks_status jwksgo_verify_now(const jwks_client *c, const char *t, size_t n, char *buf, size_t cap);
#endif
