/*
 * C API tests, through the public header only. Run by tests/c_api.rs, which starts the JWKS
 * servers on 127.0.0.1, mints the tokens and passes both in environment variables, and builds
 * this file with -Wall -Wextra -Wpedantic -Werror under AddressSanitizer and UBSan.
 * Ends with the line "N passed, M failed"; exit status 1 if anything failed.
 */
#define _POSIX_C_SOURCE 200809L
#include <jwks.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (cond) {                                                          \
            passed++;                                                        \
        } else {                                                             \
            failed++;                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                    \
    } while (0)

/* A pointer value that no allocation returns, to prove outputs stay untouched on failure. */
#define SENTINEL ((void *)(uintptr_t)0x5eed)

static const char *env(const char *name) {
    const char *v = getenv(name);
    if (v == NULL) {
        fprintf(stderr, "missing environment variable %s\n", name);
        exit(2);
    }
    return v;
}

static void sleep_ms(long ms);
static jwks_stats stats_of(const jwks_client *c);

static jwks_status set_uri(jwks_options *o, const char *url) {
    return jwks_options_set_uri(o, url, strlen(url), NULL);
}

/* A client for the JWKS at `url` and the tokens' audience, "api". */
static jwks_client *make_client(const char *url) {
    jwks_options *o = jwks_options_new();
    CHECK(set_uri(o, url) == JWKS_OK);
    CHECK(jwks_options_add_audience(o, "api", 3, NULL) == JWKS_OK);
    jwks_client *client = NULL;
    jwks_status s = jwks_client_new(o, &client, NULL);
    CHECK(s == JWKS_OK);
    jwks_options_free(o);
    return client;
}

/* Verifies `token_env` and checks the status and that the error object agrees. */
static void expect_verify(const jwks_client *c, const char *token, const jwks_verify_options *vo,
                          jwks_status expected, const char *label) {
    jwks_token *out = SENTINEL;
    jwks_error *err = NULL;
    jwks_status s = jwks_client_verify(c, token, strlen(token), vo, &out, &err);
    if (s != expected) {
        fprintf(stderr, "%s: got %s (%s), expected %s\n", label, jwks_status_str((int)s),
                jwks_error_message(err), jwks_status_str((int)expected));
    }
    CHECK(s == expected);
    if (expected == JWKS_OK) {
        CHECK(err == NULL);
        CHECK(out != SENTINEL && out != NULL);
        if (out != SENTINEL) jwks_token_free(out);
    } else {
        CHECK(out == SENTINEL);
        CHECK(err != NULL);
        CHECK(jwks_error_status(err) == expected);
        CHECK(strlen(jwks_error_message(err)) > 0);
        jwks_error_free(err);
    }
}

/* Fetch-side failures: a fresh client on `url` whose first lookup must fail with `expected`. */
static void expect_fetch_error(const char *url, uint64_t timeout_ms, jwks_status expected,
                               const char *label) {
    jwks_options *o = jwks_options_new();
    CHECK(set_uri(o, url) == JWKS_OK);
    if (timeout_ms) CHECK(jwks_options_set_timeout_ms(o, timeout_ms, NULL) == JWKS_OK);
    CHECK(jwks_options_set_max_response_bytes(o, 4096, NULL) == JWKS_OK);
    jwks_client *c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    jwks_options_free(o);
    jwks_key_set *set = SENTINEL;
    jwks_error *err = NULL;
    jwks_status s = jwks_client_get_jwk_set(c, false, &set, &err);
    if (s != expected) {
        fprintf(stderr, "%s: got %s (%s)\n", label, jwks_status_str((int)s), jwks_error_message(err));
    }
    CHECK(s == expected);
    CHECK(set == SENTINEL);
    CHECK(jwks_error_status(err) == expected);
    jwks_error_free(err);
    jwks_client_free(c);
}

static void test_version_and_names(void) {
    CHECK(strcmp(jwks_version(), JWKS_VERSION_STRING) == 0);
    CHECK(strcmp(jwks_status_str(JWKS_OK), "JWKS_OK") == 0);
    CHECK(strcmp(jwks_status_str(JWKS_ERR_EXPIRED), "JWKS_ERR_EXPIRED") == 0);
    CHECK(strcmp(jwks_status_str(JWKS_ERR_INTERNAL), "JWKS_ERR_INTERNAL") == 0);
    CHECK(strcmp(jwks_status_str(999), "JWKS_ERR_UNKNOWN") == 0);
    CHECK(strcmp(jwks_status_str(-1), "JWKS_ERR_UNKNOWN") == 0);
    CHECK(JWKS_ERR_TOKEN_TOO_LARGE == 23 && JWKS_ERR_INTERNAL == 100);
}

/* Every status has its outcome for a server; unknown values are internal errors. */
static void test_status_outcomes(void) {
    static const int unavailable[] = {JWKS_ERR_CONNECTION, JWKS_ERR_TIMEOUT, JWKS_ERR_TLS,
                                      JWKS_ERR_HTTP_STATUS, JWKS_ERR_INVALID_JWKS,
                                      JWKS_ERR_NO_SIGNING_KEYS, JWKS_ERR_RESPONSE_TOO_LARGE,
                                      JWKS_ERR_REDIRECT, JWKS_ERR_DISCOVERY, JWKS_ERR_CANCELLED};
    static const int internal[] = {JWKS_ERR_INVALID_ARGUMENT, JWKS_ERR_FORKED, JWKS_ERR_INTERNAL,
                                   29, 99, 101, -1};
    static const int rejected[] = {JWKS_ERR_KEY_NOT_FOUND, JWKS_ERR_MALFORMED_TOKEN,
                                   JWKS_ERR_MISSING_KID, JWKS_ERR_UNSUPPORTED_ALGORITHM,
                                   JWKS_ERR_ALGORITHM_NOT_ALLOWED, JWKS_ERR_BAD_SIGNATURE,
                                   JWKS_ERR_EXPIRED, JWKS_ERR_NOT_YET_VALID, JWKS_ERR_WRONG_AUDIENCE,
                                   JWKS_ERR_WRONG_ISSUER, JWKS_ERR_WRONG_TYP, JWKS_ERR_MISSING_CLAIM,
                                   JWKS_ERR_UNSUPPORTED_CRITICAL, JWKS_ERR_TOKEN_TOO_LARGE,
                                   JWKS_ERR_ISSUER_NOT_ALLOWED};
    CHECK(jwks_status_outcome(JWKS_OK) == JWKS_OUTCOME_VERIFIED);
    CHECK(jwks_status_outcome(JWKS_PENDING) == JWKS_OUTCOME_PENDING);
    for (size_t i = 0; i < sizeof unavailable / sizeof *unavailable; i++)
        CHECK(jwks_status_outcome(unavailable[i]) == JWKS_OUTCOME_KEYS_UNAVAILABLE);
    for (size_t i = 0; i < sizeof internal / sizeof *internal; i++)
        CHECK(jwks_status_outcome(internal[i]) == JWKS_OUTCOME_INTERNAL);
    for (size_t i = 0; i < sizeof rejected / sizeof *rejected; i++)
        CHECK(jwks_status_outcome(rejected[i]) == JWKS_OUTCOME_REJECTED);
    /* Every defined status is in one list: 2 + 10 + 3 + 15 of the 30. */
    CHECK(sizeof unavailable / sizeof *unavailable + 3 + sizeof rejected / sizeof *rejected + 2 == 30);
}

