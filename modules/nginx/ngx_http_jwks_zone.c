/*
 * The shared zone (see ngx_http_jwks_zone.h): fixed slots in an nginx shared memory zone, one
 * per document, each with its key, its document, the document's fetch time and a checksum, and
 * a fetch claim (deadline and claimer's pid).
 *
 * Everything is laid out once, by the master, when the zone is made (ngx_slab_alloc is used
 * only there). At run time, on libjwks's threads, the callbacks take the slab pool's mutex with
 * ngx_shmtx_trylock (an atomic compare-and-set: no semaphore wait, no logging) and copy. The
 * master unlocks that mutex when a worker dies holding it (ngx_unlock_mutexes). A new
 * document of a key goes into a spare slot while one is free, and takes over the key only once
 * it is whole, so a worker killed in the middle of a save leaves the previous document
 * readable; the slot it left unfinished stays marked as being written (it reads as "none", and
 * is reused), and its checksum guards the rest. With no spare slot, a save writes in place.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include <signal.h>

#include "ngx_http_jwks_zone.h"


#define NGX_HTTP_JWKS_ZONE_MAGIC  0x6a776b73ULL   /* "jwks", and the layout's version below */
#define NGX_HTTP_JWKS_ZONE_LAYOUT 2   /* 2: slots keep the advertised max-age */


typedef struct {
    uint32_t                    key_hash;      /* crc32 of the key */
    uint32_t                    key_len;       /* 0: the slot is free */
    uint32_t                    text_len;      /* 0: no document */
    uint32_t                    checksum;      /* crc32 of key, text, lengths and times */
    uint64_t                    fetched_at_ms;
    uint64_t                    max_age_ms;    /* the IdP's, or JWKS_STORE_NO_MAX_AGE */
    uint64_t                    claim_until_ms;
    ngx_pid_t                   claim_pid;     /* 0: no claim */
    ngx_uint_t                  writing;       /* 1 while a save copies */
} ngx_http_jwks_slot_t;

typedef struct {
    uint64_t                    magic;
    ngx_uint_t                  layout;
    ngx_uint_t                  nslots;
    size_t                      slot_bytes;
    u_char                     *data;          /* nslots * slot_bytes: key, then document */
    ngx_http_jwks_slot_t       *slots;
} ngx_http_jwks_zone_t;


ngx_int_t
ngx_http_jwks_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t       *sp = (ngx_slab_pool_t *) shm_zone->shm.addr;
    ngx_http_jwks_zone_t  *z = data;
    ngx_uint_t             n;
    u_char                *bytes = NULL;

    if (z != NULL && z->magic == NGX_HTTP_JWKS_ZONE_MAGIC
        && z->layout == NGX_HTTP_JWKS_ZONE_LAYOUT)
    {
        /* A reload with the same name and size: the running zone, documents and all. */
        shm_zone->data = z;
        return NGX_OK;
    }
    if (shm_zone->shm.exists) {
        shm_zone->data = sp->data;
        return NGX_OK;
    }

    z = ngx_slab_calloc(sp, sizeof(ngx_http_jwks_zone_t));
    if (z == NULL) {
        return NGX_ERROR;
    }
    /* As many slots as fit beside the slab pool's own bookkeeping. */
    sp->log_nomem = 0;
    for (n = shm_zone->shm.size / NGX_HTTP_JWKS_SLOT_BYTES; n > 0; n--) {
        z->slots = ngx_slab_calloc(sp, n * sizeof(ngx_http_jwks_slot_t));
        if (z->slots == NULL) {
            continue;
        }
        bytes = ngx_slab_alloc(sp, n * NGX_HTTP_JWKS_SLOT_BYTES);
        if (bytes != NULL) {
            break;
        }
        ngx_slab_free(sp, z->slots);
    }
    sp->log_nomem = 1;
    if (bytes == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "jwks: the shared zone \"%V\" (%uz bytes) has no room for one slot",
                      &shm_zone->shm.name, shm_zone->shm.size);
        return NGX_ERROR;
    }
    z->nslots = n;
    z->slot_bytes = NGX_HTTP_JWKS_SLOT_BYTES;
    z->data = bytes;
    z->layout = NGX_HTTP_JWKS_ZONE_LAYOUT;
    z->magic = NGX_HTTP_JWKS_ZONE_MAGIC;
    sp->data = z;
    shm_zone->data = z;
    return NGX_OK;
}


/* ---------------------------------------------------------------- run time: no nginx calls
 * but the mutex's trylock/unlock, crc32 and ngx_pid. */

