/*
 * ngx_http_jwks_module: JWT authentication in nginx with libjwks, through include/jwks.h only.
 *
 * Verification runs in the access phase with jwks_client_verify_async_queued: a cache hit
 * continues the request at once; a pending one parks it (NGX_AGAIN) until the client's
 * completion descriptor, registered as an nginx read event, wakes the worker and
 * jwks_client_poll hands the result back. No blocking libjwks call runs on a worker.
 *
 * Clients are made per worker in init_process (after the fork), one per distinct key source
 * and transport setting, shared by every location that uses it; per-location audiences,
 * leeway and algorithms are a jwks_verify_options.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jwks.h>

#include "ngx_http_jwks_zone.h"


#define NGX_HTTP_JWKS_CLAIM_PREFIX  "jwks_claim_"
#define NGX_HTTP_JWKS_HEADER_PREFIX "jwks_header_"

/* One key source and its transport settings; a client per worker. */
typedef struct {
    ngx_str_t                   uri;          /* fixed JWKS URL, or empty */
    ngx_array_t                *issuers;      /* ngx_str_t: discovery, when no uri */
    ngx_str_t                   key_file;     /* jwks_key_file, or empty */
    ngx_str_t                   key_json;     /* its set, read by the master: what workers use */
    ngx_str_t                   ca_file;
    ngx_str_t                   persist_dir;  /* full path, NUL-terminated; or empty */
    ngx_str_t                   persist_file; /* where jwks_persist_dir was set, for messages */
    ngx_uint_t                  persist_line;
    ngx_msec_t                  timeout;
    ngx_msec_t                  lifespan;
    ngx_flag_t                  cache_control; /* honour the IdP's Cache-Control */
    jwks_client                *probe;        /* the configuration check's client (master) */
    jwks_client                *client;       /* made in init_process */
    ngx_connection_t           *wakeup;       /* the completion descriptor's connection */
} ngx_http_jwks_source_t;

typedef struct {
    ngx_array_t                 sources;      /* ngx_http_jwks_source_t */
    ssize_t                     zone_size;    /* jwks_shared_zone: 0 off; unset: default */
    ngx_shm_zone_t             *zone;         /* the shared zone, when on and needed */
} ngx_http_jwks_main_conf_t;

typedef struct {
    ngx_http_complex_value_t  **values;
    ngx_uint_t                  nvalues;
    ngx_uint_t                  status;       /* 401 or 403 */
} ngx_http_jwks_require_t;

typedef struct {
    ngx_flag_t                  enabled;      /* NGX_CONF_UNSET until jwks_auth */
    ngx_str_t                   realm;
    ngx_str_t                   auth_file;    /* where jwks_auth was set, for messages */
    ngx_uint_t                  auth_line;
    ngx_array_t                *keys;         /* ngx_http_jwks_key_t: jwks_uri, jwks_key_file */
    ngx_array_t                *issuers;
    ngx_str_t                   ca_file;
    ngx_str_t                   persist_dir;  /* data NULL until set */
    ngx_str_t                   persist_file;
    ngx_uint_t                  persist_line;
    ngx_msec_t                  timeout;
    ngx_msec_t                  lifespan;
    ngx_flag_t                  lifespan_set; /* jwks_cache_time given here or outside */
    ngx_flag_t                  cache_control;
    ngx_array_t                *audiences;    /* ngx_str_t */
    ngx_msec_t                  leeway;
    ngx_flag_t                  verify_iat;
    ngx_str_t                   algorithms;
    ngx_str_t                   algorithms_file; /* where jwks_algorithms was set */
    ngx_uint_t                  algorithms_line;
    ngx_http_complex_value_t   *token;
    ngx_array_t                *requires;     /* ngx_http_jwks_require_t */
    ngx_array_t                *attempts;     /* ngx_http_jwks_attempt_t, in order */
} ngx_http_jwks_loc_conf_t;

/* A key source a location names: a JWKS URL (with the issuer its tokens must name, if any)
 * or a key file; several may be named, as NGINX Plus's auth_jwt_key_request/_file. */
typedef struct {
    ngx_str_t                   uri;
    ngx_str_t                   issuer;
    ngx_str_t                   key_file;
} ngx_http_jwks_key_t;

/* One try of a location: a source's client and the location's settings for it. */
typedef struct {
    ngx_uint_t                  source;       /* index in the main conf's sources */
    jwks_verify_options        *verify;
} ngx_http_jwks_attempt_t;

typedef enum {
    NGX_HTTP_JWKS_PENDING = 1,
    NGX_HTTP_JWKS_DONE
} ngx_http_jwks_state_e;

/* Per request: the verification and its result (freed with the request's pool). */
typedef struct {
    ngx_http_request_t         *request;
    ngx_http_jwks_state_e       state;
    jwks_request               *pending;      /* while parked */
    ngx_event_t                 deadline;     /* armed while parked */
    jwks_status                 status;
    jwks_token                 *token;
    jwks_error                 *error;
    ngx_str_t                   credentials;  /* the token's text */
    ngx_uint_t                  attempt;      /* which of the location's sources */
    jwks_status                 best_status;  /* the most telling refusal of earlier tries */
    jwks_error                 *best_error;
} ngx_http_jwks_ctx_t;

/* A variable set by jwks_claim_set (a claim) or jwks_header_set (a field of the token's
 * header): its JSON Pointer. */
typedef struct {
    ngx_str_t                   pointer;
    ngx_uint_t                  header;       /* 1: in the token's header */
} ngx_http_jwks_claim_var_t;