static void test_null_and_garbage(const char *url) {
    jwks_error *err = NULL;
    jwks_client *client = SENTINEL;
    CHECK(jwks_client_new(NULL, &client, &err) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(client == SENTINEL);
    CHECK(err != NULL && strstr(jwks_error_message(err), "options") != NULL);
    jwks_error_free(err);
    err = NULL;

    jwks_options *o = jwks_options_new();
    CHECK(o != NULL);
    CHECK(jwks_client_new(o, NULL, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    /* no URL yet */
    CHECK(jwks_client_new(o, &client, &err) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(client == SENTINEL);
    jwks_error_free(err);
    err = NULL;
    /* strings: NULL with a length, invalid UTF-8, not a URL */
    CHECK(jwks_options_set_uri(o, NULL, 5, &err) == JWKS_ERR_INVALID_ARGUMENT);
    jwks_error_free(err);
    err = NULL;
    CHECK(jwks_options_set_uri(o, "\xff\xfe", 2, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_uri(o, "not a url", 9, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_uri(o, "ftp://x/y", 9, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_uri(NULL, "http://127.0.0.1/", 17, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    /* malformed option values */
    CHECK(jwks_options_set_lifespan_ms(o, 0, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_timeout_ms(o, 0, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_max_cached_keys(o, 0, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    /* Absurd bounds are refused; the largest accepted one costs no memory until used. */
    CHECK(jwks_options_set_max_cached_keys(o, SIZE_MAX, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_max_cached_keys(o, (size_t)1 << 40, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_max_cached_keys(o, JWKS_MAX_CACHED_KEYS + 1, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_max_issuers(o, SIZE_MAX, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_max_issuers(o, JWKS_MAX_ISSUERS + 1, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    {
        jwks_options *big = jwks_options_new();
        CHECK(set_uri(big, url) == JWKS_OK);
        CHECK(jwks_options_set_cache_keys(big, true, NULL) == JWKS_OK);
        CHECK(jwks_options_set_max_cached_keys(big, JWKS_MAX_CACHED_KEYS, NULL) == JWKS_OK);
        jwks_client *bc = NULL;
        CHECK(jwks_client_new(big, &bc, NULL) == JWKS_OK);
        jwks_client_free(bc);
        jwks_options_free(big);
    }
    CHECK(jwks_options_set_max_keys(o, 0, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_algorithms(o, "RS256,FOO", 9, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_algorithms(o, "", 0, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_add_header(o, "X-A", 3, "a\r\nB: c", 7, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_add_header(o, "Bad Name", 8, "v", 1, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_add_required_claim(o, NULL, 0, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_add_ca_file(o, "", 0, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_lifespan_bounds_ms(o, 0, 10, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_lifespan_bounds_ms(o, 10, 5, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_lifespan_bounds_ms(o, 1000, 5000, NULL) == JWKS_OK);
    CHECK(jwks_options_set_refresh_jitter(o, 0.6, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_refresh_jitter(o, -0.1, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_refresh_jitter(o, 0.25, NULL) == JWKS_OK);
    CHECK(jwks_options_set_honor_cache_headers(o, false, NULL) == JWKS_OK);
    CHECK(jwks_options_set_persist_dir(o, "", 0, NULL) == JWKS_OK);
    CHECK(jwks_options_set_max_stale_ms(o, 0, NULL) == JWKS_OK);
    CHECK(jwks_options_set_refresh_ahead(o, false, NULL) == JWKS_OK);
    /* checks across options happen in jwks_client_new */
    CHECK(jwks_options_set_uri(o, "http://idp.example.com/jwks", 27, NULL) == JWKS_OK);
    CHECK(jwks_client_new(o, &client, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(set_uri(o, url) == JWKS_OK);
    CHECK(jwks_options_set_algorithms(o, "HS256", 5, NULL) == JWKS_OK);
    CHECK(jwks_client_new(o, &client, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_algorithms(o, "RS256 ES256", 11, NULL) == JWKS_OK);
    CHECK(jwks_options_set_persist_dir(o, "/nonexistent-dir", 16, NULL) == JWKS_OK);
    CHECK(jwks_client_new(o, &client, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_persist_dir(o, NULL, 0, NULL) == JWKS_OK);
    CHECK(jwks_options_add_ca_file(o, "/nonexistent.pem", 16, NULL) == JWKS_OK);
    CHECK(jwks_client_new(o, &client, &err) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(jwks_error_message(err), "/nonexistent.pem") != NULL);
    jwks_error_free(err);
    err = NULL;
    CHECK(client == SENTINEL);
    jwks_options_free(o);

    /* client calls with NULL pieces */
    jwks_client *c = make_client(url);
    jwks_token *tok = SENTINEL;
    CHECK(jwks_client_verify(NULL, "a", 1, NULL, &tok, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_client_verify(c, NULL, 3, NULL, &tok, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_client_verify(c, "a.b.c", 5, NULL, NULL, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_client_verify(c, "\xc3\x28.b.c", 5, NULL, &tok, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_client_verify(c, NULL, 0, NULL, &tok, NULL) == JWKS_ERR_MALFORMED_TOKEN);
    CHECK(tok == SENTINEL);
    jwks_key *key = SENTINEL;
    CHECK(jwks_client_get_signing_key(c, NULL, 1, &key, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_client_get_signing_key(NULL, "a", 1, &key, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_client_get_signing_key_from_jwt(c, "x", 1, NULL, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(key == SENTINEL);
    jwks_key_set *set = SENTINEL;
    CHECK(jwks_client_get_jwk_set(NULL, false, &set, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_client_get_signing_keys(c, false, NULL, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_client_fetch_data(NULL, &set, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(set == SENTINEL);
    jwks_client_free(c);

    /* accessors and frees accept NULL */
    size_t len = 99;
    CHECK(jwks_key_kid(NULL, &len) == NULL && len == 0);
    CHECK(jwks_key_alg(NULL, NULL) == NULL);
    CHECK(jwks_key_kty(NULL, NULL) == NULL);
    CHECK(jwks_key_use(NULL, NULL) == NULL);
    CHECK(jwks_key_jwk_json(NULL, NULL) == NULL);
    CHECK(jwks_key_pem(NULL, NULL) == NULL);
    len = 99;
    CHECK(jwks_key_der(NULL, &len) == NULL && len == 0);
    CHECK(jwks_key_set_len(NULL) == 0);
    CHECK(jwks_key_set_skipped(NULL) == 0);
    CHECK(jwks_key_set_get(NULL, 0) == NULL);
    CHECK(jwks_key_set_find(NULL, "a", 1) == NULL);
    CHECK(jwks_key_set_json(NULL, NULL) == NULL);
    CHECK(jwks_token_claims(NULL, NULL) == NULL);
    CHECK(jwks_token_kid(NULL, NULL) == NULL);
    CHECK(jwks_token_alg(NULL, NULL) == NULL);
    CHECK(jwks_token_typ(NULL, NULL) == NULL);
    CHECK(jwks_token_key(NULL) == NULL);
    CHECK(strcmp(jwks_error_message(NULL), "") == 0);
    CHECK(jwks_error_status(NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_verify_options_set_issuer(NULL, "a", 1, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    jwks_options_free(NULL);
    jwks_verify_options_free(NULL);
    jwks_client_free(NULL);
    jwks_key_free(NULL);
    jwks_key_set_free(NULL);
    jwks_token_free(NULL);
    jwks_error_free(NULL);
}

static void test_happy_path_and_keys(const char *url) {
    jwks_client *c = make_client(url);
    const char *good = env("TOK_GOOD");
    jwks_token *t = NULL;
    CHECK(jwks_client_verify(c, good, strlen(good), NULL, &t, NULL) == JWKS_OK);
    size_t len = 0;
    const char *claims = jwks_token_claims(t, &len);
    CHECK(claims != NULL && len == strlen(claims));
    CHECK(strstr(claims, "\"sub\":\"user-1\"") != NULL);
    CHECK(strcmp(jwks_token_kid(t, NULL), "ec") == 0);
    CHECK(strcmp(jwks_token_alg(t, &len), "ES256") == 0 && len == 5);
    CHECK(strcmp(jwks_token_typ(t, NULL), "JWT") == 0);
    CHECK(strcmp(jwks_key_kid(jwks_token_key(t), NULL), "ec") == 0);
    {
        /* the protected header as JSON, and a field of it rendered for a header */
        const char *header = jwks_token_header_json(t, &len);
        CHECK(header != NULL && len == strlen(header) && header[0] == '{');
        CHECK(strstr(header, "\"kid\":\"ec\"") != NULL);
        char out[16];
        size_t got = 0;
        CHECK(jwks_claims_header_value(header, len, "/typ", 4, out, sizeof out, &got, NULL) == JWKS_OK);
        CHECK(got == 3 && memcmp(out, "JWT", 3) == 0);
        CHECK(jwks_token_header_json(NULL, &len) == NULL);
    }
    jwks_token_free(t);

    /* one claim as text (JSON Pointer), into a caller buffer sized by a first call */
    const char *rich = env("TOK_RICH");
    CHECK(jwks_client_verify(c, rich, strlen(rich), NULL, &t, NULL) == JWKS_OK);
    struct { const char *pointer, *text; } cases[] = {
        {"/sub", "user-1"},
        {"/roles", "admin,dev"},
        {"/n", "42"},
        {"/ok", "true"},
        {"/realm_access/roles", "x,1"},
        {"/realm_access", "{\"roles\":[\"x\",1]}"},
        {"/https:~1~1example.com~1tenant", "t1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t need = 0;
        CHECK(jwks_token_claim(t, cases[i].pointer, strlen(cases[i].pointer), NULL, 0, &need, NULL) == JWKS_OK);
        CHECK(need == strlen(cases[i].text));
        char buf[64];
        memset(buf, '#', sizeof buf);
        size_t got = 0;
        CHECK(jwks_token_claim(t, cases[i].pointer, strlen(cases[i].pointer), buf, sizeof buf, &got, NULL) == JWKS_OK);
        CHECK(got == need && memcmp(buf, cases[i].text, got) == 0 && buf[got] == '#');
    }
    {
        char small[3] = {'#', '#', '#'};
        size_t got = 0;
        CHECK(jwks_token_claim(t, "/sub", 4, small, sizeof small, &got, NULL) == JWKS_OK);
        CHECK(got == 6 && small[0] == '#'); /* too small: nothing written, length told */
        jwks_error *e = NULL;
        CHECK(jwks_token_claim(t, "/nothing", 8, small, sizeof small, &got, &e) == JWKS_ERR_MISSING_CLAIM);
        CHECK(e != NULL && jwks_error_status(e) == JWKS_ERR_MISSING_CLAIM);
        jwks_error_free(e);
        CHECK(jwks_token_claim(t, "/absent", 7, small, sizeof small, &got, NULL) == JWKS_ERR_MISSING_CLAIM);
        CHECK(jwks_token_claim(NULL, "/sub", 4, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_token_claim(t, "/sub", 4, small, sizeof small, NULL, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_token_claim(t, "/sub", 4, NULL, 8, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_token_claim(t, NULL, 4, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_token_claim(t, "\xff", 1, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        /* RFC 6901: a pointer starts with "/", and "~" is followed by "0" or "1" (issue 22). */
        CHECK(jwks_token_claim(t, "/~", 2, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_token_claim(t, "/a~2", 4, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_token_claim(t, "sub", 3, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_token_header_value(t, "/~", 2, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_claims_header_value("{\"~\":1}", 7, "/~", 2, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_claims_header_value("{\"~\":1}", 7, "/~0", 3, small, sizeof small, &got, NULL) == JWKS_OK && got == 1);
    }
    jwks_token_free(t);

    /* the token need not be NUL-terminated: pass a prefix of a longer buffer */
    size_t n = strlen(good);
    char *padded = malloc(n + 8);
    memcpy(padded, good, n);
    memcpy(padded + n, "garbage", 8);
    CHECK(jwks_client_verify(c, padded, n, NULL, &t, NULL) == JWKS_OK);
    jwks_token_free(t);
    free(padded);

    jwks_key *k = NULL;
    CHECK(jwks_client_get_signing_key(c, "rsa", 3, &k, NULL) == JWKS_OK);
    CHECK(strcmp(jwks_key_kty(k, NULL), "RSA") == 0);
    CHECK(strcmp(jwks_key_alg(k, NULL), "RS256") == 0);
    CHECK(strcmp(jwks_key_use(k, NULL), "sig") == 0);
    CHECK(strncmp(jwks_key_pem(k, NULL), "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
    CHECK(strstr(jwks_key_jwk_json(k, NULL), "\"kid\":\"rsa\"") != NULL);
    const uint8_t *der = jwks_key_der(k, &len);
    CHECK(der != NULL && len > 270 && der[0] == 0x30);
    CHECK(jwks_key_der(k, NULL) == der);
    jwks_key_free(k);

    const char *rsa_tok = env("TOK_RSA");
    CHECK(jwks_client_get_signing_key_from_jwt(c, rsa_tok, strlen(rsa_tok), &k, NULL) == JWKS_OK);
    CHECK(strcmp(jwks_key_kid(k, NULL), "rsa") == 0);
    jwks_key_free(k);

    jwks_key_set *set = NULL;
    CHECK(jwks_client_get_signing_keys(c, false, &set, NULL) == JWKS_OK);
    CHECK(jwks_key_set_len(set) == 2);
    CHECK(jwks_key_set_skipped(set) == 1);
    CHECK(jwks_key_set_get(set, 0) != NULL && jwks_key_set_get(set, 2) == NULL);
    CHECK(strcmp(jwks_key_kty(jwks_key_set_find(set, "ec", 2), NULL), "EC") == 0);
    CHECK(jwks_key_set_find(set, "nope", 4) == NULL);
    CHECK(strstr(jwks_key_set_json(set, &len), "\"keys\"") != NULL && len > 0);
    jwks_key_set_free(set);
    CHECK(jwks_client_get_jwk_set(c, true, &set, NULL) == JWKS_OK);
    jwks_key_set_free(set);
    CHECK(jwks_client_fetch_data(c, &set, NULL) == JWKS_OK);
    CHECK(jwks_key_set_len(set) == 2);

    /* results outlive the client */
    CHECK(jwks_client_get_signing_key(c, "ec", 2, &k, NULL) == JWKS_OK);
    jwks_stats stats;
    memset(&stats, 0xAB, sizeof stats);
    stats.size = sizeof stats;
    CHECK(jwks_client_stats(c, &stats, NULL) == JWKS_OK);
    CHECK(stats.size == sizeof stats);
    CHECK(stats.fetches == 3 && stats.fetch_failures == 0); /* first use, refresh, fetch_data */
    CHECK(stats.cache_misses == 1 && stats.cache_hits >= 4);
    CHECK(stats.keys_held == 2 && stats.stale_serves == 0);
    CHECK(stats.last_success_unix_ms > 1700000000000ULL && stats.last_failure_unix_ms == 0);
    /* A caller built against an older, shorter jwks_stats: nothing past its size is written. */
    unsigned char old[sizeof(jwks_stats)];
    memset(old, 0xAB, sizeof old);
    size_t old_size = offsetof(jwks_stats, cache_hits);
    memcpy(old, &old_size, sizeof old_size);
    CHECK(jwks_client_stats(c, (jwks_stats *)(void *)old, NULL) == JWKS_OK);
    CHECK(old[old_size] == 0xAB && old[sizeof old - 1] == 0xAB);
    uint64_t fetches;
    memcpy(&fetches, old + offsetof(jwks_stats, fetches), sizeof fetches);
    CHECK(fetches == 3);
    stats.size = 2;
    CHECK(jwks_client_stats(c, &stats, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_client_stats(c, NULL, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    stats.size = sizeof stats;
    CHECK(jwks_client_stats(NULL, &stats, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    jwks_client_free(c);
    CHECK(strcmp(jwks_key_kid(k, NULL), "ec") == 0);
    CHECK(strcmp(jwks_key_kid(jwks_key_set_get(set, 0), NULL), "ec") == 0);
    jwks_key_free(k);
    jwks_key_set_free(set);
}

/* No byte that may not stand raw in a header value: 0x00-0x1F but HTAB, and 0x7F. */
static int header_safe(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)p[i];
        if ((b < 0x20 && b != '\t') || b == 0x7f) return 0;
    }
    return 1;
}

/* Claims are user data: the header-safe rendering escapes what the raw one returns as is. */
static void test_header_values(const char *url) {
    jwks_client *c = make_client(url);
    const char *inject = env("TOK_INJECT");
    jwks_token *t = NULL;
    CHECK(jwks_client_verify(c, inject, strlen(inject), NULL, &t, NULL) == JWKS_OK);
    size_t claims_len = 0;
    const char *claims = jwks_token_claims(t, &claims_len);
    CHECK(!header_safe(claims, claims_len)); /* the payload byte for byte, raw CR/LF included */

    /* The raw text keeps the user's bytes: exactly what must never reach a header. */
    char raw[64];
    size_t got = 0;
    CHECK(jwks_token_claim(t, "/sub", 4, raw, sizeof raw, &got, NULL) == JWKS_OK);
    CHECK(got == 19 && memcmp(raw, "x\r\nX-Admin: true\0\x7f\\", 19) == 0);

    const char *compact = env("INJECT_COMPACT");
    struct { const char *pointer, *text; } cases[] = {
        {"/sub", "x\\x0D\\x0AX-Admin: true\\x00\\x7F\\x5C"},
        {"/org/name", "a\\x0Ab"},
        {"/roles", "ok,c\\x0Dd"},
        {"/roles/1", "c\\x0Dd"},
        {"/del", "a\\x7Fb"},
        {"/name", "Zo\xc3\xab"},
        {"/org", "{\"name\":\"a\\nb\"}"},
        {"/exp", NULL}, /* a number: its JSON text, checked as safe only */
        {"", compact},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = cases[i].pointer;
        size_t need = 0;
        CHECK(jwks_token_header_value(t, p, strlen(p), NULL, 0, &need, NULL) == JWKS_OK);
        char *buf = malloc(need + 1);
        buf[need] = '#';
        CHECK(jwks_token_header_value(t, p, strlen(p), buf, need, &got, NULL) == JWKS_OK);
        CHECK(got == need && buf[need] == '#' && header_safe(buf, got));
        if (cases[i].text) {
            CHECK(got == strlen(cases[i].text) && memcmp(buf, cases[i].text, got) == 0);
            if (!(got == strlen(cases[i].text) && memcmp(buf, cases[i].text, got) == 0)) {
                fprintf(stderr, "  %s: %.*s\n", p, (int)got, buf);
            }
        }
        /* The same from the payload copied out of the token (what Go and C++ hold). */
        char *again = malloc(need + 1);
        size_t got2 = 0;
        CHECK(jwks_claims_header_value(claims, claims_len, p, strlen(p), again, need, &got2, NULL) == JWKS_OK);
        CHECK(got2 == got && memcmp(again, buf, got) == 0);
        free(again);
        free(buf);
    }
    {
        char small[4] = {'#', '#', '#', '#'};
        jwks_error *e = NULL;
        CHECK(jwks_token_header_value(t, "/sub", 4, small, sizeof small, &got, NULL) == JWKS_OK);
        CHECK(got == 34 && small[0] == '#'); /* too small: nothing written, length told */
        CHECK(jwks_token_header_value(t, "/absent", 7, small, sizeof small, &got, &e) == JWKS_ERR_MISSING_CLAIM);
        CHECK(e != NULL && jwks_error_status(e) == JWKS_ERR_MISSING_CLAIM);
        jwks_error_free(e);
        CHECK(jwks_token_header_value(NULL, "/sub", 4, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_token_header_value(t, "/sub", 4, small, sizeof small, NULL, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_token_header_value(t, "/sub", 4, NULL, 8, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_token_header_value(t, NULL, 4, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_token_header_value(t, "\xff", 1, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);

        /* A payload text that is no JSON object is refused, never rendered empty. */
        e = NULL;
        CHECK(jwks_claims_header_value("[1]", 3, "/0", 2, small, sizeof small, &got, &e) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(e != NULL && strstr(jwks_error_message(e), "not a JSON object") != NULL);
        jwks_error_free(e);
        CHECK(jwks_claims_header_value("{\"a\":", 5, "", 0, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_claims_header_value(NULL, 3, "", 0, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_claims_header_value(NULL, 0, "", 0, small, sizeof small, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_claims_header_value("{}", 2, "/a", 2, small, sizeof small, &got, NULL) == JWKS_ERR_MISSING_CLAIM);
        CHECK(jwks_claims_header_value("{\"a\":null}", 10, "/a", 2, small, sizeof small, &got, NULL) == JWKS_ERR_MISSING_CLAIM);

        /* Any text: the kid and typ, or the caller's own. */
        char out[32];
        CHECK(jwks_header_value_escape("a\r\n\tb\\", 6, out, sizeof out, &got, NULL) == JWKS_OK);
        CHECK(got == 15 && memcmp(out, "a\\x0D\\x0A\tb\\x5C", 15) == 0);
        CHECK(jwks_header_value_escape(NULL, 0, out, sizeof out, &got, NULL) == JWKS_OK && got == 0);
        CHECK(jwks_header_value_escape("ec", 2, NULL, 0, &got, NULL) == JWKS_OK && got == 2);
        CHECK(jwks_header_value_escape(NULL, 2, out, sizeof out, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_header_value_escape("\xff", 1, out, sizeof out, &got, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_header_value_escape("a", 1, out, sizeof out, NULL, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    }
    jwks_token_free(t);
    jwks_client_free(c);
}

/* A local key set: verifies with no request (no URL at all), an unknown kid is "not found"
 * at once, even without blocking, and a bad set fails jwks_client_new. */
static void test_local_jwks(void) {
    const char *set = env("CB_JWKS");
    jwks_options *o = jwks_options_new();
    CHECK(jwks_options_set_local_jwks(o, set, strlen(set), NULL) == JWKS_OK);
    jwks_client *c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    jwks_options_free(o);
    expect_verify(c, env("TOK_CB"), NULL, JWKS_OK, "local set");
    expect_verify(c, env("TOK_GOOD"), NULL, JWKS_ERR_KEY_NOT_FOUND, "local set, other kid");
    {
        const char *other = env("TOK_GOOD");
        jwks_token *t = NULL;
        CHECK(jwks_client_verify_nonblocking(c, other, strlen(other), NULL, &t, NULL) == JWKS_ERR_KEY_NOT_FOUND);
        CHECK(t == NULL);
    }
    jwks_stats st = stats_of(c);
    CHECK(st.fetches == 0 && st.keys_held == 1);
    jwks_client_free(c);

    struct { const char *json; jwks_status expected; } bad[] = {
        {"not json", JWKS_ERR_INVALID_JWKS},
        {"{\"keys\":[]}", JWKS_ERR_NO_SIGNING_KEYS},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = jwks_options_new();
        CHECK(jwks_options_set_local_jwks(o, bad[i].json, strlen(bad[i].json), NULL) == JWKS_OK);
        c = SENTINEL;
        CHECK(jwks_client_new(o, &c, NULL) == bad[i].expected && c == SENTINEL);
        jwks_options_free(o);
    }
    /* One key source: a URL too is refused; a missing file names itself. */
    o = jwks_options_new();
    CHECK(jwks_options_set_local_jwks(o, set, strlen(set), NULL) == JWKS_OK);
    CHECK(set_uri(o, env("JWKS_URL")) == JWKS_OK);
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    jwks_options_free(o);
    o = jwks_options_new();
    CHECK(jwks_options_set_local_jwks_file(o, "/nonexistent/keys.json", 22, NULL) == JWKS_OK);
    jwks_error *e = NULL;
    CHECK(jwks_client_new(o, &c, &e) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(e != NULL && strstr(jwks_error_message(e), "/nonexistent/keys.json") != NULL);
    jwks_error_free(e);
    jwks_options_free(o);
    CHECK(jwks_options_set_local_jwks(NULL, set, strlen(set), NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_local_jwks_file(NULL, "x", 1, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    o = jwks_options_new();
    CHECK(jwks_options_set_local_jwks(o, NULL, 3, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_local_jwks(o, "\xff", 1, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    jwks_options_free(o);
}

/* Issue 23: a saved key set someone else planted is not trusted (the forged token is refused
 * and the refusal counted), a FIFO or /dev/zero at the file's path makes nothing wait, a
 * directory others can write is refused at creation, and the process's own file (0600 in a
 * 0700 directory) is trusted: the control. */
static void test_persist_trust(void) {
    const char *down = env("DOWN_URL");
    const char *forged = env("TOK_FORGED");
    struct { const char *dir_env; jwks_status expected; uint64_t refused; } cases[] = {
        {"PERSIST_0666", JWKS_ERR_HTTP_STATUS, 1},
        {"PERSIST_FIFO", JWKS_ERR_HTTP_STATUS, 1},
        {"PERSIST_ZERO", JWKS_ERR_HTTP_STATUS, 1},
        {"PERSIST_OWN", JWKS_OK, 0},
    };
    /* A directory others can write is refused when the client is made, naming the check. */
    {
        const char *dir = env("PERSIST_0777");
        jwks_options *o = jwks_options_new();
        CHECK(set_uri(o, down) == JWKS_OK);
        CHECK(jwks_options_set_persist_dir(o, dir, strlen(dir), NULL) == JWKS_OK);
        jwks_client *c = SENTINEL;
        jwks_error *e = NULL;
        CHECK(jwks_client_new(o, &c, &e) == JWKS_ERR_INVALID_ARGUMENT && c == SENTINEL);
        CHECK(e != NULL && strstr(jwks_error_message(e), "writable by others") != NULL);
        jwks_error_free(e);
        jwks_options_free(o);
    }
    /* A master running as root checks the directory for the user its workers run as. */
    {
        const char *own = env("PERSIST_OWN"), *open_dir = env("PERSIST_0777");
        uint32_t me = (uint32_t) geteuid(), group = (uint32_t) getegid();
        jwks_error *e = NULL;
        CHECK(jwks_persist_dir_check(own, strlen(own), me, group, NULL) == JWKS_OK);
        if (me != 0) {
            /* root can write anywhere; any other user cannot write a 0700 directory of ours */
            CHECK(jwks_persist_dir_check(own, strlen(own), me + 1, group + 1, &e) == JWKS_ERR_INVALID_ARGUMENT);
            CHECK(e != NULL && strstr(jwks_error_message(e), "cannot be written by uid") != NULL);
            jwks_error_free(e);
            e = NULL;
        } else {
            CHECK(jwks_persist_dir_check(own, strlen(own), 65534, 65534, &e) == JWKS_ERR_INVALID_ARGUMENT);
            CHECK(e != NULL && strstr(jwks_error_message(e), "cannot be written by uid 65534") != NULL);
            jwks_error_free(e);
            e = NULL;
        }
        CHECK(jwks_persist_dir_check(open_dir, strlen(open_dir), me, group, &e) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(e != NULL && strstr(jwks_error_message(e), "writable by others") != NULL);
        jwks_error_free(e);
        CHECK(jwks_persist_dir_check("/nonexistent/jwks", 17, me, group, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_persist_dir_check(NULL, 0, me, group, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_persist_dir_check(NULL, 4, me, group, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_persist_dir_check("\xff", 1, me, group, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = env(cases[i].dir_env);
        jwks_options *o = jwks_options_new();
        CHECK(set_uri(o, down) == JWKS_OK);
        CHECK(jwks_options_add_audience(o, "api", 3, NULL) == JWKS_OK);
        CHECK(jwks_options_set_persist_dir(o, dir, strlen(dir), NULL) == JWKS_OK);
        jwks_client *c = NULL;
        CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
        jwks_options_free(o);
        jwks_stats st = stats_of(c);
        CHECK(st.persist_refused == cases[i].refused);
        char label[64];
        snprintf(label, sizeof label, "saved set in %s", cases[i].dir_env);
        expect_verify(c, forged, NULL, cases[i].expected, label);
        jwks_client_free(c);
    }
}

/* A document store in memory, as a C user (or a server module's shared zone) writes one. */
struct mem_store {
    pthread_mutex_t lock;
    char key[8][512];
    char *text[8];
    size_t len[8];
    uint64_t at[8];
    uint64_t max_age[8];
    uint64_t claim_until[8];
    int n, saves, loads, destroyed;
    int refuse; /* load answers -1 */
    int oversize; /* load hands the sink a length past any max_response_bytes */
};

static int mem_slot(struct mem_store *m, const char *key, int create) {
    for (int i = 0; i < m->n; i++) {
        if (strcmp(m->key[i], key) == 0) return i;
    }
    if (!create || m->n == 8 || strlen(key) >= sizeof m->key[0]) return -1;
    snprintf(m->key[m->n], sizeof m->key[0], "%s", key);
    return m->n++;
}

static int mem_load(void *ud, const char *key, size_t key_len, jwks_store_sink sink, void *sink_data) {
    struct mem_store *m = ud;
    CHECK(strlen(key) == key_len);
    pthread_mutex_lock(&m->lock);
    m->loads++;
    int found = 0;
    if (m->refuse) {
        found = -1;
    } else {
        int i = mem_slot(m, key, 0);
        if (i >= 0 && m->text[i] != NULL) {
            sink(sink_data, m->text[i], m->oversize ? (size_t) 1 << 30 : m->len[i], m->at[i],
                 m->max_age[i]);
            found = 1;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return found;
}

static void mem_save(void *ud, const char *key, size_t key_len, const char *text, size_t len, uint64_t at,
                     uint64_t max_age) {
    struct mem_store *m = ud;
    (void) key_len;
    pthread_mutex_lock(&m->lock);
    int i = mem_slot(m, key, 1);
    if (i >= 0) {
        free(m->text[i]);
        m->text[i] = malloc(len);
        if (m->text[i] != NULL) memcpy(m->text[i], text, len);
        m->len[i] = len;
        m->at[i] = at;
        m->max_age[i] = max_age;
        m->saves++;
    }
    pthread_mutex_unlock(&m->lock);
}

static bool mem_claim(void *ud, const char *key, size_t key_len, uint64_t now, uint64_t until) {
    struct mem_store *m = ud;
    (void) key_len;
    pthread_mutex_lock(&m->lock);
    int i = mem_slot(m, key, 1);
    bool granted = i < 0 || m->claim_until[i] <= now;
    if (i >= 0 && granted) m->claim_until[i] = until;
    pthread_mutex_unlock(&m->lock);
    return granted;
}

static void mem_release(void *ud, const char *key, size_t key_len) {
    struct mem_store *m = ud;
    (void) key_len;
    pthread_mutex_lock(&m->lock);
    int i = mem_slot(m, key, 0);
    if (i >= 0) m->claim_until[i] = 0;
    pthread_mutex_unlock(&m->lock);
}

static void mem_destroy(void *ud) {
    __atomic_add_fetch(&((struct mem_store *) ud)->destroyed, 1, __ATOMIC_SEQ_CST);
}

static jwks_store mem_table(struct mem_store *m) {
    jwks_store t;
    memset(&t, 0, sizeof t);
    t.size = sizeof t;
    t.user_data = m;
    t.load = mem_load;
    t.save = mem_save;
    t.claim = mem_claim;
    t.release = mem_release;
    t.destroy = mem_destroy;
    return t;
}

static jwks_client *store_client(const char *url, const jwks_store *table, uint64_t max_bytes) {
    jwks_options *o = jwks_options_new();
    CHECK(set_uri(o, url) == JWKS_OK);
    CHECK(jwks_options_add_audience(o, "api", 3, NULL) == JWKS_OK);
    CHECK(jwks_options_set_store(o, table, NULL) == JWKS_OK);
    if (max_bytes) CHECK(jwks_options_set_max_response_bytes(o, max_bytes, NULL) == JWKS_OK);
    jwks_client *c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    jwks_options_free(o);
    return c;
}

static void test_store(const char *url) {
    const char *good = env("TOK_GOOD");
    static struct mem_store m = {.lock = PTHREAD_MUTEX_INITIALIZER};
    jwks_store table = mem_table(&m);

    /* Garbage in: refused, nothing taken (destroy is not called). */
    {
        jwks_error *e = NULL;
        CHECK(jwks_options_set_store(NULL, &table, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        jwks_options *o = jwks_options_new();
        jwks_store small = table;
        small.size = sizeof(size_t);
        CHECK(jwks_options_set_store(o, &small, &e) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(e != NULL && strstr(jwks_error_message(e), "sizeof(jwks_store)") != NULL);
        jwks_error_free(e);
        e = NULL;
        jwks_store no_load = table;
        no_load.load = NULL;
        CHECK(jwks_options_set_store(o, &no_load, &e) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(e != NULL && strstr(jwks_error_message(e), "load") != NULL);
        jwks_error_free(e);
        e = NULL;
        CHECK(jwks_options_set_store(o, NULL, NULL) == JWKS_OK); /* no store */
        /* Setting another store lets go of the first one's user data. */
        CHECK(jwks_options_set_store(o, &table, NULL) == JWKS_OK);
        CHECK(m.destroyed == 0);
        CHECK(jwks_options_set_store(o, NULL, NULL) == JWKS_OK);
        CHECK(m.destroyed == 1);
        jwks_options_free(o);
        m.destroyed = 0;
    }
    /* Two clients: the second starts warm from the first one's set, with no request. */
    jwks_client *a = store_client(url, &table, 0);
    expect_verify(a, good, NULL, JWKS_OK, "store: first client");
    CHECK(stats_of(a).fetches == 1);
    CHECK(m.saves == 1 && m.n == 1);
    char expected_key[600];
    snprintf(expected_key, sizeof expected_key, "jwks %s", url);
    CHECK(strcmp(m.key[0], expected_key) == 0);
    CHECK(m.claim_until[0] == 0); /* released after the fetch */
    CHECK(m.max_age[0] == JWKS_STORE_NO_MAX_AGE); /* the test server sends no Cache-Control */
    jwks_client *b = store_client(url, &table, 0);
    CHECK(stats_of(b).keys_held > 0);
    expect_verify(b, good, NULL, JWKS_OK, "store: second client");
    CHECK(stats_of(b).fetches == 0);
    jwks_client_free(a);
    jwks_client_free(b);
    /* Once per options object the table was set on, when its last holder let go (a client's
     * threads may hold it a moment after jwks_client_free). */
    for (int i = 0; i < 500 && __atomic_load_n(&m.destroyed, __ATOMIC_SEQ_CST) < 2; i++) sleep_ms(10);
    CHECK(__atomic_load_n(&m.destroyed, __ATOMIC_SEQ_CST) == 2);

    /* A refused entry and an oversized one: counted, and the client fetches instead. */
    m.refuse = 1;
    jwks_client *c = store_client(url, &table, 0);
    CHECK(stats_of(c).persist_refused == 1 && stats_of(c).keys_held == 0);
    expect_verify(c, good, NULL, JWKS_OK, "store: refused entry");
    CHECK(stats_of(c).fetches == 1);
    jwks_client_free(c);
    m.refuse = 0;
    m.oversize = 1;
    c = store_client(url, &table, 4096);
    CHECK(stats_of(c).persist_refused == 1 && stats_of(c).keys_held == 0);
    jwks_client_free(c);
    m.oversize = 0;
    for (int i = 0; i < m.n; i++) free(m.text[i]);
}

static void test_token_errors(const char *url) {
    jwks_options *o = jwks_options_new();
    CHECK(set_uri(o, url) == JWKS_OK);
    CHECK(jwks_options_add_audience(o, "api", 3, NULL) == JWKS_OK);
    CHECK(jwks_options_set_issuer(o, "https://issuer.test", 19, NULL) == JWKS_OK);
    CHECK(jwks_options_set_max_token_bytes(o, 4096, NULL) == JWKS_OK);
    CHECK(jwks_options_set_min_refetch_interval_ms(o, 60000, NULL) == JWKS_OK);
    jwks_client *c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    jwks_options_free(o);

    expect_verify(c, env("TOK_GOOD"), NULL, JWKS_OK, "good");
    expect_verify(c, env("TOK_EXPIRED"), NULL, JWKS_ERR_EXPIRED, "expired");
    /* iat in the future: accepted unless asked for, per client or per call */
    expect_verify(c, env("TOK_IAT_FUTURE"), NULL, JWKS_OK, "iat not checked by default");
    {
        jwks_verify_options *iat = jwks_verify_options_new();
        CHECK(jwks_verify_options_set_verify_iat(NULL, true, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_verify_options_set_verify_iat(iat, true, NULL) == JWKS_OK);
        expect_verify(c, env("TOK_IAT_FUTURE"), iat, JWKS_ERR_NOT_YET_VALID, "iat per call");
        jwks_verify_options_free(iat);
        jwks_options *io = jwks_options_new();
        CHECK(set_uri(io, url) == JWKS_OK);
        CHECK(jwks_options_add_audience(io, "api", 3, NULL) == JWKS_OK);
        CHECK(jwks_options_set_verify_iat(NULL, true, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_options_set_verify_iat(io, true, NULL) == JWKS_OK);
        jwks_client *ic = NULL;
        CHECK(jwks_client_new(io, &ic, NULL) == JWKS_OK);
        jwks_options_free(io);
        expect_verify(ic, env("TOK_IAT_FUTURE"), NULL, JWKS_ERR_NOT_YET_VALID, "iat per client");
        expect_verify(ic, env("TOK_GOOD"), NULL, JWKS_OK, "no iat");
        jwks_client_free(ic);
    }
    expect_verify(c, env("TOK_NBF"), NULL, JWKS_ERR_NOT_YET_VALID, "nbf");
    expect_verify(c, env("TOK_WRONG_AUD"), NULL, JWKS_ERR_WRONG_AUDIENCE, "aud");
    expect_verify(c, env("TOK_WRONG_ISS"), NULL, JWKS_ERR_WRONG_ISSUER, "iss");
    expect_verify(c, env("TOK_NO_EXP"), NULL, JWKS_ERR_MISSING_CLAIM, "no exp");
    expect_verify(c, env("TOK_BAD_SIG"), NULL, JWKS_ERR_BAD_SIGNATURE, "bad sig");
    expect_verify(c, env("TOK_NONE"), NULL, JWKS_ERR_ALGORITHM_NOT_ALLOWED, "none");
    expect_verify(c, env("TOK_HS256"), NULL, JWKS_ERR_ALGORITHM_NOT_ALLOWED, "hs256");
    expect_verify(c, env("TOK_XS"), NULL, JWKS_ERR_UNSUPPORTED_ALGORITHM, "unknown alg");
    expect_verify(c, env("TOK_NO_KID"), NULL, JWKS_ERR_MISSING_KID, "no kid");
    expect_verify(c, env("TOK_UNKNOWN_KID"), NULL, JWKS_ERR_KEY_NOT_FOUND, "unknown kid");
    expect_verify(c, env("TOK_CRIT"), NULL, JWKS_ERR_UNSUPPORTED_CRITICAL, "crit");
    expect_verify(c, env("TOK_BIG_NUMBER"), NULL, JWKS_ERR_MALFORMED_TOKEN, "number out of range");
    expect_verify(c, env("TOK_NESTED_DUP"), NULL, JWKS_ERR_MALFORMED_TOKEN, "twice");
    expect_verify(c, "a.b", NULL, JWKS_ERR_MALFORMED_TOKEN, "malformed");
    expect_verify(c, "e30.e30.AA", NULL, JWKS_ERR_MALFORMED_TOKEN, "no alg");
    char big[5000];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    expect_verify(c, big, NULL, JWKS_ERR_TOKEN_TOO_LARGE, "too large");

    /* per-call settings: another audience and typ, narrowed algorithms */
    jwks_verify_options *vo = jwks_verify_options_new();
    CHECK(jwks_verify_options_add_audience(vo, "other-api", 9, NULL) == JWKS_OK);
    expect_verify(c, env("TOK_WRONG_AUD"), vo, JWKS_OK, "per-call aud");
    expect_verify(c, env("TOK_GOOD"), vo, JWKS_ERR_WRONG_AUDIENCE, "per-call aud rejects");
    jwks_verify_options_free(vo);
    vo = jwks_verify_options_new();
    CHECK(jwks_verify_options_add_typ(vo, "at+jwt", 6, NULL) == JWKS_OK);
    expect_verify(c, env("TOK_GOOD"), vo, JWKS_ERR_WRONG_TYP, "per-call typ");
    jwks_verify_options_free(vo);
    vo = jwks_verify_options_new();
    CHECK(jwks_verify_options_add_required_claim(vo, "scope", 5, NULL) == JWKS_OK);
    expect_verify(c, env("TOK_GOOD"), vo, JWKS_ERR_MISSING_CLAIM, "per-call required");
    CHECK(jwks_verify_options_set_algorithms(vo, "RS256", 5, NULL) == JWKS_OK);
    expect_verify(c, env("TOK_GOOD"), vo, JWKS_ERR_ALGORITHM_NOT_ALLOWED, "narrowed");
    CHECK(jwks_client_check_verify_options(c, vo, NULL) == JWKS_OK);
    CHECK(jwks_verify_options_set_algorithms(vo, "HS256", 5, NULL) == JWKS_OK);
    expect_verify(c, env("TOK_HS256"), vo, JWKS_ERR_INVALID_ARGUMENT, "cannot widen");
    {
        /* ...which a configuration check finds before any token */
        jwks_error *e = NULL;
        CHECK(jwks_client_check_verify_options(c, vo, &e) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(e != NULL && strstr(jwks_error_message(e), "share none") != NULL);
        jwks_error_free(e);
        CHECK(jwks_client_check_verify_options(NULL, vo, NULL) == JWKS_ERR_INVALID_ARGUMENT);
        CHECK(jwks_client_check_verify_options(c, NULL, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    }
    jwks_verify_options_free(vo);
    vo = jwks_verify_options_new();
    CHECK(jwks_verify_options_set_verify_exp(vo, false, NULL) == JWKS_OK);
    expect_verify(c, env("TOK_EXPIRED"), vo, JWKS_OK, "per-call exp off");
    CHECK(jwks_verify_options_set_leeway_ms(vo, 0, NULL) == JWKS_OK);
    CHECK(jwks_verify_options_set_verify_nbf(vo, false, NULL) == JWKS_OK);
    expect_verify(c, env("TOK_NBF"), vo, JWKS_OK, "per-call nbf off");
    CHECK(jwks_verify_options_set_verify_aud(vo, false, NULL) == JWKS_OK);
    CHECK(jwks_verify_options_set_verify_iss(vo, false, NULL) == JWKS_OK);
    expect_verify(c, env("TOK_WRONG_ISS"), vo, JWKS_OK, "per-call iss off");
    CHECK(jwks_verify_options_set_issuer(vo, "x", 1, NULL) == JWKS_OK);
    CHECK(jwks_verify_options_set_issuer(vo, "", 0, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    jwks_verify_options_free(vo);
    jwks_client_free(c);
}

static void test_fetch_errors(void) {
    const char *base = env("BASE");
    char url[512];
    snprintf(url, sizeof url, "%s/500", base);
    expect_fetch_error(url, 0, JWKS_ERR_HTTP_STATUS, "500");
    snprintf(url, sizeof url, "%s/garbage", base);
    expect_fetch_error(url, 0, JWKS_ERR_INVALID_JWKS, "garbage");
    snprintf(url, sizeof url, "%s/empty", base);
    expect_fetch_error(url, 0, JWKS_ERR_NO_SIGNING_KEYS, "empty");
    snprintf(url, sizeof url, "%s/big", base);
    expect_fetch_error(url, 0, JWKS_ERR_RESPONSE_TOO_LARGE, "big");
    snprintf(url, sizeof url, "%s/loop", base);
    expect_fetch_error(url, 0, JWKS_ERR_REDIRECT, "loop");
    snprintf(url, sizeof url, "%s/slow", base);
    expect_fetch_error(url, 200, JWKS_ERR_TIMEOUT, "slow");
    expect_fetch_error(env("CLOSED_URL"), 0, JWKS_ERR_CONNECTION, "closed");
    expect_fetch_error(env("TLS_URL"), 0, JWKS_ERR_TLS, "unknown CA");
}

static void test_tls_with_ca(void) {
    const char *ca = env("TLS_CA_PEM");
    jwks_options *o = jwks_options_new();
    CHECK(set_uri(o, env("TLS_URL")) == JWKS_OK);
    CHECK(jwks_options_add_audience(o, "api", 3, NULL) == JWKS_OK);
    CHECK(jwks_options_add_ca_pem(o, (const uint8_t *)ca, strlen(ca), NULL) == JWKS_OK);
    jwks_client *c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    jwks_options_free(o);
    expect_verify(c, env("TOK_GOOD"), NULL, JWKS_OK, "https with CA");
    jwks_client_free(c);
}

static void test_panic_boundary(void) {
    jwks_error *err = NULL;
    CHECK(jwks_debug_trigger_panic(&err) == JWKS_ERR_INTERNAL);
    CHECK(jwks_error_status(err) == JWKS_ERR_INTERNAL);
    CHECK(strstr(jwks_error_message(err), "panic") != NULL);
    jwks_error_free(err);
    CHECK(jwks_debug_trigger_panic(NULL) == JWKS_ERR_INTERNAL);
}

struct thread_arg {
    const jwks_client *client;
    const char *token;
    int ok;
};

static void *verify_many(void *p) {
    struct thread_arg *a = p;
    for (int i = 0; i < 200; i++) {
        jwks_token *t = NULL;
        if (jwks_client_verify(a->client, a->token, strlen(a->token), NULL, &t, NULL) == JWKS_OK) {
            a->ok++;
            jwks_token_free(t);
        }
    }
    return NULL;
}

static void test_threads(const char *url) {
    jwks_client *c = make_client(url);
    pthread_t threads[8];
    struct thread_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i].client = c;
        args[i].token = env(i % 2 ? "TOK_GOOD" : "TOK_RSA");
        args[i].ok = 0;
        CHECK(pthread_create(&threads[i], NULL, verify_many, &args[i]) == 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        CHECK(args[i].ok == 200);
    }
    jwks_client_free(c);
}

/* GET `/__<verb><path>` on the test server at $BASE (its hold/release/held control paths);
 * returns the number in the answer's body (0 for "ok"), or -1 on failure. */
static int server_control(const char *verb, const char *path) {
    char host[64];
    int port = 0;
    if (sscanf(env("BASE"), "http://%63[^:]:%d", host, &port) != 2) return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    char request[256];
    int n = snprintf(request, sizeof request, "GET /__%s%s HTTP/1.0\r\n\r\n", verb, path);
    char reply[512] = {0};
    size_t got = 0;
    if (inet_pton(AF_INET, host, &addr.sin_addr) == 1 &&
        connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        write(fd, request, (size_t)n) == n) {
        ssize_t r;
        while (got < sizeof reply - 1 && (r = read(fd, reply + got, sizeof reply - 1 - got)) > 0) {
            got += (size_t)r;
        }
    }
    close(fd);
    const char *body = strstr(reply, "\r\n\r\n");
    if (body == NULL || strncmp(reply, "HTTP/1.1 200", 12) != 0) return -1;
    return atoi(body + 4);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct stale_arg {
    const jwks_client *client;
    const char *token;
    jwks_status status;
    int stale;
    int *done;
};

static void *verify_once(void *p) {
    struct stale_arg *a = p;
    jwks_token *t = NULL;
    a->status = jwks_client_verify(a->client, a->token, strlen(a->token), NULL, &t, NULL);
    if (a->status == JWKS_OK) {
        a->stale = jwks_token_stale(t);
        jwks_token_free(t);
    }
    __atomic_add_fetch(a->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static jwks_stats stats_of(const jwks_client *c) {
    jwks_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    CHECK(jwks_client_stats(c, &st, NULL) == JWKS_OK);
    return st;
}

/* After the set expired, 8 threads calling the blocking verify all answer (stale) while the
 * server holds the one refresh request; once released, the set is fresh again. */
static void test_refresh_never_waits(void) {
    const char *path = "/held-jwks";
    jwks_options *o = jwks_options_new();
    CHECK(set_uri(o, env("HELD_URL")) == JWKS_OK);
    CHECK(jwks_options_add_audience(o, "api", 3, NULL) == JWKS_OK);
    CHECK(jwks_options_set_lifespan_ms(o, 300, NULL) == JWKS_OK);
    CHECK(jwks_options_set_refresh_jitter(o, 0, NULL) == JWKS_OK);
    jwks_client *c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    jwks_options_free(o);
    const char *token = env("TOK_GOOD");
    expect_verify(c, token, NULL, JWKS_OK, "warm-up");
    CHECK(server_control("hold", path) == 0);
    sleep_ms(400); /* only so that the 300 ms lifespan is over; nothing is timed */

    int done = 0;
    pthread_t threads[8];
    struct stale_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (struct stale_arg){c, token, JWKS_ERR_INTERNAL, 0, &done};
        CHECK(pthread_create(&threads[i], NULL, verify_once, &args[i]) == 0);
    }
    /* Every caller returns while the refresh is still held (20 s bound, then a failure). */
    for (int i = 0; i < 2000 && __atomic_load_n(&done, __ATOMIC_SEQ_CST) < 8; i++) sleep_ms(10);
    CHECK(__atomic_load_n(&done, __ATOMIC_SEQ_CST) == 8);
    int held = 0;
    for (int i = 0; i < 2000 && (held = server_control("held", path)) != 1; i++) sleep_ms(10);
    CHECK(held == 1);
    jwks_stats st = stats_of(c);
    CHECK(st.refreshing == 1);
    CHECK(st.background_refreshes == 1);
    CHECK(st.served_while_refreshing == 8);
    CHECK(st.cache_misses == 1);

    CHECK(server_control("release", path) == 0);
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        CHECK(args[i].status == JWKS_OK);
        CHECK(args[i].stale == 1);
    }
    for (int i = 0; i < 2000 && stats_of(c).refreshing != 0; i++) sleep_ms(10);
    jwks_token *t = NULL;
    CHECK(jwks_client_verify(c, token, strlen(token), NULL, &t, NULL) == JWKS_OK);
    CHECK(t != NULL && !jwks_token_stale(t));
    jwks_token_free(t);
    jwks_client_free(c);
}

static void test_discovery(void) {
    const char *issuer = env("ISSUER_A");
    jwks_options *o = jwks_options_new();
    CHECK(jwks_options_add_allowed_issuer(o, issuer, strlen(issuer), NULL) == JWKS_OK);
    CHECK(jwks_options_add_allowed_issuer(o, "", 0, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_max_issuers(o, 0, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_issuer_ttl_ms(o, 0, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_max_issuers(o, 8, NULL) == JWKS_OK);
    CHECK(jwks_options_set_issuer_ttl_ms(o, 600000, NULL) == JWKS_OK);
    CHECK(jwks_options_set_issuer_min_refetch_interval_ms(o, 300000, NULL) == JWKS_OK);
    CHECK(jwks_options_set_discovery_config_path(o, "", 0, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    jwks_client *c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    /* a URL as well as issuers: refused */
    jwks_client *both = SENTINEL;
    CHECK(set_uri(o, env("JWKS_URL")) == JWKS_OK);
    CHECK(jwks_client_new(o, &both, NULL) == JWKS_ERR_INVALID_ARGUMENT && both == SENTINEL);
    jwks_options_free(o);

    expect_verify(c, env("TOK_ISS_A"), NULL, JWKS_OK, "discovered issuer");
    expect_verify(c, env("TOK_ISS_B"), NULL, JWKS_ERR_ISSUER_NOT_ALLOWED, "issuer not allowed");
    expect_verify(c, env("TOK_GOOD"), NULL, JWKS_ERR_ISSUER_NOT_ALLOWED, "fixed-URL token");
    jwks_key *k = NULL;
    CHECK(jwks_client_get_signing_key_for_issuer(c, issuer, strlen(issuer), "a-key", 5, &k, NULL) == JWKS_OK);
    CHECK(strcmp(jwks_key_algorithms(k, NULL), "ES256") == 0);
    jwks_key_free(k);
    const char *tok = env("TOK_ISS_A");
    CHECK(jwks_client_get_signing_key_from_jwt(c, tok, strlen(tok), &k, NULL) == JWKS_OK);
    CHECK(strcmp(jwks_key_kid(k, NULL), "a-key") == 0);
    jwks_key_free(k);
    jwks_key_set *set = NULL;
    CHECK(jwks_client_get_jwk_set_for_issuer(c, issuer, strlen(issuer), false, &set, NULL) == JWKS_OK);
    CHECK(jwks_key_set_len(set) == 1);
    jwks_key_set_free(set);
    k = SENTINEL;
    CHECK(jwks_client_get_signing_key(c, "a-key", 5, &k, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_client_get_signing_key_for_issuer(c, "https://x", 9, "k", 1, &k, NULL) == JWKS_ERR_ISSUER_NOT_ALLOWED);
    CHECK(k == SENTINEL);
    jwks_client_free(c);
}

struct memory_idp {
    const char *config;
    const char *jwks;
    int calls;
    int saw_accept;
    int mode; /* 0 serve, 1 transport failure, 2 oversized body, 3 HTTP 404, 4 serve slowly,
                 5 hold until gate_open (at most 30 s, then gate_timed_out) */
};

/* The gate of mode 5: a fetch held inside the callback until the test opens it. */
static int gate_open, gate_waiting, gate_timed_out;

static int serve_from_memory(void *user_data, const char *url, size_t url_len,
                             const jwks_http_header *headers, size_t header_count,
                             jwks_http_response *response) {
    struct memory_idp *idp = user_data;
    idp->calls++;
    for (size_t i = 0; i < header_count; i++) {
        if (headers[i].name_len == 6 && strncmp(headers[i].name, "Accept", 6) == 0) idp->saw_accept = 1;
    }
    if (url[url_len] != '\0') return -2; /* the URL is also NUL-terminated */
    if (idp->mode == 1) return -1;
    if (idp->mode == 2) {
        static uint8_t big[2 << 20];
        CHECK(jwks_http_response_set_body(response, big, sizeof big, NULL) == JWKS_ERR_RESPONSE_TOO_LARGE);
        return 0;
    }
    if (idp->mode == 3) {
        CHECK(jwks_http_response_set_status(response, 404, NULL) == JWKS_OK);
        return 0;
    }
    if (idp->mode == 4) {
        struct timespec pause = {0, 300 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (idp->mode == 5) {
        __atomic_add_fetch(&gate_waiting, 1, __ATOMIC_SEQ_CST);
        int i = 0;
        for (; i < 30000 && !__atomic_load_n(&gate_open, __ATOMIC_SEQ_CST); i++) sleep_ms(1);
        if (i == 30000) __atomic_store_n(&gate_timed_out, 1, __ATOMIC_SEQ_CST);
    }
    const char *body = strstr(url, "/.well-known/openid-configuration") ? idp->config : idp->jwks;
    CHECK(jwks_http_response_set_status(response, 42, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_http_response_set_status(response, 200, NULL) == JWKS_OK);
    CHECK(jwks_http_response_add_header(response, "Content-Type", 12, "application/json", 16, NULL) == JWKS_OK);
    CHECK(jwks_http_response_set_body(response, (const uint8_t *)body, strlen(body), NULL) == JWKS_OK);
    return 0;
}

static jwks_client *callback_client(struct memory_idp *idp, int use_static) {
    const char *issuer = env("CB_ISSUER");
    jwks_options *o = jwks_options_new();
    if (use_static) {
        CHECK(jwks_options_add_static_issuer(o, issuer, strlen(issuer), "https://keys.invalid/jwks", 25, NULL) == JWKS_OK);
    } else {
        CHECK(jwks_options_add_allowed_issuer(o, issuer, strlen(issuer), NULL) == JWKS_OK);
    }
    CHECK(jwks_options_set_fetch_callback(o, serve_from_memory, idp, NULL) == JWKS_OK);
    jwks_client *c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    jwks_options_free(o);
    return c;
}

static void test_fetch_callback(void) {
    /* The hosts are .invalid: only the callback can answer, no socket is opened. */
    struct memory_idp idp = {env("CB_CONFIG"), env("CB_JWKS"), 0, 0, 0};
    jwks_client *c = callback_client(&idp, 0);
    expect_verify(c, env("TOK_CB"), NULL, JWKS_OK, "callback discovery");
    expect_verify(c, env("TOK_CB"), NULL, JWKS_OK, "callback cached");
    CHECK(idp.calls == 2);
    CHECK(idp.saw_accept);
    jwks_client_free(c);

    struct memory_idp failing = {env("CB_CONFIG"), env("CB_JWKS"), 0, 0, 1};
    c = callback_client(&failing, 0);
    expect_verify(c, env("TOK_CB"), NULL, JWKS_ERR_DISCOVERY, "callback fails discovery");
    jwks_client_free(c);
    c = callback_client(&failing, 1);
    expect_verify(c, env("TOK_CB"), NULL, JWKS_ERR_CONNECTION, "callback fails key fetch");
    jwks_client_free(c);
    struct memory_idp big = {env("CB_CONFIG"), env("CB_JWKS"), 0, 0, 2};
    c = callback_client(&big, 1);
    expect_verify(c, env("TOK_CB"), NULL, JWKS_ERR_RESPONSE_TOO_LARGE, "callback body too large");
    jwks_client_free(c);
    struct memory_idp missing = {env("CB_CONFIG"), env("CB_JWKS"), 0, 0, 3};
    c = callback_client(&missing, 1);
    expect_verify(c, env("TOK_CB"), NULL, JWKS_ERR_HTTP_STATUS, "callback 404");
    jwks_client_free(c);
    CHECK(failing.calls == 2 && big.calls == 1 && missing.calls == 1);

    /* Stale-if-error: the key set expires after 1 ms, then the IdP fails. */
    struct memory_idp flaky = {env("CB_CONFIG"), env("CB_JWKS"), 0, 0, 0};
    const char *issuer = env("CB_ISSUER");
    jwks_options *o = jwks_options_new();
    CHECK(jwks_options_add_static_issuer(o, issuer, strlen(issuer), "https://keys.invalid/jwks", 25, NULL) == JWKS_OK);
    CHECK(jwks_options_set_fetch_callback(o, serve_from_memory, &flaky, NULL) == JWKS_OK);
    CHECK(jwks_options_set_issuer_ttl_ms(o, 1, NULL) == JWKS_OK);
    CHECK(jwks_options_set_max_stale_ms(o, 3600000, NULL) == JWKS_OK);
    CHECK(jwks_options_set_failure_backoff_ms(o, 0, 0, NULL) == JWKS_OK); /* 0: no backoff */
    CHECK(jwks_options_set_failure_backoff_ms(o, 10, 5, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_failure_backoff_ms(o, 60000, 60000, NULL) == JWKS_OK);
    c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    jwks_options_free(o);
    const char *tok = env("TOK_CB");
    jwks_token *t = NULL;
    CHECK(jwks_client_verify(c, tok, strlen(tok), NULL, &t, NULL) == JWKS_OK);
    CHECK(!jwks_token_stale(t));
    jwks_token_free(t);
    flaky.mode = 1;
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    for (int i = 0; i < 5; i++) {
        t = NULL;
        CHECK(jwks_client_verify(c, tok, strlen(tok), NULL, &t, NULL) == JWKS_OK);
        CHECK(jwks_token_stale(t));
        jwks_token_free(t);
        /* the refresh runs in the background: let it finish before the next call */
        for (int w = 0; w < 2000 && stats_of(c).refreshing != 0; w++) sleep_ms(10);
    }
    CHECK(__atomic_load_n(&flaky.calls, __ATOMIC_SEQ_CST) == 2); /* one failed refresh, then the backoff */
    CHECK(!jwks_token_stale(NULL));
    jwks_client_free(c);
}

static void test_nonblocking(void) {
    /* The slow JWKS answers after 3 s: the first call is pending, never blocking. */
    char url[512];
    snprintf(url, sizeof url, "%s/slow", env("BASE"));
    jwks_options *o = jwks_options_new();
    CHECK(set_uri(o, url) == JWKS_OK);
    CHECK(jwks_options_add_audience(o, "api", 3, NULL) == JWKS_OK);
    CHECK(jwks_options_set_background_refresh(o, true, NULL) == JWKS_OK);
    jwks_client *c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    jwks_options_free(o);
    const char *tok = env("TOK_GOOD");
    jwks_token *t = SENTINEL;
    jwks_error *err = NULL;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    CHECK(jwks_client_verify_nonblocking(c, tok, strlen(tok), NULL, &t, &err) == JWKS_PENDING);
    CHECK(t == SENTINEL && jwks_error_status(err) == JWKS_PENDING);
    jwks_error_free(err);
    CHECK(jwks_client_verify_nonblocking(c, tok, strlen(tok), NULL, &t, NULL) == JWKS_PENDING);
    clock_gettime(CLOCK_MONOTONIC, &end);
    CHECK(end.tv_sec - start.tv_sec < 2);
    /* A poll loop: ask again until the background fetch has landed. */
    jwks_status s = JWKS_PENDING;
    for (int i = 0; i < 400 && s == JWKS_PENDING; i++) {
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
        s = jwks_client_verify_nonblocking(c, tok, strlen(tok), NULL, &t, NULL);
    }
    CHECK(s == JWKS_OK);
    if (s == JWKS_OK) {
        CHECK(!jwks_token_stale(t));
        jwks_token_free(t);
    }
    CHECK(strcmp(jwks_status_str(JWKS_PENDING), "JWKS_PENDING") == 0);
    jwks_client_free(c);

    /* warm-up: everything fetched before the first request */
    c = make_client(env("JWKS_URL"));
    CHECK(jwks_client_warm_up(c, NULL) == JWKS_OK);
    t = NULL;
    CHECK(jwks_client_verify_nonblocking(c, tok, strlen(tok), NULL, &t, NULL) == JWKS_OK);
    jwks_token_free(t);
    CHECK(jwks_client_warm_up(NULL, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    jwks_client_free(c);
}

struct async_result {
    int calls;
    jwks_status status;
};

static void on_verified(void *user_data, jwks_status status, jwks_token *token, jwks_error *error) {
    struct async_result *r = user_data;
    r->status = status;
    jwks_token_free(token);
    jwks_error_free(error);
    __atomic_fetch_add(&r->calls, 1, __ATOMIC_SEQ_CST);
}

static int calls_of(struct async_result *r) { return __atomic_load_n(&r->calls, __ATOMIC_SEQ_CST); }

static void wait_calls(struct async_result *r, int n) {
    for (int i = 0; i < 500 && calls_of(r) < n; i++) {
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

static void on_key(void *user_data, jwks_status status, jwks_key *key, jwks_error *error) {
    struct async_result *r = user_data;
    r->status = status;
    if (key != NULL && strcmp(jwks_key_kid(key, NULL), "ec") != 0) r->status = JWKS_ERR_INTERNAL;
    jwks_key_free(key);
    jwks_error_free(error);
    __atomic_fetch_add(&r->calls, 1, __ATOMIC_SEQ_CST);
}

static void on_set(void *user_data, jwks_status status, jwks_key_set *set, jwks_error *error) {
    struct async_result *r = user_data;
    r->status = status;
    if (set != NULL && jwks_key_set_len(set) != 2) r->status = JWKS_ERR_INTERNAL;
    jwks_key_set_free(set);
    jwks_error_free(error);
    __atomic_fetch_add(&r->calls, 1, __ATOMIC_SEQ_CST);
}

static void test_async_set_and_jwt(void) {
    jwks_client *c = make_client(env("JWKS_URL"));
    struct async_result r = {0, JWKS_ERR_INTERNAL};
    jwks_key_set *set = SENTINEL;
    jwks_request *req = SENTINEL;
    CHECK(jwks_client_get_jwk_set_async(c, false, on_set, &r, &set, &req, NULL) == JWKS_PENDING);
    wait_calls(&r, 1);
    CHECK(calls_of(&r) == 1 && r.status == JWKS_OK);
    jwks_request_free(req);
    set = NULL;
    CHECK(jwks_client_get_jwk_set_async(c, false, on_set, &r, &set, &req, NULL) == JWKS_OK);
    CHECK(jwks_key_set_len(set) == 2);
    jwks_key_set_free(set);
    CHECK(jwks_client_get_jwk_set_async(c, true, on_set, &r, &set, &req, NULL) == JWKS_PENDING);
    wait_calls(&r, 2); /* a forced refresh always goes to the network */
    CHECK(calls_of(&r) == 2 && r.status == JWKS_OK);
    jwks_request_free(req);
    jwks_client_free(c);

    c = make_client(env("JWKS_URL"));
    const char *tok = env("TOK_RSA");
    struct async_result k = {0, JWKS_ERR_INTERNAL};
    jwks_key *key = SENTINEL;
    CHECK(jwks_client_get_signing_key_from_jwt_async(c, tok, strlen(tok), on_key, &k, &key, &req, NULL) == JWKS_PENDING);
    wait_calls(&k, 1);
    CHECK(calls_of(&k) == 1 && k.status == JWKS_ERR_INTERNAL); /* on_key expects kid "ec": got "rsa" */
    jwks_request_free(req);
    key = NULL;
    CHECK(jwks_client_get_signing_key_from_jwt_async(c, tok, strlen(tok), on_key, &k, &key, &req, NULL) == JWKS_OK);
    CHECK(key != NULL && strcmp(jwks_key_kid(key, NULL), "rsa") == 0);
    jwks_key_free(key);
    CHECK(jwks_client_get_signing_key_from_jwt_async(c, "x", 1, on_key, &k, &key, &req, NULL) == JWKS_ERR_MALFORMED_TOKEN);
    CHECK(jwks_client_get_jwk_set_async(c, false, NULL, &r, &set, &req, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    jwks_client_free(c);
}

static void test_async_key(void) {
    char url[512];
    snprintf(url, sizeof url, "%s/jwks", env("BASE"));
    jwks_client *c = make_client(url);
    struct async_result r = {0, JWKS_ERR_INTERNAL};
    jwks_key *k = SENTINEL;
    jwks_request *req = SENTINEL;
    jwks_status s = jwks_client_get_signing_key_async(c, "ec", 2, on_key, &r, &k, &req, NULL);
    CHECK(s == JWKS_PENDING && k == SENTINEL);
    if (s == JWKS_PENDING) {
        wait_calls(&r, 1);
        CHECK(calls_of(&r) == 1 && r.status == JWKS_OK);
        jwks_request_free(req);
    }
    k = NULL;
    CHECK(jwks_client_get_signing_key_nonblocking(c, "ec", 2, &k, NULL) == JWKS_OK);
    CHECK(k != NULL && strcmp(jwks_key_kid(k, NULL), "ec") == 0);
    jwks_key_free(k);
    k = NULL;
    CHECK(jwks_client_get_signing_key_async(c, "ec", 2, on_key, &r, &k, &req, NULL) == JWKS_OK);
    jwks_key_free(k);
    CHECK(calls_of(&r) == 1);
    jwks_client_free(c);
}

static void test_async(void) {
    const char *tok = env("TOK_CB");
    struct memory_idp slow = {env("CB_CONFIG"), env("CB_JWKS"), 0, 0, 4};

    /* Pending, then exactly one callback; then a cache hit: OK at once, no callback. */
    jwks_client *c = callback_client(&slow, 1);
    struct async_result first = {0, JWKS_ERR_INTERNAL};
    jwks_token *out = SENTINEL;
    jwks_request *req = SENTINEL;
    CHECK(jwks_client_verify_async(c, tok, strlen(tok), NULL, on_verified, &first, &out, &req, NULL) == JWKS_PENDING);
    CHECK(out == SENTINEL && req != SENTINEL && req != NULL);
    wait_calls(&first, 1);
    CHECK(calls_of(&first) == 1 && first.status == JWKS_OK);
    jwks_request_free(req);
    struct async_result hit = {0, JWKS_ERR_INTERNAL};
    req = SENTINEL;
    CHECK(jwks_client_verify_async(c, tok, strlen(tok), NULL, on_verified, &hit, &out, &req, NULL) == JWKS_OK);
    CHECK(out != SENTINEL && req == SENTINEL);
    jwks_token_free(out);
    /* An error decided at once: no callback. */
    jwks_error *err = NULL;
    CHECK(jwks_client_verify_async(c, "a.b", 3, NULL, on_verified, &hit, &out, &req, &err) == JWKS_ERR_MALFORMED_TOKEN);
    jwks_error_free(err);
    CHECK(jwks_client_verify_async(c, tok, strlen(tok), NULL, NULL, &hit, &out, &req, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_client_verify_async(c, tok, strlen(tok), NULL, on_verified, &hit, &out, NULL, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(calls_of(&hit) == 0);
    jwks_client_free(c);

    /* Cancel before completion: no callback, ever. */
    c = callback_client(&slow, 1);
    struct async_result cancelled = {0, JWKS_ERR_INTERNAL};
    CHECK(jwks_client_verify_async(c, tok, strlen(tok), NULL, on_verified, &cancelled, &out, &req, NULL) == JWKS_PENDING);
    jwks_request_free(req);
    struct timespec pause = {0, 500 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK(calls_of(&cancelled) == 0);
    jwks_client_free(c);

    /* Free the client while requests are pending, their fetch held inside the callback: the
     * free returns without waiting for it (a free that waited would outlast the gate's 30 s),
     * and each request gets one JWKS_ERR_CANCELLED once the fetch ends. */
    struct memory_idp held = {env("CB_CONFIG"), env("CB_JWKS"), 0, 0, 5};
    c = callback_client(&held, 1);
    struct async_result orphans[3] = {{0, JWKS_OK}, {0, JWKS_OK}, {0, JWKS_OK}};
    jwks_request *reqs[3];
    for (int i = 0; i < 3; i++) {
        CHECK(jwks_client_verify_async(c, tok, strlen(tok), NULL, on_verified, &orphans[i], &out, &reqs[i], NULL) == JWKS_PENDING);
    }
    for (int i = 0; i < 30000 && __atomic_load_n(&gate_waiting, __ATOMIC_SEQ_CST) < 1; i++) sleep_ms(1);
    CHECK(__atomic_load_n(&gate_waiting, __ATOMIC_SEQ_CST) == 1);
    jwks_client_free(c);
    CHECK(!__atomic_load_n(&gate_timed_out, __ATOMIC_SEQ_CST) && !__atomic_load_n(&gate_open, __ATOMIC_SEQ_CST));
    __atomic_store_n(&gate_open, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 3; i++) {
        wait_calls(&orphans[i], 1);
        CHECK(calls_of(&orphans[i]) == 1 && orphans[i].status == JWKS_ERR_CANCELLED);
        jwks_request_free(reqs[i]);
    }
    jwks_request_free(NULL);
    /* Let the library's threads finish their fetches before the process ends. */
    nanosleep(&pause, NULL);
}

/* The poll-fd path: results arrive on the loop's own thread. */
static void test_poll_loop(void) {
    const char *tok = env("TOK_CB");
    struct memory_idp slow = {env("CB_CONFIG"), env("CB_JWKS"), 0, 0, 4};
    jwks_client *c = callback_client(&slow, 1);
    int fd = -1;
    CHECK(jwks_client_completion_fd(c, &fd, NULL) == JWKS_OK && fd >= 0);
    int again = -2;
    CHECK(jwks_client_completion_fd(c, &again, NULL) == JWKS_OK && again == fd);
    CHECK(jwks_client_completion_fd(c, NULL, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    uint64_t tag = 0;
    jwks_status status = JWKS_ERR_INTERNAL;
    jwks_token *t = SENTINEL;
    jwks_error *e = SENTINEL;
    CHECK(jwks_client_poll(c, &tag, &status, &t, &e) == JWKS_PENDING && t == SENTINEL);

    jwks_request *reqs[4];
    jwks_token *out = NULL;
    for (uint64_t i = 0; i < 4; i++) {
        CHECK(jwks_client_verify_async_queued(c, tok, strlen(tok), NULL, 100 + i, &out, &reqs[i], NULL) == JWKS_PENDING);
    }
    jwks_request_free(reqs[3]); /* cancelled: its result is never handed out */
    int seen[3] = {0, 0, 0}, done = 0;
    for (int round = 0; round < 200 && done < 3; round++) {
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, 50);
        if (n <= 0) continue;
        while (jwks_client_poll(c, &tag, &status, &t, &e) == JWKS_OK) {
            CHECK(tag >= 100 && tag <= 102);
            CHECK(status == JWKS_OK && t != NULL && e == NULL);
            if (tag >= 100 && tag <= 102) seen[tag - 100]++;
            jwks_token_free(t);
            jwks_error_free(e);
            done++;
        }
    }
    CHECK(done == 3 && seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    struct pollfd p = {fd, POLLIN, 0};
    CHECK(poll(&p, 1, 0) == 0); /* drained: no longer readable */
    for (int i = 0; i < 3; i++) jwks_request_free(reqs[i]);
    /* A cache hit is answered at once, nothing queued. */
    CHECK(jwks_client_verify_async_queued(c, tok, strlen(tok), NULL, 7, &out, &reqs[0], NULL) == JWKS_OK);
    jwks_token_free(out);
    CHECK(jwks_client_poll(c, &tag, &status, &t, &e) == JWKS_PENDING);
    jwks_client_free(c);
}

struct log_sink {
    int count;
    int last_level;
    char last[256];
};

static void on_log(void *user_data, int level, const char *message, size_t len) {
    struct log_sink *sink = user_data;
    sink->count++;
    sink->last_level = level;
    snprintf(sink->last, sizeof sink->last, "%.*s", (int)len, message);
}

static void test_log_callback(void) {
    char url[512];
    snprintf(url, sizeof url, "%s/500", env("BASE"));
    struct log_sink sink = {0, 0, ""};
    jwks_options *o = jwks_options_new();
    CHECK(set_uri(o, url) == JWKS_OK);
    CHECK(jwks_options_set_log_callback(o, on_log, &sink, 0, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_log_callback(o, on_log, &sink, 5, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_log_callback(o, on_log, &sink, 3, NULL) == JWKS_OK);
    jwks_client *c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    jwks_options_free(o);
    const char *tok = env("TOK_GOOD");
    jwks_token *t = NULL;
    for (int i = 0; i < 5; i++) {
        CHECK(jwks_client_verify(c, tok, strlen(tok), NULL, &t, NULL) == JWKS_ERR_HTTP_STATUS);
    }
    CHECK(sink.count == 1); /* one failure, then the backoff: one event */
    CHECK(sink.last_level == 1 && strstr(sink.last, "HTTP 500") != NULL);
    CHECK(jwks_client_stats(c, NULL, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    jwks_client_free(c);
}

struct thread_log {
    pthread_t expected;
    int count, on_expected_thread, last_level;
};

static void on_thread_log(void *user_data, int level, const char *message, size_t len) {
    struct thread_log *l = user_data;
    (void)message;
    (void)len;
    l->count++;
    l->last_level = level;
    if (pthread_equal(pthread_self(), l->expected)) l->on_expected_thread++;
}

/* Log-on-poll: a background fetch fails on a library thread, yet the log callback runs inside
 * jwks_client_poll on this thread, after the completion descriptor became readable. */
static void test_log_on_poll(void) {
    char url[512];
    snprintf(url, sizeof url, "%s/500", env("BASE"));
    struct thread_log log = {pthread_self(), 0, 0, 0};
    jwks_options *o = jwks_options_new();
    CHECK(set_uri(o, url) == JWKS_OK);
    CHECK(jwks_options_set_log_on_poll(NULL, true, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_log_on_poll(o, true, NULL) == JWKS_OK);
    CHECK(jwks_options_set_log_callback(o, on_thread_log, &log, 3, NULL) == JWKS_OK);
    jwks_client *c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    jwks_options_free(o);
    int fd = -1;
    CHECK(jwks_client_completion_fd(c, &fd, NULL) == JWKS_OK);
    CHECK(jwks_client_warm_up_nonblocking(c, NULL) == JWKS_PENDING);
    struct pollfd p = {fd, POLLIN, 0};
    CHECK(poll(&p, 1, 20000) == 1); /* the failure's log event woke the loop */
    CHECK(log.count == 0);          /* nothing was called on the library's thread */
    uint64_t tag;
    jwks_status st;
    jwks_token *t = NULL;
    jwks_error *e = NULL;
    CHECK(jwks_client_poll(c, &tag, &st, &t, &e) == JWKS_PENDING); /* no completion, one log */
    CHECK(log.count == 1 && log.on_expected_thread == 1 && log.last_level == 1);
    p.revents = 0;
    CHECK(poll(&p, 1, 0) == 0); /* drained */
    CHECK(jwks_client_poll(c, &tag, &st, &t, &e) == JWKS_PENDING);
    CHECK(log.count == 1);
    jwks_client_free(c);
}

static int releases;

static void on_release(void *user_data) {
    CHECK(user_data != NULL);
    __atomic_fetch_add(&releases, 1, __ATOMIC_SEQ_CST);
}

static int wait_releases(int n) {
    for (int i = 0; i < 500 && __atomic_load_n(&releases, __ATOMIC_SEQ_CST) < n; i++) {
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return __atomic_load_n(&releases, __ATOMIC_SEQ_CST);
}

static void test_release_callbacks(void) {
    char url[512];
    snprintf(url, sizeof url, "%s/500", env("BASE"));
    struct log_sink first = {0, 0, ""}, second = {0, 0, ""};
    jwks_options *o = jwks_options_new();
    CHECK(set_uri(o, url) == JWKS_OK);
    /* Refused calls take nothing: no release. */
    CHECK(jwks_options_set_log_callback_with_release(o, on_log, &first, on_release, 9, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(jwks_options_set_log_callback_with_release(o, NULL, &first, on_release, 3, NULL) == JWKS_OK);
    CHECK(jwks_options_set_log_callback_with_release(NULL, on_log, &first, on_release, 3, NULL) == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(wait_releases(0) == 0);
    /* Replacing a callback no client holds releases it at once. */
    CHECK(jwks_options_set_log_callback_with_release(o, on_log, &first, on_release, 3, NULL) == JWKS_OK);
    CHECK(jwks_options_set_log_callback_with_release(o, on_log, &second, on_release, 3, NULL) == JWKS_OK);
    CHECK(releases == 1);
    /* A client keeps it after the options are freed, until the client is gone. */
    jwks_client *c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    jwks_options_free(o);
    CHECK(releases == 1);
    const char *tok = env("TOK_GOOD");
    jwks_token *t = NULL;
    CHECK(jwks_client_verify(c, tok, strlen(tok), NULL, &t, NULL) == JWKS_ERR_HTTP_STATUS);
    CHECK(second.count == 1 && first.count == 0);
    CHECK(releases == 1);
    jwks_client_free(c);
    CHECK(wait_releases(2) == 2);

    /* The fetch callback's user data, the same way; a NULL callback takes nothing. */
    struct memory_idp idp = {env("CB_CONFIG"), env("CB_JWKS"), 0, 0, 0};
    const char *issuer = env("CB_ISSUER");
    o = jwks_options_new();
    CHECK(jwks_options_add_allowed_issuer(o, issuer, strlen(issuer), NULL) == JWKS_OK);
    CHECK(jwks_options_set_fetch_callback_with_release(o, NULL, &idp, on_release, NULL) == JWKS_OK);
    CHECK(jwks_options_set_fetch_callback_with_release(o, serve_from_memory, &idp, on_release, NULL) == JWKS_OK);
    c = NULL;
    CHECK(jwks_client_new(o, &c, NULL) == JWKS_OK);
    jwks_options_free(o);
    expect_verify(c, env("TOK_CB"), NULL, JWKS_OK, "fetch callback with release");
    CHECK(idp.calls == 2);
    CHECK(releases == 2);
    jwks_client_free(c);
    CHECK(wait_releases(3) == 3);
}

static void test_fork(const char *url) {
    jwks_client *c = make_client(url);
    expect_verify(c, env("TOK_GOOD"), NULL, JWKS_OK, "before fork");
    /* Each child verifies (FORKED) and frees the inherited client, which must touch nothing
     * of the parent's threads (issue 23: it crashed in parking_lot's notify_all). */
    for (int i = 0; i < 20; i++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20); /* a hung child dies by SIGALRM, which fails the check below */
            jwks_token *t = NULL;
            const char *tok = env("TOK_GOOD");
            jwks_status s = jwks_client_verify(c, tok, strlen(tok), NULL, &t, NULL);
            jwks_stats st;
            st.size = sizeof st;
            jwks_status stats = jwks_client_stats(c, &st, NULL);
            jwks_client_free(c);
            _exit(s == JWKS_ERR_FORKED && stats == JWKS_OK && st.fetches >= 1 ? 0 : 1);
        }
        int status = -1;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    expect_verify(c, env("TOK_GOOD"), NULL, JWKS_OK, "parent after fork");
    jwks_client_free(c);
}

int main(void) {
    const char *url = env("JWKS_URL");
    test_version_and_names();
    test_status_outcomes();
    test_null_and_garbage(url);
    test_happy_path_and_keys(url);
    test_header_values(url);
    test_persist_trust();
    test_store(url);
    test_local_jwks();
    test_token_errors(url);
    test_fetch_errors();
    test_tls_with_ca();
    test_panic_boundary();
    test_threads(url);
    test_discovery();
    test_fetch_callback();
    test_fork(url);
    test_nonblocking();
    test_async();
    test_poll_loop();
    test_async_key();
    test_async_set_and_jwt();
    test_log_callback();
    test_release_callbacks();
    test_refresh_never_waits();
    test_log_on_poll();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
