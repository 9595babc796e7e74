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
use support::server::{Reply, TestServer};

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

/// A discovered issuer on `server` at `/idp`: its configuration document names its JWKS.
fn publish_issuer(server: &TestServer, key: &TestKey) -> String {
    let iss = server.url("/idp");
    let config = json!({"issuer": iss, "jwks_uri": server.url("/idp/jwks")});
    server.set(CONFIG, Reply::json(config.to_string()));
    server.set("/idp/jwks", Reply::json(jwks(&[key])));
    iss
}

const CONFIG: &str = "/idp/.well-known/openid-configuration";

fn discovery_options(iss: &str, dir: &Path, clock: &Arc<ManualClock>) -> ClientOptions {
    let mut o = options("", dir, clock);
    o.discovery.allowed_issuers = vec![iss.to_owned()];
    o
}

/// The IdP answers 500 to everything it served.
fn outage(server: &TestServer) {
    server.set(CONFIG, Reply::status(500, "down"));
    server.set("/idp/jwks", Reply::status(500, "down"));
}

#[test]
fn a_discovery_restart_during_an_outage_verifies_from_the_saved_documents_without_a_request() {
    let dir = temp_dir("persist-discovery");
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    let iss = publish_issuer(&server, &key);
    let clock = Arc::new(ManualClock::starting_now());
    let token = key.token(&json!({"iss": iss, "sub": "u", "exp": now() + 7 * 86_400}));
    Client::new(discovery_options(&iss, &dir, &clock))
        .unwrap()
        .verify(&token)
        .unwrap();
    let mut files: Vec<String> = saved_files(&dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0].starts_with("jwks-"), "{files:?}");
    assert!(files[1].starts_with("openid-configuration-"), "{files:?}");
    #[cfg(unix)]
    for file in saved_files(&dir) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }

    // The IdP fails; the service restarts. The first token verifies from the saved
    // configuration and key set, and no request reaches the IdP.
    outage(&server);
    let restarted = Client::new(discovery_options(&iss, &dir, &clock)).unwrap();
    assert_eq!(restarted.stats().keys_held, 1, "loaded when made");
    restarted.warm_up_nonblocking().unwrap();
    let v = restarted.verify(&token).unwrap();
    assert!(!v.stale());
    assert_eq!(server.hits(CONFIG), 1, "no discovery request");
    assert_eq!(server.hits("/idp/jwks"), 1, "no key set request");

    // The control: without the saved configuration the restart cannot find the keys.
    let config_file = dir.join(&files[1]);
    let saved_config = std::fs::read(&config_file).unwrap();
    std::fs::remove_file(&config_file).unwrap();
    let err = Client::new(discovery_options(&iss, &dir, &clock))
        .unwrap()
        .verify(&token)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Discovery, "{err}");
    assert_eq!(server.hits(CONFIG), 2);

    // Past the issuer TTL and max-stale, the saved configuration is not used.
    write_private(&config_file, &saved_config);
    clock.advance(Duration::from_secs(3600 + 3600 + 1));
    let late = Client::new(discovery_options(&iss, &dir, &clock)).unwrap();
    assert_eq!(late.stats().keys_held, 0);
    assert_eq!(
        late.verify(&token).unwrap_err().kind(),
        ErrorKind::Discovery
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_cold_discovery_reads_the_configuration_another_process_saved() {
    // nginx workers share the directory: one made its client before any file existed, another
    // saved both documents later; the first one adopts them before it would fetch.
    let dir = temp_dir("persist-discovery-cold");
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    let iss = publish_issuer(&server, &key);
    let clock = Arc::new(ManualClock::starting_now());
    let token = key.token(&json!({"iss": iss, "sub": "u", "exp": now() + 7 * 86_400}));
    let early = Client::new(discovery_options(&iss, &dir, &clock)).unwrap();
    assert_eq!(early.stats().keys_held, 0);
    clock.advance(Duration::from_secs(301)); // the default discovery refetch interval
    Client::new(discovery_options(&iss, &dir, &clock))
        .unwrap()
        .verify(&token)
        .unwrap();
    outage(&server);
    let hits = (server.hits(CONFIG), server.hits("/jwks"));
    assert!(early.verify(&token).is_ok());
    // The other process's documents are newer and fresh: adopted before any request (the
    // document store's rule), so the IdP is not even asked.
    assert_eq!(
        (server.hits(CONFIG), server.hits("/jwks")),
        hits,
        "no request"
    );
    assert_eq!(
        early.stats().store_adopted,
        2,
        "the configuration and the key set"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn issuers_only_a_token_names_are_never_saved() {
    // In allow-any mode the token chooses the issuer: nothing it chooses is written to disk.
    let dir = temp_dir("persist-discovery-any");
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    let iss = publish_issuer(&server, &key);
    let clock = Arc::new(ManualClock::starting_now());
    let mut o = options("", &dir, &clock);
    o.discovery.allow_any_issuer = true;
    o.allow_http = true; // a token-named issuer on plain-http loopback
    let token = key.token(&json!({"iss": iss, "sub": "u", "exp": now() + 3600}));
    Client::new(o).unwrap().verify(&token).unwrap();
    assert_eq!(saved_files(&dir), Vec::<PathBuf>::new());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn write_private(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Issue 23: the saved file is part of the trust boundary. `plant` writes, where a client of
/// `url` will look (the name is predictable: a hash of the URL), a well-formed record holding
/// `key`'s set, as anyone who can write into the directory could.
#[cfg(unix)]
mod planted {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use support::guarded;

    fn file_for(dir: &Path, url: &str) -> PathBuf {
        named(dir, "jwks", url)
    }

    fn named(dir: &Path, prefix: &str, url: &str) -> PathBuf {
        use aws_lc_rs::digest;
        let hash = digest::digest(&digest::SHA256, url.as_bytes());
        let name: String = hash.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        dir.join(format!("{prefix}-{name}.json"))
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

    /// A master running as root checks the directory for the user its workers will run as.
    #[test]
    fn a_directory_is_checked_for_the_user_that_will_use_it() {
        let (me, group) = unsafe { (libc::geteuid(), libc::getegid()) };
        let dir = private_dir("persist-check-for", 0o700);
        jwks::check_persist_dir(&dir, me, group).unwrap();
        let reason = |uid: u32, gid: u32| {
            let err = jwks::check_persist_dir(&dir, uid, gid).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
            err.message().to_owned()
        };
        // Another user cannot write our 0700 directory (root can write any).
        let other = if me == 0 { 65534 } else { me + 1 };
        let msg = reason(other, other);
        assert!(
            msg.contains(&format!("cannot be written by uid {other}")),
            "{msg}"
        );
        if me == 0 {
            // Made the workers' own: it passes for them. Group-writable for their group: too.
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            jwks::check_persist_dir(&dir, 65534, 65534).unwrap();
            std::os::unix::fs::chown(&dir, Some(0), Some(65534)).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
            jwks::check_persist_dir(&dir, 1000, 65534).unwrap();
            assert!(reason(1000, 1000).contains("cannot be written by uid 1000"));
            // Sticky and writable by all: only for its owner.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            jwks::check_persist_dir(&dir, 65534, 65534).unwrap();
            assert!(reason(1000, 1000).contains("writable by others"));
        } else {
            eprintln!("the cases that chown the directory need root (CI runs as root)");
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(reason(me, group).contains("writable by others"));
        let file = dir.join("a-file");
        std::fs::write(&file, "x").unwrap();
        let err = jwks::check_persist_dir(&file, me, group).unwrap_err();
        assert!(err.message().contains("is not a directory"), "{err}");
        let err = jwks::check_persist_dir(&dir.join("missing"), me, group).unwrap_err();
        assert!(err.message().contains("cannot be examined"), "{err}");
    }

    /// A saved configuration document names the JWKS URL, so a planted one is as dangerous as
    /// a planted key set: it is trusted by the same checks.
    #[test]
    fn a_planted_configuration_document_is_trusted_only_as_a_saved_set_is() {
        let attacker = TestKey::ec("a", "ES256");
        let evil = TestServer::start();
        evil.set("/jwks", Reply::json(jwks(&[&attacker])));
        let idp = TestServer::start();
        outage(&idp);
        let iss = idp.url("/idp");
        let config_url = idp.url(CONFIG);
        let forged = attacker.token(&json!({"iss": iss, "sub": "u", "exp": now() + 3600}));
        let clock = Arc::new(ManualClock::starting_now());
        for (mode, trusted) in [(0o666, false), (0o620, false), (0o600, true)] {
            let dir = private_dir(&format!("persist-planted-config-{mode:o}"), 0o700);
            let path = named(&dir, "openid-configuration", &config_url);
            let document = json!({"issuer": iss, "jwks_uri": evil.url("/jwks")});
            let record = json!({
                "version": 1, "uri": config_url, "fetched_at_unix_ms": now() * 1000,
                "configuration": document.to_string()
            });
            std::fs::write(&path, record.to_string()).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let client = Client::new(discovery_options(&iss, &dir, &clock)).unwrap();
            let result = client.verify(&forged);
            if trusted {
                // The control: the process's own file is used, so the test can tell.
                assert_eq!(client.stats().persist_refused, 0);
                result.unwrap();
            } else {
                assert_eq!(client.stats().persist_refused, 1, "{mode:o}");
                assert_eq!(result.unwrap_err().kind(), ErrorKind::Discovery, "{mode:o}");
            }
        }
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
