/*
 * One warm-cache verification through the C ABI, timed: the per-request cost the nginx module
 * adds on top of nginx. Usage: verify_bench JWKS_URL TOKEN AUDIENCE [N]; prints two figures in
 * microseconds per verification: in a tight loop (hot CPU caches; the median of 5 runs of N),
 * and with the caches flushed before each one (8 MiB written between verifications, not
 * timed), as in a server where network I/O runs between requests.
 */
#define _POSIX_C_SOURCE 200809L
#include <jwks.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s JWKS_URL TOKEN AUDIENCE [N]\n", argv[0]);
        return 2;
    }
    int n = argc > 4 ? atoi(argv[4]) : 20000;
    jwks_options *o = jwks_options_new();
    jwks_options_set_uri(o, argv[1], strlen(argv[1]), NULL);
    jwks_options_add_audience(o, argv[3], strlen(argv[3]), NULL);
    jwks_client *c = NULL;
    jwks_error *err = NULL;
    if (jwks_client_new(o, &c, &err) != JWKS_OK || jwks_client_warm_up(c, &err) != JWKS_OK) {
        fprintf(stderr, "setup: %s\n", jwks_error_message(err));
        return 1;
    }
    jwks_options_free(o);
    const char *token = argv[2];
    size_t len = strlen(token);
    double runs[5];
    for (int r = 0; r < 5; r++) {
        double start = now_us();
        for (int i = 0; i < n; i++) {
            jwks_token *t = NULL;
            if (jwks_client_verify(c, token, len, NULL, &t, &err) != JWKS_OK) {
                fprintf(stderr, "verify: %s\n", jwks_error_message(err));
                return 1;
            }
            jwks_token_free(t);
        }
        runs[r] = (now_us() - start) / n;
    }
    qsort(runs, 5, sizeof runs[0], cmp);

    size_t junk_len = (size_t)8 << 20;
    char *junk = malloc(junk_len);
    double cold = 0;
    int cold_n = n / 4 > 0 ? n / 4 : 1;
    for (int i = 0; i < cold_n; i++) {
        memset(junk, i, junk_len);
        double start = now_us();
        jwks_token *t = NULL;
        if (jwks_client_verify(c, token, len, NULL, &t, &err) != JWKS_OK) {
            fprintf(stderr, "verify: %s\n", jwks_error_message(err));
            return 1;
        }
        cold += now_us() - start;
        jwks_token_free(t);
    }
    free(junk);
    printf("%.2f %.2f\n", runs[2], cold / cold_n);
    jwks_client_free(c);
    return 0;
}
