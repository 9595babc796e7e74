//! `jwks_stats`: a sized snapshot of a client's counters.

use super::client::jwks_client;
use super::{arg_ref, boundary, jwks_error, jwks_status};
use crate::error::Error;

/// Counters of a client since it was made, over all its sources. The caller sets `size` to
/// `sizeof(jwks_stats)` before calling jwks_client_stats; fields may be added at the end in
/// later versions, and a library newer than the caller's header fills only the fields the
/// caller's size covers.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct jwks_stats {
    /// Set by the caller: sizeof(jwks_stats) as the caller's header defines it.
    pub size: usize,
    /// HTTP requests made (key sets and discovery documents), successful or not.
    pub fetches: u64,
    /// Requests that failed (transport error, HTTP error, unusable document).
    pub fetch_failures: u64,
    /// Conditional refreshes answered 304 Not Modified.
    pub not_modified: u64,
    /// Lookups answered from a fresh cached set without a request.
    pub cache_hits: u64,
    /// Lookups that needed a fetch.
    pub cache_misses: u64,
    /// Lookups answered from a set past its lifespan (within max-stale) while it was being
    /// refreshed in the background, or because refreshing it failed.
    pub stale_serves: u64,
    /// Refetches caused by an unknown kid.
    pub unknown_kid_refetches: u64,
    /// Unknown kids refused without a refetch (the interval since the last one is not over).
    pub unknown_kid_rate_limited: u64,
    /// Milliseconds since the Unix epoch of the last successful fetch; 0 if none yet.
    pub last_success_unix_ms: u64,
    /// Milliseconds since the Unix epoch of the last failed fetch; 0 if none yet.
    pub last_failure_unix_ms: u64,
    /// Usable keys currently cached, over all sources.
    pub keys_held: u64,
    /// Asynchronous verifications started and not yet answered or cancelled.
    pub pending_requests: u64,
    /// Requests made by background refreshes (ahead of expiry, past it, or by the background
    /// refresher), key sets and discovery documents alike; unknown-kid refetches are apart.
    pub background_refreshes: u64,
    /// Lookups answered from the cache while a background refresh of that set was queued or
    /// running (the answer did not wait for it).
    pub served_while_refreshing: u64,
    /// Background refreshes queued or running now (key sets and issuer configurations).
    pub refreshing: u64,
    /// Reads of a saved key set or configuration document (jwks_options_set_persist_dir) that
    /// were refused: a file not trusted (not a regular file, another owner, writable by group
    /// or others, in a directory others can write), too large, or not a valid saved record.
    /// The first of each file is also logged.
    pub persist_refused: u64,
    /// Documents taken from the document store (jwks_options_set_store, or the persist
    /// directory) instead of a fetch: newer than the client's own and still fresh, because
    /// another client or process fetched them.
    pub store_adopted: u64,
    /// Fetches that first waited for another process holding the store's claim on that URL.
    pub store_claim_waits: u64,
}

/// Fills `*stats` with the client's counters: set `stats->size = sizeof(jwks_stats)` first.
/// Only the fields within that size are written (a caller built against an older header gets
/// the fields it knows). JWKS_ERR_INVALID_ARGUMENT for NULL arguments or a size smaller than
/// the size field itself. Never blocks on the network; thread-safe. Readable in a forked child
/// too: there it takes no lock and reports keys_held and refreshing as 0.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_stats(
    client: *const jwks_client,
    stats: *mut jwks_stats,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: the header requires `client` to be NULL (refused here) or a live client from
        // jwks_client_new that no thread frees during the call; a shared borrow is enough, the
        // client is thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        if stats.is_null() {
            return Err(super::null_arg("stats"));
        }
        // SAFETY: `stats` is not NULL (refused above), and the header has the caller set
        // `stats->size` before the call, so the struct's first `size_t` is there and
        // initialised; read_unaligned needs no alignment.
        let size = unsafe { std::ptr::addr_of!((*stats).size).read_unaligned() };
        let header = std::mem::size_of::<usize>();
        if size < header {
            return Err(Error::invalid_argument(
                "stats->size is smaller than the size field: set it to sizeof(jwks_stats)",
            ));
        }
        let s = client.inner.stats();
        let ms = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_millis() as u64);
        let full = jwks_stats {
            size,
            fetches: s.fetches,
            fetch_failures: s.fetch_failures,
            not_modified: s.not_modified,
            cache_hits: s.cache_hits,
            cache_misses: s.cache_misses,
            stale_serves: s.stale_serves,
            unknown_kid_refetches: s.unknown_kid_refetches,
            unknown_kid_rate_limited: s.unknown_kid_rate_limited,
            last_success_unix_ms: ms(s.last_success),
            last_failure_unix_ms: ms(s.last_failure),
            keys_held: s.keys_held,
            pending_requests: s.pending_requests,
            background_refreshes: s.background_refreshes,
            served_while_refreshing: s.served_while_refreshing,
            refreshing: s.refreshing,
            persist_refused: s.persist_refused,
            store_adopted: s.store_adopted,
            store_claim_waits: s.store_claim_waits,
        };
        let len = size.min(std::mem::size_of::<jwks_stats>()) - header;
        // SAFETY: `header <= size` (checked above), so `len` does not underflow and bytes
        // header..header + len lie inside the local `full` (len <= sizeof - header) and
        // inside the `size` bytes the caller declared writable through stats->size, the
        // fields both layouts share; a local and the caller's buffer cannot overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (&full as *const jwks_stats).cast::<u8>().add(header),
                stats.cast::<u8>().add(header),
                len,
            );
        }
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}