static ngx_int_t ngx_http_jwks_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_jwks_init(ngx_conf_t *cf);
static void *ngx_http_jwks_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_jwks_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_jwks_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static char *ngx_http_jwks_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_jwks_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_jwks_claim_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_jwks_persist_dir(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_jwks_uri(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_jwks_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_jwks_issuer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_jwks_ca_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_jwks_algorithms(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_jwks_cache_time(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_jwks_shared_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_jwks_positive(ngx_conf_t *cf, void *post, void *data);

static ngx_conf_post_handler_pt  ngx_http_jwks_positive_post = ngx_http_jwks_positive;
static ngx_int_t ngx_http_jwks_init_process(ngx_cycle_t *cycle);
static void ngx_http_jwks_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_jwks_commands[] = {

    { ngx_string("jwks_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_TAKE1,
      ngx_http_jwks_auth,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("jwks_uri"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_TAKE12,
      ngx_http_jwks_uri,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("jwks_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_TAKE1,
      ngx_http_jwks_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("jwks_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_TAKE1,
      ngx_http_jwks_issuer,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwks_loc_conf_t, issuers),
      NULL },

    { ngx_string("jwks_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_TAKE1,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwks_loc_conf_t, audiences),
      NULL },

    { ngx_string("jwks_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwks_loc_conf_t, leeway),
      NULL },

    { ngx_string("jwks_verify_iat"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwks_loc_conf_t, verify_iat),
      NULL },

    { ngx_string("jwks_algorithms"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_TAKE1,
      ngx_http_jwks_algorithms,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwks_loc_conf_t, algorithms),
      NULL },

    { ngx_string("jwks_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwks_loc_conf_t, token),
      NULL },

    { ngx_string("jwks_ca_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_TAKE1,
      ngx_http_jwks_ca_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwks_loc_conf_t, ca_file),
      NULL },

    { ngx_string("jwks_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwks_loc_conf_t, timeout),
      &ngx_http_jwks_positive_post },

    { ngx_string("jwks_cache_time"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_TAKE1,
      ngx_http_jwks_cache_time,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwks_loc_conf_t, lifespan),
      &ngx_http_jwks_positive_post },

    { ngx_string("jwks_cache_control"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwks_loc_conf_t, cache_control),
      NULL },

    { ngx_string("jwks_persist_dir"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_TAKE1,
      ngx_http_jwks_persist_dir,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwks_loc_conf_t, persist_dir),
      NULL },

    { ngx_string("jwks_shared_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_jwks_shared_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("jwks_require"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
      |NGX_CONF_1MORE,
      ngx_http_jwks_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("jwks_claim_set"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_jwks_claim_set,
      0,
      0,                                    /* a claim */
      NULL },

    { ngx_string("jwks_header_set"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_jwks_claim_set,
      0,
      1,                                    /* a field of the token's header */
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_jwks_module_ctx = {
    ngx_http_jwks_add_variables,           /* preconfiguration */
    ngx_http_jwks_init,                    /* postconfiguration */

    ngx_http_jwks_create_main_conf,        /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_jwks_create_loc_conf,         /* create location configuration */
    ngx_http_jwks_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_jwks_module = {
    NGX_MODULE_V1,
    &ngx_http_jwks_module_ctx,             /* module context */
    ngx_http_jwks_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_jwks_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_jwks_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* ------------------------------------------------------------------ configuration */

static void *
ngx_http_jwks_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_jwks_main_conf_t  *jmcf;

    jmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_jwks_main_conf_t));
    if (jmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&jmcf->sources, cf->pool, 4, sizeof(ngx_http_jwks_source_t))
        != NGX_OK)
    {
        return NULL;
    }
    jmcf->zone_size = NGX_CONF_UNSET;

    return jmcf;
}


static void *
ngx_http_jwks_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_jwks_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_jwks_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /* ngx_pcalloc: strings empty, pointers NULL */
    conf->enabled = NGX_CONF_UNSET;
    conf->issuers = NGX_CONF_UNSET_PTR;
    conf->audiences = NGX_CONF_UNSET_PTR;
    conf->requires = NGX_CONF_UNSET_PTR;
    conf->token = NGX_CONF_UNSET_PTR;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->lifespan = NGX_CONF_UNSET_MSEC;
    conf->lifespan_set = NGX_CONF_UNSET;
    conf->cache_control = NGX_CONF_UNSET;
    conf->leeway = NGX_CONF_UNSET_MSEC;
    conf->verify_iat = NGX_CONF_UNSET;
    conf->keys = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_jwks_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_jwks_loc_conf_t  *jlcf = conf;
    ngx_str_t                 *value;

    if (jlcf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        jlcf->enabled = 0;
        return NGX_CONF_OK;
    }

    /* The realm goes into a quoted header parameter: no quotes, backslashes or controls. */
    for (ngx_uint_t i = 0; i < value[1].len; i++) {
        u_char ch = value[1].data[i];
        if (ch == '"' || ch == '\\' || ch < 0x20 || ch == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "jwks_auth: the realm must not contain quotes, "
                               "backslashes or control characters");
            return NGX_CONF_ERROR;
        }
    }

    jlcf->enabled = 1;
    jlcf->realm = value[1];
    jlcf->auth_file = cf->conf_file->file.name;
    jlcf->auth_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* Checks a key source setting at its directive's line, with a client made and freed at once
 * (it starts no thread and fetches nothing), so the library's own rules apply: a plain-http
 * URL to a host that is not loopback, an unreadable CA file. */
static char *
ngx_http_jwks_check_setting(ngx_conf_t *cf, const char *directive, ngx_str_t *uri,
    ngx_str_t *issuer, ngx_str_t *ca_file, ngx_str_t *key_file)
{
    static const char   any_url[] = "https://127.0.0.1/";
    jwks_options       *o;
    jwks_client        *c = NULL;
    jwks_error         *err = NULL;
    jwks_status         s;

    o = jwks_options_new();
    if (uri != NULL) {
        s = jwks_options_set_uri(o, (const char *) uri->data, uri->len, &err);
    } else if (issuer != NULL) {
        s = jwks_options_add_allowed_issuer(o, (const char *) issuer->data, issuer->len, &err);
    } else if (key_file != NULL) {
        s = jwks_options_set_local_jwks_file(o, (const char *) key_file->data, key_file->len,
                                             &err);
    } else {
        s = jwks_options_set_uri(o, any_url, sizeof(any_url) - 1, &err);
    }
    if (s == JWKS_OK && ca_file != NULL) {
        s = jwks_options_add_ca_file(o, (const char *) ca_file->data, ca_file->len, &err);
    }
    if (s == JWKS_OK) {
        s = jwks_client_new(o, &c, &err);
    }
    jwks_options_free(o);
    if (s != JWKS_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s: %s", directive, jwks_error_message(err));
        jwks_error_free(err);
        return NGX_CONF_ERROR;
    }
    jwks_client_free(c);
    return NGX_CONF_OK;
}


/* jwks_uri URL [issuer=ISS]: the JWKS URL, and the issuer its tokens must name. */
/* Adds a key source to the location's list (made on first use). */
static ngx_http_jwks_key_t *
ngx_http_jwks_add_key(ngx_conf_t *cf, ngx_http_jwks_loc_conf_t *jlcf)
{
    ngx_http_jwks_key_t  *key;

    if (jlcf->keys == NGX_CONF_UNSET_PTR) {
        jlcf->keys = ngx_array_create(cf->pool, 2, sizeof(ngx_http_jwks_key_t));
        if (jlcf->keys == NULL) {
            return NULL;
        }
    }
    key = ngx_array_push(jlcf->keys);
    if (key != NULL) {
        ngx_memzero(key, sizeof(ngx_http_jwks_key_t));
    }
    return key;
}


static char *
ngx_http_jwks_uri(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_jwks_loc_conf_t  *jlcf = conf;
    ngx_http_jwks_key_t       *key;
    ngx_str_t                 *value;

    value = cf->args->elts;
    if (value[1].len == 0) {
        return "needs a URL";
    }
    key = ngx_http_jwks_add_key(cf, jlcf);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }
    key->uri = value[1];
    if (cf->args->nelts == 3) {
        if (value[2].len <= sizeof("issuer=") - 1
            || ngx_strncmp(value[2].data, "issuer=", sizeof("issuer=") - 1) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "jwks_uri: unknown parameter \"%V\" (the one parameter is "
                               "issuer=ISS, the issuer the tokens must name)", &value[2]);
            return NGX_CONF_ERROR;
        }
        key->issuer.data = value[2].data + sizeof("issuer=") - 1;
        key->issuer.len = value[2].len - (sizeof("issuer=") - 1);
    }
    return ngx_http_jwks_check_setting(cf, "jwks_uri", &key->uri, NULL, NULL, NULL);
}


/* jwks_key_file PATH: a local JWK Set (NGINX Plus's auth_jwt_key_file), relative to the
 * configuration's directory. The master reads it when the configuration is loaded (start and
 * reload) and the workers get its set; nothing reads it per request. */
static char *
ngx_http_jwks_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_jwks_loc_conf_t  *jlcf = conf;
    ngx_http_jwks_key_t       *key;
    ngx_str_t                 *value;

    value = cf->args->elts;
    if (value[1].len == 0) {
        return "needs a path";
    }
    key = ngx_http_jwks_add_key(cf, jlcf);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }
    key->key_file = value[1];
    if (ngx_conf_full_name(cf->cycle, &key->key_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }
    return ngx_http_jwks_check_setting(cf, "jwks_key_file", NULL, NULL, NULL, &key->key_file);
}


/* jwks_issuer ISS: an issuer found by discovery; a plain-http one is refused here. */
static char *
ngx_http_jwks_issuer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value;
    char       *rv;

    rv = ngx_conf_set_str_array_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }
    value = cf->args->elts;
    return ngx_http_jwks_check_setting(cf, "jwks_issuer", NULL, &value[1], NULL, NULL);
}


/* jwks_ca_file PATH: relative to the configuration's directory, as ssl_certificate; read now
 * to check it (workers read it again). */
static char *
ngx_http_jwks_ca_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_jwks_loc_conf_t  *jlcf = conf;
    char                      *rv;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }
    if (jlcf->ca_file.len == 0) {
        return NGX_CONF_OK;
    }
    if (ngx_conf_full_name(cf->cycle, &jlcf->ca_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }
    return ngx_http_jwks_check_setting(cf, "jwks_ca_file", NULL, NULL, &jlcf->ca_file, NULL);
}


/* jwks_algorithms "RS256 ES256": the list is checked here; whether it can ever verify with the
 * key source's client is checked per location, naming this line. */
static char *
ngx_http_jwks_algorithms(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_jwks_loc_conf_t  *jlcf = conf;
    jwks_verify_options       *vo;
    jwks_error                *err = NULL;
    jwks_status                s;
    char                      *rv;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }
    jlcf->algorithms_file = cf->conf_file->file.name;
    jlcf->algorithms_line = cf->conf_file->line;

    vo = jwks_verify_options_new();
    s = jwks_verify_options_set_algorithms(vo, (const char *) jlcf->algorithms.data,
                                           jlcf->algorithms.len, &err);
    jwks_verify_options_free(vo);
    if (s != JWKS_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "jwks_algorithms: %s",
                           jwks_error_message(err));
        jwks_error_free(err);
        return NGX_CONF_ERROR;
    }
    return NGX_CONF_OK;
}


/* jwks_cache_time TIME: how long key sets are kept, whatever the IdP's Cache-Control says
 * (unless jwks_cache_control on). */
static char *
ngx_http_jwks_cache_time(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_jwks_loc_conf_t  *jlcf = conf;
    char                      *rv;

    rv = ngx_conf_set_msec_slot(cf, cmd, conf);
    if (rv == NGX_CONF_OK) {
        jlcf->lifespan_set = 1;
    }
    return rv;
}


static char *
ngx_http_jwks_positive(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *ms = data;

    return *ms == 0 ? "must be positive" : NGX_CONF_OK;
}


/* jwks_shared_zone SIZE | off: the size of the zone the workers share key sets and
 * configuration documents in (on by default; see ngx_http_jwks_zone.h). */
static char *
ngx_http_jwks_shared_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_jwks_main_conf_t  *jmcf = conf;
    ngx_str_t                  *value = cf->args->elts;
    ssize_t                     size;

    if (jmcf->zone_size != NGX_CONF_UNSET) {
        return "is duplicate";
    }
    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        jmcf->zone_size = 0;
        return NGX_CONF_OK;
    }
    size = ngx_parse_size(&value[1]);
    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "jwks_shared_zone takes a size (for example 2m) or off, not \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }
    if (size < NGX_HTTP_JWKS_ZONE_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "jwks_shared_zone %V is too small: at least %uzk",
                           &value[1], (size_t) NGX_HTTP_JWKS_ZONE_MIN / 1024);
        return NGX_CONF_ERROR;
    }
    jmcf->zone_size = size;
    return NGX_CONF_OK;
}


/* jwks_persist_dir PATH: a path relative to the prefix, as nginx's own paths; where it was set
 * is kept for the messages of the directory's check, which runs after the whole configuration
 * is read (see ngx_http_jwks_core_init_conf). */
static char *
ngx_http_jwks_persist_dir(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_jwks_loc_conf_t  *jlcf = conf;
    ngx_str_t                 *value;

    if (jlcf->persist_dir.data != NULL) {
        return "is duplicate";
    }
    value = cf->args->elts;
    jlcf->persist_dir = value[1];
    if (jlcf->persist_dir.len
        && ngx_conf_full_name(cf->cycle, &jlcf->persist_dir, 0) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }
    jlcf->persist_file = cf->conf_file->file.name;
    jlcf->persist_line = cf->conf_file->line;
    return NGX_CONF_OK;
}


/* jwks_require $value ... [error=401|403]: every value must be non-empty and not "0". */
static char *
ngx_http_jwks_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_jwks_loc_conf_t          *jlcf = conf;
    ngx_str_t                         *value;
    ngx_uint_t                         i, n;
    ngx_http_jwks_require_t           *req;
    ngx_http_compile_complex_value_t   ccv;

    if (jlcf->requires == NGX_CONF_UNSET_PTR) {
        jlcf->requires = ngx_array_create(cf->pool, 2, sizeof(ngx_http_jwks_require_t));
        if (jlcf->requires == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    req = ngx_array_push(jlcf->requires);
    if (req == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    n = cf->args->nelts - 1;
    req->status = NGX_HTTP_UNAUTHORIZED;

    if (n > 1 && ngx_strncmp(value[n].data, "error=", 6) == 0) {
        if (value[n].len == 9 && ngx_strncmp(value[n].data + 6, "401", 3) == 0) {
            req->status = NGX_HTTP_UNAUTHORIZED;
        } else if (value[n].len == 9 && ngx_strncmp(value[n].data + 6, "403", 3) == 0) {
            req->status = NGX_HTTP_FORBIDDEN;
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "jwks_require: \"%V\" must be error=401 or error=403",
                               &value[n]);
            return NGX_CONF_ERROR;
        }
        n--;
    }

    req->values = ngx_pcalloc(cf->pool, n * sizeof(ngx_http_complex_value_t *));
    if (req->values == NULL) {
        return NGX_CONF_ERROR;
    }
    req->nvalues = n;

    for (i = 0; i < n; i++) {
        req->values[i] = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (req->values[i] == NULL) {
            return NGX_CONF_ERROR;
        }
        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ccv.value = &value[i + 1];
        ccv.complex_value = req->values[i];
        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* A JSON Pointer reference token: "~" as "~0", "/" as "~1" (RFC 6901). */
static u_char *
ngx_http_jwks_pointer_append(u_char *p, ngx_str_t *name)
{
    *p++ = '/';
    for (ngx_uint_t i = 0; i < name->len; i++) {
        if (name->data[i] == '~') {
            *p++ = '~'; *p++ = '0';
        } else if (name->data[i] == '/') {
            *p++ = '~'; *p++ = '1';
        } else {
            *p++ = name->data[i];
        }
    }
    return p;
}


static ngx_int_t ngx_http_jwks_claim_var(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* jwks_claim_set $variable name [name ...]: a nested claim, or one whose name is no valid
 * variable name (a URI), into a variable. jwks_header_set: the same, from the token's header
 * (NGINX Plus's auth_jwt_header_set). */
static char *
ngx_http_jwks_claim_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                  *value, name;
    ngx_uint_t                  i, len;
    ngx_http_variable_t        *var;
    ngx_http_jwks_claim_var_t  *cv;
    u_char                     *p;

    value = cf->args->elts;

    if (value[1].len < 2 || value[1].data[0] != '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid variable name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }
    name.data = value[1].data + 1;
    name.len = value[1].len - 1;

    var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_CONF_ERROR;
    }

    cv = ngx_palloc(cf->pool, sizeof(ngx_http_jwks_claim_var_t));
    if (cv == NULL) {
        return NGX_CONF_ERROR;
    }

    len = 0;
    for (i = 2; i < cf->args->nelts; i++) {
        len += 1 + 2 * value[i].len;
    }
    cv->pointer.data = ngx_pnalloc(cf->pool, len);
    if (cv->pointer.data == NULL) {
        return NGX_CONF_ERROR;
    }
    p = cv->pointer.data;
    for (i = 2; i < cf->args->nelts; i++) {
        p = ngx_http_jwks_pointer_append(p, &value[i]);
    }
    cv->pointer.len = p - cv->pointer.data;

    cv->header = cmd->offset;
    var->get_handler = ngx_http_jwks_claim_var;
    var->data = (uintptr_t) cv;

    return NGX_CONF_OK;
}


static void
ngx_http_jwks_free_verify_options(void *data)
{
    jwks_verify_options_free(data);
}


static void
ngx_http_jwks_free_probe(void *data)
{
    jwks_client_free(data);
}


/* Copies the probe's local set (jwks_key_file, read when the configuration is loaded) into the
 * configuration, for the workers' clients. */
static ngx_int_t
ngx_http_jwks_keep_local_set(ngx_conf_t *cf, ngx_http_jwks_source_t *src)
{
    jwks_key_set  *set = NULL;
    jwks_error    *err = NULL;
    const char    *json;
    size_t         len = 0;

    if (jwks_client_get_jwk_set(src->probe, false, &set, &err) != JWKS_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "jwks_key_file: %s", jwks_error_message(err));
        jwks_error_free(err);
        return NGX_ERROR;
    }
    json = jwks_key_set_json(set, &len);
    src->key_json.data = ngx_pnalloc(cf->pool, len + 1);
    if (src->key_json.data == NULL) {
        jwks_key_set_free(set);
        return NGX_ERROR;
    }
    ngx_memcpy(src->key_json.data, json, len);
    src->key_json.data[len] = '\0';
    src->key_json.len = len;
    jwks_key_set_free(set);
    return NGX_OK;
}


static ngx_int_t
ngx_http_jwks_same_str(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len && ngx_strncmp(a->data, b->data, a->len) == 0;
}


static ngx_int_t
ngx_http_jwks_same_issuers(ngx_array_t *a, ngx_array_t *b)
{
    ngx_str_t  *x, *y;

    if (a == NULL || b == NULL) {
        return a == b;
    }
    if (a->nelts != b->nelts) {
        return 0;
    }
    x = a->elts;
    y = b->elts;
    for (ngx_uint_t i = 0; i < a->nelts; i++) {
        if (!ngx_http_jwks_same_str(&x[i], &y[i])) {
            return 0;
        }
    }
    return 1;
}


/* Options for a source's client; NULL (with the reason logged) when a setting is refused.
 * A probe (the configuration check in the master) leaves the persist directory out: it may
 * not exist yet, and it is checked for the workers' user once the whole configuration is
 * read. */
static jwks_options *
ngx_http_jwks_source_options(ngx_http_jwks_source_t *src, ngx_log_t *log, ngx_uint_t probe)
{
    jwks_options  *o;
    jwks_error    *err = NULL;
    ngx_str_t     *iss;
    jwks_status    s = JWKS_OK;

    o = jwks_options_new();

    if (src->key_file.len) {
        /* The probe reads and checks the file; workers use the set the master read. */
        s = probe ? jwks_options_set_local_jwks_file(o, (const char *) src->key_file.data,
                                                     src->key_file.len, &err)
                  : jwks_options_set_local_jwks(o, (const char *) src->key_json.data,
                                                src->key_json.len, &err);
    } else if (src->uri.len) {
        s = jwks_options_set_uri(o, (const char *) src->uri.data, src->uri.len, &err);
    } else if (src->issuers) {
        iss = src->issuers->elts;
        for (ngx_uint_t i = 0; s == JWKS_OK && i < src->issuers->nelts; i++) {
            s = jwks_options_add_allowed_issuer(o, (const char *) iss[i].data, iss[i].len,
                                                &err);
        }
    }
    if (s == JWKS_OK && src->ca_file.len) {
        s = jwks_options_add_ca_file(o, (const char *) src->ca_file.data, src->ca_file.len,
                                     &err);
    }
    if (s == JWKS_OK && src->persist_dir.len && !probe) {
        s = jwks_options_set_persist_dir(o, (const char *) src->persist_dir.data,
                                         src->persist_dir.len, &err);
    }
    if (s == JWKS_OK) {
        s = jwks_options_set_timeout_ms(o, src->timeout, &err);
    }
    if (s == JWKS_OK) {
        s = jwks_options_set_honor_cache_headers(o, src->cache_control ? true : false, &err);
    }
    if (s == JWKS_OK && !src->key_file.len) {
        s = src->uri.len ? jwks_options_set_lifespan_ms(o, src->lifespan, &err)
                         : jwks_options_set_issuer_ttl_ms(o, src->lifespan, &err);
    }

    if (s != JWKS_OK) {
        ngx_log_error(NGX_LOG_EMERG, log, 0, "jwks: %s", jwks_error_message(err));
        jwks_error_free(err);
        jwks_options_free(o);
        return NULL;
    }

    return o;
}


/* A location's configuration error, found when its settings are merged (after the whole
 * http block is read, so nginx's current line is not the location's): named by the line of
 * the jwks_auth that applies. Returns NGX_CONF_ERROR. */
static char *
ngx_http_jwks_location_error(ngx_conf_t *cf, ngx_http_jwks_loc_conf_t *conf,
    const char *what, const char *detail)
{
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "%s%s (the location of jwks_auth) in %V:%ui",
                  what, detail ? detail : "", &conf->auth_file, conf->auth_line);
    return NGX_CONF_ERROR;
}


/* The index of the client for this key source and the location's transport settings (one
 * client per distinct source, made when first named): a probe client checks the settings now
 * (it starts no thread and fetches nothing) and is kept while the configuration is read. */
static ngx_int_t
ngx_http_jwks_source_index(ngx_conf_t *cf, ngx_http_jwks_loc_conf_t *conf, ngx_str_t *uri,
    ngx_str_t *key_file, ngx_array_t *issuers, ngx_flag_t cache_control, ngx_uint_t *index)
{
    ngx_http_jwks_main_conf_t  *jmcf;
    ngx_http_jwks_source_t     *src;
    ngx_pool_cleanup_t         *cln;
    jwks_options               *o;
    jwks_client                *probe = NULL;
    jwks_error                 *err = NULL;
    ngx_uint_t                  i;

    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_jwks_module);
    src = jmcf->sources.elts;
    for (i = 0; i < jmcf->sources.nelts; i++) {
        if (ngx_http_jwks_same_str(&src[i].uri, uri)
            && ngx_http_jwks_same_str(&src[i].key_file, key_file)
            && ngx_http_jwks_same_issuers(src[i].issuers, issuers)
            && ngx_http_jwks_same_str(&src[i].ca_file, &conf->ca_file)
            && ngx_http_jwks_same_str(&src[i].persist_dir, &conf->persist_dir)
            && src[i].timeout == conf->timeout
            && src[i].lifespan == conf->lifespan
            && src[i].cache_control == cache_control)
        {
            *index = i;
            return NGX_OK;
        }
    }

    src = ngx_array_push(&jmcf->sources);
    if (src == NULL) {
        return NGX_ERROR;
    }
    ngx_memzero(src, sizeof(ngx_http_jwks_source_t));
    src->uri = *uri;
    src->key_file = *key_file;
    src->issuers = issuers;
    src->ca_file = conf->ca_file;
    src->persist_dir = conf->persist_dir;
    src->persist_file = conf->persist_file;
    src->persist_line = conf->persist_line;
    src->timeout = conf->timeout;
    src->lifespan = conf->lifespan;
    src->cache_control = cache_control;

    o = ngx_http_jwks_source_options(src, cf->log, 1);
    if (o == NULL) {
        return NGX_ERROR;
    }
    if (jwks_client_new(o, &probe, &err) != JWKS_OK) {
        jwks_options_free(o);
        ngx_http_jwks_location_error(cf, conf, "jwks: ", jwks_error_message(err));
        jwks_error_free(err);
        return NGX_ERROR;
    }
    jwks_options_free(o);
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        jwks_client_free(probe);
        return NGX_ERROR;
    }
    cln->handler = ngx_http_jwks_free_probe;
    cln->data = probe;
    src->probe = probe;

    /* A key file's set, as the probe read and checked it, is what the workers get. */
    if (src->key_file.len && ngx_http_jwks_keep_local_set(cf, src) != NGX_OK) {
        return NGX_ERROR;
    }
    *index = jmcf->sources.nelts - 1;
    return NGX_OK;
}


/* The location's per-call settings for one of its sources (audiences, leeway, iat,
 * algorithms, and the source's issuer), checked against the source's probe client: settings
 * that can never verify fail here, naming the directive, rather than on every request. */
static jwks_verify_options *
ngx_http_jwks_verify_for(ngx_conf_t *cf, ngx_http_jwks_loc_conf_t *conf, ngx_str_t *issuer,
    jwks_client *probe)
{
    jwks_verify_options  *vo;
    ngx_pool_cleanup_t   *cln;
    ngx_str_t            *aud;
    jwks_error           *err = NULL;
    jwks_status           s = JWKS_OK;

    vo = jwks_verify_options_new();
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        jwks_verify_options_free(vo);
        return NULL;
    }
    cln->handler = ngx_http_jwks_free_verify_options;
    cln->data = vo;

    if (conf->audiences) {
        aud = conf->audiences->elts;
        for (ngx_uint_t i = 0; s == JWKS_OK && i < conf->audiences->nelts; i++) {
            s = jwks_verify_options_add_audience(vo, (const char *) aud[i].data, aud[i].len,
                                                 &err);
        }
    }
    if (s == JWKS_OK && conf->leeway != NGX_CONF_UNSET_MSEC) {
        s = jwks_verify_options_set_leeway_ms(vo, conf->leeway, &err);
    }
    if (s == JWKS_OK && conf->verify_iat) {
        s = jwks_verify_options_set_verify_iat(vo, true, &err);
    }
    if (s == JWKS_OK && conf->algorithms.len) {
        s = jwks_verify_options_set_algorithms(vo, (const char *) conf->algorithms.data,
                                               conf->algorithms.len, &err);
    }
    if (s == JWKS_OK && issuer != NULL && issuer->len) {
        s = jwks_verify_options_set_issuer(vo, (const char *) issuer->data, issuer->len, &err);
    }
    if (s != JWKS_OK) {
        ngx_http_jwks_location_error(cf, conf, "jwks: ", jwks_error_message(err));
        jwks_error_free(err);
        return NULL;
    }
    if (jwks_client_check_verify_options(probe, vo, &err) != JWKS_OK) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "jwks_algorithms \"%V\" can never verify: %s in %V:%ui",
                      &conf->algorithms, jwks_error_message(err), &conf->algorithms_file,
                      conf->algorithms_line);
        jwks_error_free(err);
        return NULL;
    }
    return vo;
}


