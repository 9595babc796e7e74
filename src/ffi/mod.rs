//! The C ABI. It only converts: C pointers and strings to Rust references, core errors to
//! status codes, Rust values to handles. Every exported function runs inside `boundary` (or
//! `boundary_or`), so no panic crosses into C, and checks every pointer before use.
//!
//! The contracts (ownership, nullability, blocking, thread safety) are written once, in the doc
//! comments that cbindgen copies into `include/jwks.h`.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)] // the header states each function's contract
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)] // each unsafe operation in its own, commented block

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Error, ErrorKind};

mod async_verify;
mod client;
mod completion;
mod error;
mod fetch;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod key;
mod options;
mod stats;
mod token;
mod verify_options;

pub use async_verify::*;
pub use client::*;
pub use completion::*;
pub use error::*;
pub use fetch::*;
pub use key::*;
pub use options::*;
pub use stats::*;
pub use token::*;
pub use verify_options::*;

/// Runs `f` behind the panic boundary and turns its result into a status, storing an error
/// object in `*err` (when `err` is not NULL) on failure.
///
/// # Safety
///
/// `err` must be NULL or valid for writing one `*mut jwks_error` (the `jwks_error **err` of
/// the header's functions). Its old value is neither read nor freed; on failure a new error
/// object is written there and the caller owns it.
pub(crate) unsafe fn boundary(
    err: *mut *mut jwks_error,
    f: impl FnOnce() -> Result<(), Error>,
) -> jwks_status {
    let result = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::new(
            ErrorKind::Internal,
            "a panic was caught at the C boundary (a bug in libjwks)",
        ))
    });
    match result {
        Ok(()) => jwks_status::JWKS_OK,
        Err(e) => {
            let status = jwks_status::from_kind(e.kind());
            if !err.is_null() {
                // SAFETY: `err` is not NULL (checked just above), so by this function's
                // contract it is valid for writing one pointer; the new error object passes to
                // the caller.
                unsafe { *err = jwks_error::into_raw(e) };
            }
            status
        }
    }
}

/// Runs `f` behind the panic boundary for functions that return a value instead of a status;
/// a panic yields `fallback`.
pub(crate) fn boundary_or<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

pub(crate) fn null_arg(name: &str) -> Error {
    Error::invalid_argument(format!("argument {name} is NULL"))
}

/// Borrows a handle; NULL is `JWKS_ERR_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `ptr` must be NULL or point to a live, properly aligned `T` that nothing mutates or frees
/// for `'a` (the caller chooses `'a`, so it must not let the borrow outlive the handle).
pub(crate) unsafe fn arg_ref<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Error> {
    // SAFETY: by this function's contract `ptr` is NULL (as_ref gives None, refused below) or
    // points to a live `T` left unchanged for `'a`.
    unsafe { ptr.as_ref() }.ok_or_else(|| null_arg(name))
}

/// Borrows a handle mutably; NULL is `JWKS_ERR_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `ptr` must be NULL or point to a live, properly aligned `T` that nothing else reads, writes
/// or frees for `'a` (the handles changed this way are the ones the header calls not
/// thread-safe).
pub(crate) unsafe fn arg_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, Error> {
    // SAFETY: by this function's contract `ptr` is NULL (as_mut gives None, refused below) or
    // points to a live `T` that no one else uses for `'a`, so the unique borrow is sound.
    unsafe { ptr.as_mut() }.ok_or_else(|| null_arg(name))
}

/// Reads a `(const char *, size_t)` string: `(NULL, 0)` is "", NULL with a length is an error,
/// and so is invalid UTF-8.
///
/// # Safety
///
/// As for [`arg_bytes`]: `ptr` must be NULL or valid for reading `len` bytes that nothing
/// changes or frees for `'a`.
pub(crate) unsafe fn arg_str<'a>(
    ptr: *const libc::c_char,
    len: usize,
    name: &str,
) -> Result<&'a str, Error> {
    // SAFETY: this function's contract is that of arg_bytes (`c_char` and `u8` have the same
    // size and alignment, so the cast keeps `len` bytes at the same address).
    let bytes = unsafe { arg_bytes(ptr.cast(), len, name)? };
    crate::jose::jwt::utf8_str(bytes)
        .ok_or_else(|| Error::invalid_argument(format!("argument {name} is not valid UTF-8")))
}

