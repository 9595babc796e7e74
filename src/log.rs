//! An optional log hook: the library reports fetch failures, recoveries and stale serving
//! through it, each event once, never while holding a lock.

use std::fmt;
use std::sync::Arc;

/// Severity of a log event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// A fetch failed and no usable set remains.
    Error = 1,
    /// A fetch failed (the last good set may still serve).
    Warn = 2,
    /// Recoveries and other notable events.
    Info = 3,
    /// Every fetch.
    Debug = 4,
}

/// The hook: called with a level and a message (never token or key bytes). It must not call
/// back into the client that logs (that can deadlock) and should return quickly.
pub type LogFn = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// A hook and the most verbose level it wants.
#[derive(Clone)]
pub struct Logger {
    /// The hook.
    pub hook: LogFn,
    /// Events above this level are not reported.
    pub max_level: LogLevel,
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("max_level", &self.max_level)
            .finish_non_exhaustive()
    }
}

impl Logger {
    pub(crate) fn log(&self, level: LogLevel, message: impl FnOnce() -> String) {
        if level <= self.max_level {
            (self.hook)(level, &message());
        }
    }
}
