//! The document store: where a client finds the documents it fetches (JWK Sets and OpenID
//! configuration documents) saved by itself, by other clients or by other processes, so that a
//! new process starts warm and a fleet of processes sharing one store makes one request per
//! refresh instead of one each.
//!
//! A client with a store ([`crate::ClientOptions::store`], or `persist_dir`, which is the
//! built-in [`FileStore`]):
//! - loads each document when it is made, and again when a first fetch fails (at most once per
//!   refetch interval), and serves it within `max_stale` of its original fetch time;
//! - before any fetch (cold, refresh, unknown kid), loads it and adopts a stored document that
//!   is newer than its own and still fresh, instead of fetching;
//! - otherwise claims the fetch: a process refused the claim polls the store (every
//!   [`CLAIM_POLL`]) until the claimer's document appears, the claim is released or its
//!   deadline (the fetch timeout) passes, and only then fetches itself;
//! - saves each good document it fetched, then releases the claim.
//!
//! **Trust.** A stored document is no more trusted than a fetched one: it is parsed with the
//! same rules, must fit `max_response_bytes`, and its fetch time is clamped to now, so an entry
//! cannot extend its own life. A store that can be written by others than the process's user
//! lets them choose the keys: keep it as private as the file store's directory.
//!
//! **Threads.** The store is called on the threads that fetch: the library's worker threads
//! for background refreshes and the non-blocking calls, and the caller's thread for a blocking
//! verification that must fetch. Never under a lock of the library. Each call must be
//! thread-safe and should return within a few milliseconds: a store over the network (Redis,
//! memcached) needs a short timeout of its own, and failing is always allowed (a failed load
//! is "none", a failed save is dropped, a failed claim should grant).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::cache::persist::Kind as DocumentKind;
use crate::cache::persist::Persist;

/// How often a process refused a fetch claim looks at the store again.
pub const CLAIM_POLL: Duration = Duration::from_millis(10);

/// What a store entry is called: the kind of document and its URL. Its text form, the one
/// stores see, is `"jwks <url>"` or `"openid-configuration <url>"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreKey {
    kind: DocumentKind,
    uri: String,
    text: String,
}

impl StoreKey {
    /// The key of the document of `kind` fetched from `uri`.
    pub fn new(kind: DocumentKind, uri: &str) -> StoreKey {
        StoreKey {
            kind,
            uri: uri.to_owned(),
            text: format!("{} {uri}", kind.prefix()),
        }
    }

    /// What the document is.
    pub fn kind(&self) -> DocumentKind {
        self.kind
    }

    /// The URL the document was fetched from.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// `"jwks <url>"` or `"openid-configuration <url>"`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A document as a store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    /// The body as fetched (JSON text).
    pub text: String,
    /// When it was fetched, since the Unix epoch.
    pub fetched_at_unix: Duration,
    /// How long its server said it stays fresh (`Cache-Control: max-age`, or `Expires`), as
    /// the server said it: each client that takes the document applies its own rules to it
    /// (its clamps, or its own absolute lifespan), as it would to a response it fetched. None:
    /// the server said nothing.
    pub max_age: Option<Duration>,
}

/// A place to share fetched documents; see the module's documentation for when each method is
/// called, on which thread, and how much a stored document is trusted.
pub trait DocumentStore: Send + Sync {
    /// The last good document under `key`. `Ok(None)`: there is none, or the entry is torn or
    /// corrupt. `Err(reason)`: there is one, but it is refused (reported once per entry, at
    /// Warn, and counted in `persist_refused`). A text longer than `max_bytes` may be refused
    /// here; the library refuses it anyway.
    fn load(&self, key: &StoreKey, max_bytes: usize) -> Result<Option<StoredDocument>, String>;

    /// Keeps `doc` as the last good document under `key`. Best effort: nothing fails if it is
    /// not kept.
    fn save(&self, key: &StoreKey, doc: &StoredDocument);

    /// Whether this process may fetch `key` now: grants when no claim on `key` is held or the
    /// one held has passed its deadline, and then holds the claim until `until_unix` (or
    /// [`DocumentStore::release`]). The default always grants: every process fetches for
    /// itself, and the store only makes them warm.
    fn claim(&self, key: &StoreKey, now_unix: Duration, until_unix: Duration) -> bool {
        let _ = (key, now_unix, until_unix);
        true
    }

    /// Gives up a claim this process holds on `key` (after its fetch, good or not).
    fn release(&self, key: &StoreKey) {
        let _ = key;
    }

    /// How reports name the entry, for example "saved key set /var/cache/x/jwks-….json".
    fn describe(&self, key: &StoreKey) -> String {
        format!("stored {}", key.as_str())
    }
}

/// The built-in store: one file per document in a directory (`persist_dir`), written
/// atomically with mode 0600 and trusted only when it is the process's user's own and not
/// writable by others, in a directory others cannot write. Several processes may share the
/// directory. Its claim always grants: files make processes warm, not one fetch per fleet.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// The store in `dir`. The directory is checked when a client is made with it.
    pub fn new(dir: impl Into<PathBuf>) -> FileStore {
        FileStore { dir: dir.into() }
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, key: &StoreKey) -> Persist {
        Persist::of(key.kind, &self.dir, &key.uri)
    }
}

impl DocumentStore for FileStore {
    fn load(&self, key: &StoreKey, max_bytes: usize) -> Result<Option<StoredDocument>, String> {
        Ok(self
            .file(key)
            .load(&key.uri, max_bytes, Duration::MAX)?
            .map(|(text, fetched_at_unix, max_age)| StoredDocument {
                text,
                fetched_at_unix,
                max_age,
            }))
    }

    fn save(&self, key: &StoreKey, doc: &StoredDocument) {
        // Best effort: a full disk must not fail the verification that fetched.
        let _ = self
            .file(key)
            .save(&key.uri, &doc.text, doc.fetched_at_unix, doc.max_age);
    }

    fn describe(&self, key: &StoreKey) -> String {
        let file = self.file(key);
        format!("{} {}", key.kind.noun(), file.display())
    }
}

/// A store backed by files: the store is asked first and the files only when it has nothing
/// (a shared-memory store is empty after a full restart, the files are not); both keep each
/// document; the store's claim decides. What a client with both a store and `persist_dir` uses.
pub(crate) struct Tiered {
    pub store: std::sync::Arc<dyn DocumentStore>,
    pub files: FileStore,
}

impl DocumentStore for Tiered {
    fn load(&self, key: &StoreKey, max_bytes: usize) -> Result<Option<StoredDocument>, String> {
        match self.store.load(key, max_bytes) {
            Ok(Some(doc)) => Ok(Some(doc)),
            // A refusal of the store's entry is reported; the files may still serve.
            stored => match self.files.load(key, max_bytes) {
                Ok(None) => stored,
                from_files => from_files,
            },
        }
    }

    fn save(&self, key: &StoreKey, doc: &StoredDocument) {
        self.store.save(key, doc);
        self.files.save(key, doc);
    }

    fn claim(&self, key: &StoreKey, now_unix: Duration, until_unix: Duration) -> bool {
        self.store.claim(key, now_unix, until_unix)
    }

    fn release(&self, key: &StoreKey) {
        self.store.release(key);
    }

    fn describe(&self, key: &StoreKey) -> String {
        format!(
            "{} (or {})",
            self.store.describe(key),
            self.files.describe(key)
        )
    }
}
