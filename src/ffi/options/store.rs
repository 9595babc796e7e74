//! The caller's document store: a table of callbacks (load, save, claim, release) shared by
//! clients and processes. See `crate::store` for when each is called.

use std::ffi::CString;
use std::time::Duration;

use super::*;
use crate::store::{DocumentStore, StoreKey, StoredDocument};

/// The `max_age_ms` of a document whose server advertised no freshness (no `Cache-Control:
/// max-age`, no `Expires`).
pub const JWKS_STORE_NO_MAX_AGE: u64 = u64::MAX;

/// Receives the document a jwks_store load callback found: its text (`text_len` bytes of
/// UTF-8 JSON, copied before this returns), its fetch time in milliseconds since the Unix
/// epoch, and the `max_age_ms` that save was given with it (JWKS_STORE_NO_MAX_AGE for none).
/// Call it at most once, and only before the load callback returns; `sink_data` is the
/// pointer the load callback was given.
pub type jwks_store_sink = Option<
    unsafe extern "C" fn(
        sink_data: *mut libc::c_void,
        text: *const libc::c_char,
        text_len: usize,
        fetched_at_unix_ms: u64,
        max_age_ms: u64,
    ),
>;

/// A document store (see jwks_options_set_store). Every callback gets `user_data` and the
/// entry's key: a NUL-terminated string of `key_len` bytes, `"jwks <url>"` for a key set or
/// `"openid-configuration <url>"` for an issuer's configuration document.
///
/// Callbacks are called on the threads that fetch (the library's worker threads, or the
/// thread of a blocking verification that must fetch), never under a library lock, possibly
/// concurrently: they must be thread-safe, must not call into libjwks, and should return
/// within a few milliseconds (a store over the network needs a short timeout of its own).
/// Failing is always allowed: a failed load is "none", a failed save is dropped, a failed
/// claim should grant.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct jwks_store {
    /// Set to sizeof(jwks_store). Fields may be added at the end in later versions.
    pub size: usize,
    /// Passed to every callback.
    pub user_data: *mut libc::c_void,
    /// Required. Finds the last good document under `key`: calls `sink(sink_data, …)` with it
    /// and returns 1; returns 0 when there is none, or the entry is torn or corrupt; returns
    /// -1 when there is one but it is refused (counted in jwks_stats.persist_refused and
    /// logged once at Warn). The document is then checked as a fetched one: parsed with the
    /// same rules, at most max_response_bytes, its fetch time clamped to now.
    pub load: Option<
        unsafe extern "C" fn(
            user_data: *mut libc::c_void,
            key: *const libc::c_char,
            key_len: usize,
            sink: jwks_store_sink,
            sink_data: *mut libc::c_void,
        ) -> libc::c_int,
    >,
    /// Optional. Keeps `text` (`text_len` bytes, not NUL-terminated) as the last good
    /// document under `key`, fetched at `fetched_at_unix_ms`, with the freshness its server
    /// advertised (`max_age_ms`, from `Cache-Control: max-age` or `Expires`;
    /// JWKS_STORE_NO_MAX_AGE for none): keep both and give them back to the sink, so a process
    /// that takes the document gives it the lifespan it would give a response it fetched.
    /// Called after each good fetch, before the claim is released; copy what you keep.
    pub save: Option<
        unsafe extern "C" fn(
            user_data: *mut libc::c_void,
            key: *const libc::c_char,
            key_len: usize,
            text: *const libc::c_char,
            text_len: usize,
            fetched_at_unix_ms: u64,
            max_age_ms: u64,
        ),
    >,
    /// Optional (NULL: always granted). Whether this process may fetch `key` now: true when
    /// no claim on `key` is held or the one held has a deadline at or before `now_unix_ms`,
    /// and then the claim is held until `until_unix_ms` or `release`. A process refused
    /// polls load every 10 ms until a newer document appears, the claim is released or
    /// `until_unix_ms` passes (the claimer may have died), then fetches.
    pub claim: Option<
        unsafe extern "C" fn(
            user_data: *mut libc::c_void,
            key: *const libc::c_char,
            key_len: usize,
            now_unix_ms: u64,
            until_unix_ms: u64,
        ) -> bool,
    >,
    /// Optional. Gives up this process's claim on `key`, after its fetch (good or not).
    pub release: Option<
        unsafe extern "C" fn(
            user_data: *mut libc::c_void,
            key: *const libc::c_char,
            key_len: usize,
        ),
    >,
    /// Optional. Called once with `user_data` when the library is done with it: after this
    /// options object no longer holds the store (another was set, or jwks_options_free) and
    /// every client made from it has been freed and has ended its background work.
    pub destroy: jwks_release_callback,
}

