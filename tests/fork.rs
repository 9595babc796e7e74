//! A client inherited across fork() (issue 23): in the child every call answers FORKED, and
//! dropping the inherited client touches nothing of the parent's threads (waking their
//! condition variables crashed children), while a client made in the child works.
#![cfg(unix)]

mod support;

use std::time::{Duration, Instant};

use jwks::{Client, ClientOptions, ErrorKind};
use serde_json::json;
use support::keys::{claims, jwks, TestKey};
use support::server::{Reply, TestServer};

/// Forks; the child runs `child` and exits with its answer (0 ok, 1 wrong); a child alive
/// after 20 s is killed and fails the test, as does one that dies by a signal.
fn in_child(child: impl FnOnce() -> bool) {
    // SAFETY: the child runs `child` and _exit; the tests that call this accept that a child
    // of a multi-threaded process may only rely on what fork() copies (that is the point).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(false);
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut status = 0;
    loop {
        // SAFETY: polls the child made above.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: kills and reaps the hung child made above.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("a forked child hung");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        !libc::WIFSIGNALED(status),
        "a forked child died by signal {}",
        libc::WTERMSIG(status)
    );
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "a forked child answered wrong"
    );
}

/// 200 forks of a warm client with live threads (the background refresher, and a scheduled
/// unknown-kid lookup at the moment of each fork), in fixed-URL mode (`discovery` false) or by
/// issuer discovery. Each child verifies (FORKED) from threads of its own and its main
/// thread, reads the stats, drops the very client the parent holds (the last user reference, whose drop closes it). No child may hang or die by
/// a signal.
fn fork_a_warm_client_200_times(discovery: bool) {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let iss = server.url("");
    server.set(
        "/.well-known/openid-configuration",
        Reply::json(json!({"issuer": iss, "jwks_uri": server.url("/jwks")}).to_string()),
    );
    let options = || {
        let mut o = if discovery {
            let mut o = ClientOptions::default();
            o.discovery.allowed_issuers = vec![iss.clone()];
            o
        } else {
            ClientOptions::new(server.url("/jwks"))
        };
        o.background_refresh = true;
        o.lifespan = Duration::from_millis(50); // the refresher is busy most of the time
        o.min_refetch_interval = Duration::from_millis(1);
        o
    };
    // In a slot, so that a child can take the very client the parent holds and drop it.
    let slot = std::sync::Mutex::new(Some(Client::new(options()).unwrap()));
    let client = || slot.lock().unwrap().as_ref().unwrap().clone();
    let mut c = claims();
    c["iss"] = json!(iss);
    let token = key.token(&c);
    client().verify(&token).unwrap();
    let unknown = TestKey::ec("zz", "ES256").token(&c);
    for _ in 0..200 {
        let _ = client().verify_nonblocking(&unknown);
        in_child(|| {
            let inherited = slot.lock().unwrap().take().unwrap();
            // Threads of the child's own use the inherited client at once.
            let answers: Vec<bool> = (0..2)
                .map(|_| {
                    let (c, t) = (inherited.clone(), token.clone());
                    std::thread::spawn(move || {
                        c.verify(&t).unwrap_err().kind() == ErrorKind::Forked
                            && c.stats().fetches >= 1
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap_or(false))
                .collect();
            let forked = inherited.verify(&token).unwrap_err().kind() == ErrorKind::Forked;
            let stats = inherited.stats();
            let stats_read = stats.fetches >= 1 && stats.keys_held == 0;
            drop(inherited);
            forked && stats_read && answers.iter().all(|&a| a)
        });
    }
    client().verify(&token).unwrap();
}

/// The tests of this file fork one at a time: a child of a process whose other test is busy
/// inherits that test's locks too.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn children_drop_their_inherited_fixed_url_client() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    fork_a_warm_client_200_times(false);
}

#[test]
fn children_drop_their_inherited_discovery_client() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    fork_a_warm_client_200_times(true);
}

/// A client made in a child works (its own threads). The parent has no busy libjwks thread
/// at the fork, as the header's rule asks: libjwks keeps no lock of its own across clients
/// (fork_trust_store.rs forks while the process's first client reads the trust store), but a
/// child of a busy parent may inherit a lock held mid-operation by the libraries below it
/// (parking_lot's parking table, AWS-LC), which no library can undo in the child.
#[test]
fn a_client_made_in_a_child_works() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let url = server.url("/jwks");
    let token = key.token(&claims());
    in_child(|| {
        let own = Client::new(ClientOptions::new(&url)).unwrap();
        own.verify(&token).is_ok()
    });
}
