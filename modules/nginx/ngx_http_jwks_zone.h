/*
 * The shared zone: libjwks's document store (jwks_store) over an nginx shared memory zone, so
 * that every worker of one nginx shares the key sets and configuration documents, one worker
 * fetches per refresh while the others wait for its document, and new workers (a reload, a
 * crashed worker's replacement) start warm.
 */

#ifndef NGX_HTTP_JWKS_ZONE_H_INCLUDED_
#define NGX_HTTP_JWKS_ZONE_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>

#include <jwks.h>


#define NGX_HTTP_JWKS_ZONE_NAME     "jwks_shared"
#define NGX_HTTP_JWKS_ZONE_DEFAULT  (2 * 1024 * 1024)
#define NGX_HTTP_JWKS_ZONE_MIN      (256 * 1024)
/* Room for one entry: its key ("jwks <url>") and its document. A larger document is not
 * shared: each worker fetches it for itself, as without the zone. */
#define NGX_HTTP_JWKS_SLOT_BYTES    (64 * 1024)


/* The zone's init handler (ngx_shm_zone_t.init): lays out the slots in a new zone, or keeps
 * the running one's (a reload with the same name and size). */
ngx_int_t ngx_http_jwks_init_zone(ngx_shm_zone_t *shm_zone, void *data);

/* Fills `table` with the callbacks over `shm_zone` (its user data), for
 * jwks_options_set_store. The callbacks run on libjwks's threads: they take only the zone's
 * mutex (by trylock, bounded to about 50 ms, then they give up as the store contract allows)
 * and copy bytes; no nginx allocation, logging or pool is touched there. */
void ngx_http_jwks_zone_store(ngx_shm_zone_t *shm_zone, jwks_store *table);

#endif /* NGX_HTTP_JWKS_ZONE_H_INCLUDED_ */
