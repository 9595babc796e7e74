//! Issuer discovery against real issuers on 127.0.0.1 (two or more at once), with exact request
//! counts and the injected clock for TTLs.

mod support;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use jwks::{Client, ClientOptions, ErrorKind, ManualClock};
use serde_json::{json, Value};
use support::keys::{jwks, now, TestKey};
use support::server::{Reply, TestServer};

const CONFIG: &str = "/.well-known/openid-configuration";

/// An issuer at `<server>/<name>` with its discovery document and JWKS.
struct Issuer {
    server: TestServer,
    name: String,
    key: TestKey,
}

impl Issuer {
    fn start(name: &str) -> Issuer {
        let issuer = Issuer {
            server: TestServer::start(),
            name: name.into(),
            key: TestKey::ec(&format!("{name}-key"), "ES256"),
        };
        issuer.publish(&[&issuer.key]);
        issuer.server.set(
            &issuer.config_path(),
            Reply::json(issuer.config().to_string()),
        );
        issuer
    }

    fn iss(&self) -> String {
        self.server.url(&format!("/{}", self.name))
    }

    fn config_path(&self) -> String {
        format!("/{}{CONFIG}", self.name)
    }

    fn jwks_path(&self) -> String {
        format!("/{}/jwks", self.name)
    }

    fn config(&self) -> Value {
        json!({"issuer": self.iss(), "jwks_uri": self.server.url(&self.jwks_path())})
    }

    fn publish(&self, keys: &[&TestKey]) {
        self.server.set(&self.jwks_path(), Reply::json(jwks(keys)));
    }

    fn claims(&self) -> Value {
        json!({"iss": self.iss(), "sub": "u", "exp": now() + 86_400})
    }

    fn token(&self) -> String {
        self.key.token(&self.claims())
    }

    fn hits(&self) -> (usize, usize) {
        (
            self.server.hits(&self.config_path()),
            self.server.hits(&self.jwks_path()),
        )
    }
}

fn client(allowed: &[&Issuer], tweak: impl FnOnce(&mut ClientOptions)) -> Client {
    let mut o = ClientOptions::default();
    o.discovery.allowed_issuers = allowed.iter().map(|i| i.iss()).collect();
    o.refresh_jitter = 0.0; // exact TTLs
    tweak(&mut o);
    Client::new(o).unwrap()
}