/* Adds a try with the source of (uri, key_file, issuers) to the location. */
static ngx_int_t
ngx_http_jwks_add_attempt(ngx_conf_t *cf, ngx_http_jwks_loc_conf_t *conf, ngx_str_t *uri,
    ngx_str_t *key_file, ngx_array_t *issuers, ngx_str_t *issuer, ngx_flag_t cache_control)
{
    ngx_http_jwks_main_conf_t  *jmcf;
    ngx_http_jwks_attempt_t    *attempt;
    ngx_uint_t                  index;

    if (ngx_http_jwks_source_index(cf, conf, uri, key_file, issuers, cache_control, &index)
        != NGX_OK)
    {
        return NGX_ERROR;
    }
    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_jwks_module);
    attempt = ngx_array_push(conf->attempts);
    if (attempt == NULL) {
        return NGX_ERROR;
    }
    attempt->source = index;
    attempt->verify = ngx_http_jwks_verify_for(cf, conf, issuer,
                          ((ngx_http_jwks_source_t *) jmcf->sources.elts)[index].probe);
    return attempt->verify == NULL ? NGX_ERROR : NGX_OK;
}


static char *
ngx_http_jwks_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_jwks_loc_conf_t   *prev = parent;
    ngx_http_jwks_loc_conf_t   *conf = child;
    ngx_http_jwks_key_t        *key;
    ngx_flag_t                  cache_control;
    ngx_str_t                   none = ngx_string("");

    if (conf->enabled == NGX_CONF_UNSET) {
        conf->auth_file = prev->auth_file;
        conf->auth_line = prev->auth_line;
    }
    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);
    ngx_conf_merge_str_value(conf->realm, prev->realm, "");

    /* The key sources are inherited as a whole: URLs, key files or issuers set here replace
     * all of the enclosing block's. */
    if (conf->keys == NGX_CONF_UNSET_PTR && conf->issuers == NGX_CONF_UNSET_PTR) {
        conf->keys = prev->keys;
        conf->issuers = prev->issuers;
    }
    if (conf->keys == NGX_CONF_UNSET_PTR) {
        conf->keys = NULL;
    }
    if (conf->issuers == NGX_CONF_UNSET_PTR) {
        conf->issuers = NULL;
    }
    ngx_conf_merge_str_value(conf->ca_file, prev->ca_file, "");
    if (conf->persist_dir.data == NULL) {
        conf->persist_dir = prev->persist_dir;
        conf->persist_file = prev->persist_file;
        conf->persist_line = prev->persist_line;
    }
    if (conf->persist_dir.data == NULL) {
        ngx_str_set(&conf->persist_dir, "");
    }
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 10000);
    ngx_conf_merge_msec_value(conf->lifespan, prev->lifespan, 300000);
    ngx_conf_merge_value(conf->lifespan_set, prev->lifespan_set, 0);
    ngx_conf_merge_value(conf->cache_control, prev->cache_control, NGX_CONF_UNSET);
    /* The IdP's Cache-Control decides only when no jwks_cache_time says otherwise. */
    cache_control = conf->cache_control != NGX_CONF_UNSET ? conf->cache_control
                                                          : !conf->lifespan_set;
    ngx_conf_merge_ptr_value(conf->audiences, prev->audiences, NULL);
    ngx_conf_merge_msec_value(conf->leeway, prev->leeway, NGX_CONF_UNSET_MSEC);
    ngx_conf_merge_value(conf->verify_iat, prev->verify_iat, 0);
    if (conf->algorithms.data == NULL) {
        conf->algorithms = prev->algorithms;
        conf->algorithms_file = prev->algorithms_file;
        conf->algorithms_line = prev->algorithms_line;
    }
    if (conf->algorithms.data == NULL) {
        ngx_str_set(&conf->algorithms, "");
    }
    ngx_conf_merge_ptr_value(conf->token, prev->token, NULL);
    ngx_conf_merge_ptr_value(conf->requires, prev->requires, NULL);

    if (!conf->enabled) {
        return NGX_CONF_OK;
    }

    if (conf->keys && conf->issuers) {
        return ngx_http_jwks_location_error(cf, conf,
                   "jwks_issuer (discovery: the token's iss picks the keys) excludes jwks_uri "
                   "and jwks_key_file in one location (to check the issuer of a fixed URL's "
                   "tokens: jwks_uri URL issuer=ISS)", NULL);
    }
    if (conf->keys == NULL && conf->issuers == NULL) {
        return ngx_http_jwks_location_error(cf, conf,
                   "jwks_auth needs jwks_uri, jwks_issuer or jwks_key_file", NULL);
    }

    /* The tries, in the order the sources were named: the first whose keys verify the token
     * answers. */
    conf->attempts = ngx_array_create(cf->pool, conf->keys ? conf->keys->nelts : 1,
                                      sizeof(ngx_http_jwks_attempt_t));
    if (conf->attempts == NULL) {
        return NGX_CONF_ERROR;
    }
    if (conf->issuers) {
        if (ngx_http_jwks_add_attempt(cf, conf, &none, &none, conf->issuers, NULL,
                                      cache_control) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
        return NGX_CONF_OK;
    }
    key = conf->keys->elts;
    for (ngx_uint_t i = 0; i < conf->keys->nelts; i++) {
        if (ngx_http_jwks_add_attempt(cf, conf, key[i].uri.len ? &key[i].uri : &none,
                                      key[i].key_file.len ? &key[i].key_file : &none, NULL,
                                      &key[i].issuer, cache_control) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }
    return NGX_CONF_OK;
}


/* ------------------------------------------------------------------ worker: clients */

static void
ngx_http_jwks_log(void *user_data, int level, const char *message, size_t len)
{
    static const ngx_uint_t  levels[] = { NGX_LOG_ERR, NGX_LOG_ERR, NGX_LOG_WARN,
                                          NGX_LOG_INFO, NGX_LOG_DEBUG };
    ngx_log_t               *log = user_data;

    /* Called from jwks_client_poll on the worker thread (log-on-poll). */
    ngx_log_error(levels[level >= 1 && level <= 4 ? level : 0], log, 0,
                  "jwks: %*s", len, message);
}


static void ngx_http_jwks_wakeup_handler(ngx_event_t *ev);


static ngx_int_t
ngx_http_jwks_init_process(ngx_cycle_t *cycle)
{
    ngx_http_jwks_main_conf_t  *jmcf;
    ngx_http_jwks_source_t     *src;
    jwks_options               *o;
    jwks_error                 *err = NULL;
    ngx_connection_t           *c;
    int                         fd;
    jwks_store                  table;

    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) {
        return NGX_OK;
    }

    jmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_jwks_module);
    if (jmcf == NULL) {
        return NGX_OK;
    }

    src = jmcf->sources.elts;
    for (ngx_uint_t i = 0; i < jmcf->sources.nelts; i++) {
        o = ngx_http_jwks_source_options(&src[i], cycle->log, 0);
        if (o == NULL) {
            return NGX_ERROR;
        }
        /* The shared zone: the workers' common store (key files are read by the master). */
        if (jmcf->zone != NULL && src[i].key_file.len == 0) {
            ngx_http_jwks_zone_store(jmcf->zone, &table);
        }
        /* Log events come back through jwks_client_poll, on this thread. */
        if ((jmcf->zone != NULL && src[i].key_file.len == 0
             && jwks_options_set_store(o, &table, &err) != JWKS_OK)
            || jwks_options_set_log_callback(o, ngx_http_jwks_log, cycle->log, 3, &err)
                != JWKS_OK
            || jwks_options_set_log_on_poll(o, true, &err) != JWKS_OK
            || jwks_client_new(o, &src[i].client, &err) != JWKS_OK
            || jwks_client_completion_fd(src[i].client, &fd, &err) != JWKS_OK)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "jwks: %s", jwks_error_message(err));
            jwks_error_free(err);
            jwks_options_free(o);
            return NGX_ERROR;
        }
        jwks_options_free(o);

        c = ngx_get_connection(fd, cycle->log);
        if (c == NULL) {
            return NGX_ERROR;
        }
        c->data = &src[i];
        c->read->handler = ngx_http_jwks_wakeup_handler;
        c->read->log = cycle->log;
        if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
            return NGX_ERROR;
        }
        src[i].wakeup = c;

        /* Starts the fetches (or finds the persisted sets) without waiting. */
        (void) jwks_client_warm_up_nonblocking(src[i].client, NULL);
    }

    return NGX_OK;
}


