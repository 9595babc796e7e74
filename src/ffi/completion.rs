//! The completion queue and wake-up file descriptor, for event loops that cannot take a call
//! on a foreign thread: results of jwks_client_verify_async_queued (and, with log-on-poll, log
//! events) are queued on the client and an eventfd becomes readable; the loop thread collects
//! them with jwks_client_poll.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::client::jwks_client;
use super::token::jwks_token;
use super::{arg_ref, boundary, jwks_error, jwks_status};
use crate::error::{Error, ErrorKind};
use crate::log::{LogFn, LogLevel, Logger};

/// A finished verification waiting in the queue. `token` and `error` are each NULL or an owned
/// handle from `into_raw` (see `Completions::push`); whoever takes the completion out of the
/// queue owns them: jwks_client_poll hands them to the caller, `free` frees them.
struct Completion {
    id: u64,
    tag: u64,
    status: jwks_status,
    token: *mut jwks_token,
    error: *mut jwks_error,
}

impl Completion {
    fn free(self) {
        // SAFETY: `token` and `error` are NULL or owned handles made by into_raw that nothing
        // else references (the struct's invariant above); taking `self` by value means they
        // are freed once.
        unsafe {
            super::jwks_token_free(self.token);
            super::jwks_error_free(self.error);
        }
    }
}

/// Log events waiting for jwks_client_poll, at most this many.
const MAX_QUEUED_LOGS: usize = 1024;

/// Results of jwks_client_verify_async_queued waiting for jwks_client_poll, at most this
/// many. A client with this many uncollected results refuses new queued calls when they are
/// submitted (JWKS_ERR_CANCELLED, as when overloaded) until jwks_client_poll collects some. The
/// result of a call already accepted is never dropped: an event loop that parked a request on
/// it will always see it.
pub const JWKS_MAX_QUEUED_COMPLETIONS: usize = 65536;

/// Log events waiting for the loop thread, and how many were dropped past the bound.
#[derive(Default)]
struct Logs {
    events: VecDeque<(LogLevel, String)>,
    dropped: usize,
}

/// The descriptor an event loop watches: readable while results or log events wait. An
/// eventfd on Linux; elsewhere the read end of a pipe (also made on Linux by the tests). Both
/// are non-blocking and close-on-exec.
pub(crate) struct Wakeup {
    read: OwnedFd,
    /// The pipe's write end; None for an eventfd, which is both.
    write: Option<OwnedFd>,
}