static ngx_int_t
ngx_http_jwks_zone_lock(ngx_slab_pool_t *sp)
{
    ngx_uint_t  i;

    for (i = 0; i < 1064; i++) {
        if (ngx_shmtx_trylock(&sp->mutex)) {
            return NGX_OK;
        }
        if (i < 64) {
            ngx_sched_yield();
        } else {
            (void) usleep(50);
        }
    }
    return NGX_BUSY;
}


static u_char *
ngx_http_jwks_slot_bytes(ngx_http_jwks_zone_t *z, ngx_http_jwks_slot_t *s)
{
    return z->data + (size_t) (s - z->slots) * z->slot_bytes;
}


static uint32_t
ngx_http_jwks_slot_sum(ngx_http_jwks_zone_t *z, ngx_http_jwks_slot_t *s)
{
    uint32_t  crc;
    uint64_t  times[2] = { s->fetched_at_ms, s->max_age_ms };
    uint32_t  lens[2] = { s->key_len, s->text_len };

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, (u_char *) lens, sizeof(lens));
    ngx_crc32_update(&crc, (u_char *) times, sizeof(times));
    ngx_crc32_update(&crc, ngx_http_jwks_slot_bytes(z, s), s->key_len + s->text_len);
    ngx_crc32_final(crc);
    return crc;
}


/* Whether the slot holds a whole document: not being written (or left half-written by a
 * worker that died), and its checksum matches. */
static ngx_uint_t
ngx_http_jwks_slot_whole(ngx_http_jwks_zone_t *z, ngx_http_jwks_slot_t *s)
{
    return s->key_len && s->text_len && !s->writing
           && s->key_len + (size_t) s->text_len <= z->slot_bytes
           && s->checksum == ngx_http_jwks_slot_sum(z, s);
}


static ngx_uint_t
ngx_http_jwks_slot_is(ngx_http_jwks_zone_t *z, ngx_http_jwks_slot_t *s, const char *key,
    size_t key_len, uint32_t hash)
{
    return s->key_len == key_len && s->key_hash == hash && key_len <= z->slot_bytes
           && ngx_memcmp(ngx_http_jwks_slot_bytes(z, s), key, key_len) == 0;
}


/* The slot of `key`: the one with a whole document when there is one (a worker killed in the
 * middle of a save leaves a second, torn slot of the key beside it), else any. Loads, claims
 * and releases all go to this one. */
static ngx_http_jwks_slot_t *
ngx_http_jwks_slot_find(ngx_http_jwks_zone_t *z, const char *key, size_t key_len,
    uint32_t hash)
{
    ngx_uint_t             i;
    ngx_http_jwks_slot_t  *s, *any = NULL;

    for (i = 0; i < z->nslots; i++) {
        s = &z->slots[i];
        if (ngx_http_jwks_slot_is(z, s, key, key_len, hash)) {
            if (ngx_http_jwks_slot_whole(z, s)) {
                return s;
            }
            if (any == NULL) {
                any = s;
            }
        }
    }
    return any;
}


/* Whether a claim is held: before its deadline, by a process that is alive. */
static ngx_uint_t
ngx_http_jwks_claim_live(ngx_http_jwks_slot_t *s, uint64_t now_ms)
{
    if (s->claim_pid == 0 || s->claim_until_ms <= now_ms) {
        return 0;
    }
    if (s->claim_pid != ngx_pid && kill(s->claim_pid, 0) == -1 && errno == ESRCH) {
        return 0;   /* the claimer died (a crashed worker): no need to wait for its deadline */
    }
    return 1;
}


/* Names slot `s` `key`, empty and unclaimed. The key is written before it is named, so a
 * worker killed meanwhile leaves a slot no lookup matches (key_len 0: free). */
static void
ngx_http_jwks_slot_name(ngx_http_jwks_zone_t *z, ngx_http_jwks_slot_t *s, const char *key,
    size_t key_len, uint32_t hash)
{
    s->key_len = 0;
    s->writing = 0;
    s->text_len = 0;
    s->claim_pid = 0;
    s->claim_until_ms = 0;
    s->fetched_at_ms = 0;
    s->max_age_ms = JWKS_STORE_NO_MAX_AGE;
    ngx_memcpy(ngx_http_jwks_slot_bytes(z, s), key, key_len);
    s->key_hash = hash;
    ngx_memory_barrier();
    s->key_len = (uint32_t) key_len;
}


/* A slot for a new key: a free one; else one with no whole document and no live claim; else
 * the one with the oldest document and no live claim. NULL when every slot is claimed. */