static void
ngx_http_jwks_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_jwks_main_conf_t  *jmcf;
    ngx_http_jwks_source_t     *src;

    jmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_jwks_module);
    if (jmcf == NULL) {
        return;
    }

    src = jmcf->sources.elts;
    for (ngx_uint_t i = 0; i < jmcf->sources.nelts; i++) {
        if (src[i].wakeup) {
            /* The descriptor is the client's: forget it without closing. Only some event
             * methods (epoll) have del_conn. */
            if (ngx_del_conn) {
                ngx_del_conn(src[i].wakeup, 0);
            } else if (src[i].wakeup->read->active) {
                ngx_del_event(src[i].wakeup->read, NGX_READ_EVENT, 0);
            }
            src[i].wakeup->fd = (ngx_socket_t) -1;
            ngx_free_connection(src[i].wakeup);
            src[i].wakeup = NULL;
        }
        jwks_client_free(src[i].client);
        src[i].client = NULL;
    }
}


/* The completion descriptor is readable: hand each finished verification back to its
 * parked request and let that request's phases run again. */
static void
ngx_http_jwks_wakeup_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c = ev->data;
    ngx_http_jwks_source_t  *src = c->data;
    ngx_http_jwks_ctx_t     *ctx;
    uint64_t                 tag;
    jwks_status              status;
    jwks_token              *token;
    jwks_error              *error;

    jwks_status              polled;

    while ((polled = jwks_client_poll(src->client, &tag, &status, &token, &error))
           == JWKS_OK)
    {
        ctx = (ngx_http_jwks_ctx_t *) (uintptr_t) tag;
        jwks_request_free(ctx->pending);
        ctx->pending = NULL;
        if (ctx->deadline.timer_set) {
            ngx_del_timer(&ctx->deadline);
        }
        ctx->status = status;
        ctx->token = token;
        ctx->error = error;
        ctx->state = NGX_HTTP_JWKS_DONE;
        ngx_post_event(ctx->request->connection->write, &ngx_posted_events);
    }
    if (polled != JWKS_PENDING) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0, "jwks: jwks_client_poll failed: %s",
                      jwks_status_str((int) polled));
    }
}


