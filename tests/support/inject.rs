//! Header injection through claims, for the server-module tests (nginx, Envoy): the values an
//! attacker who edits their own profile at the IdP can get signed, a payload that carries them
//! as the bytes written (raw CR/LF whitespace included), an upstream that records the exact
//! bytes it receives, and a client that reads the exact bytes of a response.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::keys::now;

/// One hostile (or legitimate) claim value: `json` is the JSON string literal as the payload
/// writes it (quotes included, escapes as signed); `header` is what the header-safe rendering
/// must make of it.
pub struct Case {
    pub name: &'static str,
    pub json: String,
    pub header: String,
    /// Whether the payload also carries the value in `org.name` and `roles` (not for the
    /// 40 KB value: three of it would pass the library's 64 KiB bound on a token).
    pub everywhere: bool,
}

fn case(name: &'static str, json: &str, header: &str) -> Case {
    Case {
        name,
        json: format!("\"{json}\""),
        header: header.to_owned(),
        everywhere: true,
    }
}

impl Case {
    /// A payload with the value in `sub` and, when `everywhere`, in the nested claim
    /// `org.name` and as the second element of `roles` (after "ok"), laid out with raw CR, LF
    /// and TAB as JSON whitespace (valid JSON, the bytes a hostile issuer may sign).
    pub fn payload(&self, aud: &str, iss: &str) -> Vec<u8> {
        let v = &self.json;
        let more = if self.everywhere {
            format!(",\r\n\"org\": {{\"name\": {v}}},\r\n\"roles\": [\"ok\",\n{v}]")
        } else {
            String::new()
        };
        format!(
            "{{\r\n\t\"iss\": \"{iss}\",\r\n\t\"aud\": \"{aud}\",\n\"exp\": {exp},\r\
             \"sub\": {v}{more}\r\n}}",
            exp = now() + 3600,
        )
        .into_bytes()
    }

    /// The header-safe `org.name`, if the payload has it.
    pub fn nested(&self) -> Option<Vec<u8>> {
        self.everywhere.then(|| self.header.clone().into_bytes())
    }

    /// The header-safe `roles`, if the payload has it.
    pub fn roles(&self) -> Option<Vec<u8>> {
        self.everywhere
            .then(|| format!("ok,{}", self.header).into_bytes())
    }
}

/// The table: CRLF, bare LF, bare CR, NUL, ESC, DEL, a typed look-alike escape, a request
/// smuggled after an empty line, a 40 KB value followed by CRLF, and non-ASCII text that must
/// arrive intact.
pub fn cases() -> Vec<Case> {
    let big = "A".repeat(40 * 1024);
    vec![
        case("crlf", r"x\r\nX-Admin: true", r"x\x0D\x0AX-Admin: true"),
        case("bare lf", r"a\nX-Lf-Inj: 1", r"a\x0AX-Lf-Inj: 1"),
        case("bare cr", r"a\rX-Cr-Inj: 1", r"a\x0DX-Cr-Inj: 1"),
        case("nul", r"ab\u0000X-Nul-Inj: 1", r"ab\x00X-Nul-Inj: 1"),
        case("esc", r"a\u001b[31mred", r"a\x1B[31mred"),
        case("del", r"a\u007fb", r"a\x7Fb"),
        case(
            "look-alike",
            r"a\\x0D\\x0AX-Fake: 1",
            r"a\x5Cx0D\x5Cx0AX-Fake: 1",
        ),
        case(
            "smuggle",
            r"u\r\nContent-Length: 0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: evil\r\n\r\n",
            r"u\x0D\x0AContent-Length: 0\x0D\x0A\x0D\x0AGET /smuggled HTTP/1.1\x0D\x0AHost: evil\x0D\x0A\x0D\x0A",
        ),
        Case {
            everywhere: false,
            ..case(
                "40 KB then CRLF",
                &format!(r"{big}\r\nX-Big-Inj: 1"),
                &format!(r"{big}\x0D\x0AX-Big-Inj: 1"),
            )
        },
        case("non-ascii", "Zoë 漢字", "Zoë 漢字"),
    ]
}

