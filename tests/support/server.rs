//! A small HTTP/1.1 server on 127.0.0.1 for tests and the demo: serves scripted replies per
//! path, counts requests and records their headers, and can hold the answers on a path until
//! the test releases them. One thread per connection; every response closes its connection.
//!
//! Control paths, for tests in other languages (C): `GET /__hold/<path>` holds `/<path>`,
//! `GET /__release/<path>` releases it, `GET /__held/<path>` answers how many requests to it
//! are being held now. They are not counted as hits.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// What the server answers on one path.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
    /// Answer 304 when the request's If-None-Match is this ETag (also sent as ETag).
    pub etag: Option<String>,
    /// Answer 304 when the request's If-Modified-Since is this date (also sent).
    pub last_modified: Option<String>,
    /// Bytes written as they are instead of a response built from the fields above: for
    /// hostile servers (broken framing, endless bodies, dribbling).
    pub raw: Option<Raw>,
}

/// A response written byte for byte.
#[derive(Clone, Debug, Default)]
pub struct Raw {
    /// Status line, headers and whatever body, exactly as sent.
    pub bytes: Vec<u8>,
    /// Wait this long before each byte of `bytes`.
    pub dribble: Duration,
    /// After `bytes`, this chunk again and again until the client hangs up (at most 64 MiB).
    pub endless: Option<Vec<u8>>,
}

