/*
 * The benchmark's control (not shipped, not loaded by the tests): `bench_spin_ns N;` in a
 * location makes the access phase busy-wait N nanoseconds, as long as one verification takes
 * in a tight loop, and then lets the request go on. nginx with this control shows what any
 * work of that cost does to requests per second on the machine, network and wakeups of the
 * load generator included, so the module can be compared with it.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <time.h>

typedef struct {
    ngx_int_t ns;
} ngx_http_bench_spin_conf_t;

static ngx_int_t ngx_http_bench_spin_init(ngx_conf_t *cf);
static void *ngx_http_bench_spin_create_conf(ngx_conf_t *cf);
static char *ngx_http_bench_spin_merge_conf(ngx_conf_t *cf, void *parent, void *child);

static ngx_command_t ngx_http_bench_spin_commands[] = {
    {ngx_string("bench_spin_ns"), NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1, ngx_conf_set_num_slot,
     NGX_HTTP_LOC_CONF_OFFSET, offsetof(ngx_http_bench_spin_conf_t, ns), NULL},
    ngx_null_command};

static ngx_http_module_t ngx_http_bench_spin_module_ctx = {
    NULL,
    ngx_http_bench_spin_init,
    NULL,
    NULL,
    NULL,
    NULL,
    ngx_http_bench_spin_create_conf,
    ngx_http_bench_spin_merge_conf,
};

ngx_module_t ngx_http_bench_spin_module = {
    NGX_MODULE_V1,
    &ngx_http_bench_spin_module_ctx,
    ngx_http_bench_spin_commands,
    NGX_HTTP_MODULE,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NGX_MODULE_V1_PADDING};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static ngx_int_t ngx_http_bench_spin_handler(ngx_http_request_t *r) {
    ngx_http_bench_spin_conf_t *conf = ngx_http_get_module_loc_conf(r, ngx_http_bench_spin_module);
    if (conf->ns <= 0 || r != r->main) {
        return NGX_DECLINED;
    }
    int64_t end = now_ns() + conf->ns;
    while (now_ns() < end) {
    }
    return NGX_DECLINED;
}

static void *ngx_http_bench_spin_create_conf(ngx_conf_t *cf) {
    ngx_http_bench_spin_conf_t *conf = ngx_pcalloc(cf->pool, sizeof(*conf));
    if (conf == NULL) {
        return NULL;
    }
    conf->ns = NGX_CONF_UNSET;
    return conf;
}

static char *ngx_http_bench_spin_merge_conf(ngx_conf_t *cf, void *parent, void *child) {
    ngx_http_bench_spin_conf_t *prev = parent, *conf = child;
    ngx_conf_merge_value(conf->ns, prev->ns, 0);
    return NGX_CONF_OK;
}

static ngx_int_t ngx_http_bench_spin_init(ngx_conf_t *cf) {
    ngx_http_core_main_conf_t *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt *h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_http_bench_spin_handler;
    return NGX_OK;
}
