//! A client's background threads: a small pool that runs fetches the non-blocking calls
//! schedule, and an optional refresher that renews key sets shortly before they expire. No
//! global threads: each client starts its own, lazily, at most `MAX_WORKERS` plus the
//! refresher. Dropping the client never waits for them: it raises a stop flag; a thread
//! finishes the fetch it is in (bounded by the timeout) and exits.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// Threads per client running scheduled fetches.
pub(crate) const MAX_WORKERS: usize = 2;

/// Queued jobs per client; past this, scheduling is refused (the caller still gets "pending"
/// and a fetch already queued or running will answer it).
const MAX_QUEUED: usize = 1024;

/// Work for the pool. `cancel` runs instead of `run` when the client goes away before the job
/// started (on a pool thread, like `run`).
pub(crate) trait Job: Send {
    fn run(self: Box<Self>);
    fn cancel(self: Box<Self>);
}

/// A job that only runs (nothing to tell anyone when cancelled).
pub(crate) struct Task<F>(pub F);

impl<F: FnOnce() + Send> Job for Task<F> {
    fn run(self: Box<Self>) {
        (self.0)()
    }

    fn cancel(self: Box<Self>) {}
}

#[derive(Default)]
struct State {
    queue: VecDeque<Box<dyn Job>>,
    threads: usize,
    idle: usize,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    work: Condvar,
    stop: AtomicBool,
    /// Wakes the refresher early (stop).
    refresher: Condvar,
    refresher_lock: Mutex<()>,
}

/// The pool of one client.
#[derive(Default)]
pub(crate) struct Worker {
    shared: Arc<Shared>,
}

impl Worker {
    /// Queues `job`; starts a thread if none is idle and fewer than `MAX_WORKERS` run. Hands
    /// the job back when the queue is full or the client is stopping.
    pub fn submit(&self, job: Box<dyn Job>) -> Result<(), Box<dyn Job>> {
        if self.shared.stop.load(Ordering::SeqCst) {
            return Err(job);
        }
        let mut state = self.shared.state.lock();
        if state.queue.len() >= MAX_QUEUED {
            return Err(job);
        }
        state.queue.push_back(job);
        if state.idle == 0 && state.threads < MAX_WORKERS {
            let shared = self.shared.clone();
            let spawned = thread::Builder::new()
                .name("jwks-worker".into())
                .spawn(move || run(shared));
            if spawned.is_ok() {
                state.threads += 1;
            }
        }
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Starts the refresher: every time `next_due` says (None: nothing to refresh yet, look
    /// again after `idle`), it runs `refresh_due`. Both hold only weak references to the
    /// client, so it can go away at any time.
    pub fn start_refresher(
        &self,
        idle: Duration,
        mut tick: impl FnMut() -> Option<Duration> + Send + 'static,
    ) {
        let shared = self.shared.clone();
        let _ = thread::Builder::new()
            .name("jwks-refresher".into())
            .spawn(move || loop {
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                let wait = tick().unwrap_or(idle).max(Duration::from_millis(10));
                let mut guard = shared.refresher_lock.lock();
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                shared.refresher.wait_for(&mut guard, wait);
            });
    }
}

impl Worker {
    /// Raises the stop flag and wakes every thread; never joins (a thread may be in a fetch,
    /// or may even be the one dropping the client). The threads cancel the jobs still queued.
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.work.notify_all();
        let _guard = self.shared.refresher_lock.lock();
        self.shared.refresher.notify_all();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(shared: Arc<Shared>) {
    loop {
        let (job, stopping) = {
            let mut state = shared.state.lock();
            loop {
                let stopping = shared.stop.load(Ordering::SeqCst);
                if let Some(job) = state.queue.pop_front() {
                    break (job, stopping);
                }
                if stopping {
                    state.threads -= 1;
                    return;
                }
                state.idle += 1;
                shared.work.wait(&mut state);
                state.idle -= 1;
            }
        };
        // A job must not take the pool down with it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            if stopping {
                job.cancel()
            } else {
                job.run()
            }
        }));
    }
}
