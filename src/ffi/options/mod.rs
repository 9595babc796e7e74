//! `jwks_options`: the client options builder.

use std::path::PathBuf;
use std::time::Duration;

use super::{arg_bytes, arg_mut, arg_str, boundary, boundary_or, jwks_error, jwks_status};
use crate::error::Error;
use crate::jose::alg::Algorithm;
use crate::options::ClientOptions;

/// Options for jwks_client_new. Made by jwks_options_new, changed by the setters, freed by
/// jwks_options_free. jwks_client_new copies what it needs, so an options object can be freed
/// or reused at once. Not thread-safe: do not change one options object from two threads.
pub struct jwks_options {
    pub(crate) inner: ClientOptions,
    /// Log events wait in the client's queue for jwks_client_poll.
    pub(crate) log_on_poll: bool,
}

/// Makes an options object with the defaults (see each setter). Never returns NULL (allocation
/// failure aborts the process, as everywhere in libjwks). Free it with jwks_options_free.
#[no_mangle]
pub extern "C" fn jwks_options_new() -> *mut jwks_options {
    boundary_or(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(jwks_options {
            inner: ClientOptions::default(),
            log_on_poll: false,
        }))
    })
}

/// Frees an options object. NULL is a no-op; freeing twice is undefined behaviour.
#[no_mangle]
pub unsafe extern "C" fn jwks_options_free(options: *mut jwks_options) {
    boundary_or((), || {
        if !options.is_null() {
            // SAFETY: a non-NULL `options` came from jwks_options_new (Box::into_raw), and the
            // header makes this its one free, with no other use during or after it.
            drop(unsafe { Box::from_raw(options) });
        }
    })
}

/// Applies `f` to the options behind the boundary.
///
/// # Safety
///
/// `options` must be NULL (refused) or point to a live `jwks_options` from jwks_options_new
/// that nothing else reads, writes or frees during the call; `err` as for [`boundary`].
unsafe fn set(
    options: *mut jwks_options,
    err: *mut *mut jwks_error,
    f: impl FnOnce(&mut ClientOptions) -> Result<(), Error>,
) -> jwks_status {
    let call = || {
        // SAFETY: by this function's contract `options` is NULL or a live options object
        // no one else uses during the call, so the unique borrow (ended when `f` returns)
        // is sound.
        let o = unsafe { arg_mut(options, "options")? };
        f(&mut o.inner)
    };
    // SAFETY: `err` is passed on under this function's own contract, which is boundary's.
    unsafe { boundary(err, call) }
}

/// A setter taking one string: reads (`text`, `text_len`) as UTF-8 (the argument `name` in
/// errors) and applies `f` with it, behind the boundary.
///
/// # Safety
///
/// As for [`set`], and (`text`, `text_len`) must be NULL with length 0 or point to `text_len`
/// readable bytes that nothing changes during the call (`f` copies what it keeps).
unsafe fn set_text(
    options: *mut jwks_options,
    err: *mut *mut jwks_error,
    text: *const libc::c_char,
    text_len: usize,
    name: &str,
    f: impl FnOnce(&mut ClientOptions, &str) -> Result<(), Error>,
) -> jwks_status {
    let apply = |o: &mut ClientOptions| {
        // SAFETY: by this function's contract (`text`, `text_len`) is NULL with length 0 or
        // readable and unchanged during the call; the borrow ends when `f` returns.
        let text = unsafe { arg_str(text, text_len, name)? };
        f(o, text)
    };
    // SAFETY: `options` and `err` are passed on under this function's contract, which is set's.
    unsafe { set(options, err, apply) }
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn positive(value: u64, name: &str) -> Result<(), Error> {
    if value == 0 {
        Err(Error::invalid_argument(format!("{name} must be positive")))
    } else {
        Ok(())
    }
}

/// Parses "RS256,ES256" (commas and/or spaces) into algorithms; at least one.
pub(crate) fn parse_algorithms(list: &str) -> Result<Vec<Algorithm>, Error> {
    let algs = list
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(|name| {
            name.parse::<Algorithm>()
                .map_err(|_| Error::invalid_argument(format!("unknown algorithm {name:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if algs.is_empty() {
        return Err(Error::invalid_argument("the algorithm list is empty"));
    }
    Ok(algs)
}

mod caching;
mod discovery;
mod fetch_callback;
mod logging;
mod source;
mod store;
mod validation;

pub use caching::*;
pub use discovery::*;
pub use fetch_callback::*;
pub use logging::*;
pub use source::*;
pub use store::*;
pub use validation::*;