/// Reads a `(const uint8_t *, size_t)` byte string, with the rules of [`arg_str`].
///
/// # Safety
///
/// `ptr` must be NULL (allowed only with `len` 0, refused otherwise) or valid for reading
/// `len` bytes within one allocation that nothing changes or frees for `'a`.
pub(crate) unsafe fn arg_bytes<'a>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(Error::invalid_argument(format!(
            "argument {name} is NULL with a length of {len}"
        )));
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid_argument(format!(
            "argument {name} is too long"
        )));
    }
    // SAFETY: `ptr` is not NULL (checked above) and, by this function's contract, points to
    // `len` readable bytes unchanged for `'a`; `len <= isize::MAX` was checked; `u8` needs no
    // alignment.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Checks an output pointer before any work is done.
pub(crate) fn out_arg<T>(out: *mut *mut T, name: &str) -> Result<*mut *mut T, Error> {
    if out.is_null() {
        Err(null_arg(name))
    } else {
        Ok(out)
    }
}

/// Splits a result into what C callbacks and queues receive: a status, the value as a new
/// handle (NULL on failure) and a new error object (NULL on success).
pub(crate) fn split_result<T, H>(
    result: Result<T, Error>,
    into_raw: impl FnOnce(T) -> *mut H,
) -> (jwks_status, *mut H, *mut jwks_error) {
    match result {
        Ok(value) => (jwks_status::JWKS_OK, into_raw(value), std::ptr::null_mut()),
        Err(e) => (
            jwks_status::from_kind(e.kind()),
            std::ptr::null_mut(),
            jwks_error::into_raw(e),
        ),
    }
}

/// A NUL-terminated copy of a string, lent to C as pointer + length. The length excludes the
/// terminator; interior NULs are possible only where the source had them, and the length is
/// authoritative.
#[derive(Debug, Clone)]
pub(crate) struct CText(Box<[u8]>);

impl CText {
    pub fn new(s: &str) -> CText {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        CText(v.into_boxed_slice())
    }

    /// The text without the terminator.
    pub fn as_str(&self) -> &str {
        // Built from a &str plus a NUL, so this cannot fail.
        std::str::from_utf8(&self.0[..self.0.len() - 1]).unwrap_or_default()
    }

    pub fn as_ptr(&self) -> *const libc::c_char {
        self.0.as_ptr().cast()
    }

    /// Lends the text: writes its length to `len` (if not NULL) and returns the pointer, which
    /// is valid as long as `self` is.
    ///
    /// # Safety
    ///
    /// `len` must be NULL or valid for writing one `usize` (a `size_t *` from C).
    pub unsafe fn lend(&self, len: *mut usize) -> *const libc::c_char {
        if !len.is_null() {
            // SAFETY: `len` is not NULL (checked just above), so by this function's contract it
            // is writable; the length excludes the NUL that `new` appended.
            unsafe { *len = self.0.len() - 1 };
        }
        self.0.as_ptr().cast()
    }
}

/// Lends an optional text given with its terminating NUL (the length written leaves the NUL
/// out); NULL (and length 0) when absent, or when the text does not end in a NUL.
///
/// # Safety
///
/// `len` must be NULL or valid for writing one `usize`.
pub(crate) unsafe fn lend_nul_terminated(
    text: Option<&[u8]>,
    len: *mut usize,
) -> *const libc::c_char {
    let (ptr, n) = match text {
        Some(bytes @ [.., 0]) => (bytes.as_ptr(), bytes.len() - 1),
        _ => (std::ptr::null(), 0),
    };
    if !len.is_null() {
        // SAFETY: `len` is not NULL (checked just above), so by this function's contract it is
        // writable.
        unsafe { *len = n };
    }
    ptr.cast()
}

/// Lends an optional text; NULL (and length 0) when absent.
///
/// # Safety
///
/// `len` must be NULL or valid for writing one `usize`.
pub(crate) unsafe fn lend_opt(text: Option<&CText>, len: *mut usize) -> *const libc::c_char {
    match text {
        // SAFETY: `len` is passed on under this function's identical contract.
        Some(t) => unsafe { t.lend(len) },
        None => {
            if !len.is_null() {
                // SAFETY: `len` is not NULL (checked just above), so by this function's
                // contract it is writable.
                unsafe { *len = 0 };
            }
            std::ptr::null()
        }
    }
}