#[test]
fn verifies_tokens_of_two_issuers_with_one_discovery_each() {
    let (a, b) = (Issuer::start("a"), Issuer::start("b"));
    let c = client(&[&a, &b], |_| {});
    for _ in 0..5 {
        assert_eq!(c.verify(&a.token()).unwrap().claims()["iss"], a.iss());
        assert_eq!(c.verify(&b.token()).unwrap().claims()["iss"], b.iss());
    }
    assert_eq!(a.hits(), (1, 1));
    assert_eq!(b.hits(), (1, 1));
    let key = c.get_signing_key_from_jwt(&b.token()).unwrap();
    assert_eq!(key.kid(), Some("b-key"));
    assert_eq!(
        key.algorithms().map(|a| a.name()).collect::<Vec<_>>(),
        ["ES256"]
    );
    assert_eq!(
        c.get_signing_key_for_issuer(&a.iss(), "a-key")
            .unwrap()
            .kid(),
        Some("a-key")
    );
    assert_eq!(
        c.get_jwk_set_for_issuer(&a.iss(), false)
            .unwrap()
            .keys()
            .len(),
        1
    );
    assert_eq!(a.hits(), (1, 1));
    assert_eq!(c.uri(), None);
    assert_eq!(
        c.get_signing_key("a-key").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn a_thousand_concurrent_first_tokens_make_one_discovery_and_one_jwks_request() {
    let a = Issuer::start("a");
    a.server.set(
        &a.config_path(),
        Reply::json(a.config().to_string()).delayed(Duration::from_millis(200)),
    );
    a.server.set(
        &a.jwks_path(),
        Reply::json(jwks(&[&a.key])).delayed(Duration::from_millis(200)),
    );
    let c = client(&[&a], |_| {});
    let token = a.token();
    let barrier = Arc::new(Barrier::new(1000));
    let handles: Vec<_> = (0..1000)
        .map(|_| {
            let (c, token, barrier) = (c.clone(), token.clone(), barrier.clone());
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    barrier.wait();
                    c.verify(&token).map(|_| ())
                })
                .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    assert_eq!(a.hits(), (1, 1));
}

#[test]
fn jwks_url_is_accepted_when_jwks_uri_is_absent() {
    let a = Issuer::start("a");
    let config = json!({"issuer": a.iss(), "jwks_url": a.server.url(&a.jwks_path())});
    a.server
        .set(&a.config_path(), Reply::json(config.to_string()));
    client(&[&a], |_| {}).verify(&a.token()).unwrap();
    assert_eq!(a.hits(), (1, 1));
}

#[test]
fn custom_config_path_and_trailing_slash() {
    let a = Issuer::start("a");
    a.server
        .set("/a/oidc/config.json", Reply::json(a.config().to_string()));
    let c = client(&[&a], |o| {
        o.discovery.config_path = "/oidc/config.json".into()
    });
    c.verify(&a.token()).unwrap();
    assert_eq!(a.server.hits("/a/oidc/config.json"), 1);
    assert_eq!(a.hits(), (0, 1));

    // An issuer with a trailing slash: the config URL drops it (OIDC Discovery §4).
    let b = Issuer::start("b");
    let iss = format!("{}/", b.iss());
    let config = json!({"issuer": iss, "jwks_uri": b.server.url(&b.jwks_path())});
    b.server
        .set(&b.config_path(), Reply::json(config.to_string()));
    let mut o = ClientOptions::default();
    o.discovery.allowed_issuers = vec![iss.clone()];
    let mut claims = b.claims();
    claims["iss"] = json!(iss);
    Client::new(o)
        .unwrap()
        .verify(&b.key.token(&claims))
        .unwrap();
    assert_eq!(b.hits(), (1, 1));
}

#[test]
fn static_issuer_needs_no_discovery_request() {
    let a = Issuer::start("a");
    let mut o = ClientOptions::default();
    o.discovery.static_issuers = vec![(a.iss(), a.server.url(&a.jwks_path()))];
    Client::new(o).unwrap().verify(&a.token()).unwrap();
    assert_eq!(a.hits(), (0, 1));
}

#[test]
fn issuer_not_allowed_is_refused_before_any_request() {
    let (a, b) = (Issuer::start("a"), Issuer::start("b"));
    let c = client(&[&a], |_| {});
    let err = c.verify(&b.token()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IssuerNotAllowed);
    assert!(
        !err.message().contains(&b.iss()),
        "no token bytes in messages: {err}"
    );
    assert_eq!(b.hits(), (0, 0));
    assert_eq!(a.hits(), (0, 0));
    let mut claims = a.claims();
    claims.as_object_mut().unwrap().remove("iss");
    let err = c.verify(&a.key.token(&claims)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingClaim);
}

#[test]
fn discovery_needs_allowed_issuers_or_an_explicit_allow_any() {
    let err = Client::new(ClientOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let a = Issuer::start("a");
    // (allow_http: an issuer only a token names must otherwise be https, even on loopback.)
    let c = client(&[], |o| {
        o.discovery.allow_any_issuer = true;
        o.allow_http = true;
    });
    c.verify(&a.token()).unwrap();
    // uri and discovery settings together are a configuration error.
    let mut o = ClientOptions::new(a.server.url(&a.jwks_path()));
    o.discovery.allowed_issuers = vec![a.iss()];
    assert_eq!(
        Client::new(o).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn a_plain_http_issuer_to_discover_is_refused_when_the_client_is_made() {
    // Refused now, not at its first token; loopback and allow_http are the exceptions, as for
    // a JWKS URL, and the message names no setting a server module may not have.
    let mut o = ClientOptions::default();
    o.discovery.allowed_issuers = vec!["http://idp.example.com".into()];
    let err = Client::new(o.clone()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(
        err.message()
            .contains("\"http://idp.example.com\" uses plain http")
            && !err.message().contains("allow_http"),
        "{err}"
    );
    o.allow_http = true;
    Client::new(o).unwrap();
    let mut o = ClientOptions::default();
    o.discovery.allowed_issuers = vec!["http://127.0.0.1:9".into(), "not-a-url".into()];
    Client::new(o.clone()).unwrap();
    // A static issuer's name is no URL to fetch.
    o.discovery.static_issuers = vec![(
        "http://idp.example.com".into(),
        "https://idp.example.com/jwks".into(),
    )];
    o.discovery
        .allowed_issuers
        .push("http://idp.example.com".into());
    Client::new(o).unwrap();
}

#[test]
fn broken_discovery_documents_fail_with_the_reason() {
    let a = Issuer::start("a");
    let cases = [
        (Reply::status(404, "no"), "HTTP 404"),
        (Reply::json("not json"), "not JSON"),
        (Reply::json("[1]"), "not a JSON object"),
        (
            Reply::json(
                json!({"issuer": "https://evil.example", "jwks_uri": a.server.url(&a.jwks_path())})
                    .to_string(),
            ),
            "does not match",
        ),
        (
            Reply::json(json!({"issuer": a.iss()}).to_string()),
            "no jwks_uri",
        ),
        (
            Reply::json(
                json!({"issuer": a.iss(), "jwks_uri": "http://idp.example/jwks"}).to_string(),
            ),
            "not an https URL",
        ),
    ];
    for (reply, reason) in cases {
        a.server.set(&a.config_path(), reply);
        let err = client(&[&a], |_| {}).verify(&a.token()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Discovery, "{err}");
        assert!(err.message().contains(reason), "{reason}: {err}");
    }
    assert_eq!(a.hits().1, 0, "no JWKS request after a failed discovery");
}

#[test]
fn plain_http_issuer_off_loopback_is_refused_without_a_request() {
    // A configured one is refused when the client is made (see above); one a token names in
    // allow-any mode, at that token.
    let a = Issuer::start("a");
    let mut claims = a.claims();
    claims["iss"] = json!("http://idp.example");
    let mut o = ClientOptions::default();
    o.discovery.allow_any_issuer = true;
    let err = Client::new(o)
        .unwrap()
        .verify(&a.key.token(&claims))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Discovery);
    assert!(err.message().contains("https"), "{err}");
}

/// In allow-any mode the token names the issuer: were plain http to loopback allowed there as
/// it is for configured URLs, any sender could make the server fetch from its own plain-http
/// services. Refused, with no request, for the issuer and for the jwks_uri its document names.
#[test]
fn a_token_cannot_lead_an_allow_any_client_to_plain_http_even_on_loopback() {
    let a = Issuer::start("a");
    let any = |o: &mut ClientOptions| o.discovery.allow_any_issuer = true;
    let err = client(&[], any).verify(&a.token()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Discovery);
    assert!(err.message().contains("https"), "{err}");
    assert_eq!(a.hits(), (0, 0), "no request to the loopback issuer");
    // The same issuer, configured by the operator, is fetched as before.
    client(&[&a], |_| {}).verify(&a.token()).unwrap();
    assert_eq!(a.hits(), (1, 1));

    // An https issuer whose document points at a plain-http jwks_uri on loopback.
    let ca = support::tls::make_ca("libjwks test CA");
    let tls = TestServer::start_tls(ca.server_config.clone());
    let iss = tls.url("/t");
    tls.set(
        &format!("/t{CONFIG}"),
        Reply::json(json!({"issuer": iss, "jwks_uri": a.server.url(&a.jwks_path())}).to_string()),
    );
    let token = a
        .key
        .token(&json!({"iss": iss, "sub": "u", "exp": now() + 3600}));
    let c = client(&[], |o| {
        any(o);
        o.ca_pem = ca.ca_pem.clone().into_bytes();
    });
    let err = c.verify(&token).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Discovery);
    assert!(err.message().contains("jwks_uri"), "{err}");
    assert_eq!(tls.hits(&format!("/t{CONFIG}")), 1);
    assert_eq!(a.hits(), (1, 1), "no request to the plain-http jwks_uri");
    // allow_http is the operator's explicit opt-out, for token-named URLs as for others.
    let c = client(&[], |o| {
        any(o);
        o.allow_http = true;
        o.ca_pem = ca.ca_pem.clone().into_bytes();
    });
    c.verify(&token).unwrap();
    assert_eq!(a.hits(), (1, 2));
}

#[test]
fn unseen_kid_refetches_the_issuers_keys_at_most_once_per_interval() {
    let (a, b) = (Issuer::start("a"), Issuer::start("b"));
    let clock = Arc::new(ManualClock::starting_now());
    let c = client(&[&a, &b], |o| o.clock = clock.clone());
    c.verify(&a.token()).unwrap();
    let rotated = TestKey::ec("a-new", "ES256");
    a.publish(&[&a.key, &rotated]);
    c.verify(&rotated.token(&a.claims())).unwrap();
    assert_eq!(a.hits(), (1, 2), "the unseen kid refetched a's keys once");
    let unknown = TestKey::ec("a-unknown", "ES256").token(&a.claims());
    let err = c.verify(&unknown).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyNotFound);
    assert!(err.message().contains("rate-limited"), "{err}");
    assert_eq!(a.hits(), (1, 2));
    clock.advance(Duration::from_secs(299));
    c.verify(&unknown).unwrap_err();
    assert_eq!(a.hits(), (1, 2), "default interval is 300 s");
    clock.advance(Duration::from_secs(1));
    c.verify(&unknown).unwrap_err();
    assert_eq!(a.hits(), (1, 3));
    // b's limiter is its own.
    c.verify(&b.token()).unwrap();
    c.verify(&TestKey::ec("b-x", "ES256").token(&b.claims()))
        .unwrap_err();
    assert_eq!(b.hits(), (1, 2));
}

#[test]
fn issuer_cache_evicts_least_recently_used_and_expires_after_ttl() {
    let (a, b) = (Issuer::start("a"), Issuer::start("b"));
    let clock = Arc::new(ManualClock::starting_now());
    let c = client(&[&a, &b], |o| {
        o.clock = clock.clone();
        o.discovery.max_issuers = 1;
    });
    c.verify(&a.token()).unwrap();
    c.verify(&b.token()).unwrap(); // evicts a
    c.verify(&a.token()).unwrap();
    assert_eq!(a.hits(), (2, 2));
    assert_eq!(b.hits(), (1, 1));

    let c = client(&[&a], |o| {
        o.clock = clock.clone();
        o.refresh_ahead = false;
    });
    c.verify(&a.token()).unwrap();
    clock.advance(Duration::from_secs(3599));
    c.verify(&a.token()).unwrap();
    support::settle(&c);
    assert_eq!(a.hits(), (3, 3));
    clock.advance(Duration::from_secs(1));
    assert!(c.verify(&a.token()).unwrap().stale(), "answered at once");
    support::settle(&c);
    assert_eq!(
        a.hits(),
        (4, 4),
        "after the TTL both documents are fetched again, in the background"
    );
    assert!(!c.verify(&a.token()).unwrap().stale());
}

#[test]
fn keys_of_one_issuer_never_verify_another_issuers_token() {
    let (a, b) = (Issuer::start("a"), Issuer::start("b"));
    let c = client(&[&a, &b], |_| {});
    // Signed by b's key, claiming to come from a: a's keys do not have that kid.
    let forged = b.key.token(&a.claims());
    assert_eq!(
        c.verify(&forged).unwrap_err().kind(),
        ErrorKind::KeyNotFound
    );
    // Even when b's key carries a kid that a also uses, a's key is the one tried.
    let twin = TestKey::ec("a-key", "ES256");
    b.publish(&[&twin]);
    let forged = twin.token(&a.claims());
    assert_eq!(
        c.verify(&forged).unwrap_err().kind(),
        ErrorKind::BadSignature
    );
    assert_eq!(b.hits(), (0, 0), "b was never asked for a's token");
}

#[test]
fn custom_headers_go_only_to_configured_origins() {
    let (a, keys_host) = (Issuer::start("a"), TestServer::start());
    // a's keys live on another origin, learned from its discovery document.
    let config = json!({"issuer": a.iss(), "jwks_uri": keys_host.url("/a/jwks")});
    a.server
        .set(&a.config_path(), Reply::json(config.to_string()));
    keys_host.set("/a/jwks", Reply::json(jwks(&[&a.key])));
    let header = ("X-Api-Key".to_string(), "secret".to_string());
    let c = client(&[&a], |o| o.headers = vec![header.clone()]);
    c.verify(&a.token()).unwrap();
    assert_eq!(
        a.server
            .last_header(&a.config_path(), "x-api-key")
            .as_deref(),
        Some("secret")
    );
    assert_eq!(keys_host.last_header("/a/jwks", "x-api-key"), None);

    // With allow-any, a token's issuer never gets the headers.
    let b = Issuer::start("b");
    let c = client(&[], |o| {
        o.discovery.allow_any_issuer = true;
        o.allow_http = true;
        o.headers = vec![header.clone()];
    });
    c.verify(&b.token()).unwrap();
    assert_eq!(b.server.last_header(&b.config_path(), "x-api-key"), None);
    assert_eq!(b.server.last_header(&b.jwks_path(), "x-api-key"), None);
}

#[test]
fn a_custom_transport_serves_discovery_without_sockets() {
    struct Memory(Value, String);
    impl jwks::HttpFetch for Memory {
        fn get(&self, r: &jwks::HttpRequest<'_>) -> jwks::Result<jwks::HttpResponse> {
            let body = if r.url.ends_with(CONFIG) {
                self.0.to_string()
            } else {
                self.1.clone()
            };
            Ok(jwks::HttpResponse {
                status: 200,
                headers: vec![],
                body: body.into_bytes(),
            })
        }
    }
    let key = TestKey::ed25519("k");
    let iss = "https://idp.invalid";
    let fetch = Memory(
        json!({"issuer": iss, "jwks_uri": "https://keys.invalid/jwks"}),
        jwks(&[&key]),
    );
    let mut o = ClientOptions::default();
    o.discovery.allowed_issuers = vec![iss.into()];
    o.fetcher = Some(Arc::new(fetch));
    let token = key.token(&json!({"iss": iss, "exp": now() + 60}));
    Client::new(o).unwrap().verify(&token).unwrap();
}

#[test]
fn a_failing_rediscovery_keeps_the_known_issuer_serving_and_backs_off() {
    let a = Issuer::start("a");
    let clock = Arc::new(ManualClock::starting_now());
    let c = client(&[&a], |o| {
        o.clock = clock.clone();
        o.failure_backoff = Duration::from_secs(2);
        o.failure_backoff_max = Duration::from_secs(16);
    });
    c.verify(&a.token()).unwrap();
    a.server.set(&a.config_path(), Reply::status(500, "down"));
    clock.advance(Duration::from_secs(3600)); // issuer TTL (and key set lifespan) reached
    for _ in 0..20 {
        // The configuration is down; the keys endpoint still answers.
        c.verify(&a.token()).unwrap();
        support::settle(&c);
    }
    assert_eq!(a.hits(), (2, 2), "one failed rediscovery, then the backoff");
    clock.advance(Duration::from_secs(2));
    c.verify(&a.token()).unwrap();
    support::settle(&c);
    assert_eq!(a.hits().0, 3);
    // With no known source, a failing discovery answers with its error while backing off.
    let b = Issuer::start("b");
    b.server.set(&b.config_path(), Reply::status(503, "down"));
    let c = client(&[&b], |o| o.clock = clock.clone());
    for _ in 0..5 {
        assert_eq!(
            c.verify(&b.token()).unwrap_err().kind(),
            ErrorKind::Discovery
        );
    }
    assert_eq!(b.hits(), (1, 0));
}