/* A parked request waited longer than its fetches can take: it is answered 503 (and its
 * verification dropped). The timer also keeps a gracefully exiting worker alive until every
 * parked request is answered. */
static void
ngx_http_jwks_deadline_handler(ngx_event_t *ev)
{
    ngx_http_jwks_ctx_t  *ctx = ev->data;

    jwks_request_free(ctx->pending);
    ctx->pending = NULL;
    ctx->status = JWKS_ERR_TIMEOUT;
    ctx->state = NGX_HTTP_JWKS_DONE;
    ngx_post_event(ctx->request->connection->write, &ngx_posted_events);
}


/* ------------------------------------------------------------------ requests */

static ngx_int_t ngx_http_jwks_start(ngx_http_request_t *r, ngx_http_jwks_loc_conf_t *jlcf,
    ngx_http_jwks_ctx_t *ctx);


/* How telling a refusal that another source may still turn into a success is: 0 for any
 * other answer. */
static ngx_uint_t
ngx_http_jwks_retry_rank(jwks_status status)
{
    if (status == JWKS_ERR_KEY_NOT_FOUND) {
        return 1;
    }
    if (status == JWKS_ERR_BAD_SIGNATURE) {
        return 2;
    }
    if (status != JWKS_OK
        && jwks_status_outcome((int) status) == JWKS_OUTCOME_KEYS_UNAVAILABLE)
    {
        return 3;
    }
    return 0;
}

