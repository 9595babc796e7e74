//! Last-known-good files: a restart during an IdP outage still verifies (within max-stale),
//! an old file is ignored, and concurrent writers never leave a torn file.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use jwks::{Client, ClientOptions, ErrorKind, ManualClock};
use serde_json::json;
use support::keys::{jwks, now, TestKey};
use support::server::TestServer;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jwks-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn claims() -> serde_json::Value {
    json!({"sub": "u", "exp": now() + 7 * 86_400})
}

fn options(url: &str, dir: &Path, clock: &Arc<ManualClock>) -> ClientOptions {
    let mut o = ClientOptions::new(url);
    o.persist_dir = Some(dir.to_path_buf());
    o.clock = clock.clone();
    o.lifespan = Duration::from_secs(300);
    o.max_stale = Duration::from_secs(3600);
    o.refresh_jitter = 0.0;
    o
}

fn saved_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect()
}

#[test]
fn a_restart_during_an_outage_verifies_from_the_saved_set() {
    let dir = temp_dir("persist-restart");
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let url = server.url("/jwks");
    let clock = Arc::new(ManualClock::starting_now());
    let token = key.token(&claims());
    {
        let first = Client::new(options(&url, &dir, &clock)).unwrap();
        first.verify(&token).unwrap();
    }
    let files = saved_files(&dir);
    assert_eq!(files.len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    drop(server); // the IdP goes down; the service restarts

    let restarted = Client::new(options(&url, &dir, &clock)).unwrap();
    let v = restarted.verify(&token).unwrap();
    assert!(!v.stale(), "the saved set is still within its lifespan");
    clock.advance(Duration::from_secs(600));
    let restarted = Client::new(options(&url, &dir, &clock)).unwrap();
    assert!(
        restarted.verify(&token).unwrap().stale(),
        "past its lifespan: flagged"
    );

    // Older than lifespan + max-stale: ignored, the fetch error is reported.
    clock.advance(Duration::from_secs(3400));
    let late = Client::new(options(&url, &dir, &clock)).unwrap();
    assert_eq!(
        late.verify(&token).unwrap_err().kind(),
        ErrorKind::Connection
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_for_another_url_is_not_used_and_a_missing_dir_is_a_config_error() {
    let dir = temp_dir("persist-other");
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let clock = Arc::new(ManualClock::starting_now());
    Client::new(options(&server.url("/jwks"), &dir, &clock))
        .unwrap()
        .verify(&key.token(&claims()))
        .unwrap();
    let other = Client::new(options(&server.url("/other"), &dir, &clock)).unwrap();
    assert_eq!(
        other.verify(&key.token(&claims())).unwrap_err().kind(),
        ErrorKind::HttpStatus
    );
    let missing = PathBuf::from("/nonexistent/jwks-dir");
    let err = Client::new(options(&server.url("/jwks"), &missing, &clock)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_writers_never_leave_a_torn_file() {
    let dir = temp_dir("persist-writers");
    // A large set, so a torn write would be visible.
    let keys: Vec<TestKey> = (0..40)
        .map(|i| TestKey::ec(&format!("k{i}"), "ES256"))
        .collect();
    let server = TestServer::start();
    server.set_jwks(&jwks(&keys.iter().collect::<Vec<_>>()));
    let url = server.url("/jwks");
    let clock = Arc::new(ManualClock::starting_now());
    let writers: Vec<Client> = (0..2)
        .map(|_| Client::new(options(&url, &dir, &clock)).unwrap())
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (dir, done) = (dir.clone(), done.clone());
        thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::SeqCst) {
                for file in saved_files(&dir) {
                    if let Ok(bytes) = std::fs::read(&file) {
                        let record: serde_json::Value =
                            serde_json::from_slice(&bytes).expect("a complete record");
                        let set: serde_json::Value =
                            serde_json::from_str(record["jwks"].as_str().unwrap()).unwrap();
                        assert_eq!(set["keys"].as_array().unwrap().len(), 40);
                        reads += 1;
                    }
                }
            }
            reads
        })
    };
    thread::scope(|scope| {
        for w in &writers {
            scope.spawn(move || {
                for _ in 0..60 {
                    w.fetch_data().unwrap();
                }
            });
        }
    });
    done.store(true, Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(
        saved_files(&dir).len(),
        1,
        "one file per URL, no temporary leftovers"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_new_client_starts_warm_from_the_saved_set_without_a_request() {
    // An nginx reload: new workers make new clients; with the saved set they answer at once.
    let dir = temp_dir("persist-warm");
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let url = server.url("/jwks");
    let clock = Arc::new(ManualClock::starting_now());
    let token = key.token(&claims());
    Client::new(options(&url, &dir, &clock))
        .unwrap()
        .verify(&token)
        .unwrap();
    assert_eq!(server.hits("/jwks"), 1);

    let next = Client::new(options(&url, &dir, &clock)).unwrap();
    assert_eq!(next.stats().keys_held, 1, "loaded when made");
    next.warm_up_nonblocking().unwrap();
    assert!(!next.verify_nonblocking(&token).unwrap().stale());
    assert_eq!(server.hits("/jwks"), 1, "no request");

    // Discovery: a static issuer's saved set is loaded too.
    let iss = "https://static.example";
    let mut o = options("", &dir, &clock);
    o.discovery.static_issuers = vec![(iss.to_owned(), url.clone())];
    let by_issuer = Client::new(o).unwrap();
    let iss_token = key.token(&json!({"iss": iss, "sub": "u", "exp": now() + 3600}));
    by_issuer.warm_up_nonblocking().unwrap();
    assert!(!by_issuer.verify_nonblocking(&iss_token).unwrap().stale());
    assert_eq!(server.hits("/jwks"), 1, "no request");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 23: the saved file is part of the trust boundary. `plant` writes, where a client of
/// `url` will look (the name is predictable: a hash of the URL), a well-formed record holding
/// `key`'s set, as anyone who can write into the directory could.
#[cfg(unix)]
mod planted {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use support::guarded;
    use support::server::Reply;

    fn file_for(dir: &Path, url: &str) -> PathBuf {
        use aws_lc_rs::digest;
        let hash = digest::digest(&digest::SHA256, url.as_bytes());
        let name: String = hash.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        dir.join(format!("jwks-{name}.json"))
    }

    fn plant(dir: &Path, url: &str, key: &TestKey, mode: u32) -> PathBuf {
        let path = file_for(dir, url);
        let record = json!({
            "version": 1, "uri": url, "fetched_at_unix_ms": now() * 1000, "jwks": jwks(&[key])
        });
        std::fs::write(&path, record.to_string()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// An IdP that answers 500: a cold client can only have keys from the file.
    fn broken_idp() -> TestServer {
        let server = TestServer::start();
        server.set("/jwks", Reply::status(500, "down"));
        server
    }

    fn private_dir(name: &str, mode: u32) -> PathBuf {
        let dir = temp_dir(name);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        dir
    }

    #[test]
    fn a_planted_file_verifies_a_forged_token_only_when_it_is_trusted() {
        let attacker = TestKey::ec("a", "ES256");
        let forged = attacker.token(&claims());
        let idp = broken_idp();
        let url = idp.url("/jwks");
        let clock = Arc::new(ManualClock::starting_now());

        // Writable by others: ignored, reported, and the forged token is refused.
        let dir = private_dir("persist-planted-0666", 0o700);
        plant(&dir, &url, &attacker, 0o666);
        let client = Client::new(options(&url, &dir, &clock)).unwrap();
        assert_eq!(client.stats().persist_refused, 1);
        let err = client.verify(&forged).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::HttpStatus, "{err}");
        // Group-writable too.
        plant(&dir, &url, &attacker, 0o620);
        let client = Client::new(options(&url, &dir, &clock)).unwrap();
        assert!(client.verify(&forged).is_err());

        // A directory anyone can write (no sticky bit) is refused when the client is made,
        // naming the check, so nothing is ever read from it.
        let open_dir = private_dir("persist-planted-0777", 0o777);
        plant(&open_dir, &url, &attacker, 0o600);
        let err = Client::new(options(&url, &open_dir, &clock)).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(err.message().contains("writable by others"), "{err}");

        // The control: the same file, 0600 in a 0700 directory (or a sticky one of the
        // user's own), is the process's own and is trusted. The test can see the difference.
        for mode in [0o700, 0o1777] {
            let own = private_dir(&format!("persist-planted-own-{mode:o}"), mode);
            plant(&own, &url, &attacker, 0o600);
            let client = Client::new(options(&url, &own, &clock)).unwrap();
            assert_eq!(client.stats().persist_refused, 0, "{mode:o}");
            client.verify(&forged).unwrap();
        }
    }

    #[test]
    fn a_file_owned_by_another_user_is_ignored() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: chown to another user needs root (CI runs as root)");
            return;
        }
        let attacker = TestKey::ec("a", "ES256");
        let idp = broken_idp();
        let url = idp.url("/jwks");
        let clock = Arc::new(ManualClock::starting_now());
        let dir = private_dir("persist-planted-nobody", 0o755);
        let path = plant(&dir, &url, &attacker, 0o600);
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let client = Client::new(options(&url, &dir, &clock)).unwrap();
        assert_eq!(client.stats().persist_refused, 1);
        assert!(client.verify(&attacker.token(&claims())).is_err());
    }

    /// A FIFO, a symlink to /dev/zero and a 100 MB file: each ignored with a bounded read;
    /// client creation and a cold verify return (the guard fails the test if they hang).
    #[test]
    fn a_fifo_a_symlink_to_dev_zero_and_a_huge_file_are_ignored_without_waiting() {
        let idp = broken_idp();
        let url = idp.url("/jwks");
        let key = TestKey::ec("a", "ES256");
        for what in ["fifo", "dev-zero", "huge"] {
            let dir = private_dir(&format!("persist-hostile-{what}"), 0o700);
            let path = file_for(&dir, &url);
            match what {
                "fifo" => {
                    let made = std::process::Command::new("mkfifo")
                        .arg(&path)
                        .status()
                        .unwrap();
                    assert!(made.success());
                }
                "dev-zero" => std::os::unix::fs::symlink("/dev/zero", &path).unwrap(),
                _ => {
                    let file = std::fs::File::create(&path).unwrap();
                    file.set_len(100 << 20).unwrap();
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                        .unwrap();
                }
            }
            let (url, token) = (url.clone(), key.token(&claims()));
            let (refused, err) = guarded(what, move || {
                let clock = Arc::new(ManualClock::starting_now());
                let client = Client::new(options(&url, &dir, &clock)).unwrap();
                let err = client.verify(&token).unwrap_err();
                (client.stats().persist_refused, err.kind())
            });
            assert_eq!(refused, 1, "{what}");
            assert_eq!(err, ErrorKind::HttpStatus, "{what}");
        }
    }

    /// The file is read once when the client is made; after that a cold lookup whose fetch
    /// failed reads it again at most once per refetch interval, never on every failure.
    #[test]
    fn failed_cold_lookups_reread_the_file_at_most_once_per_refetch_interval() {
        let idp = broken_idp();
        let url = idp.url("/jwks");
        let key = TestKey::ec("a", "ES256");
        let dir = private_dir("persist-reread", 0o700);
        let path = file_for(&dir, &url);
        std::fs::write(&path, "garbage, not a saved set").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let clock = Arc::new(ManualClock::starting_now());
        let mut o = options(&url, &dir, &clock);
        o.min_refetch_interval = Duration::from_secs(60);
        let client = Client::new(o).unwrap();
        assert_eq!(client.stats().persist_refused, 1, "read once at creation");
        let token = key.token(&claims());
        for _ in 0..10 {
            assert!(client.verify(&token).is_err());
            clock.advance(Duration::from_secs(1));
        }
        assert_eq!(
            client.stats().persist_refused,
            1,
            "not once per failed lookup"
        );
        clock.advance(Duration::from_secs(61));
        let _ = client.verify(&token);
        assert_eq!(
            client.stats().persist_refused,
            2,
            "once more after the interval"
        );
    }
}
