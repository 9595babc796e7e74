//! The last-known-good files: a source's last fetched JWK Set, or (discovery mode) an issuer's
//! last OpenID configuration document, with its fetch time, written atomically (temporary file,
//! then rename) with mode 0600, so that a process started while the IdP is unreachable can
//! still verify, within max-stale. Several processes may share a directory: a reader sees one
//! complete file or another, never a mix.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

/// A saved file. A key set's record has `jwks`, a configuration document's `configuration`;
/// the one a reader expects must be there.
#[derive(Serialize, Deserialize)]
struct Record {
    version: u32,
    uri: String,
    /// Fetch time, milliseconds since the Unix epoch.
    fetched_at_unix_ms: u64,
    /// The freshness its server advertised, in milliseconds (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_age_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwks: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    configuration: Option<String>,
}

/// What a document is: a saved file, or an entry of a [`crate::DocumentStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A JWK Set, saved under the hash of its URL.
    KeySet,
    /// An issuer's OpenID configuration document, saved under the hash of its URL.
    Configuration,
}

impl Kind {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Kind::KeySet => "jwks",
            Kind::Configuration => "openid-configuration",
        }
    }

    /// How reports name the file.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::KeySet => "saved key set",
            Kind::Configuration => "saved configuration document",
        }
    }
}

/// One saved file.
#[derive(Debug, Clone)]
pub(crate) struct Persist {
    path: PathBuf,
    kind: Kind,
}

impl Persist {
    /// The file of `kind` for the document at `uri` in `dir`, named by a hash of the URL.
    pub fn of(kind: Kind, dir: &Path, uri: &str) -> Persist {
        let hash = digest::digest(&digest::SHA256, uri.as_bytes());
        let name: String = hash.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Persist {
            path: dir.join(format!("{}-{name}.json", kind.prefix())),
            kind,
        }
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the record of `text` (the set, or the document) through a temporary file in the
    /// same directory and a rename.
    pub fn save(
        &self,
        uri: &str,
        text: &str,
        fetched_at_unix: Duration,
        max_age: Option<Duration>,
    ) -> std::io::Result<()> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let text = Some(text.to_owned());
        let (jwks, configuration) = match self.kind {
            Kind::KeySet => (text, None),
            Kind::Configuration => (None, text),
        };
        let record = Record {
            version: 1,
            uri: uri.to_owned(),
            fetched_at_unix_ms: fetched_at_unix.as_millis() as u64,
            max_age_ms: max_age.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            jwks,
            configuration,
        };
        let bytes = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".{}.{}.{}.tmp",
            self.path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("jwks"),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// The saved text (set or document) of `uri` and its fetch time (clamped to `now_unix`, so a file cannot
    /// extend its own max-stale). `Ok(None)` when there is no file; `Err(reason)` when there
    /// is one that is not trusted or not a valid record for `uri`, which the caller reports.
    ///
    /// The file is part of the trust boundary: it is trusted as OpenSSH trusts
    /// `authorized_keys` (see `check_trusted`), opened without following a symlink and
    /// without blocking (a FIFO never makes this wait), and read with a bound:
    /// `max_response_bytes` twice over (the set is stored as an escaped JSON string) plus the
    /// URL and the record's envelope. The text itself must fit `max_response_bytes`, as a
    /// fetched body must.
    pub fn load(
        &self,
        uri: &str,
        max_response_bytes: usize,
        now_unix: Duration,
    ) -> Result<Option<(String, Duration, Option<Duration>)>, String> {
        let file = match open_for_reading(&self.path, false) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot be opened safely: {e}")),
        };
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot be examined: {e}"))?;
        check_trusted(&meta, self.path.parent().unwrap_or(Path::new(".")))?;
        let bound = max_response_bytes
            .saturating_mul(2)
            .saturating_add(uri.len())
            .saturating_add(ENVELOPE);
        let bytes = read_bounded(file, meta.len(), bound, || {
            format!("is larger than {bound} bytes")
        })?;
        let noun = self.kind.noun();
        let record: Record =
            serde_json::from_slice(&bytes).map_err(|_| format!("is not a {noun}"))?;
        let text = match self.kind {
            Kind::KeySet => record.jwks,
            Kind::Configuration => record.configuration,
        };
        let text = match text {
            Some(text) if record.version == 1 && record.uri == uri => text,
            _ => return Err(format!("is not a {noun} of this URL")),
        };
        if text.len() > max_response_bytes {
            return Err(format!(
                "holds a text larger than the response size limit ({max_response_bytes} bytes)"
            ));
        }
        let fetched = Duration::from_millis(record.fetched_at_unix_ms).min(now_unix);
        Ok(Some((
            text,
            fetched,
            record.max_age_ms.map(Duration::from_millis),
        )))
    }

