//! Time, read through a [`Clock`] so tests advance it instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where monotonic readings start: far from zero, so that an age (for example of a set loaded
/// from disk) can be subtracted from "now" without going below zero.
pub const MONOTONIC_ORIGIN: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A source of time. `unix_time` is wall-clock time for token claims (`exp`, `nbf`);
/// `monotonic` never goes backwards, starts at [`MONOTONIC_ORIGIN`] and drives cache lifetimes
/// and rate limits.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Time since the Unix epoch.
    fn unix_time(&self) -> Duration;
    /// Time since an arbitrary fixed point; never decreases.
    fn monotonic(&self) -> Duration;

    /// The longest a library thread waiting for a time on this clock may sleep before it
    /// reads the clock again. None (the default): the clock moves with real time, so a thread
    /// sleeps exactly until it is due. A clock moved by hand returns a short interval, so a
    /// move is noticed promptly.
    fn poll_interval(&self) -> Option<Duration> {
        None
    }
}

/// The real clock: `SystemTime` for claims and `Instant` for everything else.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_time(&self) -> Duration {
        // Coarse too: claims are in whole seconds.
        #[cfg(target_os = "linux")]
        if let Some(now) = crate::os::clock_gettime(libc::CLOCK_REALTIME_COARSE) {
            return now;
        }
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
    }

    fn monotonic(&self) -> Duration {
        // On Linux the kernel's coarse monotonic clock is read as it is (it starts at boot;
        // a tick, at most 4 ms, is precision enough for lifespans, backoff and rate limits,
        // and it is read without the time-stamp counter on every lookup); elsewhere, time
        // since the first reading.
        #[cfg(target_os = "linux")]
        if let Some(now) = crate::os::clock_gettime(libc::CLOCK_MONOTONIC_COARSE) {
            return MONOTONIC_ORIGIN + now;
        }
        static START: OnceLock<Instant> = OnceLock::new();
        MONOTONIC_ORIGIN + START.get_or_init(Instant::now).elapsed()
    }
}

/// A clock that moves only when told to: both readings advance together. For tests.
#[derive(Debug)]
pub struct ManualClock {
    unix_ms: AtomicU64,
    mono_ms: AtomicU64,
}

impl ManualClock {
    /// A clock reading `unix_time` on the wall and [`MONOTONIC_ORIGIN`] on the monotonic scale.
    pub fn new(unix_time: Duration) -> Self {
        ManualClock {
            unix_ms: AtomicU64::new(unix_time.as_millis() as u64),
            mono_ms: AtomicU64::new(MONOTONIC_ORIGIN.as_millis() as u64),
        }
    }

    /// A clock starting at the real current time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.unix_time())
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = by.as_millis() as u64;
        self.unix_ms.fetch_add(ms, Ordering::SeqCst);
        self.mono_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn unix_time(&self) -> Duration {
        Duration::from_millis(self.unix_ms.load(Ordering::SeqCst))
    }

    fn monotonic(&self) -> Duration {
        Duration::from_millis(self.mono_ms.load(Ordering::SeqCst))
    }

    fn poll_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(5))
    }
}
