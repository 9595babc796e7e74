//! Asynchronous calls: a cache hit answers at once; otherwise the work runs on one of the
//! client's threads and a completion callback receives the result exactly once, unless the
//! caller cancels first.

use std::sync::{Arc, Weak};
use std::thread::{self, ThreadId};

use parking_lot::{Condvar, Mutex};

use crate::client::{Client, Inner, Verified};
use crate::error::{Error, ErrorKind, Result};
use crate::jose::keys::{Key, KeySet};
use crate::jose::validation::VerifyOptions;
use crate::worker::Job;

/// Receives the result of an asynchronous call, on a library thread.
pub type Callback<T = Verified> = Box<dyn FnOnce(Result<T>) + Send>;

/// What an asynchronous call did.
pub enum Async<T> {
    /// Answered from the cache; the callback will not be called.
    Ready(T),
    /// A fetch is needed: the callback will be called exactly once, on a library thread,
    /// unless [`Request::cancel`] returns first.
    Pending(Request),
}

/// What [`Client::verify_async`] did.
pub type AsyncVerify = Async<Verified>;

enum Phase<T> {
    Waiting(Callback<T>),
    Running(ThreadId),
    Finished,
}

struct State<T> {
    phase: Mutex<Phase<T>>,
    finished: Condvar,
    /// The client, for its pending-request counter.
    client: Weak<Inner>,
}

impl<T> State<T> {
    /// Moves to Finished, once, and updates the pending count.
    fn finish(&self, phase: &mut Phase<T>) {
        if !matches!(phase, Phase::Finished) {
            *phase = Phase::Finished;
            if let Some(inner) = self.client.upgrade() {
                Client::from_inner(inner).request_finished();
            }
        }
    }

    /// Calls the callback unless it was cancelled; marks the request finished.
    fn deliver(&self, result: Result<T>) {
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

trait Cancel: Send + Sync {
    fn cancel(&self);
    fn is_finished(&self) -> bool;
}

impl<T: Send> Cancel for State<T> {
    fn cancel(&self) {
        let mut phase = self.phase.lock();
        loop {
            match &*phase {
                Phase::Waiting(_) => {
                    self.finish(&mut phase);
                    return;
                }
                Phase::Running(id) if *id != thread::current().id() => {
                    self.finished.wait(&mut phase);
                }
                _ => return,
            }
        }
    }

    fn is_finished(&self) -> bool {
        matches!(*self.phase.lock(), Phase::Finished)
    }
}

/// A pending asynchronous call: lets its caller drop interest.
pub struct Request {
    state: Arc<dyn Cancel>,
}

impl Request {
    /// After this returns, the callback will not run: if it has not started it never will; if
    /// it is running on another thread this waits for it to return. Called from inside the
    /// callback itself, it returns at once. Idempotent.
    pub fn cancel(&self) {
        self.state.cancel()
    }

    /// Whether the callback has run (or the request was cancelled).
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }
}

pub(crate) fn cancelled() -> Error {
    Error::new(
        ErrorKind::Cancelled,
        "the client was freed before this call could complete",
    )
}

struct AsyncJob<T, F> {
    client: Weak<Inner>,
    work: Option<F>,
    state: Arc<State<T>>,
}

impl<T: Send, F: FnOnce(&Client) -> Result<T> + Send> Job for AsyncJob<T, F> {
    fn run(mut self: Box<Self>) {
        let result = match (
            self.client.upgrade().map(Client::from_inner),
            self.work.take(),
        ) {
            (Some(client), Some(work)) if !client.is_closed() => {
                let result = work(&client);
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

impl<T, F> Drop for AsyncJob<T, F> {
    /// A safety net: a job dropped unrun still makes its one callback.
    fn drop(&mut self) {
        self.state.deliver(Err(cancelled()));
    }
}

impl Client {
    /// The common part: `now` is the non-blocking attempt; on `Pending`, `work` runs the
    /// blocking call on a library thread and its result goes to `callback`.
    fn start_async<T: Send + 'static>(
        &self,
        now: Result<T>,
        callback: Callback<T>,
        work: impl FnOnce(&Client) -> Result<T> + Send + 'static,
    ) -> Result<Async<T>> {
        match now {
            Ok(value) => Ok(Async::Ready(value)),
            Err(e) if e.kind() == ErrorKind::Pending => {
                let state = Arc::new(State {
                    phase: Mutex::new(Phase::Waiting(callback)),
                    finished: Condvar::new(),
                    client: self.downgrade(),
                });
                self.request_started();
                let job = AsyncJob {
                    client: self.downgrade(),
                    work: Some(work),
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
                Ok(Async::Pending(Request { state }))
            }
            Err(e) => Err(e),
        }
    }

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
        let (token, options) = (token.to_owned(), options.cloned());
        self.start_async(now, callback, move |client| match &options {
            None => client.verify(&token),
            Some(o) => client.verify_with(&token, o),
        })
    }

    /// [`Client::get_jwk_set`] without blocking the caller, as [`Client::verify_async`]: a
    /// fresh cached set is `Ready` unless `refresh` asks for a fetch. Fixed-URL mode only.
    pub fn get_jwk_set_async(
        &self,
        refresh: bool,
        callback: Callback<Arc<KeySet>>,
    ) -> Result<Async<Arc<KeySet>>> {
        let now = if refresh {
            self.uri()
                .map(|_| ())
                .ok_or_else(|| Error::invalid_argument("get_jwk_set needs a fixed JWKS URL"))
                .and(Err(Error::new(ErrorKind::Pending, "a fetch was asked for")))
        } else {
            self.get_jwk_set_nonblocking()
        };
        self.start_async(now, callback, move |client| client.get_jwk_set(refresh))
    }

    /// [`Client::get_signing_key_from_jwt`] without blocking the caller, as
    /// [`Client::verify_async`] (the token is not verified).
    pub fn get_signing_key_from_jwt_async(
        &self,
        token: &str,
        callback: Callback<Arc<Key>>,
    ) -> Result<Async<Arc<Key>>> {
        let now = self.get_signing_key_from_jwt_nonblocking(token);
        let token = token.to_owned();
        self.start_async(now, callback, move |client| {
            client.get_signing_key_from_jwt(&token)
        })
    }

    /// [`Client::get_signing_key_for_issuer`] without blocking the caller, as
    /// [`Client::verify_async`].
    pub fn get_signing_key_for_issuer_async(
        &self,
        issuer: &str,
        kid: &str,
        callback: Callback<Arc<Key>>,
    ) -> Result<Async<Arc<Key>>> {
        let now = self.get_signing_key_for_issuer_nonblocking(issuer, kid);
        let (issuer, kid) = (issuer.to_owned(), kid.to_owned());
        self.start_async(now, callback, move |client| {
            client.get_signing_key_for_issuer(&issuer, &kid)
        })
    }

    /// [`Client::get_signing_key`] without blocking the caller, as [`Client::verify_async`].
    /// Fixed-URL mode only.
    pub fn get_signing_key_async(
        &self,
        kid: &str,
        callback: Callback<Arc<Key>>,
    ) -> Result<Async<Arc<Key>>> {
        let now = self.get_signing_key_nonblocking(kid);
        let kid = kid.to_owned();
        self.start_async(now, callback, move |client| client.get_signing_key(&kid))
    }
}