    /// The file's path, for reports.
    pub fn display(&self) -> std::path::Display<'_> {
        self.path.display()
    }
}

/// Room for the record's envelope: its member names, version and time, quotes and braces.
const ENVELOPE: usize = 4096;

/// Opens `path` for reading without blocking on a FIFO, and (unless `follow`) without
/// following a final symlink.
fn open_for_reading(path: &Path, follow: bool) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NONBLOCK | libc::O_CLOEXEC | if follow { 0 } else { libc::O_NOFOLLOW },
    );
    options.open(path)
}

/// The bytes of an opened file of `len` bytes (as fstat said), at most `bound` of them; the
/// file may grow meanwhile, so the read itself is bounded too. `too_large` says why not.
fn read_bounded(
    file: fs::File,
    len: u64,
    bound: usize,
    too_large: impl Fn() -> String,
) -> Result<Vec<u8>, String> {
    if len > bound as u64 {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(bound as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.len() > bound {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The text of a key file the configuration names (a local key set): a regular file, opened
/// without blocking (a FIFO never makes this wait) and checked on the open descriptor, owned
/// by root or by the process's effective user, not writable by group or others, and at most
/// `max` bytes. Otherwise, why not (a phrase after the file's name).
pub(crate) fn read_key_file(path: &Path, max: usize) -> Result<String, String> {
    let file = open_for_reading(path, true).map_err(|e| format!("cannot be opened: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot be examined: {e}"))?;
    check_file(&meta, true)?;
    let bytes = read_bounded(file, meta.len(), max, || {
        format!("is larger than the response size limit ({max} bytes)")
    })?;
    String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_owned())
}

/// Whether an opened file is a regular file, owned by the process's effective user (or by
/// root, when `root_too`), and not writable by group or others. Otherwise, why not.
#[cfg(unix)]
fn check_file(meta: &fs::Metadata, root_too: bool) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if !meta.file_type().is_file() {
        return Err("is not a regular file".to_owned());
    }
    let euid = crate::os::effective_uid();
    if meta.uid() != euid && !(root_too && meta.uid() == 0) {
        let whom = if root_too { "neither root nor" } else { "not" };
        return Err(format!(
            "is owned by uid {}, {whom} this process's effective uid {euid}",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "is writable by group or others (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_file(meta: &fs::Metadata, _root_too: bool) -> Result<(), String> {
    if meta.file_type().is_file() {
        Ok(())
    } else {
        Err("is not a regular file".to_owned())
    }
}

/// Whether an opened saved file may be trusted, as OpenSSH's StrictModes trusts
/// `authorized_keys`: a regular file (checked on the open descriptor, not the path), owned by
/// the process's effective user, not writable by group or others, in a directory that others
/// cannot write (unless it is sticky and the user's own). Otherwise, why not.
fn check_trusted(meta: &fs::Metadata, dir: &Path) -> Result<(), String> {
    check_file(meta, false)?;
    check_dir(dir).map_err(|reason| format!("is in a directory that {reason}"))
}

/// Whether `dir` may hold saved key sets: a directory that others cannot write, unless it is
/// sticky and the effective user's own (so no one else can plant or replace a file there).
/// Otherwise, why not (a phrase after "that": "is writable by others (mode 777)").
#[cfg(unix)]
pub(crate) fn check_dir(dir: &Path) -> Result<(), String> {
    check_dir_as(dir, crate::os::effective_uid()).map(|_| ())
}

/// [`check_dir`] for a process running as `uid`; the directory's metadata when it passes.
#[cfg(unix)]
fn check_dir_as(dir: &Path, uid: u32) -> Result<fs::Metadata, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(dir).map_err(|e| format!("cannot be examined: {e}"))?;
    if !meta.is_dir() {
        return Err("is not a directory".to_owned());
    }
    let sticky_own = meta.mode() & 0o1000 != 0 && meta.uid() == uid;
    if meta.mode() & 0o002 != 0 && !sticky_own {
        return Err(format!(
            "is writable by others (mode {:o}; make it 0700, owned by the user the library runs as)",
            meta.mode() & 0o7777
        ));
    }
    Ok(meta)
}

/// Whether a process running as `uid` (primary group `gid`) may use `dir` as its persist
/// directory: [`check_dir`] for that user, and the user can create files there (a
/// directory it cannot write would never hold a file it could trust, since only files of its
/// own are trusted). For a server whose master, running as root, checks the directory its
/// workers will use. Otherwise, why not.
#[cfg(unix)]
pub(crate) fn check_dir_for(dir: &Path, uid: u32, gid: u32) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = check_dir_as(dir, uid)?;
    let mode = meta.mode();
    // The kernel's rule: the owner's bits apply to the owner, the group's to its members.
    let writable = uid == 0
        || if meta.uid() == uid {
            mode & 0o300 == 0o300
        } else {
            meta.gid() == gid && mode & 0o030 == 0o030
        };
    if !writable {
        return Err(format!(
            "cannot be written by uid {uid} (owner uid {}, mode {:o}; make it 0700, owned by that user)",
            meta.uid(),
            mode & 0o7777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_dir_for(dir: &Path, _uid: u32, _gid: u32) -> Result<(), String> {
    check_dir(dir)
}

#[cfg(not(unix))]
pub(crate) fn check_dir(dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err("is not a directory".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_url_check() {
        let dir = std::env::temp_dir().join(format!("jwks-persist-unit-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        }
        let p = Persist::of(Kind::KeySet, &dir, "https://a.example/jwks");
        p.save(
            "https://a.example/jwks",
            "{\"keys\":[]}",
            Duration::from_secs(7),
            Some(Duration::from_secs(3600)),
        )
        .unwrap();
        let now = Duration::from_secs(100);
        assert_eq!(
            p.load("https://a.example/jwks", 1 << 20, now),
            Ok(Some((
                "{\"keys\":[]}".to_owned(),
                Duration::from_secs(7),
                Some(Duration::from_secs(3600))
            )))
        );
        assert!(p.load("https://b.example/jwks", 1 << 20, now).is_err());
        // A configuration document is never read as a key set, nor the other way round, even
        // when a file of one kind is moved to the other's name.
        let c = Persist::of(Kind::Configuration, &dir, "https://a.example/jwks");
        assert_ne!(c.path(), p.path());
        fs::copy(p.path(), c.path()).unwrap();
        let err = c.load("https://a.example/jwks", 1 << 20, now).unwrap_err();
        assert!(err.contains("not a saved configuration document"), "{err}");
        fs::remove_file(c.path()).unwrap();
        // A fetch time in the future is clamped to now.
        p.save(
            "https://a.example/jwks",
            "{\"keys\":[]}",
            Duration::from_secs(1000),
            None,
        )
        .unwrap();
        let loaded = p.load("https://a.example/jwks", 1 << 20, now).unwrap();
        assert_eq!(loaded.unwrap().1, now);
        // A set larger than max_response_bytes is refused, as a fetched one is.
        let err = p.load("https://a.example/jwks", 4, now).unwrap_err();
        assert!(err.contains("larger"), "{err}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(p.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