static void
ngx_http_jwks_cleanup(void *data)
{
    ngx_http_jwks_ctx_t  *ctx = data;

    /* A request that ends while parked: its result is discarded, never handed out. */
    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }
    jwks_request_free(ctx->pending);
    jwks_token_free(ctx->token);
    jwks_error_free(ctx->error);
    jwks_error_free(ctx->best_error);
    ctx->pending = NULL;
    ctx->token = NULL;
    ctx->error = NULL;
    ctx->best_error = NULL;
}


/* The token: jwks_token's value, or the Bearer credentials of Authorization. */
static ngx_int_t
ngx_http_jwks_get_token(ngx_http_request_t *r, ngx_http_jwks_loc_conf_t *jlcf,
    ngx_str_t *token)
{
    ngx_table_elt_t  *h;
    u_char           *p, *end;

    token->len = 0;
    token->data = NULL;

    if (jlcf->token) {
        return ngx_http_complex_value(r, jlcf->token, token);
    }

    h = r->headers_in.authorization;
    if (h == NULL || h->value.len < 7
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) != 0)
    {
        return NGX_OK;
    }
    p = h->value.data + 7;
    end = h->value.data + h->value.len;
    while (p < end && *p == ' ') {
        p++;
    }
    while (end > p && end[-1] == ' ') {
        end--;
    }
    token->data = p;
    token->len = end - p;
    return NGX_OK;
}


/* A short description for error_description: never the token's bytes. */
static const char *
ngx_http_jwks_description(jwks_status s)
{
    switch (s) {
    case JWKS_ERR_EXPIRED:               return "the token has expired";
    case JWKS_ERR_NOT_YET_VALID:         return "the token is not valid yet";
    case JWKS_ERR_BAD_SIGNATURE:         return "the signature does not verify";
    case JWKS_ERR_KEY_NOT_FOUND:         return "no key with the token's kid";
    case JWKS_ERR_MISSING_KID:           return "the token has no kid";
    case JWKS_ERR_WRONG_AUDIENCE:        return "the audience is not accepted";
    case JWKS_ERR_WRONG_ISSUER:          return "the issuer is not accepted";
    case JWKS_ERR_ISSUER_NOT_ALLOWED:    return "the issuer is not accepted";
    case JWKS_ERR_WRONG_TYP:             return "the token type is not accepted";
    case JWKS_ERR_MISSING_CLAIM:         return "a required claim is missing";
    case JWKS_ERR_UNSUPPORTED_ALGORITHM:
    case JWKS_ERR_ALGORITHM_NOT_ALLOWED: return "the algorithm is not accepted";
    case JWKS_ERR_UNSUPPORTED_CRITICAL:  return "the token has unsupported critical headers";
    case JWKS_ERR_TOKEN_TOO_LARGE:       return "the token is too large";
    default:                             return "the token is malformed";
    }
}


/* 401 with an RFC 6750 challenge; `description` NULL when no token was sent. */
static ngx_int_t
ngx_http_jwks_reject(ngx_http_request_t *r, ngx_http_jwks_loc_conf_t *jlcf,
    const char *error, const char *description)
{
    ngx_table_elt_t  *h;
    size_t            len;
    u_char           *p;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = sizeof("Bearer realm=\"\"") - 1 + jlcf->realm.len;
    if (error) {
        len += sizeof(", error=\"\"") - 1 + ngx_strlen(error);
    }
    if (description) {
        len += sizeof(", error_description=\"\"") - 1 + ngx_strlen(description);
    }
    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value.data = p;
    p = ngx_sprintf(p, "Bearer realm=\"%V\"", &jlcf->realm);
    if (error) {
        p = ngx_sprintf(p, ", error=\"%s\"", error);
    }
    if (description) {
        p = ngx_sprintf(p, ", error_description=\"%s\"", description);
    }
    h->value.len = p - h->value.data;
    r->headers_out.www_authenticate = h;

    return NGX_HTTP_UNAUTHORIZED;
}


/* jwks_require: every value non-empty and not "0". */
static ngx_int_t
ngx_http_jwks_check_requires(ngx_http_request_t *r, ngx_http_jwks_loc_conf_t *jlcf)
{
    ngx_http_jwks_require_t  *req;
    ngx_str_t                 v;

    if (jlcf->requires == NULL) {
        return NGX_OK;
    }

    req = jlcf->requires->elts;
    for (ngx_uint_t i = 0; i < jlcf->requires->nelts; i++) {
        for (ngx_uint_t j = 0; j < req[i].nvalues; j++) {
            if (ngx_http_complex_value(r, req[i].values[j], &v) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            if (v.len == 0 || (v.len == 1 && v.data[0] == '0')) {
                if (req[i].status == NGX_HTTP_FORBIDDEN) {
                    return NGX_HTTP_FORBIDDEN;
                }
                return ngx_http_jwks_reject(r, jlcf, "invalid_token",
                                            "a required claim value is missing");
            }
        }
    }

    return NGX_OK;
}


/* The verification's outcome as the access phase's answer. */
static ngx_int_t
ngx_http_jwks_finish(ngx_http_request_t *r, ngx_http_jwks_loc_conf_t *jlcf,
    ngx_http_jwks_ctx_t *ctx)
{
    ngx_uint_t  rank;

    /* With several sources, a token that one source has no key for (or whose key there does
     * not verify it, or whose keys cannot be had now) is tried with the next; any other
     * refusal (claims, a malformed token) is the token's own and answers at once. When every
     * source refused, the most telling refusal answers: keys unavailable (the key may be
     * there), then a bad signature, then key not found. */
    rank = ngx_http_jwks_retry_rank(ctx->status);
    if (rank && jlcf->attempts->nelts > 1) {
        if (rank > ngx_http_jwks_retry_rank(ctx->best_status)) {
            jwks_error_free(ctx->best_error);
            ctx->best_status = ctx->status;
            ctx->best_error = ctx->error;
        } else {
            jwks_error_free(ctx->error);
        }
        ctx->error = NULL;
        if (++ctx->attempt < jlcf->attempts->nelts) {
            return ngx_http_jwks_start(r, jlcf, ctx);
        }
        ctx->status = ctx->best_status;
        ctx->error = ctx->best_error;
        ctx->best_error = NULL;
    }

    switch (jwks_status_outcome((int) ctx->status)) {

    case JWKS_OUTCOME_VERIFIED:
        return ngx_http_jwks_check_requires(r, jlcf);

    /* The keys cannot be had (the IdP unreachable and no keys cached, or the library's queue
     * full): a dependency is down, for now. 503 says "try again later", which clients and load
     * balancers act on; it is not a problem with the token, nor a bug in this server. */
    case JWKS_OUTCOME_KEYS_UNAVAILABLE:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "jwks: keys unavailable: %s",
                      ctx->error ? jwks_error_message(ctx->error) : "no answer in time");
        return NGX_HTTP_SERVICE_UNAVAILABLE;

    case JWKS_OUTCOME_INTERNAL:
    case JWKS_OUTCOME_PENDING:    /* never reaches here: the handler waits for the answer */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "jwks: %s: %s", jwks_status_str((int) ctx->status),
                      jwks_error_message(ctx->error));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;

    case JWKS_OUTCOME_REJECTED:
    default:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "jwks: token rejected: %s", jwks_error_message(ctx->error));
        return ngx_http_jwks_reject(r, jlcf, "invalid_token",
                                    ngx_http_jwks_description(ctx->status));
    }
}