/// Shares documents through `store` (NULL: no store): clients made from these options start
/// warm from it, adopt a newer key set or configuration document another client or process
/// saved instead of fetching, and, with a claim callback, make one request per refresh
/// between all of them. The table is copied; `store->user_data` must stay valid until
/// `store->destroy` is called (or, without one, as long as any client made from these options
/// may call). With jwks_options_set_persist_dir as well, the store is asked first and the
/// files back it (a shared-memory store is empty after a full restart); both keep each
/// document, and the store's claim decides. JWKS_ERR_INVALID_ARGUMENT for NULL options, a size smaller than this
/// header's jwks_store, or a NULL load; then the library takes nothing and `destroy` is not
/// called. Never blocks; not thread-safe for one options object.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_store(
    options: *mut jwks_options,
    store: *const jwks_store,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        if store.is_null() {
            o.store = None;
            return Ok(());
        }
        // SAFETY: `store` is not NULL, and the header has the caller set `store->size`, so the
        // struct's first `size_t` is readable; read_unaligned needs no alignment.
        let size = unsafe { std::ptr::addr_of!((*store).size).read_unaligned() };
        if size < std::mem::size_of::<jwks_store>() {
            return Err(Error::invalid_argument(format!(
                "store->size is {size}: set it to sizeof(jwks_store) ({})",
                std::mem::size_of::<jwks_store>()
            )));
        }
        // SAFETY: the caller's struct is at least as large as this version's (checked above).
        let table = unsafe { std::ptr::read_unaligned(store) };
        if table.load.is_none() {
            return Err(Error::invalid_argument("store->load is NULL"));
        }
        // SAFETY: the header requires `user_data` (and `destroy`) to be usable from any
        // thread, and `destroy(user_data)` to be sound once no callback can come.
        let data = unsafe { UserData::new(table.user_data, table.destroy) };
        o.store = Some(std::sync::Arc::new(CStore { table, data }));
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// The caller's table as a [`DocumentStore`].
struct CStore {
    table: jwks_store,
    /// Owns `table.user_data` (calls `destroy` when the last holder drops it).
    data: UserData,
}

// SAFETY: the table holds plain function pointers and the caller's user data, which the
// header requires to be usable from any thread, concurrently.
unsafe impl Send for CStore {}
// SAFETY: as above; `&CStore` only passes the pointers on to the callbacks.
unsafe impl Sync for CStore {}

/// What the sink collects during one load call.
struct Sink {
    max_bytes: usize,
    found: Option<Result<StoredDocument, String>>,
}

