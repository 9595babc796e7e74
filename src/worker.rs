//! A client's background threads: a small pool that runs the fetches the library schedules
//! (background refreshes, and the lookups of the non-blocking and async calls), and an
//! optional refresher that wakes when a cached set is due and hands its refresh to the pool.
//! No global threads: each client starts its own, lazily — pool threads when there is work,
//! exiting after `IDLE_EXIT` without any; the refresher when the first set is cached — so an
//! idle client costs no thread. Dropping the client never waits for them: it raises a stop
//! flag; a thread finishes the fetch it is in (bounded by the timeout) and exits.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// Threads per client running scheduled fetches: started only when there is work, so a
/// higher bound costs nothing idle; four leave room for other sources' refreshes while one
/// slow IdP holds two (its configuration and its keys).
pub(crate) const MAX_WORKERS: usize = 4;

/// A pool thread with nothing to do for this long exits (real time: thread upkeep, not
/// caching behaviour).
const IDLE_EXIT: Duration = Duration::from_secs(5);

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

/// What the refresher runs: `tick` refreshes what is due and says how long until the next
/// thing is (None: nothing cached; look again after `idle`). `poll` caps each sleep, for
/// clocks that do not move with real time.
struct Refresher {
    idle: Duration,
    poll: Option<Duration>,
    tick: Box<dyn FnMut() -> Option<Duration> + Send>,
}

/// The pool of one client.
#[derive(Default)]
pub(crate) struct Worker {
    shared: Arc<Shared>,
    /// Armed at creation when background refresh is on; started by the first cached set.
    refresher: Mutex<Option<Refresher>>,
    refresher_armed: AtomicBool,
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
        // Each idle thread takes one queued job; more jobs than that need another thread.
        if state.queue.len() > state.idle && state.threads < MAX_WORKERS {
            let shared = self.shared.clone();
            let spawned = thread::Builder::new()
                .name("jwks-worker".into())
                .spawn(move || run(shared));
            match spawned {
                Ok(_) => state.threads += 1,
                // No thread would ever run it: hand it back rather than strand it.
                Err(_) if state.threads == 0 => {
                    return state.queue.pop_back().map_or(Ok(()), Err);
                }
                Err(_) => {}
            }
        }
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Arms the refresher: once started, every time `tick` says (None: nothing to refresh
    /// yet, look again after `idle`), it runs `tick` again. `tick` must hold only weak
    /// references to the client, so it can go away at any time.
    pub fn arm_refresher(
        &self,
        idle: Duration,
        poll: Option<Duration>,
        tick: impl FnMut() -> Option<Duration> + Send + 'static,
    ) {
        *self.refresher.lock() = Some(Refresher {
            idle,
            poll,
            tick: Box::new(tick),
        });
        self.refresher_armed.store(true, Ordering::SeqCst);
    }

    /// Starts the armed refresher's thread, once; free when there is none (one atomic load).
    pub fn start_refresher(&self) {
        if !self.refresher_armed.load(Ordering::Relaxed) {
            return;
        }
        let Some(mut r) = self.refresher.lock().take() else {
            return;
        };
        self.refresher_armed.store(false, Ordering::SeqCst);
        let shared = self.shared.clone();
        let _ = thread::Builder::new()
            .name("jwks-refresher".into())
            .spawn(move || loop {
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                let ticked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut r.tick));
                // A panic in one tick must not end background refresh: try again later.
                let wait = ticked.unwrap_or(None).unwrap_or(r.idle);
                let wait = r
                    .poll
                    .map_or(wait, |p| wait.min(p))
                    .max(Duration::from_millis(5));
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
                let timed_out = shared.work.wait_for(&mut state, IDLE_EXIT).timed_out();
                state.idle -= 1;
                if timed_out && state.queue.is_empty() {
                    state.threads -= 1;
                    return;
                }
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
