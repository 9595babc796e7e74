//! The completion queue and wake-up file descriptor, for event loops that cannot take a call
//! on a foreign thread: results of jwks_client_verify_async_queued are queued on the client
//! and an eventfd becomes readable; the loop thread collects them with jwks_client_poll.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::client::jwks_client;
use super::token::jwks_token;
use super::{arg_ref, boundary, jwks_error, jwks_status};
use crate::error::{Error, ErrorKind};

struct Completion {
    id: u64,
    tag: u64,
    status: jwks_status,
    token: *mut jwks_token,
    error: *mut jwks_error,
}

impl Completion {
    fn free(self) {
        unsafe {
            super::jwks_token_free(self.token);
            super::jwks_error_free(self.error);
        }
    }
}

/// One client's queue of finished asynchronous verifications.
#[derive(Default)]
pub(crate) struct Completions {
    queue: Mutex<VecDeque<Completion>>,
    fd: OnceLock<Option<OwnedFd>>,
    next_id: AtomicU64,
}

// SAFETY: the raw pointers in the queue are owned results handed from one thread to another
// under the mutex.
unsafe impl Send for Completions {}
unsafe impl Sync for Completions {}

impl Drop for Completions {
    fn drop(&mut self) {
        for c in self.queue.get_mut().drain(..) {
            c.free();
        }
    }
}

impl Completions {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn fd(&self) -> Option<&OwnedFd> {
        self.fd
            .get_or_init(|| {
                // SAFETY: eventfd returns a new descriptor or -1.
                let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
                // SAFETY: a fresh descriptor owned by nobody else.
                (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
            })
            .as_ref()
    }

    /// Queues a result and wakes the loop.
    pub fn push(&self, id: u64, tag: u64, result: crate::Result<crate::Verified>) {
        let (status, token, error) = super::split_result(result, jwks_token::into_raw);
        let mut queue = self.queue.lock();
        queue.push_back(Completion {
            id,
            tag,
            status,
            token,
            error,
        });
        if let Some(fd) = self.fd() {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes to our eventfd; a full counter (never here) only fails.
            unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }

    /// Drops a queued result that nobody wants any more (its request was freed).
    pub fn discard(&self, id: u64) {
        let mut queue = self.queue.lock();
        if let Some(i) = queue.iter().position(|c| c.id == id) {
            if let Some(c) = queue.remove(i) {
                c.free();
            }
        }
        self.reset_if_empty(&queue);
    }

    fn reset_if_empty(&self, queue: &VecDeque<Completion>) {
        if queue.is_empty() {
            if let Some(fd) = self.fd.get().and_then(Option::as_ref) {
                let mut counter: u64 = 0;
                // SAFETY: a non-blocking read of our eventfd's counter; EAGAIN when already 0.
                unsafe { libc::read(fd.as_raw_fd(), (&mut counter as *mut u64).cast(), 8) };
            }
        }
    }
}

/// The client's wake-up descriptor: an eventfd (non-blocking, close-on-exec) that is readable
/// while jwks_client_poll has completions to hand out. Made on first call; the same descriptor
/// every time; owned by the client (do not close it; it is closed after jwks_client_free once
/// the client's background work has ended). Add it to your epoll/poll set for reading. Never
/// blocks. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_completion_fd(
    client: *const jwks_client,
    fd: *mut libc::c_int,
    err: *mut *mut jwks_error,
) -> jwks_status {
    boundary(err, || {
        let client = unsafe { arg_ref(client, "client")? };
        let out = unsafe { fd.as_mut() }.ok_or_else(|| super::null_arg("fd"))?;
        let owned = client.completions.fd().ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                format!("eventfd failed: {}", std::io::Error::last_os_error()),
            )
        })?;
        *out = owned.as_raw_fd();
        Ok(())
    })
}

/// Hands out one finished verification of jwks_client_verify_async_queued: returns JWKS_OK and
/// writes its `tag`, its `status`, and either `*token` (a new jwks_token, on JWKS_OK; free with
/// jwks_token_free) or `*error` (a new jwks_error; free with jwks_error_free), the other set to
/// NULL. Returns JWKS_PENDING, writing nothing, when none is waiting. Call it until it returns
/// JWKS_PENDING each time the completion descriptor is readable. Never blocks. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_poll(
    client: *const jwks_client,
    tag: *mut u64,
    status: *mut jwks_status,
    token: *mut *mut jwks_token,
    error: *mut *mut jwks_error,
) -> jwks_status {
    super::boundary_or(jwks_status::JWKS_ERR_INTERNAL, || {
        let Some(client) = (unsafe { client.as_ref() }) else {
            return jwks_status::JWKS_ERR_INVALID_ARGUMENT;
        };
        if tag.is_null() || status.is_null() || token.is_null() || error.is_null() {
            return jwks_status::JWKS_ERR_INVALID_ARGUMENT;
        }
        let completions = &client.completions;
        let mut queue = completions.queue.lock();
        let Some(c) = queue.pop_front() else {
            return jwks_status::JWKS_PENDING;
        };
        completions.reset_if_empty(&queue);
        drop(queue);
        // SAFETY: checked non-NULL above.
        unsafe {
            *tag = c.tag;
            *status = c.status;
            *token = c.token;
            *error = c.error;
        }
        jwks_status::JWKS_OK
    })
}

pub(crate) fn new_completions() -> Arc<Completions> {
    Arc::new(Completions::default())
}
