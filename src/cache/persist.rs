//! The last-known-good file of a source: the last fetched JWK Set and its fetch time, written
//! atomically (temporary file, then rename) with mode 0600, so that a process started while the
//! IdP is unreachable can still verify, within max-stale. Several processes may share a
//! directory: a reader sees one complete file or another, never a mix.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Record {
    version: u32,
    uri: String,
    /// Fetch time, milliseconds since the Unix epoch.
    fetched_at_unix_ms: u64,
    jwks: String,
}

/// One source's file.
#[derive(Debug, Clone)]
pub(crate) struct Persist {
    path: PathBuf,
}

impl Persist {
    /// The file for the JWKS at `uri` in `dir`, named by a hash of the URL.
    pub fn new(dir: &Path, uri: &str) -> Persist {
        let hash = digest::digest(&digest::SHA256, uri.as_bytes());
        let name: String = hash.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Persist {
            path: dir.join(format!("jwks-{name}.json")),
        }
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the record through a temporary file in the same directory and a rename.
    pub fn save(&self, uri: &str, jwks: &str, fetched_at_unix: Duration) -> std::io::Result<()> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let record = Record {
            version: 1,
            uri: uri.to_owned(),
            fetched_at_unix_ms: fetched_at_unix.as_millis() as u64,
            jwks: jwks.to_owned(),
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

    /// The saved set of `uri` and its fetch time, if a readable record for that URL exists.
    pub fn load(&self, uri: &str) -> Option<(String, Duration)> {
        let bytes = fs::read(&self.path).ok()?;
        let record: Record = serde_json::from_slice(&bytes).ok()?;
        (record.version == 1 && record.uri == uri).then(|| {
            (
                record.jwks,
                Duration::from_millis(record.fetched_at_unix_ms),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_url_check() {
        let dir = std::env::temp_dir().join(format!("jwks-persist-unit-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = Persist::new(&dir, "https://a.example/jwks");
        p.save(
            "https://a.example/jwks",
            "{\"keys\":[]}",
            Duration::from_secs(7),
        )
        .unwrap();
        assert_eq!(
            p.load("https://a.example/jwks"),
            Some(("{\"keys\":[]}".to_owned(), Duration::from_secs(7)))
        );
        assert_eq!(p.load("https://b.example/jwks"), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(p.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
