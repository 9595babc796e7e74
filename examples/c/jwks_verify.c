/*
 * jwks_verify — verify JWTs against a JWKS URL from the command line, through libjwks's C API.
 *
 *   jwks_verify (--jwks URL | --issuer ISS...) [--aud AUD]... [--iss ISS] [--leeway SECONDS]
 *               [--no-exp] [--alg RS256,ES256] [--typ TYP] [--ca FILE] [TOKEN...]
 *
 * --jwks verifies against one JWKS URL. --issuer (repeatable) instead finds each token's keys
 * through its issuer's OpenID Connect discovery document; only the listed issuers are accepted.
 * Tokens come from the arguments, or one per line on standard input. For each token it prints
 * the verified claims (and kid/alg), or the status name and message. Exit status: 0 when every
 * token verified, 1 when any failed, 2 on a usage or setup error.
 *
 * This file is also the C example to copy: create one client at start-up, share it between
 * threads, verify each request's token with jwks_client_verify, free the token.
 */
#define _POSIX_C_SOURCE 200809L
#include <jwks.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(const char *prog) {
    fprintf(stderr,
            "usage: %s (--jwks URL | --issuer ISS...) [--aud AUD]... [--iss ISS]\n"
            "          [--leeway SECONDS] [--no-exp] [--alg LIST] [--typ TYP] [--ca FILE] [TOKEN...]\n"
            "Tokens are read one per line from stdin when none is given.\n",
            prog);
    return 2;
}

/* Reports a failed setup call and frees its error. */
static int setup_failed(const char *what, jwks_status status, jwks_error *err) {
    fprintf(stderr, "%s: %s: %s\n", what, jwks_status_str((int)status), jwks_error_message(err));
    jwks_error_free(err);
    return 2;
}

/* Prints the verified token's claims (pointer "") or, with text set, that text, rendered by
 * libjwks's header-safe rule: claims are user data, and a terminal or a log reads control
 * bytes as commands too. */
static void print_safe(const jwks_token *t, const char *text, size_t text_len) {
    size_t n = 0;
    char small[256], *buf = small;
    jwks_status s = text ? jwks_header_value_escape(text, text_len, small, sizeof small, &n, NULL)
                         : jwks_token_header_value(t, NULL, 0, small, sizeof small, &n, NULL);
    if (s == JWKS_OK && n > sizeof small && (buf = malloc(n)) != NULL) {
        s = text ? jwks_header_value_escape(text, text_len, buf, n, &n, NULL)
                 : jwks_token_header_value(t, NULL, 0, buf, n, &n, NULL);
    }
    if (s == JWKS_OK && buf != NULL) {
        printf("%.*s", (int)n, buf);
    } else {
        printf("(%s)", buf ? jwks_status_str((int)s) : "out of memory");
    }
    if (buf != small) free(buf);
}

/* Verifies one token; prints the result; returns 1 if it verified. */
static int verify_one(const jwks_client *client, const char *token, size_t len, int n) {
    jwks_token *verified = NULL;
    jwks_error *err = NULL;
    jwks_status status = jwks_client_verify(client, token, len, NULL, &verified, &err);
    if (status != JWKS_OK) {
        printf("token %d: %s: %s\n", n, jwks_status_str((int)status), jwks_error_message(err));
        jwks_error_free(err);
        return 0;
    }
    size_t kid_len = 0;
    const char *kid = jwks_token_kid(verified, &kid_len);
    printf("token %d: verified (kid ", n);
    print_safe(verified, kid ? kid : "-", kid ? kid_len : 1);
    printf(", alg %s)\n", jwks_token_alg(verified, NULL));
    print_safe(verified, NULL, 0);
    printf("\n");
    jwks_token_free(verified);
    return 1;
}

int main(int argc, char **argv) {
    int have_source = 0;
    jwks_options *options = jwks_options_new();
    int first_token = argc;
    jwks_error *err = NULL;
    jwks_status status;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--no-exp") == 0) {
            status = jwks_options_set_verify_exp(options, false, &err);
        } else if (arg[0] == '-' && arg[1] == '-') {
            if (val == NULL) { jwks_options_free(options); return usage(argv[0]); }
            i++;
            if (strcmp(arg, "--jwks") == 0) {
                have_source = 1;
                status = jwks_options_set_uri(options, val, strlen(val), &err);
            } else if (strcmp(arg, "--issuer") == 0) {
                have_source = 1;
                status = jwks_options_add_allowed_issuer(options, val, strlen(val), &err);
            } else if (strcmp(arg, "--aud") == 0) {
                status = jwks_options_add_audience(options, val, strlen(val), &err);
            } else if (strcmp(arg, "--iss") == 0) {
                status = jwks_options_set_issuer(options, val, strlen(val), &err);
            } else if (strcmp(arg, "--leeway") == 0) {
                status = jwks_options_set_leeway_ms(options, strtoull(val, NULL, 10) * 1000, &err);
            } else if (strcmp(arg, "--alg") == 0) {
                status = jwks_options_set_algorithms(options, val, strlen(val), &err);
            } else if (strcmp(arg, "--typ") == 0) {
                status = jwks_options_add_typ(options, val, strlen(val), &err);
            } else if (strcmp(arg, "--ca") == 0) {
                status = jwks_options_add_ca_file(options, val, strlen(val), &err);
            } else {
                jwks_options_free(options);
                return usage(argv[0]);
            }
        } else {
            first_token = i;
            break;
        }
        if (status != JWKS_OK) {
            jwks_options_free(options);
            return setup_failed(arg, status, err);
        }
    }
    if (!have_source) {
        jwks_options_free(options);
        return usage(argv[0]);
    }

    jwks_client *client = NULL;
    status = jwks_client_new(options, &client, &err);
    jwks_options_free(options); /* the client copied what it needs */
    if (status != JWKS_OK) return setup_failed("jwks_client_new", status, err);

    int total = 0, ok = 0;
    if (first_token < argc) {
        for (int i = first_token; i < argc; i++) {
            ok += verify_one(client, argv[i], strlen(argv[i]), ++total);
        }
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, stdin)) > 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) n--;
            if (n == 0) continue;
            ok += verify_one(client, line, (size_t)n, ++total);
        }
        free(line);
    }
    jwks_client_free(client);
    return total > 0 && ok == total ? 0 : 1;
}
