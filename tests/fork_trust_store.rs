//! A child forked while another thread of the parent makes the process's first client (and so
//! reads the system trust store, which the library caches once per process) makes and uses a
//! client of its own (issue 23). With a blocking once-cell there, such children waited
//! forever for a reader that the fork did not copy. This file holds one test: its process has
//! not read the trust store before.
#![cfg(unix)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jwks::{Client, ClientOptions};
use support::keys::{claims, jwks, TestKey};
use support::server::TestServer;

#[test]
fn children_forked_while_the_first_client_is_made_make_their_own() {
    let key = TestKey::ec("a", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    let url = server.url("/jwks");
    let token = key.token(&claims());

    let made = Arc::new(AtomicBool::new(false));
    let first = {
        let (url, made) = (url.clone(), made.clone());
        std::thread::spawn(move || {
            let client = Client::new(ClientOptions::new(url)).unwrap();
            made.store(true, Ordering::SeqCst);
            client
        })
    };
    // Fork as fast as possible while the first client is being made; at least one child.
    let mut children = Vec::new();
    while children.is_empty() || !made.load(Ordering::SeqCst) {
        // SAFETY: the child makes a client, verifies and _exits; what it may rely on after a
        // fork of a multi-threaded process is the point of the test.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let ok = std::panic::catch_unwind(|| {
                Client::new(ClientOptions::new(url.clone()))
                    .unwrap()
                    .verify(&token)
                    .is_ok()
            })
            .unwrap_or(false);
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        children.push(pid);
        if children.len() >= 100 {
            break;
        }
    }
    first.join().unwrap().verify(&token).unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut hung = 0;
    for pid in &children {
        let mut status = 0;
        loop {
            // SAFETY: polls a child made above.
            let done = unsafe { libc::waitpid(*pid, &mut status, libc::WNOHANG) };
            if done == *pid {
                assert!(
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                    "child {pid}: status {status}"
                );
                break;
            }
            if Instant::now() > deadline {
                // SAFETY: kills and reaps a hung child made above.
                unsafe {
                    libc::kill(*pid, libc::SIGKILL);
                    libc::waitpid(*pid, &mut status, 0);
                }
                hung += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert_eq!(hung, 0, "of {} children, {hung} hung", children.len());
    eprintln!(
        "{} children forked while the first client was made",
        children.len()
    );
}