impl Reply {
    pub fn json(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            body: body.into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            delay: Duration::ZERO,
            etag: None,
            last_modified: None,
            raw: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn status(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.as_bytes().to_vec(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
            delay: Duration::ZERO,
            etag: None,
            last_modified: None,
            raw: None,
        }
    }

    pub fn redirect(location: &str) -> Reply {
        Reply {
            status: 302,
            body: Vec::new(),
            headers: vec![("Location".into(), location.into())],
            delay: Duration::ZERO,
            etag: None,
            last_modified: None,
            raw: None,
        }
    }

    /// A response written byte for byte (see [`Raw`]).
    pub fn raw(raw: Raw) -> Reply {
        Reply {
            raw: Some(raw),
            ..Reply::status(200, "")
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

#[derive(Default)]
struct State {
    replies: HashMap<String, Reply>,
    hits: HashMap<String, usize>,
    not_modified: HashMap<String, usize>,
    last_headers: HashMap<String, Vec<(String, String)>>,
    /// Paths whose answers wait until released, and how many requests wait on each now.
    holding: std::collections::HashSet<String>,
    held: HashMap<String, usize>,
    stopping: bool,
}

/// The state and the condition held requests wait on.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    released: Condvar,
}

/// The server; stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    https: bool,
    state: Arc<Shared>,
    stop: Arc<AtomicBool>,
    accept: Option<thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(None, 0)
    }

    /// A server on a given port (to restart one that was dropped: same URLs).
    pub fn start_on(port: u16) -> TestServer {
        Self::start_with(None, port)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// An HTTPS server presenting the certificate of `config`.
    pub fn start_tls(config: Arc<rustls::ServerConfig>) -> TestServer {
        Self::start_with(Some(config), 0)
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>, port: u16) -> TestServer {
        let https = tls.is_some();
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let st = st.clone();
                let tls = tls.clone();
                thread::spawn(move || match tls {
                    None => handle(conn, &st),
                    Some(config) => {
                        let Ok(session) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        handle(rustls::StreamOwned::new(session, conn), &st)
                    }
                });
            }
        });
        TestServer {
            addr,
            https,
            state,
            stop,
            accept: Some(accept),
        }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}", self.addr, path)
    }

    pub fn set(&self, path: &str, reply: Reply) {
        self.state
            .state
            .lock()
            .unwrap()
            .replies
            .insert(path.into(), reply);
    }

    /// Serves `json` as the JWKS at `/jwks`.
    pub fn set_jwks(&self, json: &str) {
        self.set("/jwks", Reply::json(json));
    }

    pub fn hits(&self, path: &str) -> usize {
        *self
            .state
            .state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .unwrap_or(&0)
    }

    /// How many requests to `path` were answered 304.
    pub fn not_modified(&self, path: &str) -> usize {
        *self
            .state
            .state
            .lock()
            .unwrap()
            .not_modified
            .get(path)
            .unwrap_or(&0)
    }

    /// From now on, requests to `path` are received and counted but not answered until
    /// [`TestServer::release`].
    pub fn hold(&self, path: &str) {
        self.state.hold(path);
    }

    /// Answers the requests held on `path`, and those after them.
    pub fn release(&self, path: &str) {
        self.state.release(path);
    }

    /// How many requests to `path` are being held now.
    pub fn held(&self, path: &str) -> usize {
        *self
            .state
            .state
            .lock()
            .unwrap()
            .held
            .get(path)
            .unwrap_or(&0)
    }

    pub fn last_header(&self, path: &str, name: &str) -> Option<String> {
        let st = self.state.state.lock().unwrap();
        st.last_headers
            .get(path)?
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

impl Drop for TestServer {
    /// Stops accepting and closes the port before returning (connections being served finish
    /// on their own threads).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.state.state.lock().unwrap().stopping = true;
        self.state.released.notify_all();
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl Shared {
    fn hold(&self, path: &str) {
        self.state.lock().unwrap().holding.insert(path.into());
    }

    fn release(&self, path: &str) {
        self.state.lock().unwrap().holding.remove(path);
        self.released.notify_all();
    }

    /// Answers a control request, if `path` is one.
    fn control(&self, path: &str) -> Option<Reply> {
        let (verb, target) = path.strip_prefix("/__")?.split_once('/')?;
        let target = format!("/{target}");
        match verb {
            "hold" => self.hold(&target),
            "release" => self.release(&target),
            "held" => {
                let n = *self.state.lock().unwrap().held.get(&target).unwrap_or(&0);
                return Some(Reply::status(200, &n.to_string()));
            }
            _ => return None,
        }
        Some(Reply::status(200, "ok"))
    }
}

fn handle(mut conn: impl Read + Write, shared: &Shared) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
    let headers: Vec<(String, String)> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let request_header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (if_none_match, if_modified_since) = (
        request_header("if-none-match"),
        request_header("if-modified-since"),
    );
    if let Some(reply) = shared.control(&path) {
        return write_reply(conn, reply);
    }
    let mut reply = {
        let mut st = shared.state.lock().unwrap();
        *st.hits.entry(path.clone()).or_default() += 1;
        if st.holding.contains(&path) {
            *st.held.entry(path.clone()).or_default() += 1;
            while st.holding.contains(&path) && !st.stopping {
                st = shared.released.wait(st).unwrap();
            }
            *st.held.entry(path.clone()).or_default() -= 1;
        }
        st.last_headers.insert(path.clone(), headers);
        let reply = st
            .replies
            .get(&path)
            .cloned()
            .unwrap_or_else(|| Reply::status(404, "not found"));
        let unchanged = (reply.etag.is_some() && reply.etag == if_none_match)
            || (reply.last_modified.is_some() && reply.last_modified == if_modified_since);
        if unchanged {
            *st.not_modified.entry(path.clone()).or_default() += 1;
        }
        (reply, unchanged)
    };
    if let Some(etag) = &reply.0.etag {
        reply.0.headers.push(("ETag".into(), etag.clone()));
    }
    if let Some(lm) = &reply.0.last_modified {
        reply.0.headers.push(("Last-Modified".into(), lm.clone()));
    }
    let reply = if reply.1 {
        Reply {
            status: 304,
            body: Vec::new(),
            ..reply.0
        }
    } else {
        reply.0
    };
    write_reply(conn, reply)
}

fn write_reply(mut conn: impl Write, reply: Reply) {
    if !reply.delay.is_zero() {
        thread::sleep(reply.delay);
    }
    if let Some(raw) = reply.raw {
        return write_raw(conn, raw);
    }
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (n, v) in &reply.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let _ = conn.write_all(out.as_bytes());
    let _ = conn.write_all(&reply.body);
    let _ = conn.flush();
}

fn write_raw(mut conn: impl Write, raw: Raw) {
    if raw.dribble.is_zero() {
        if conn.write_all(&raw.bytes).is_err() {
            return;
        }
    } else {
        for b in &raw.bytes {
            thread::sleep(raw.dribble);
            if conn.write_all(&[*b]).and_then(|_| conn.flush()).is_err() {
                return;
            }
        }
    }
    if let Some(chunk) = raw.endless {
        let mut sent = 0;
        while sent < 64 << 20 && conn.write_all(&chunk).is_ok() {
            sent += chunk.len().max(1);
        }
    }
    let _ = conn.flush();
}
