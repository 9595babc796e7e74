//! The operating-system calls the core makes (fork handler, clock, effective uid), the one place outside the C ABI and the SIMD
//! decoder where `unsafe` is allowed. Each is a thin, documented wrapper; no other module of
//! the core spells `unsafe`.

use std::time::Duration;

/// Registers `child` to run in the child after every `fork()` of this process
/// (`pthread_atfork`); whether it was registered. `child` runs in a just-forked process, so it
/// must be async-signal-safe (an atomic store or add, nothing that locks or allocates).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn on_fork_in_child(child: unsafe extern "C" fn()) -> bool {
    // SAFETY: pthread_atfork only records the handler; the handler stays valid as long as
    // this code is loaded (glibc drops a shared object's handlers when it is unloaded), and
    // the caller gives one that is async-signal-safe.
    unsafe { libc::pthread_atfork(None, None, Some(child)) == 0 }
}

/// The process's effective user id (`geteuid`), which a saved key set's owner must be.
#[cfg(unix)]
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// One `clock_gettime` reading of `clock`, or None if it cannot be read.
#[cfg(target_os = "linux")]
pub(crate) fn clock_gettime(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let status = unsafe { libc::clock_gettime(clock, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u32::try_from(ts.tv_nsec)
        .ok()
        .filter(|n| *n < 1_000_000_000)?;
    (status == 0).then(|| Duration::new(secs, nanos))
}

/// For tests: runs `child` in a forked child, which exits with its answer (0 or 1), and
/// returns that exit status. `child` must be async-signal-safe (it runs after fork in a
/// process that has only this thread).
#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
pub(crate) fn in_forked_child(child: impl FnOnce() -> bool) -> i32 {
    // SAFETY: the child calls only `child` (async-signal-safe by this function's contract)
    // and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = if child() { 0 } else { 1 };
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child made above, writing its status into `status`.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child status {status}");
    libc::WEXITSTATUS(status)
}