/// Whether `b` may not stand raw in a header value.
pub fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// The header lines of one HTTP message (request or response) whose bytes are `raw`: checks
/// that `raw` holds exactly one message head, ending where `body_len` bytes of body begin,
/// and that no line holds a control byte (CR and LF appear only as the CRLF that ends a line).
/// Returns the start line and the (name, value) pairs, names lowercased.
pub fn one_message(raw: &[u8], body_len: usize, what: &str) -> (String, Vec<(String, Vec<u8>)>) {
    let show = || String::from_utf8_lossy(raw).into_owned();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{what}: no end of head in {:?}", show()));
    assert_eq!(
        raw.len(),
        end + 4 + body_len,
        "{what}: bytes beyond the one message (a second request?): {:?}",
        show()
    );
    // Every line of the head with its CRLF; the piece after the last LF is empty.
    let head = &raw[..end + 2];
    let pieces: Vec<&[u8]> = head.split(|&b| b == b'\n').collect();
    let mut lines = pieces[..pieces.len() - 1].iter().map(|l| {
        let l = l
            .strip_suffix(b"\r")
            .unwrap_or_else(|| panic!("{what}: a bare LF in {:?}", show()));
        assert!(
            !l.iter().copied().any(is_control),
            "{what}: a control byte in the line {:?}",
            String::from_utf8_lossy(l)
        );
        l
    });
    let start = String::from_utf8_lossy(lines.next().unwrap()).into_owned();
    let headers = lines
        .map(|l| {
            let colon = l
                .iter()
                .position(|&b| b == b':')
                .unwrap_or_else(|| panic!("{what}: a line that is no header: {:?}", show()));
            assert!(
                l[0] != b' ' && l[0] != b'\t',
                "{what}: an obs-fold line in {:?}",
                show()
            );
            let name = String::from_utf8_lossy(&l[..colon]).to_ascii_lowercase();
            let value = l[colon + 1..].trim_ascii().to_vec();
            (name, value)
        })
        .collect();
    (start, headers)
}

/// The value of the one header `name` (lowercase) in `headers`; None when absent, a panic when
/// it appears twice.
pub fn header<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    let mut found = headers.iter().filter(|(n, _)| n == name);
    let first = found.next().map(|(_, v)| v.as_slice());
    assert!(found.next().is_none(), "the header {name} appears twice");
    first
}

/// An upstream on 127.0.0.1 that records every byte each connection sends: it answers the
/// first request head with 200 "ok" and `Connection: close`, then reads until the peer
/// closes, so bytes smuggled after the first request are recorded too.
pub struct RawUpstream {
    pub port: u16,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl RawUpstream {
    pub fn start() -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let log = log.clone();
                thread::spawn(move || record(conn, &log));
            }
        });
        RawUpstream { port, received }
    }

    /// The bytes of each connection that has ended, in the order they ended.
    pub fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }

    /// Waits (bounded, by super::wait_until) for the next connection to end, checks that it
    /// was the only one and carried exactly one request (see [`one_message`]), and returns its
    /// request line and headers.
    pub fn one_request(&self, what: &str) -> (String, Vec<(String, Vec<u8>)>) {
        super::wait_until("the upstream's connection to end", || {
            !self.received.lock().unwrap().is_empty()
        });
        let got = self.take();
        assert_eq!(got.len(), 1, "{what}: one connection");
        one_message(&got[0], 0, &format!("{what}: to the upstream"))
    }
}

fn record(mut conn: TcpStream, log: &Mutex<Vec<Vec<u8>>>) {
    // A bound for a peer that never closes; the tests' own checks do not depend on it.
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut answered = false;
    loop {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
        if !answered && bytes.windows(4).any(|w| w == b"\r\n\r\n") {
            answered = true;
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\
                  Connection: close\r\n\r\nok",
            );
        }
    }
    log.lock().unwrap().push(bytes);
}
