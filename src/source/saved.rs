//! A saved file as its reader sees it: read when its owner is made and, after that, at most
//! once per refetch interval; a refusal reported once, at Warn, and counted each time.

use super::*;
use crate::cache::persist::Kind;

pub(crate) struct SavedFile {
    persist: Persist,
    /// When the file was last read (monotonic ms + 1; 0: never).
    read_at: AtomicU64,
    /// Whether a refusal was reported (once per owner).
    reported: AtomicBool,
}

impl SavedFile {
    pub fn new(kind: Kind, dir: &Path, uri: &str) -> SavedFile {
        SavedFile {
            persist: Persist::of(kind, dir, uri),
            read_at: AtomicU64::new(0),
            reported: AtomicBool::new(false),
        }
    }

    /// The saved text of `uri`, turned into a value by `accept`, and its fetch time (Unix,
    /// clamped to now). None when there is no file, when it was read less than `interval` ago,
    /// or when it is refused: not trusted, not a record of `uri`, or not accepted.
    pub fn read<T>(
        &self,
        f: &Fetching,
        uri: &str,
        interval: Duration,
        accept: impl FnOnce(&str) -> std::result::Result<T, String>,
    ) -> Option<(T, Duration)> {
        let now_ms = u64::try_from(f.now().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let last = self.read_at.load(Ordering::Relaxed);
        let interval = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        if last != 0 && now_ms.saturating_sub(last) < interval.max(1) {
            return None;
        }
        self.read_at.store(now_ms, Ordering::Relaxed);
        let loaded = self
            .persist
            .load(uri, f.max_response_bytes, f.clock.unix_time())
            .and_then(|found| match found {
                None => Ok(None),
                Some((text, at)) => accept(&text).map(|value| Some((value, at))),
            });
        match loaded {
            Ok(found) => found,
            Err(reason) => {
                bump(&f.counters.persist_refused);
                if !self.reported.swap(true, Ordering::Relaxed) {
                    let (noun, path) = (self.persist.kind().noun(), self.persist.display());
                    f.log(LogLevel::Warn, || {
                        format!("the {noun} {path} {reason}: ignored")
                    });
                }
                None
            }
        }
    }

    /// Saves `text` as the last good one of `uri`; an error is the caller's to ignore (the
    /// file is a convenience for the next start, never needed to serve).
    pub fn save(&self, uri: &str, text: &str, fetched_at_unix: Duration) -> std::io::Result<()> {
        self.persist.save(uri, text, fetched_at_unix)
    }
}
