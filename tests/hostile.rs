//! Hostile and broken JWKS servers on 127.0.0.1, one case per row of `cases()`, each with the
//! status it must produce. A client warmed up before keeps verifying with its last good keys
//! (flagged stale once they pass their lifespan). The status is observed through a forced
//! refresh; time is bounded by the timeout status (1 s here) and a generous guard against hangs;
//! memory by the size-limit status.
//!
//! Covered elsewhere: https -> http redirects (tests/tls.rs), custom headers never forwarded to
//! another origin after a redirect (tests/cache.rs, redirects_are_followed_within_limits), a
//! 304 that nobody asked for (tests/http_cache.rs) and 1 MiB of headers (tests/cache.rs).

mod support;

use support::guarded;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use jwks::{Client, ClientOptions, ErrorKind, ManualClock};
use serde_json::json;
use support::keys::{b64, claims, jwks, TestKey};
use support::server::{Raw, Reply, TestServer};

fn http(head: &str, body: &[u8]) -> Vec<u8> {
    let mut out = head.replace('\n', "\r\n").into_bytes();
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn raw(bytes: Vec<u8>) -> Reply {
    Reply::raw(Raw {
        bytes,
        ..Raw::default()
    })
}

/// A JWK Set whose only keys are these JWK objects.
fn set_of(keys: Vec<serde_json::Value>) -> String {
    json!({ "keys": keys }).to_string()
}

fn rsa_jwk(n: &[u8], e: &[u8]) -> serde_json::Value {
    json!({"kty": "RSA", "kid": "bad", "alg": "RS256", "n": b64(n), "e": b64(e)})
}

/// (what the server does, the reply, the status a forced refresh must give)
fn cases(other_origin: &str) -> Vec<(&'static str, Reply, ErrorKind)> {
    let big_modulus = {
        let mut n = vec![0xc5; 2048]; // 16,384 bits
        n[2047] |= 1;
        n
    };
    let modulus_2048 = {
        let mut n = vec![0xc5; 256];
        n[255] |= 1;
        n
    };
    let nested = format!(
        "{{\"keys\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    vec![
        (
            "a body dribbled one byte a second",
            Reply::raw(Raw {
                bytes: http("HTTP/1.1 200 OK\nContent-Length: 100\n", &[b' '; 100]),
                dribble: Duration::from_millis(1000),
                endless: None,
            }),
            ErrorKind::Timeout,
        ),
        (
            "headers dribbled one byte a second",
            Reply::raw(Raw {
                bytes: http("HTTP/1.1 200 OK\nX-Slow: aaaaaaaaaaaaaaaaaaaa\n", b""),
                dribble: Duration::from_millis(1000),
                endless: None,
            }),
            ErrorKind::Timeout,
        ),
        (
            "an endless chunked body",
            Reply::raw(Raw {
                bytes: http("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", b""),
                dribble: Duration::ZERO,
                endless: Some(
                    b"400\r\n"
                        .iter()
                        .chain(&[b' '; 1024])
                        .chain(b"\r\n")
                        .copied()
                        .collect(),
                ),
            }),
            ErrorKind::ResponseTooLarge,
        ),
        (
            "an endless HTTP/1.0 body",
            Reply::raw(Raw {
                bytes: http("HTTP/1.0 200 OK\n", b""),
                dribble: Duration::ZERO,
                endless: Some(vec![b' '; 64 * 1024]),
            }),
            ErrorKind::ResponseTooLarge,
        ),
        (
            "10 MiB",
            Reply::json(vec![b' '; 10 << 20]),
            ErrorKind::ResponseTooLarge,
        ),
        (
            "gzip with Content-Encoding (not asked for, not decoded)",
            Reply::json(vec![
                0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3, 0xab, 0xae, 5, 0,
            ])
            .with_header("Content-Encoding", "gzip"),
            ErrorKind::InvalidJwks,
        ),
        (
            "100,000 nested arrays",
            Reply::json(nested),
            ErrorKind::InvalidJwks,
        ),
        (
            "100,000 keys",
            Reply::json(set_of(vec![json!({}); 100_000])),
            ErrorKind::InvalidJwks,
        ),
        (
            "an RSA key of 16,384 bits",
            Reply::json(set_of(vec![rsa_jwk(&big_modulus, &[1, 0, 1])])),
            ErrorKind::NoSigningKeys,
        ),
        (
            "RSA exponent 0",
            Reply::json(set_of(vec![rsa_jwk(&modulus_2048, &[0])])),
            ErrorKind::NoSigningKeys,
        ),
        (
            "RSA exponent 1",
            Reply::json(set_of(vec![rsa_jwk(&modulus_2048, &[1])])),
            ErrorKind::NoSigningKeys,
        ),
        (
            "an even RSA exponent",
            Reply::json(set_of(vec![rsa_jwk(&modulus_2048, &[1, 0, 0])])),
            ErrorKind::NoSigningKeys,
        ),
        (
            "an EC point off the curve",
            Reply::json(set_of(vec![json!({
                "kty": "EC", "crv": "P-256", "kid": "bad", "alg": "ES256",
                "x": b64(&[1; 32]), "y": b64(&[2; 32])
            })])),
            ErrorKind::NoSigningKeys,
        ),
        (
            "a redirect loop",
            Reply::redirect("/loop"),
            ErrorKind::Redirect,
        ),
        (
            "a redirect to another host, which fails",
            Reply::redirect(other_origin),
            ErrorKind::HttpStatus,
        ),
        (
            "HTML with status 200",
            Reply::json("<html><body>Welcome</body></html>")
                .with_header("Content-Type", "text/html"),
            ErrorKind::InvalidJwks,
        ),
        (
            "the connection closed mid-body",
            raw(http(
                "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n",
                b"400\r\n{\"keys\": [",
            )),
            ErrorKind::Connection,
        ),
        (
            "a body shorter than its Content-Length",
            raw(http(
                "HTTP/1.1 200 OK\nContent-Length: 1000\n",
                b"{\"keys\": []}",
            )),
            ErrorKind::Connection,
        ),
    ]
}

#[test]
fn every_hostile_server_gets_its_own_status_and_the_last_good_keys_keep_serving() {
    let key = TestKey::ec("good", "ES256");
    let server = TestServer::start();
    let other = TestServer::start(); // another origin, answering 404
    let token = key.token(&claims());
    for (i, (what, reply, expected)) in cases(&other.url("/elsewhere")).into_iter().enumerate() {
        let path = if what == "a redirect loop" {
            "/loop".to_owned()
        } else {
            format!("/case-{i}")
        };
        server.set(&path, Reply::json(jwks(&[&key])));
        let clock = Arc::new(ManualClock::starting_now());
        let mut o = ClientOptions::new(server.url(&path));
        o.clock = clock.clone();
        o.timeout = Duration::from_secs(1);
        o.refresh_jitter = 0.0;
        let client = Client::new(o).unwrap();
        client.verify(&token).unwrap();

        server.set(&path, reply);
        let c = client.clone();
        let err = guarded(what, move || c.get_jwk_set(true).unwrap_err());
        assert_eq!(err.kind(), expected, "{what}: {err}");
        // The last good keys keep serving, fresh and then flagged stale.
        assert!(!client.verify(&token).unwrap().stale(), "{what}");
        clock.advance(Duration::from_secs(301));
        let c = client.clone();
        let t = token.clone();
        let v = guarded(what, move || c.verify(&t));
        assert!(v.unwrap().stale(), "{what}");
    }
}

#[test]
fn duplicate_kids_never_verify_with_the_wrong_key() {
    // Two keys under one kid: the first that fits is used; a token of the second fails its
    // signature, it is never accepted by the wrong key nor made to pass.
    let first = TestKey::ec("same", "ES256");
    let second = TestKey::ec("same", "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&first, &second]));
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).unwrap();
    client.verify(&first.token(&claims())).unwrap();
    assert_eq!(
        client.verify(&second.token(&claims())).unwrap_err().kind(),
        ErrorKind::BadSignature
    );
}

#[test]
fn sixteen_threads_verify_through_a_flapping_server() {
    // The server cycles through good keys, a 500, garbage and a connection cut mid-body, while
    // 16 threads verify and force refreshes. Every verification of a good token succeeds (from
    // the last good keys), every forced refresh either succeeds or fails with the status of what
    // the server did, and nothing panics or hangs. Bounded by iterations, not by time.
    let key = TestKey::ec("good", "ES256");
    let server = TestServer::start();
    let good = jwks(&[&key]);
    server.set_jwks(&good);
    let mut o = ClientOptions::new(server.url("/jwks"));
    o.timeout = Duration::from_secs(2);
    o.lifespan = Duration::from_millis(20); // background refreshes all the time
    o.min_refetch_interval = Duration::from_millis(1);
    o.failure_backoff = Duration::from_millis(1);
    let client = Client::new(o).unwrap();
    client.warm_up().unwrap();
    let token = key.token(&claims());

    let replies: Vec<Reply> = vec![
        Reply::json(good.clone()),
        Reply::status(500, "down"),
        Reply::json("<html>maintenance</html>"),
        raw(http(
            "HTTP/1.1 200 OK\ncontent-type: application/json\ncontent-length: 5000\n",
            &good.as_bytes()[..10],
        )),
    ];
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flapper = {
        let flag = done.clone();
        let server = &server;
        thread::scope(|s| {
            let flap = s.spawn(move || {
                let mut i = 0;
                while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                    server.set("/jwks", replies[i % replies.len()].clone());
                    i += 1;
                    thread::sleep(Duration::from_millis(2));
                }
                i
            });
            let workers: Vec<_> = (0..16)
                .map(|w| {
                    let (client, token) = (client.clone(), token.clone());
                    s.spawn(move || {
                        for i in 0..300 {
                            let v = client.verify(&token);
                            assert!(v.is_ok(), "thread {w}, verification {i}: {:?}", v.err());
                            if i % 30 == w % 30 {
                                if let Err(e) = client.get_jwk_set(true) {
                                    assert!(
                                        matches!(
                                            e.kind(),
                                            ErrorKind::HttpStatus
                                                | ErrorKind::InvalidJwks
                                                | ErrorKind::Connection
                                        ),
                                        "thread {w}: a forced refresh failed with {e}"
                                    );
                                }
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().expect("a verifying thread panicked");
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            flap.join().unwrap()
        })
    };
    assert!(flapper > 0);
    server.set_jwks(&good);
    // A forced refresh shares a fetch already in flight, and a background refresh may have
    // started before the server was fixed (it then fails with what the flapper served). The
    // refresh after that one starts a fetch of its own, which meets the good server.
    if let Err(e) = client.get_jwk_set(true) {
        assert!(
            matches!(
                e.kind(),
                ErrorKind::HttpStatus | ErrorKind::InvalidJwks | ErrorKind::Connection
            ),
            "the refresh that may share a fetch of the flapping server failed with {e}"
        );
        client.get_jwk_set(true).expect("the server is good again");
    }
    assert!(client.verify(&token).is_ok());
}
