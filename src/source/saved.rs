//! One document in the document store, as its owner (a key source, or an issuer's
//! configuration) sees it: read when the owner is made and, after a failed fetch, at most once
//! per refetch interval; loaded before each fetch, where a newer stored document is adopted
//! instead, and a fetch claimed by another process is waited for; saved after each good fetch.
//! A refusal is reported once, at Warn, and counted each time; an entry refused is read again
//! at most once per refetch interval, whatever the path.

use std::time::Instant;

use super::*;
use crate::store::{DocumentKind, DocumentStore, StoreKey, CLAIM_POLL};

pub(crate) struct StoredDoc {
    store: Arc<dyn DocumentStore>,
    key: StoreKey,
    /// When the document was last read by [`StoredDoc::read`], or refused on any path
    /// (monotonic ms + 1; 0: never).
    read_at: AtomicU64,
    /// Whether the last load was refused: loads before a fetch then wait for the interval too.
    refused: AtomicBool,
    /// Whether a refusal was reported (once per owner).
    reported: AtomicBool,
}

/// What to do instead of, or before, a fetch.
pub(crate) enum BeforeFetch<T> {
    /// Use this stored document (fetched by someone else at that Unix time, with the max-age
    /// its server advertised), not a fetch.
    Adopt(T, Duration, Option<Duration>),
    /// Fetch; `claimed`: this process holds the store's claim and must release it after.
    Fetch { claimed: bool },
}

impl StoredDoc {
    pub fn new(store: Arc<dyn DocumentStore>, kind: DocumentKind, uri: &str) -> StoredDoc {
        StoredDoc {
            store,
            key: StoreKey::new(kind, uri),
            read_at: AtomicU64::new(0),
            refused: AtomicBool::new(false),
            reported: AtomicBool::new(false),
        }
    }

    /// The stored document, turned into a value by `accept`, its fetch time (Unix, clamped to
    /// now) and the max-age its server advertised. None when there is none, when it was read
    /// less than `interval` ago, or when it is refused: by the store, or not accepted.
    pub fn read<T>(
        &self,
        f: &Fetching,
        interval: Duration,
        accept: impl FnOnce(&str) -> std::result::Result<T, String>,
    ) -> Option<(T, Duration, Option<Duration>)> {
        if self.read_recently(f, interval) {
            return None;
        }
        self.read_at.store(mono_ms(f), Ordering::Relaxed);
        self.load(f, None, accept)
    }

    /// Whether the last read (or refusal) was less than `interval` ago.
    fn read_recently(&self, f: &Fetching, interval: Duration) -> bool {
        let last = self.read_at.load(Ordering::Relaxed);
        let interval = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        last != 0 && mono_ms(f).saturating_sub(last) < interval.max(1)
    }

    /// The stored document, turned into a value by `accept`, with its fetch time (Unix,
    /// clamped to now) and advertised max-age; refusals are counted and reported once. With
    /// `wanted` (a load before a fetch), only a document it says yes to (given its fetch time
    /// and max-age), and never one dated in the future (beyond [`CLOCK_SKEW`]): adopted, such a
    /// date would make it look just fetched at every look.
    fn load<T>(
        &self,
        f: &Fetching,
        wanted: Option<&dyn Fn(Duration, Option<Duration>) -> bool>,
        accept: impl FnOnce(&str) -> std::result::Result<T, String>,
    ) -> Option<(T, Duration, Option<Duration>)> {
        let max = f.max_response_bytes;
        let loaded = self.store.load(&self.key, max).and_then(|found| {
            let Some(doc) = found else { return Ok(None) };
            if doc.text.len() > max {
                return Err(format!(
                    "holds a text larger than the response size limit ({max} bytes)"
                ));
            }
            let now = f.clock.unix_time();
            let at = doc.fetched_at_unix.min(now);
            if let Some(wanted) = wanted {
                if doc.fetched_at_unix > now.saturating_add(CLOCK_SKEW) || !wanted(at, doc.max_age)
                {
                    return Ok(None);
                }
            }
            accept(&doc.text).map(|value| Some((value, at, doc.max_age)))
        });
        self.refused.store(loaded.is_err(), Ordering::Relaxed);
        match loaded {
            Ok(found) => found,
            Err(reason) => {
                self.read_at.store(mono_ms(f), Ordering::Relaxed);
                bump(&f.counters.persist_refused);
                if !self.reported.swap(true, Ordering::Relaxed) {
                    let entry = self.store.describe(&self.key);
                    f.log(LogLevel::Warn, || format!("the {entry} {reason}: ignored"));
                }
                None
            }
        }
    }

