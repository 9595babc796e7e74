//! Which process a client belongs to, checked on every call at the cost of one atomic load.
//!
//! A client refuses use in a forked child (its locks and fetches in flight do not exist
//! there). Comparing `getpid()` on every call costs a system call per verification, since
//! glibc no longer caches the pid, and a server's worker pays it on each request. A
//! `pthread_atfork` child handler instead counts the forks this process descends from; a
//! client records the count at creation and compares it. `fork()` runs the handler in every
//! child; children made otherwise (`vfork`, `posix_spawn`, Go's `ForkExec`) may only call
//! `exec` and never reach a client. Where the handler cannot be installed, the check falls
//! back to the pid.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;

/// Forks between the first client and this process, counted in each child.
static FORKS: AtomicU64 = AtomicU64::new(0);
static WATCH: Once = Once::new();
static WATCHING: AtomicBool = AtomicBool::new(false);

#[cfg(any(target_os = "linux", target_os = "android"))]
extern "C" fn forked() {
    // Async-signal-safe: one atomic add.
    FORKS.fetch_add(1, Ordering::Relaxed);
}

fn watch_forks() {
    WATCH.call_once(|| {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // The handler only touches an atomic: async-signal-safe.
            WATCHING.store(crate::os::on_fork_in_child(forked), Ordering::Release);
        }
    });
}

/// The process a client was made in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Process {
    forks: u64,
    pid: u32,
}

impl Process {
    /// This process. Installs the fork watch on first use.
    pub(crate) fn current() -> Process {
        watch_forks();
        Process {
            forks: FORKS.load(Ordering::Relaxed),
            pid: std::process::id(),
        }
    }

    /// Whether the calling process is the one `self` was taken in.
    pub(crate) fn is_current(&self) -> bool {
        if WATCHING.load(Ordering::Relaxed) {
            FORKS.load(Ordering::Relaxed) == self.forks
        } else {
            std::process::id() == self.pid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_taking_process_is_current() {
        let here = Process::current();
        assert!(here.is_current());
        assert_eq!(here, Process::current());
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_forked_child_is_another_process() {
        let here = Process::current();
        // The child only reads atomics: async-signal-safe.
        assert_eq!(
            crate::os::in_forked_child(|| !here.is_current()),
            0,
            "the child took itself for its parent"
        );
        assert!(here.is_current());
    }
}