static ngx_http_jwks_slot_t *
ngx_http_jwks_slot_take(ngx_http_jwks_zone_t *z, const char *key, size_t key_len,
    uint32_t hash, uint64_t now_ms)
{
    ngx_uint_t             i;
    ngx_http_jwks_slot_t  *s, *best = NULL;
    ngx_uint_t             best_rank = 4, rank;

    for (i = 0; i < z->nslots; i++) {
        s = &z->slots[i];
        if (s->key_len == 0) {
            rank = 0;
        } else if (ngx_http_jwks_claim_live(s, now_ms)) {
            continue;
        } else if (!ngx_http_jwks_slot_whole(z, s)) {
            rank = 1;
        } else {
            rank = 2;
        }
        if (rank < best_rank
            || (rank == 2 && best_rank == 2 && s->fetched_at_ms < best->fetched_at_ms))
        {
            best = s;
            best_rank = rank;
        }
        if (rank == 0) {
            break;
        }
    }
    if (best == NULL) {
        return NULL;
    }
    ngx_http_jwks_slot_name(z, best, key, key_len, hash);
    return best;
}


/* A slot to write a new document of an existing key into, so that the key's whole document
 * stays whole until the new one is: a free slot, or one with no whole document and no live
 * claim, other than `keep`. NULL when there is none (then the save writes in place). */
static ngx_http_jwks_slot_t *
ngx_http_jwks_slot_spare(ngx_http_jwks_zone_t *z, ngx_http_jwks_slot_t *keep, uint64_t now_ms)
{
    ngx_uint_t             i;
    ngx_http_jwks_slot_t  *s, *torn = NULL;

    for (i = 0; i < z->nslots; i++) {
        s = &z->slots[i];
        if (s == keep) {
            continue;
        }
        if (s->key_len == 0) {
            return s;
        }
        if (torn == NULL && !ngx_http_jwks_claim_live(s, now_ms)
            && !ngx_http_jwks_slot_whole(z, s))
        {
            torn = s;
        }
    }
    return torn;
}


#if (NGX_HTTP_JWKS_TEST_HOOKS)

/* Test builds only (tests/nginx.rs): when the file named by JWKS_TEST_STALL_SAVE (passed with
 * the env directive) exists, a save stops halfway through its copy, holding the mutex, after
 * writing its pid to that name + ".stalled", so a test can SIGKILL the worker mid-save. */
static void
ngx_http_jwks_test_stall_save(void)
{
    char         marker[512];
    const char  *path = getenv("JWKS_TEST_STALL_SAVE");
    FILE        *f;

    if (path == NULL || access(path, F_OK) != 0
        || snprintf(marker, sizeof(marker), "%s.stalled", path) >= (int) sizeof(marker))
    {
        return;
    }
    f = fopen(marker, "w");
    if (f != NULL) {
        fprintf(f, "%d\n", (int) ngx_pid);
        fclose(f);
    }
    for ( ;; ) {
        (void) sleep(1);
    }
}

#endif


static int
ngx_http_jwks_zone_load(void *user_data, const char *key, size_t key_len,
    jwks_store_sink sink, void *sink_data)
{
    ngx_shm_zone_t        *shm_zone = user_data;
    ngx_slab_pool_t       *sp = (ngx_slab_pool_t *) shm_zone->shm.addr;
    ngx_http_jwks_zone_t  *z = shm_zone->data;
    ngx_http_jwks_slot_t  *s;
    int                    found = 0;

    if (z == NULL || key_len == 0 || key_len >= z->slot_bytes
        || ngx_http_jwks_zone_lock(sp) != NGX_OK)
    {
        return 0;
    }
    s = ngx_http_jwks_slot_find(z, key, key_len, ngx_crc32_long((u_char *) key, key_len));
    if (s != NULL && ngx_http_jwks_slot_whole(z, s)) {
        /* The sink copies before it returns. */
        sink(sink_data, (const char *) ngx_http_jwks_slot_bytes(z, s) + s->key_len,
             s->text_len, s->fetched_at_ms, s->max_age_ms);
        found = 1;
    }
    ngx_shmtx_unlock(&sp->mutex);
    return found;
}


