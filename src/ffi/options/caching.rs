//! Caching: cache headers, lifespan bounds and jitter, the persisted sets, refresh ahead and the background refresher.

use super::*;

/// Uses the JWKS response's Cache-Control max-age / Expires as the set's lifespan, clamped to
/// the lifespan bounds (default on); when the response says nothing, the lifespan option
/// applies. Off: always the lifespan option.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_honor_cache_headers(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.honor_cache_headers = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// The clamps for a lifespan taken from caching headers (defaults 60000 and 86400000 ms). Both
/// positive, min_ms <= max_ms.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_lifespan_bounds_ms(
    options: *mut jwks_options,
    min_ms: u64,
    max_ms: u64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        positive(min_ms, "minimum lifespan")?;
        if max_ms < min_ms {
            return Err(Error::invalid_argument(
                "maximum lifespan is below the minimum",
            ));
        }
        o.min_lifespan = millis(min_ms);
        o.max_lifespan = millis(max_ms);
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Up to this fraction (0.0 to 0.5, default 0.1) of each lifespan is taken off at random, so
/// a fleet of processes does not refresh in the same second.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_refresh_jitter(
    options: *mut jwks_options,
    fraction: f64,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        if !(0.0..=0.5).contains(&fraction) {
            return Err(Error::invalid_argument(
                "refresh jitter must be between 0 and 0.5",
            ));
        }
        o.refresh_jitter = fraction;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// A directory for last-known-good files: each fetched key set is also written there (one file
/// per JWKS URL, atomically, mode 0600, safe to share between worker processes), and a client
/// that starts while the IdP is unreachable verifies with the saved set, within max-stale. In
/// discovery mode each configured issuer's configuration document is saved too (one file per
/// configuration URL), so a client made during an outage resolves its allowed issuers from
/// the saved documents (within max-stale past issuer_ttl) and verifies its first token with no
/// request; a failed discovery also falls back to the saved document. Issuers that only a
/// token names (jwks_options_set_allow_any_issuer) are never saved. The directory must exist and must not be writable by others, unless it is sticky and the
/// effective user's own (jwks_client_new refuses it with JWKS_ERR_INVALID_ARGUMENT, naming the
/// check: make it 0700, owned by the user the library runs as). An empty path turns it off
/// (the default).
///
/// A saved file is trusted only as OpenSSH trusts authorized_keys: a regular file (opened
/// without following a symlink and without blocking, so a FIFO never makes a call wait),
/// owned by the process's effective user, not writable by group or others, in a directory
/// others cannot write (unless sticky and the user's own); read with a bound (twice
/// max_response_bytes, plus the URL and the record), its set or document at most
/// max_response_bytes, its fetch time never later than now. Anything else is ignored, counted
/// in jwks_stats.persist_refused and logged once (Warn). A file is read when the client is
/// made, and again only by a cold lookup whose fetch failed, at most once per
/// min_refetch_interval (discovery: the discovery refetch interval).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_persist_dir(
    options: *mut jwks_options,
    path: *const libc::c_char,
    path_len: usize,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions, path: &str| {
        o.persist_dir = (!path.is_empty()).then(|| PathBuf::from(path));
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call, `err` to be NULL or writable, and (`path`, `path_len`) to be
    // NULL with length 0 or `path_len` readable bytes unchanged during the call; it is copied.
    unsafe { set_text(options, err, path, path_len, "path", apply) }
}

/// Whether a process running as `uid` (primary group `gid`) can use `(path, path_len)` as its
/// persist directory: it exists, is a directory, others cannot write it (unless it is sticky
/// and that user's own), and that user can create files in it. JWKS_OK, or
/// JWKS_ERR_INVALID_ARGUMENT naming the check. For a server whose master runs as root and
/// checks, at configuration time, the directory its workers (another user) will use:
/// jwks_client_new checks the directory for the user that calls it. `(path, path_len)` is a
/// string in; NULL with a length, invalid UTF-8 or the empty path is JWKS_ERR_INVALID_ARGUMENT.
/// Nothing to free but the error. Reads the directory's metadata (one stat), never the
/// network; thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_persist_dir_check(
    path: *const libc::c_char,
    path_len: usize,
    uid: u32,
    gid: u32,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: (`path`, `path_len`) is a string in, by the header's convention; the borrow
        // does not outlive the call.
        let path = unsafe { arg_str(path, path_len, "path")? };
        if path.is_empty() {
            return Err(Error::invalid_argument("argument path is empty"));
        }
        crate::check_persist_dir(std::path::Path::new(path), uid, gid)
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`.
    unsafe { boundary(err, call) }
}

/// Refreshes a cached key set (and, in discovery mode, an issuer's configuration) in the
/// background once 80% of its lifespan has passed, when a lookup sees it, so that with traffic
/// it never expires (default on). Off: the background refresh starts when a lookup finds the
/// set past its lifespan; lookups still answer at once from the cached set (flagged stale)
/// within max-stale. Either way no call waits for a refresh of a cached set.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_refresh_ahead(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.refresh_ahead = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Keeps key sets fresh without traffic too (default off): a thread per client, started when
/// its first set is cached, wakes at 80% of each set's lifespan and starts its refresh on the
/// client's worker. The thread holds no reference that keeps the client alive;
/// jwks_client_free stops it without waiting.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_background_refresh(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        o.background_refresh = enabled;
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Receives log events: `level` 1 error, 2 warning, 3 info, 4 debug, and a message (pointer +
/// length, also NUL-terminated, valid during the call; never token or key bytes). Each event
/// is reported once, from whichever thread ran the fetch, with no library lock held. It must
/// not call into the client that logs, must return quickly and must not unwind.
pub type jwks_log_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut libc::c_void,
        level: libc::c_int,
        message: *const libc::c_char,
        message_len: usize,
    ),
>;