unsafe extern "C" fn store_sink(
    sink_data: *mut libc::c_void,
    text: *const libc::c_char,
    text_len: usize,
    fetched_at_unix_ms: u64,
    max_age_ms: u64,
) {
    let take = || {
        // SAFETY: `sink_data` is the `Sink` that `CStore::load` passed to the load callback,
        // alive for that call, and the header allows the sink only during it.
        let sink = unsafe { &mut *sink_data.cast::<Sink>() };
        if sink.found.is_some() {
            return; // called twice: the first document counts
        }
        let result = if text_len > sink.max_bytes {
            Err(format!(
                "holds a text larger than the response size limit ({} bytes)",
                sink.max_bytes
            ))
        } else {
            // SAFETY: the header requires `text_len` readable bytes at `text` during the call
            // (NULL with a length is refused by arg_bytes).
            unsafe { arg_bytes(text.cast(), text_len, "text") }
                .map_err(|e| e.message().to_owned())
                .and_then(|bytes| {
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| "holds a text that is not UTF-8".to_owned())
                })
                .map(|text| StoredDocument {
                    text,
                    fetched_at_unix: Duration::from_millis(fetched_at_unix_ms),
                    max_age: (max_age_ms != JWKS_STORE_NO_MAX_AGE)
                        .then(|| Duration::from_millis(max_age_ms)),
                })
        };
        sink.found = Some(result);
    };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(take));
}

impl CStore {
    /// The key as C sees it; None if it cannot be one (a NUL inside: then the store is not
    /// used for it).
    fn c_key(key: &StoreKey) -> Option<CString> {
        CString::new(key.as_str()).ok()
    }
}

fn millis(at: Duration) -> u64 {
    u64::try_from(at.as_millis()).unwrap_or(u64::MAX)
}

impl DocumentStore for CStore {
    fn load(&self, key: &StoreKey, max_bytes: usize) -> Result<Option<StoredDocument>, String> {
        let (Some(load), Some(c_key)) = (self.table.load, Self::c_key(key)) else {
            return Ok(None);
        };
        let mut sink = Sink {
            max_bytes,
            found: None,
        };
        // SAFETY: the header's jwks_store contract: load may be called from any thread with
        // the user data and a NUL-terminated key of key_len bytes; the sink and its data are
        // valid during the call, which is when the header allows the sink to be called.
        let answer = unsafe {
            load(
                self.data.ptr(),
                c_key.as_ptr(),
                c_key.as_bytes().len(),
                Some(store_sink),
                std::ptr::addr_of_mut!(sink).cast(),
            )
        };
        match (answer, sink.found) {
            (1, Some(found)) => found.map(Some),
            (a, _) if a < 0 => Err("was refused by the store".to_owned()),
            _ => Ok(None),
        }
    }

    fn save(&self, key: &StoreKey, doc: &StoredDocument) {
        let (Some(save), Some(c_key)) = (self.table.save, Self::c_key(key)) else {
            return;
        };
        let text = &doc.text;
        // A max-age of u64::MAX ms or more (585 million years) reads as "none".
        let max_age = doc.max_age.map_or(JWKS_STORE_NO_MAX_AGE, millis);
        // SAFETY: the header's contract for save: any thread, the key as for load, and
        // `text_len` readable bytes at `text` during the call.
        unsafe {
            save(
                self.data.ptr(),
                c_key.as_ptr(),
                c_key.as_bytes().len(),
                text.as_ptr().cast(),
                text.len(),
                millis(doc.fetched_at_unix),
                max_age,
            )
        }
    }

    fn claim(&self, key: &StoreKey, now_unix: Duration, until_unix: Duration) -> bool {
        let (Some(claim), Some(c_key)) = (self.table.claim, Self::c_key(key)) else {
            return true;
        };
        // SAFETY: the header's contract for claim: any thread, the key as for load.
        unsafe {
            claim(
                self.data.ptr(),
                c_key.as_ptr(),
                c_key.as_bytes().len(),
                millis(now_unix),
                millis(until_unix),
            )
        }
    }

    fn release(&self, key: &StoreKey) {
        let (Some(release), Some(c_key)) = (self.table.release, Self::c_key(key)) else {
            return;
        };
        // SAFETY: the header's contract for release: any thread, the key as for load.
        unsafe { release(self.data.ptr(), c_key.as_ptr(), c_key.as_bytes().len()) }
    }
}