static void
ngx_http_jwks_zone_save(void *user_data, const char *key, size_t key_len, const char *text,
    size_t text_len, uint64_t fetched_at_ms, uint64_t max_age_ms)
{
    ngx_shm_zone_t        *shm_zone = user_data;
    ngx_slab_pool_t       *sp = (ngx_slab_pool_t *) shm_zone->shm.addr;
    ngx_http_jwks_zone_t  *z = shm_zone->data;
    ngx_http_jwks_slot_t  *s, *t;
    uint32_t               hash;
    u_char                *p;
    size_t                 half;
    ngx_uint_t             i;

    if (z == NULL || key_len == 0 || text_len == 0 || key_len + text_len > z->slot_bytes
        || ngx_http_jwks_zone_lock(sp) != NGX_OK)
    {
        return;
    }
    hash = ngx_crc32_long((u_char *) key, key_len);
    s = ngx_http_jwks_slot_find(z, key, key_len, hash);
    if (s == NULL) {
        s = ngx_http_jwks_slot_take(z, key, key_len, hash, fetched_at_ms);
    }
    /* A newer document saved meanwhile (by another worker) stays. */
    if (s == NULL || (ngx_http_jwks_slot_whole(z, s) && s->fetched_at_ms > fetched_at_ms)) {
        ngx_shmtx_unlock(&sp->mutex);
        return;
    }
    /* The new document goes into a spare slot when there is one: the key's whole document
     * stays readable until the new one is whole, so a worker killed in the middle of the copy
     * leaves the previous one (not a torn entry) for loads and new workers. Without a spare,
     * in place. */
    t = ngx_http_jwks_slot_whole(z, s) ? ngx_http_jwks_slot_spare(z, s, fetched_at_ms) : NULL;
    if (t != NULL) {
        ngx_http_jwks_slot_name(z, t, key, key_len, hash);
    } else {
        t = s;
    }
    t->writing = 1;
    ngx_memory_barrier();
    p = ngx_http_jwks_slot_bytes(z, t) + key_len;
    half = text_len / 2;
    ngx_memcpy(p, text, half);
#if (NGX_HTTP_JWKS_TEST_HOOKS)
    ngx_http_jwks_test_stall_save();
#endif
    ngx_memcpy(p + half, text + half, text_len - half);
    t->text_len = (uint32_t) text_len;
    t->fetched_at_ms = fetched_at_ms;
    t->max_age_ms = max_age_ms;
    t->checksum = ngx_http_jwks_slot_sum(z, t);
    ngx_memory_barrier();
    t->writing = 0;
    if (t != s) {
        /* The new slot takes over the key, its claim with it; the key's other slots (the
         * previous document, and any left torn by a killed worker) are freed. */
        t->claim_pid = s->claim_pid;
        t->claim_until_ms = s->claim_until_ms;
        for (i = 0; i < z->nslots; i++) {
            if (&z->slots[i] != t && ngx_http_jwks_slot_is(z, &z->slots[i], key, key_len, hash)) {
                z->slots[i].key_len = 0;
            }
        }
    }
    ngx_shmtx_unlock(&sp->mutex);
}


static bool
ngx_http_jwks_zone_claim(void *user_data, const char *key, size_t key_len, uint64_t now_ms,
    uint64_t until_ms)
{
    ngx_shm_zone_t        *shm_zone = user_data;
    ngx_slab_pool_t       *sp = (ngx_slab_pool_t *) shm_zone->shm.addr;
    ngx_http_jwks_zone_t  *z = shm_zone->data;
    ngx_http_jwks_slot_t  *s;
    uint32_t               hash;
    bool                   granted = true;

    if (z == NULL || key_len == 0 || key_len >= z->slot_bytes
        || ngx_http_jwks_zone_lock(sp) != NGX_OK)
    {
        return true;
    }
    hash = ngx_crc32_long((u_char *) key, key_len);
    s = ngx_http_jwks_slot_find(z, key, key_len, hash);
    if (s == NULL) {
        s = ngx_http_jwks_slot_take(z, key, key_len, hash, now_ms);
    }
    if (s != NULL) {
        granted = !ngx_http_jwks_claim_live(s, now_ms);
        if (granted) {
            s->claim_until_ms = until_ms;
            s->claim_pid = ngx_pid;
        }
    }
    ngx_shmtx_unlock(&sp->mutex);
    return granted;
}


static void
ngx_http_jwks_zone_release(void *user_data, const char *key, size_t key_len)
{
    ngx_shm_zone_t        *shm_zone = user_data;
    ngx_slab_pool_t       *sp = (ngx_slab_pool_t *) shm_zone->shm.addr;
    ngx_http_jwks_zone_t  *z = shm_zone->data;
    ngx_http_jwks_slot_t  *s;

    if (z == NULL || key_len == 0 || key_len >= z->slot_bytes
        || ngx_http_jwks_zone_lock(sp) != NGX_OK)
    {
        return;
    }
    s = ngx_http_jwks_slot_find(z, key, key_len, ngx_crc32_long((u_char *) key, key_len));
    if (s != NULL && s->claim_pid == ngx_pid) {
        s->claim_pid = 0;
        s->claim_until_ms = 0;
    }
    ngx_shmtx_unlock(&sp->mutex);
}


void
ngx_http_jwks_zone_store(ngx_shm_zone_t *shm_zone, jwks_store *table)
{
    ngx_memzero(table, sizeof(jwks_store));
    table->size = sizeof(jwks_store);
    table->user_data = shm_zone;
    table->load = ngx_http_jwks_zone_load;
    table->save = ngx_http_jwks_zone_save;
    table->claim = ngx_http_jwks_zone_claim;
    table->release = ngx_http_jwks_zone_release;
}