static ngx_int_t
ngx_http_jwks_access_handler(ngx_http_request_t *r)
{
    ngx_http_jwks_loc_conf_t   *jlcf;
    ngx_http_jwks_ctx_t        *ctx;
    ngx_pool_cleanup_t         *cln;
    ngx_str_t                   token;

    jlcf = ngx_http_get_module_loc_conf(r, ngx_http_jwks_module);
    if (!jlcf->enabled) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_jwks_module);
    if (ctx) {
        if (ctx->state == NGX_HTTP_JWKS_PENDING) {
            return NGX_AGAIN;
        }
        /* Resumed by the wake-up handler: the client's disconnect no longer matters here. */
        r->read_event_handler = ngx_http_block_reading;
        return ngx_http_jwks_finish(r, jlcf, ctx);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_jwks_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    cln->handler = ngx_http_jwks_cleanup;
    cln->data = ctx;
    ctx->request = r;
    ngx_http_set_ctx(r, ctx, ngx_http_jwks_module);

    if (ngx_http_jwks_get_token(r, jlcf, &token) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (token.len == 0) {
        /* RFC 6750 §3.1: no error attribute when the request carried no credentials. */
        ctx->state = NGX_HTTP_JWKS_DONE;
        ctx->status = JWKS_ERR_MALFORMED_TOKEN;
        return ngx_http_jwks_reject(r, jlcf, NULL, NULL);
    }
    /* A compact JWS is base64url and dots: anything else (non-UTF-8 bytes included, which
     * libjwks would refuse as an invalid argument) is a malformed token, a 401. */
    for (ngx_uint_t i = 0; i < token.len; i++) {
        u_char ch = token.data[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
              || ch == '-' || ch == '_' || ch == '.' || ch == '='))
        {
            ctx->state = NGX_HTTP_JWKS_DONE;
            ctx->status = JWKS_ERR_MALFORMED_TOKEN;
            return ngx_http_jwks_reject(r, jlcf, "invalid_token",
                                        ngx_http_jwks_description(JWKS_ERR_MALFORMED_TOKEN));
        }
    }

    ctx->credentials = token;
    return ngx_http_jwks_start(r, jlcf, ctx);
}


/* Verifies the token with the location's source number ctx->attempt: answers now, or parks
 * the request until the source's client has the answer. */
static ngx_int_t
ngx_http_jwks_start(ngx_http_request_t *r, ngx_http_jwks_loc_conf_t *jlcf,
    ngx_http_jwks_ctx_t *ctx)
{
    ngx_http_jwks_main_conf_t  *jmcf;
    ngx_http_jwks_attempt_t    *attempt;
    ngx_http_jwks_source_t     *src;

    jmcf = ngx_http_get_module_main_conf(r, ngx_http_jwks_module);
    attempt = (ngx_http_jwks_attempt_t *) jlcf->attempts->elts + ctx->attempt;
    src = (ngx_http_jwks_source_t *) jmcf->sources.elts + attempt->source;
    if (src->client == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->status = jwks_client_verify_async_queued(src->client,
                                                  (const char *) ctx->credentials.data,
                                                  ctx->credentials.len, attempt->verify,
                                                  (uint64_t) (uintptr_t) ctx, &ctx->token,
                                                  &ctx->pending, &ctx->error);
    if (ctx->status == JWKS_PENDING) {
        /* Parked: the wake-up handler posts this request again. A client that goes away
         * meanwhile ends the request, whose pool cleanup frees the pending verification. */
        ctx->state = NGX_HTTP_JWKS_PENDING;
        r->read_event_handler = ngx_http_test_reading;
        /* At most the fetches it may wait for (discovery: configuration, then keys), plus
         * slack; libjwks bounds each by the timeout. */
        ctx->deadline.handler = ngx_http_jwks_deadline_handler;
        ctx->deadline.data = ctx;
        ctx->deadline.log = r->connection->log;
        ngx_add_timer(&ctx->deadline, (src->issuers ? 3 : 2) * src->timeout + 1000);
        return NGX_AGAIN;
    }

    ctx->state = NGX_HTTP_JWKS_DONE;
    return ngx_http_jwks_finish(r, jlcf, ctx);
}


/* ------------------------------------------------------------------ variables */

static ngx_http_jwks_ctx_t *
ngx_http_jwks_verified(ngx_http_request_t *r)
{
    ngx_http_jwks_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_jwks_module);
    if (ctx == NULL || ctx->state != NGX_HTTP_JWKS_DONE || ctx->token == NULL) {
        return NULL;
    }
    return ctx;
}


static void
ngx_http_jwks_set_value(ngx_http_variable_value_t *v, u_char *data, size_t len)
{
    v->data = data;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
}


/*
 * Every value a variable of this module takes goes through libjwks's header-safe rendering
 * (jwks_token_header_value for claims and the payload, jwks_header_value_escape for the
 * token's header fields): claim text is chosen in part by users and may hold CR, LF or NUL,
 * and nginx checks neither proxy_set_header nor add_header values. An absent claim is "not
 * found"; a present one always has its escaped value; any other failure fails the
 * variable's evaluation (the request ends with 500), never an empty value.
 *
 * The value at `pointer` (or, when pointer is NULL, `text` escaped) into `v`, copied into the
 * request's pool.
 */
static ngx_int_t
ngx_http_jwks_safe_value(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    ngx_http_jwks_ctx_t *ctx, ngx_str_t *pointer, ngx_uint_t in_header, const char *text,
    size_t text_len)
{
    size_t       len = 0, cap;
    u_char       small[128], *p;
    char        *buf;
    jwks_error  *err = NULL;
    jwks_status  s;
    ngx_uint_t   pass;

    p = NULL;
    for (pass = 0; pass < 2; pass++) {
        buf = (char *) (pass ? p : small);
        cap = pass ? len : sizeof(small);
        if (pointer != NULL && in_header) {
            /* A field of the token's JOSE header, by the same rule as claims. */
            size_t       hlen = 0;
            const char  *header = jwks_token_header_json(ctx->token, &hlen);

            s = jwks_claims_header_value(header, hlen, (const char *) pointer->data,
                                         pointer->len, buf, cap, &len, &err);
        } else if (pointer != NULL) {
            s = jwks_token_header_value(ctx->token, (const char *) pointer->data, pointer->len,
                                        buf, cap, &len, &err);
        } else {
            s = jwks_header_value_escape(text, text_len, buf, cap, &len, &err);
        }
        if (s == JWKS_ERR_MISSING_CLAIM) {
            jwks_error_free(err);
            v->not_found = 1;
            return NGX_OK;
        }
        if (s != JWKS_OK) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "jwks: variable value: %s",
                          err ? jwks_error_message(err) : jwks_status_str(s));
            jwks_error_free(err);
            return NGX_ERROR;
        }
        if (pass == 0) {
            p = ngx_pnalloc(r->pool, len ? len : 1);
            if (p == NULL) {
                return NGX_ERROR;
            }
            if (len <= sizeof(small)) {
                ngx_memcpy(p, small, len);
                break;
            }
        }
    }

    ngx_http_jwks_set_value(v, p, len);
    return NGX_OK;
}


/* The claim at `pointer` ("" for the whole payload) into `v`, header-safe. */
static ngx_int_t
ngx_http_jwks_claim_value(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    ngx_str_t *pointer, ngx_uint_t in_header)
{
    ngx_http_jwks_ctx_t  *ctx;

    ctx = ngx_http_jwks_verified(r);
    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }
    return ngx_http_jwks_safe_value(r, v, ctx, pointer, in_header, NULL, 0);
}


/* $jwks_claim_<name> (a top-level claim) and $jwks_header_<name> (a field of the token's
 * header, NGINX Plus's $jwt_header_<name>): the name after `prefix_len` bytes, as a JSON
 * Pointer. */