impl Wakeup {
    fn new() -> Option<Wakeup> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            Wakeup::eventfd()
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            Wakeup::pipe()
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn eventfd() -> Option<Wakeup> {
        // SAFETY: eventfd takes no pointers and returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        (fd >= 0).then(|| Wakeup {
            // SAFETY: `fd` is open (not -1) and fresh from eventfd, so nothing else owns or
            // will close it.
            read: unsafe { OwnedFd::from_raw_fd(fd) },
            write: None,
        })
    }

    #[cfg_attr(any(target_os = "linux", target_os = "android"), allow(dead_code))]
    fn pipe() -> Option<Wakeup> {
        let mut fds = [-1; 2];
        // SAFETY: `fds` is a writable array of the two ints pipe fills in, or leaves alone
        // on failure.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: pipe succeeded, so both are open descriptors fresh from it that nothing else
        // owns or will close.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [&read, &write] {
            // SAFETY: fcntl on a descriptor we own (kept open by `read`/`write`), with integer
            // arguments only.
            let ok = unsafe {
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) == 0
                    && libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) == 0
            };
            if !ok {
                return None;
            }
        }
        Some(Wakeup {
            read,
            write: Some(write),
        })
    }

    /// Makes the descriptor readable (a full pipe already is).
    fn wake(&self) {
        match &self.write {
            None => {
                let one: u64 = 1;
                // SAFETY: the buffer is the 8 bytes of the local `one`, alive for the call, and
                // the descriptor is our open eventfd; a full counter (never here) only fails.
                unsafe { libc::write(self.read.as_raw_fd(), (&one as *const u64).cast(), 8) };
            }
            Some(write) => {
                // SAFETY: the buffer is one byte of a temporary alive for the call, written to
                // our open pipe; EAGAIN when full, which is readable too.
                unsafe { libc::write(write.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
            }
        }
    }

    /// Makes the descriptor unreadable again.
    fn reset(&self) {
        let mut buf = [0u8; 64];
        loop {
            let n =
                // SAFETY: reads at most buf.len() bytes into the local `buf` from our open,
                // non-blocking descriptor; EAGAIN once drained.
                unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            // An eventfd is drained by one read of its 8-byte counter.
            if n <= 0 || self.write.is_none() {
                break;
            }
        }
    }
}

/// One client's queue of finished asynchronous verifications (and queued log events).
#[derive(Default)]
pub(crate) struct Completions {
    queue: Mutex<VecDeque<Completion>>,
    logs: Mutex<Logs>,
    fd: OnceLock<Option<Wakeup>>,
    next_id: AtomicU64,
    /// The queue's length, kept beside it (changed under its lock) so that a queued call checks
    /// the bound without taking the lock.
    waiting: AtomicUsize,
}

// SAFETY: the only non-Send fields are the raw pointers in queued completions: owned handles
// (tokens and errors, themselves immutable and thread-safe) that nothing else references, so
// moving them with the queue to another thread is sound.
unsafe impl Send for Completions {}
// SAFETY: every access to the queued pointers from `&Completions` goes through the `queue`
// mutex, and each completion is taken out exactly once (poll, discard or drop), so no two
// threads can use or free the same handle.
unsafe impl Sync for Completions {}

impl Drop for Completions {
    fn drop(&mut self) {
        for c in self.queue.get_mut().drain(..) {
            c.free();
        }
    }
}

impl Completions {
    /// Whether JWKS_MAX_QUEUED_COMPLETIONS results wait for jwks_client_poll.
    pub fn full(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) >= JWKS_MAX_QUEUED_COMPLETIONS
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn fd(&self) -> Option<&Wakeup> {
        self.fd.get_or_init(Wakeup::new).as_ref()
    }

    /// Queues a result and wakes the loop.
    pub fn push(&self, id: u64, tag: u64, result: crate::Result<crate::Verified>) {
        let (status, token, error) = super::split_result(result, jwks_token::into_raw);
        let mut queue = self.queue.lock();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        queue.push_back(Completion {
            id,
            tag,
            status,
            token,
            error,
        });
        self.wake();
    }

    fn wake(&self) {
        if let Some(fd) = self.fd() {
            fd.wake();
        }
    }

    /// A logger that queues each event here for jwks_client_poll, which hands it to `logger`'s
    /// hook on the polling thread.
    pub fn queueing(self: &Arc<Self>, logger: &Logger) -> Logger {
        let queue = Arc::downgrade(self);
        Logger {
            hook: Arc::new(move |level, message: &str| {
                if let Some(queue) = queue.upgrade() {
                    queue.push_log(level, message);
                }
            }),
            max_level: logger.max_level,
        }
    }

    fn push_log(&self, level: LogLevel, message: &str) {
        let mut logs = self.logs.lock();
        if logs.events.len() >= MAX_QUEUED_LOGS {
            logs.dropped += 1;
            return;
        }
        logs.events.push_back((level, message.to_owned()));
        // Under the lock, so a concurrent reset_if_empty sees the event or the wake-up.
        self.wake();
    }

    /// Calls `hook` for every queued log event, on this thread, with no lock held.
    fn deliver_logs(&self, hook: &LogFn) {
        let (events, dropped) = {
            let mut logs = self.logs.lock();
            (
                std::mem::take(&mut logs.events),
                std::mem::take(&mut logs.dropped),
            )
        };
        if dropped > 0 {
            hook(
                LogLevel::Warn,
                &format!("{dropped} log events were dropped: jwks_client_poll was not called"),
            );
        }
        for (level, message) in events {
            hook(level, &message);
        }
    }

    /// Drops a queued result that nobody wants any more (its request was freed).
    pub fn discard(&self, id: u64) {
        let mut queue = self.queue.lock();
        if let Some(i) = queue.iter().position(|c| c.id == id) {
            if let Some(c) = queue.remove(i) {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                c.free();
            }
        }
        self.reset_if_empty(&queue);
    }

    /// Clears the wake-up when nothing waits. Called with the queue locked; takes the log lock
    /// too (always in that order), so no push can slip between the check and the read.
    fn reset_if_empty(&self, queue: &VecDeque<Completion>) {
        let logs = self.logs.lock();
        if queue.is_empty() && logs.events.is_empty() {
            if let Some(fd) = self.fd.get().and_then(Option::as_ref) {
                fd.reset();
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
    let call = || {
        // SAFETY: the header requires `client` to be NULL (refused here) or a live client from
        // jwks_client_new that no thread frees during the call; a shared borrow is enough, the
        // client is thread-safe.
        let client = unsafe { arg_ref(client, "client")? };
        // SAFETY: the header requires `fd` to be NULL (refused) or a writable `int *`
        // that nothing else uses during the call.
        let out = unsafe { fd.as_mut() }.ok_or_else(|| super::null_arg("fd"))?;
        let wakeup = client.completions.fd().ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                format!("no wake-up descriptor: {}", std::io::Error::last_os_error()),
            )
        })?;
        *out = wakeup.read.as_raw_fd();
        Ok(())
    };
    // SAFETY: the header requires `err` to be NULL or a writable `jwks_error **`; it receives the
    // error object, if any.
    unsafe { boundary(err, call) }
}

/// Hands out one finished verification of jwks_client_verify_async_queued: returns JWKS_OK and
/// writes its `tag`, its `status`, and either `*token` (a new jwks_token, on JWKS_OK; free with
/// jwks_token_free) or `*error` (a new jwks_error; free with jwks_error_free), the other set to
/// NULL. Returns JWKS_PENDING, writing nothing, when none is waiting. Call it until it returns
/// JWKS_PENDING each time the completion descriptor is readable. With
/// jwks_options_set_log_on_poll, it first calls the log callback for each queued log event, on
/// this thread. Never blocks (beyond the log callback). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn jwks_client_poll(
    client: *const jwks_client,
    tag: *mut u64,
    status: *mut jwks_status,
    token: *mut *mut jwks_token,
    error: *mut *mut jwks_error,
) -> jwks_status {
    super::boundary_or(jwks_status::JWKS_ERR_INTERNAL, || {
        // SAFETY: the header requires `client` to be NULL (refused) or a live, thread-safe
        // client that no thread frees during the call.
        let Some(client) = (unsafe { client.as_ref() }) else {
            return jwks_status::JWKS_ERR_INVALID_ARGUMENT;
        };
        if tag.is_null() || status.is_null() || token.is_null() || error.is_null() {
            return jwks_status::JWKS_ERR_INVALID_ARGUMENT;
        }
        let completions = &client.completions;
        if let Some(hook) = &client.log_on_poll {
            completions.deliver_logs(hook);
        }
        let mut queue = completions.queue.lock();
        let Some(c) = queue.pop_front() else {
            completions.reset_if_empty(&queue);
            return jwks_status::JWKS_PENDING;
        };
        completions.waiting.fetch_sub(1, Ordering::Relaxed);
        completions.reset_if_empty(&queue);
        drop(queue);
        // SAFETY: all four are non-NULL (refused above), and the header requires them to be
        // writable. `c` was popped under the lock, so only this call hands its token or error
        // to the caller, who then owns it.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(w: &Wakeup) -> bool {
        let mut p = libc::pollfd {
            fd: w.read.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one descriptor we own, without waiting.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    #[test]
    fn both_wake_ups_are_readable_after_a_wake_and_not_after_a_reset() {
        let mut kinds = vec![Wakeup::pipe().expect("a pipe")];
        #[cfg(any(target_os = "linux", target_os = "android"))]
        kinds.push(Wakeup::eventfd().expect("an eventfd"));
        for w in kinds {
            assert!(!readable(&w));
            for _ in 0..100_000 {
                w.wake(); // more than a pipe buffer holds: no block, still readable
            }
            assert!(readable(&w));
            w.reset();
            assert!(!readable(&w));
            w.wake();
            assert!(readable(&w));
            w.reset();
            assert!(!readable(&w));
        }
    }
    use crate::ffi::*;
    use std::ptr::{null, null_mut};

    #[test]
    fn a_full_queue_refuses_new_queued_calls_and_keeps_every_accepted_result() {
        // Nothing listens: calls go pending.
        let url = "http://127.0.0.1:1/jwks";
        // SAFETY: every pointer passed is valid with its length, `c` is a live client until
        // jwks_client_free at the end, and every handle made is freed once.
        unsafe {
            let o = jwks_options_new();
            jwks_options_set_uri(o, url.as_ptr().cast(), url.len(), null_mut());
            let mut c = null_mut();
            assert_eq!(jwks_client_new(o, &mut c, null_mut()), jwks_status::JWKS_OK);
            jwks_options_free(o);
            let completions = &(*c).completions;
            // Results of accepted calls arrive past the bound: none is dropped.
            let extra = 10;
            for i in 0..JWKS_MAX_QUEUED_COMPLETIONS + extra {
                let id = completions.next_id();
                completions.push(id, i as u64, Err(Error::new(ErrorKind::Timeout, "t")));
            }
            assert!(completions.full());
            let token = "a.b.c";
            let queued = |err: &mut *mut jwks_error, request: &mut *mut jwks_request| {
                let mut out = null_mut();
                jwks_client_verify_async_queued(
                    c,
                    token.as_ptr().cast(),
                    token.len(),
                    null(),
                    7,
                    &mut out,
                    request,
                    err,
                )
            };
            let (mut err, mut request) = (null_mut(), null_mut());
            assert_eq!(
                queued(&mut err, &mut request),
                jwks_status::JWKS_ERR_CANCELLED
            );
            assert!(request.is_null(), "a refused call makes no request");
            let message = std::ffi::CStr::from_ptr(jwks_error_message(err)).to_string_lossy();
            assert!(message.contains("completion queue is full"), "{message}");
            jwks_error_free(err);
            // Every result comes out once, in order; then the queue takes calls again.
            let (mut tag, mut status, mut t, mut e) =
                (0u64, jwks_status::JWKS_OK, null_mut(), null_mut());
            let mut count = 0u64;
            while jwks_client_poll(c, &mut tag, &mut status, &mut t, &mut e) == jwks_status::JWKS_OK
            {
                assert_eq!((tag, status), (count, jwks_status::JWKS_ERR_TIMEOUT));
                jwks_error_free(e);
                count += 1;
            }
            assert_eq!(count as usize, JWKS_MAX_QUEUED_COMPLETIONS + extra);
            let mut err = null_mut();
            // A malformed token is refused at once: the call was let through.
            assert_eq!(
                queued(&mut err, &mut request),
                jwks_status::JWKS_ERR_MALFORMED_TOKEN
            );
            jwks_error_free(err);
            jwks_client_free(c);
        }
    }
}
