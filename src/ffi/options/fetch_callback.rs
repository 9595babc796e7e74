//! The caller's own transport: a fetch callback, with a release function for its user data.

use super::*;

/// Uses `callback` for every HTTP request (discovery documents and key sets) instead of the
/// built-in client, which then opens no socket; timeout, TLS, proxy and redirect options no
/// longer apply (the callback owns them), the size limit still does. `user_data` is passed to
/// every call; the caller owns it and it must stay valid, and safe to use from any thread, as
/// long as a call may come: jwks_client_free does not wait for background fetches, so a fetch
/// a library thread started before it may still call back until it returns (keep user data for
/// the life of the process, reference-count it, or use
/// jwks_options_set_fetch_callback_with_release). A NULL callback restores the built-in
/// client. See jwks_fetch_callback for the callback's contract.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_fetch_callback(
    options: *mut jwks_options,
    callback: crate::ffi::fetch::jwks_fetch_callback,
    user_data: *mut libc::c_void,
    err: *mut *mut jwks_error,
) -> jwks_status {
    // SAFETY: the arguments are passed on unchanged under the same header contract; a NULL
    // release function only means nothing is called when the callback is dropped.
    unsafe { jwks_options_set_fetch_callback_with_release(options, callback, user_data, None, err) }
}

/// As jwks_options_set_fetch_callback, and the library tells the caller when it is done with
/// `user_data`: `release(user_data)` is called exactly once, on whichever thread lets go last,
/// once no fetch can call back any more, that is after this options object no longer holds the
/// callback (another callback was set, or jwks_options_free) and every client made from it has
/// been freed and has ended its background work. A NULL `release` is allowed (then this is
/// jwks_options_set_fetch_callback). On failure (JWKS_ERR_INVALID_ARGUMENT for NULL options),
/// or with a NULL callback, the library takes nothing and `release` is not called: the caller
/// still owns `user_data`. Never blocks; like every setter, not thread-safe for one options
/// object (the release call itself may come from any thread).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_fetch_callback_with_release(
    options: *mut jwks_options,
    callback: crate::ffi::fetch::jwks_fetch_callback,
    user_data: *mut libc::c_void,
    release: jwks_release_callback,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: the header requires `user_data` and `release` to be usable from any
        // thread, and `release(user_data)` to be sound once no callback can come.
        let data = unsafe { UserData::new(user_data, release) };
        // SAFETY: the header's jwks_fetch_callback contract: the callback may be called
        // concurrently from any thread with this user data, for any client made from
        // these options.
        o.fetcher = unsafe { crate::ffi::fetch::CallbackFetch::transport(callback, data) };
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}

/// Called once with the user data of a callback the library no longer needs (see
/// jwks_options_set_fetch_callback_with_release). It must not call into libjwks and must not
/// unwind.
pub type jwks_release_callback = Option<unsafe extern "C" fn(user_data: *mut libc::c_void)>;

/// Caller-owned user data, released (when a release function was given) when the last holder
/// drops it.
pub(crate) struct UserData {
    ptr: *mut libc::c_void,
    release: jwks_release_callback,
}

// SAFETY: UserData only carries the pointer and calls `release` once, from Drop. The setters
// that take user data require it, and its release function, to be usable from any thread
// (callbacks run on library threads and the last holder may drop it anywhere), so moving it
// to another thread is sound.
unsafe impl Send for UserData {}
// SAFETY: `&UserData` only gives out the raw pointer (`ptr`), never touching what it points
// to; the callbacks that use it may run concurrently on several threads, which the header
// requires the caller's user data to allow.
unsafe impl Sync for UserData {}

impl UserData {
    /// Takes the caller's user data; `release(ptr)` will be called when the last holder drops
    /// it (unless it is given back with `forget`).
    ///
    /// # Safety
    ///
    /// `ptr` must be usable from any thread, and `release`, if not NULL, must be sound to call
    /// once, from any thread, with `ptr` once no callback can use it any more: the contract
    /// of jwks_release_callback and of the setters that take user data.
    pub(crate) unsafe fn new(ptr: *mut libc::c_void, release: jwks_release_callback) -> UserData {
        UserData { ptr, release }
    }

    pub(crate) fn ptr(&self) -> *mut libc::c_void {
        self.ptr
    }

    /// Hands the pointer back without releasing it (a setter that fails takes nothing).
    pub(crate) fn forget(mut self) {
        self.release = None;
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(release) = self.release {
            let ptr = self.ptr;
            // SAFETY: the header's jwks_release_callback contract: called once with the user
            // data it was given, from any thread, once no callback can use it. This is the
            // last holder's drop (the Arc around the callback is gone), Drop runs once, and
            // `forget` cleared `release` for user data the library did not take.
            let call = || unsafe { release(ptr) };
            let _ = std::panic::catch_unwind(call);
        }
    }
}
