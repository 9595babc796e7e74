/*
 * The C ABI side of the cross-language benchmark (bench/run.sh), linked with libjwks.a.
 *
 *   verify time URL MILLIS ALG=TOKEN...   one round: prints "c ALG ns_per_verification"
 *   verify count URL N ALG=TOKEN          N verifications inside counted_loop (for callgrind)
 *   verify rss URL ALG=TOKEN              RSS after 10,000 and after 1,000,000 verifications
 *
 * Every verification is what a server does per request: jwks_client_verify with the client's
 * settings, then jwks_token_free.
 */
#define _POSIX_C_SOURCE 200809L
#include <jwks.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static jwks_client *client;

static void die(const char *what, jwks_error *err) {
    fprintf(stderr, "%s: %s\n", what, err ? jwks_error_message(err) : "?");
    exit(1);
}

static void setup(const char *url) {
    jwks_error *err = NULL;
    jwks_options *o = jwks_options_new();
    if (jwks_options_set_uri(o, url, strlen(url), &err) != JWKS_OK ||
        jwks_options_add_audience(o, "bench", 5, &err) != JWKS_OK ||
        jwks_options_set_issuer(o, "https://issuer.bench", 20, &err) != JWKS_OK ||
        jwks_client_new(o, &client, &err) != JWKS_OK || jwks_client_warm_up(client, &err) != JWKS_OK)
        die("setup", err);
    jwks_options_free(o);
}

static void verify_once(const char *token, size_t len) {
    jwks_token *t = NULL;
    jwks_error *err = NULL;
    if (jwks_client_verify(client, token, len, NULL, &t, &err) != JWKS_OK) die("verify", err);
    jwks_token_free(t);
}

/* Kept out of line so that callgrind can count it alone (--toggle-collect=counted_loop). */
__attribute__((noinline)) void counted_loop(const char *token, size_t len, long n) {
    for (long i = 0; i < n; i++) verify_once(token, len);
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ns per verification over about `millis` ms, after a short warm-up. */
static double timed(const char *token, size_t len, long millis) {
    long n = 16;
    counted_loop(token, len, n);
    for (;;) {
        double start = now_ns();
        counted_loop(token, len, n);
        double took = now_ns() - start;
        if (took >= millis * 1e6) return took / n;
        long next = (long)(n * (millis * 1e6) / (took > 1 ? took : 1));
        n = next > 2 * n ? next : 2 * n;
    }
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kib = atol(line + 6);
    if (f) fclose(f);
    return kib;
}

/* Splits "ALG=TOKEN"; returns the token. */
static const char *token_of(char *arg, const char **alg) {
    char *eq = strchr(arg, '=');
    if (!eq) {
        fprintf(stderr, "expected ALG=TOKEN, got %s\n", arg);
        exit(2);
    }
    *eq = '\0';
    *alg = arg;
    return eq + 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s time URL MILLIS ALG=TOKEN... | count URL N ALG=TOKEN | rss URL ALG=TOKEN\n",
                argv[0]);
        return 2;
    }
    setup(argv[2]);
    const char *alg;
    if (strcmp(argv[1], "time") == 0) {
        for (int i = 4; i < argc; i++) {
            const char *token = token_of(argv[i], &alg);
            printf("c %s %.0f\n", alg, timed(token, strlen(token), atol(argv[3])));
        }
    } else if (strcmp(argv[1], "count") == 0 && argc > 4) {
        const char *token = token_of(argv[4], &alg);
        counted_loop(token, strlen(token), atol(argv[3]));
    } else if (strcmp(argv[1], "rss") == 0) {
        const char *token = token_of(argv[3], &alg);
        counted_loop(token, strlen(token), 10000);
        long after_10k = rss_kib();
        counted_loop(token, strlen(token), 990000);
        printf("rss %s %ld %ld\n", alg, after_10k, rss_kib());
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    jwks_client_free(client);
    return 0;
}
