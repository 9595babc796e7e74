//! Log events: a callback on a library thread, or queued for jwks_client_poll.

use super::*;

/// A log callback and its user data. Only jwks_options_set_log_callback_with_release makes
/// one, from a callback whose header contract lets `emit` call it from any thread.
struct LogTarget(
    unsafe extern "C" fn(*mut libc::c_void, libc::c_int, *const libc::c_char, usize),
    UserData,
);

impl LogTarget {
    fn emit(&self, level: crate::log::LogLevel, message: &str) {
        let text = crate::ffi::CText::new(message);
        // SAFETY: the log callback and its user data may be called from any thread (the
        // setter's contract); the message is `text`, NUL-terminated with `message.len()`
        // bytes before the NUL, and lives until after the call, as jwks_log_callback promises.
        let call = || unsafe {
            (self.0)(
                self.1.ptr(),
                level as libc::c_int,
                text.as_ptr(),
                message.len(),
            )
        };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
    }
}

/// Reports fetch failures (level 1 with no usable set left, else 2), recoveries (3) and every
/// fetch (4) to `callback`, up to `max_level` (1..=4). `user_data` is passed through; both
/// must be safe to use from any thread, and user data must stay valid as long as a call may
/// come, which includes a background fetch finishing after jwks_client_free (see
/// jwks_options_set_fetch_callback, or use jwks_options_set_log_callback_with_release). A NULL
/// callback turns logging off (the default).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_log_callback(
    options: *mut jwks_options,
    callback: jwks_log_callback,
    user_data: *mut libc::c_void,
    max_level: libc::c_int,
    err: *mut *mut jwks_error,
) -> jwks_status {
    // SAFETY: the arguments are passed on unchanged under the same header contract; a NULL
    // release function only means nothing is called when the callback is dropped.
    unsafe {
        jwks_options_set_log_callback_with_release(
            options, callback, user_data, None, max_level, err,
        )
    }
}

/// Delivers log events on the thread that calls jwks_client_poll instead of the thread that
/// ran the fetch (default off): each event is queued on the client, the completion descriptor
/// (jwks_client_completion_fd) becomes readable, and jwks_client_poll calls the log callback
/// for every queued event before it hands out a completion. For event loops whose logging must
/// run on the loop thread (nginx's error log). At most 1024 events wait; past that, newer ones
/// are dropped and the next delivered message says how many. Never blocks; not thread-safe for
/// one options object.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_log_on_poll(
    options: *mut jwks_options,
    enabled: bool,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let call = || {
        // SAFETY: the header requires `options` to be NULL (refused) or a live options
        // object that no other thread uses during the call (options are not thread-safe).
        let options = unsafe { arg_mut(options, "options")? };
        options.log_on_poll = enabled;
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// As jwks_options_set_log_callback, and `release(user_data)` is called exactly once when no
/// log call can come any more, as for jwks_options_set_fetch_callback_with_release. On failure
/// (NULL options, `max_level` outside 1..=4), or with a NULL callback, the library takes
/// nothing and `release` is not called: the caller still owns `user_data`. Never blocks; not
/// thread-safe for one options object (the release call may come from any thread).
#[no_mangle]
pub unsafe extern "C" fn jwks_options_set_log_callback_with_release(
    options: *mut jwks_options,
    callback: jwks_log_callback,
    user_data: *mut libc::c_void,
    release: jwks_release_callback,
    max_level: libc::c_int,
    err: *mut *mut jwks_error,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        use crate::log::{LogLevel, Logger};
        // SAFETY: the header requires `user_data` and `release` to be usable from any
        // thread, and `release(user_data)` to be sound once no log call can come.
        let data = unsafe { UserData::new(user_data, release) };
        let max_level = match max_level {
            1 => LogLevel::Error,
            2 => LogLevel::Warn,
            3 => LogLevel::Info,
            4 => LogLevel::Debug,
            _ => {
                data.forget();
                return Err(Error::invalid_argument("log level must be 1 to 4"));
            }
        };
        o.logger = match callback {
            Some(cb) => {
                let target = LogTarget(cb, data);
                Some(Logger {
                    hook: std::sync::Arc::new(move |level: LogLevel, message: &str| {
                        target.emit(level, message)
                    }),
                    max_level,
                })
            }
            None => {
                data.forget();
                None
            }
        };
        Ok(())
    };
    // SAFETY: the header requires `options` to be NULL or a live options object that no other
    // thread uses during the call (options are not thread-safe), and `err` to be NULL or writable.
    unsafe { set(options, err, apply) }
}
