// C trampolines for the Go callbacks: the cgo.Handle travels as the callback's user data, cast
// here in C so no Go code turns an integer into a pointer.
#include <stdint.h>
#include <jwks.h>
#include "_cgo_export.h"

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