    /// Before a fetch: a stored document whose fetch time `adopt` accepts (newer than the
    /// owner's, and fresh enough) is used instead. Otherwise the fetch is claimed; while
    /// another process holds the claim, the store is polled for its document, and the fetch
    /// goes ahead once the claim is released or after `wait` (the claimer may have died). An
    /// entry refused less than `interval` ago is not loaded again.
    pub fn before_fetch<T>(
        &self,
        f: &Fetching,
        (wait, interval): (Duration, Duration),
        adopt: impl Fn(Duration, Option<Duration>) -> bool,
        accept: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> BeforeFetch<T> {
        let try_adopt = || {
            if self.refused.load(Ordering::Relaxed) && self.read_recently(f, interval) {
                return None;
            }
            let (value, at, max_age) = self.load(f, Some(&adopt), &accept)?;
            bump(&f.counters.store_adopted);
            Some(BeforeFetch::Adopt(value, at, max_age))
        };
        if let Some(adopted) = try_adopt() {
            return adopted;
        }
        let claim = || {
            let now = f.clock.unix_time();
            self.store.claim(&self.key, now, now.saturating_add(wait))
        };
        // Granted: one more look, for a set saved (and its claim released) between the first
        // look and the claim, so that this process does not fetch it again.
        let claimed = || {
            if !claim() {
                return None;
            }
            Some(
                try_adopt()
                    .inspect(|_| self.release())
                    .unwrap_or(BeforeFetch::Fetch { claimed: true }),
            )
        };
        if let Some(next) = claimed() {
            return next;
        }
        bump(&f.counters.store_claim_waits);
        // Real time, not the client's clock: the claimer fetches in real time.
        let deadline = Instant::now() + wait;
        loop {
            std::thread::sleep(CLAIM_POLL);
            if let Some(adopted) = try_adopt() {
                return adopted;
            }
            if Instant::now() >= deadline {
                return BeforeFetch::Fetch { claimed: false };
            }
            if let Some(next) = claimed() {
                return next;
            }
        }
    }

    /// Keeps `text`, fetched at `fetched_at_unix` with `max_age` advertised, as the last good
    /// document.
    pub fn save(&self, text: &str, fetched_at_unix: Duration, max_age: Option<Duration>) {
        self.store.save(
            &self.key,
            &crate::store::StoredDocument {
                text: text.to_owned(),
                fetched_at_unix,
                max_age,
            },
        );
    }

    /// Gives up the claim taken by [`StoredDoc::before_fetch`].
    pub fn release(&self) {
        self.store.release(&self.key);
    }
}

/// How far in the future a stored fetch time may be and still be adopted before a fetch: the
/// clocks of hosts sharing a store over the network differ a little.
const CLOCK_SKEW: Duration = Duration::from_secs(5);

/// The client's monotonic time in ms, + 1 so that 0 means "never".
fn mono_ms(f: &Fetching) -> u64 {
    u64::try_from(f.now().as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// Unix milliseconds, the precision documents are stored with.
pub(crate) fn unix_ms(at: Duration) -> u64 {
    u64::try_from(at.as_millis()).unwrap_or(u64::MAX)
}
