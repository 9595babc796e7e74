//! Asynchronous verification: a cache hit answers at once; otherwise the verification runs on
//! one of the client's threads and a completion callback receives the result exactly once,
//! unless the caller cancels first.

use std::sync::{Arc, Weak};
use std::thread::{self, ThreadId};

use parking_lot::{Condvar, Mutex};

use crate::client::{Client, Inner, Verified};
use crate::error::{Error, ErrorKind, Result};
use crate::validation::VerifyOptions;
use crate::worker::Job;

/// Receives the result of an asynchronous verification, on a library thread.
pub type Callback = Box<dyn FnOnce(Result<Verified>) + Send>;

/// What [`Client::verify_async`] did.
pub enum AsyncVerify {
    /// Answered from the cache; the callback will not be called.
    Ready(Verified),
    /// A fetch is needed: the callback will be called exactly once, on a library thread,
    /// unless [`Request::cancel`] returns first.
    Pending(Request),
}

enum Phase {
    Waiting(Callback),
    Running(ThreadId),
    Finished,
}

struct State {
    phase: Mutex<Phase>,
    finished: Condvar,
    /// The client's pending-request counter, decremented when the request finishes.
    pending: Weak<Inner>,
}

impl State {
    /// Moves to Finished from Waiting or Running, once, and updates the pending count.
    fn finish(&self, phase: &mut Phase) {
        if !matches!(phase, Phase::Finished) {
            *phase = Phase::Finished;
            if let Some(inner) = self.pending.upgrade() {
                Client::from_inner(inner).request_finished();
            }
        }
    }
}

impl State {
    /// Calls the callback unless it was cancelled; marks the request finished.
    fn deliver(&self, result: Result<Verified>) {
        let callback = {
            let mut phase = self.phase.lock();
            match std::mem::replace(&mut *phase, Phase::Running(thread::current().id())) {
                Phase::Waiting(callback) => callback,
                other => {
                    *phase = other;
                    return;
                }
            }
        };
        callback(result);
        let mut phase = self.phase.lock();
        self.finish(&mut phase);
        drop(phase);
        self.finished.notify_all();
    }
}

/// A pending asynchronous verification: lets its caller drop interest.
pub struct Request {
    state: Arc<State>,
}

impl Request {
    /// After this returns, the callback will not run: if it has not started it never will; if
    /// it is running on another thread this waits for it to return. Called from inside the
    /// callback itself, it returns at once. Idempotent.
    pub fn cancel(&self) {
        let mut phase = self.state.phase.lock();
        loop {
            match &*phase {
                Phase::Waiting(_) => {
                    self.state.finish(&mut phase);
                    return;
                }
                Phase::Running(id) if *id != thread::current().id() => {
                    self.state.finished.wait(&mut phase);
                }
                _ => return,
            }
        }
    }

    /// Whether the callback has run (or the request was cancelled).
    pub fn is_finished(&self) -> bool {
        matches!(*self.state.phase.lock(), Phase::Finished)
    }
}

pub(crate) fn cancelled() -> Error {
    Error::new(
        ErrorKind::Cancelled,
        "the client was freed before this verification could run",
    )
}

struct VerifyJob {
    client: Weak<Inner>,
    token: String,
    options: Option<VerifyOptions>,
    state: Arc<State>,
}

impl Job for VerifyJob {
    fn run(self: Box<Self>) {
        let result = match self.client.upgrade().map(Client::from_inner) {
            Some(client) if !client.is_closed() => {
                let result = match &self.options {
                    None => client.verify(&self.token),
                    Some(o) => client.verify_with(&self.token, o),
                };
                // Freed while this ran: the caller no longer expects a result.
                if client.is_closed() {
                    Err(cancelled())
                } else {
                    result
                }
            }
            _ => Err(cancelled()),
        };
        self.state.deliver(result);
    }

    fn cancel(self: Box<Self>) {
        self.state.deliver(Err(cancelled()));
    }
}

impl Drop for VerifyJob {
    /// A safety net: a job dropped unrun still makes its one callback.
    fn drop(&mut self) {
        self.state.deliver(Err(cancelled()));
    }
}

impl Client {
    /// Verifies without blocking the caller: `Ready` when the cache answers (the callback is
    /// not called), `Pending` when a fetch is needed (the verification then runs on a library
    /// thread and `callback` gets its result exactly once, unless cancelled first), or an
    /// error the cache can decide at once (no callback). The token and options are copied.
    pub fn verify_async(
        &self,
        token: &str,
        options: Option<&VerifyOptions>,
        callback: Callback,
    ) -> Result<AsyncVerify> {
        let now = match options {
            None => self.verify_nonblocking(token),
            Some(o) => self.verify_nonblocking_with(token, o),
        };
        match now {
            Ok(verified) => Ok(AsyncVerify::Ready(verified)),
            Err(e) if e.kind() == ErrorKind::Pending => {
                let state = Arc::new(State {
                    phase: Mutex::new(Phase::Waiting(callback)),
                    finished: Condvar::new(),
                    pending: self.downgrade(),
                });
                self.request_started();
                let job = VerifyJob {
                    client: self.downgrade(),
                    token: token.to_owned(),
                    options: options.cloned(),
                    state: state.clone(),
                };
                if let Err(job) = self.submit(Box::new(job)) {
                    // Not queued: no callback may follow an error, so retire the request
                    // before the job (and its safety net) goes away.
                    state.finish(&mut state.phase.lock());
                    drop(job);
                    return Err(Error::new(
                        ErrorKind::Cancelled,
                        "the client is shutting down or its queue is full",
                    ));
                }
                Ok(AsyncVerify::Pending(Request { state }))
            }
            Err(e) => Err(e),
        }
    }
}