static ngx_int_t
ngx_http_jwks_prefix_value(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    ngx_str_t *name, size_t prefix_len, ngx_uint_t in_header)
{
    ngx_str_t  member, pointer;

    member.data = name->data + prefix_len;
    member.len = name->len - prefix_len;

    pointer.data = ngx_pnalloc(r->pool, 1 + 2 * member.len);
    if (pointer.data == NULL) {
        return NGX_ERROR;
    }
    pointer.len = ngx_http_jwks_pointer_append(pointer.data, &member) - pointer.data;

    return ngx_http_jwks_claim_value(r, v, &pointer, in_header);
}


static ngx_int_t
ngx_http_jwks_claim_prefix_var(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    return ngx_http_jwks_prefix_value(r, v, (ngx_str_t *) data,
                                      sizeof(NGX_HTTP_JWKS_CLAIM_PREFIX) - 1, 0);
}


static ngx_int_t
ngx_http_jwks_header_prefix_var(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    return ngx_http_jwks_prefix_value(r, v, (ngx_str_t *) data,
                                      sizeof(NGX_HTTP_JWKS_HEADER_PREFIX) - 1, 1);
}


/* A variable of jwks_claim_set. */
static ngx_int_t
ngx_http_jwks_claim_var(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_jwks_claim_var_t  *cv = (ngx_http_jwks_claim_var_t *) data;

    return ngx_http_jwks_claim_value(r, v, &cv->pointer, cv->header);
}


enum { NGX_HTTP_JWKS_VAR_CLAIMS, NGX_HTTP_JWKS_VAR_KID, NGX_HTTP_JWKS_VAR_ALG,
       NGX_HTTP_JWKS_VAR_STALE };

static ngx_int_t
ngx_http_jwks_token_var(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_jwks_ctx_t  *ctx;
    const char           *text = NULL;
    size_t                len = 0;
    ngx_str_t             whole = ngx_null_string;

    ctx = ngx_http_jwks_verified(r);
    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {
    case NGX_HTTP_JWKS_VAR_CLAIMS:
        /* The payload as compact JSON: no raw whitespace, the same value. */
        return ngx_http_jwks_safe_value(r, v, ctx, &whole, 0, NULL, 0);
    case NGX_HTTP_JWKS_VAR_KID:    text = jwks_token_kid(ctx->token, &len); break;
    case NGX_HTTP_JWKS_VAR_ALG:    text = jwks_token_alg(ctx->token, &len); break;
    case NGX_HTTP_JWKS_VAR_STALE:
        ngx_http_jwks_set_value(v, (u_char *) (jwks_token_stale(ctx->token) ? "1" : "0"), 1);
        return NGX_OK;
    }
    if (text == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_jwks_safe_value(r, v, ctx, NULL, 0, text, len);
}


static ngx_http_variable_t  ngx_http_jwks_vars[] = {

    { ngx_string(NGX_HTTP_JWKS_CLAIM_PREFIX), NULL, ngx_http_jwks_claim_prefix_var,
      0, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string(NGX_HTTP_JWKS_HEADER_PREFIX), NULL, ngx_http_jwks_header_prefix_var,
      0, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("jwks_claims"), NULL, ngx_http_jwks_token_var,
      NGX_HTTP_JWKS_VAR_CLAIMS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("jwks_kid"), NULL, ngx_http_jwks_token_var,
      NGX_HTTP_JWKS_VAR_KID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("jwks_alg"), NULL, ngx_http_jwks_token_var,
      NGX_HTTP_JWKS_VAR_ALG, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("jwks_stale"), NULL, ngx_http_jwks_token_var,
      NGX_HTTP_JWKS_VAR_STALE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_jwks_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_jwks_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }
        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_jwks_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_jwks_main_conf_t  *jmcf;
    ngx_http_jwks_source_t     *src;
    ngx_uint_t                  i;
    ngx_str_t                   name = ngx_string(NGX_HTTP_JWKS_ZONE_NAME);

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_http_jwks_access_handler;

    /* The shared zone, on by default, when some source fetches (every location is merged by
     * now, so every source is known). Its name and size decide whether a reload keeps it. */
    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_jwks_module);
    if (jmcf->zone_size == NGX_CONF_UNSET) {
        jmcf->zone_size = NGX_HTTP_JWKS_ZONE_DEFAULT;
    }
    src = jmcf->sources.elts;
    for (i = 0; i < jmcf->sources.nelts && jmcf->zone_size > 0; i++) {
        if (src[i].key_file.len == 0) {
            jmcf->zone = ngx_shared_memory_add(cf, &name, jmcf->zone_size,
                                               &ngx_http_jwks_module);
            if (jmcf->zone == NULL) {
                return NGX_ERROR;
            }
            jmcf->zone->init = ngx_http_jwks_init_zone;
            break;
        }
    }

    return NGX_OK;
}


/* ------------------------------------------------------------------ the persist directory */

/*
 * A core module in the same shared object, for one hook: a core module's init_conf runs once
 * the whole configuration is read, after nginx's own core module has settled the workers'
 * user (the user directive may come after the http block, or be absent), and a failure there
 * fails `nginx -t`, refuses a start, and on a reload keeps the running configuration. The
 * http module's hooks all run while the http block is read, before that user is known.
 */

static char *ngx_http_jwks_core_init_conf(ngx_cycle_t *cycle, void *conf);


static ngx_core_module_t  ngx_http_jwks_core_module_ctx = {
    ngx_string("jwks_core"),
    NULL,                                  /* create configuration */
    ngx_http_jwks_core_init_conf           /* init configuration */
};


ngx_module_t  ngx_http_jwks_core_module = {
    NGX_MODULE_V1,
    &ngx_http_jwks_core_module_ctx,        /* module context */
    NULL,                                  /* module directives */
    NGX_CORE_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* Makes a missing persist directory (mode 0700, owned by the workers' user when the master runs
 * as root), never changes an existing one, and checks it for the workers' user: not writable
 * by others, and writable by them. */
static ngx_int_t
ngx_http_jwks_check_persist_dir(ngx_cycle_t *cycle, ngx_http_jwks_source_t *src,
    ngx_uid_t uid, ngx_gid_t gid, ngx_uint_t as_root)
{
    ngx_file_info_t   fi;
    ngx_err_t         e;
    jwks_error       *err = NULL;
    const char       *path = (const char *) src->persist_dir.data;

    if (ngx_file_info(path, &fi) == NGX_FILE_ERROR && ngx_errno == NGX_ENOENT) {
        if (ngx_create_dir(path, 0700) == NGX_FILE_ERROR) {
            e = ngx_errno;
            if (e != NGX_EEXIST) {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, e,
                              "jwks: cannot create jwks_persist_dir \"%s\" (in %V:%ui)",
                              path, &src->persist_file, src->persist_line);
                return NGX_ERROR;
            }
        } else {
            if (as_root && uid != 0 && chown(path, uid, gid) == -1) {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                              "jwks: cannot give jwks_persist_dir \"%s\" to uid %ui (in %V:%ui)",
                              path, (ngx_uint_t) uid, &src->persist_file, src->persist_line);
                return NGX_ERROR;
            }
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "jwks: created jwks_persist_dir \"%s\", mode 0700, uid %ui",
                          path, (ngx_uint_t) uid);
        }
    }

    if (jwks_persist_dir_check(path, src->persist_dir.len, (uint32_t) uid, (uint32_t) gid, &err)
        != JWKS_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "jwks: %s, for the workers' uid %ui (jwks_persist_dir in %V:%ui)",
                      jwks_error_message(err), (ngx_uint_t) uid, &src->persist_file,
                      src->persist_line);
        jwks_error_free(err);
        return NGX_ERROR;
    }
    return NGX_OK;
}


static char *
ngx_http_jwks_core_init_conf(ngx_cycle_t *cycle, void *conf)
{
    ngx_http_jwks_main_conf_t  *jmcf;
    ngx_http_jwks_source_t     *src;
    ngx_core_conf_t            *ccf;
    ngx_uid_t                   uid;
    ngx_gid_t                   gid;
    ngx_uint_t                  as_root;

    /* nginx -s only signals the running master: it makes nothing. */
    if (ngx_process == NGX_PROCESS_SIGNALLER) {
        return NGX_CONF_OK;
    }

    jmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_jwks_module);
    if (jmcf == NULL) {
        return NGX_CONF_OK;
    }

    /* The workers run as the user directive's user when the master runs as root (nginx's
     * core module has set its default by now), else as the master's own user. */
    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    as_root = geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT;
    uid = as_root ? ccf->user : geteuid();
    gid = as_root ? ccf->group : getegid();

    src = jmcf->sources.elts;
    for (ngx_uint_t i = 0; i < jmcf->sources.nelts; i++) {
        if (src[i].persist_dir.len
            && ngx_http_jwks_check_persist_dir(cycle, &src[i], uid, gid, as_root) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
