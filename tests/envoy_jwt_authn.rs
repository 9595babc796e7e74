//! The Envoy module with jwt_authn's config shapes, in stock Envoy 1.40 on 127.0.0.1: several
//! providers, each with its own IdP, rules and requirements (requires_any, requires_all, a
//! route's requirement_name), claims in dynamic metadata for Envoy's RBAC filter, local keys,
//! and the provider checks (subjects, max_lifetime, require_expiration, token locations).

mod support;

use serde_json::{json, Value};
use support::envoy::{available, modules, per_route, validate, Envoy, Listener, Setup};
use support::http::{bearer, request};
use support::keys::{jwks, now, TestKey};
use support::server::{Reply, TestServer};
use support::wait_until;

const A: &str = "https://a.example";
const B: &str = "https://b.example";

/// An IdP: its key (kid = name) and a JWKS server publishing it.
struct Idp {
    key: TestKey,
    server: TestServer,
}

fn idp(kid: &str) -> Idp {
    let key = TestKey::ec(kid, "ES256");
    let server = TestServer::start();
    server.set_jwks(&jwks(&[&key]));
    Idp { key, server }
}

fn upstream(paths: &[&str]) -> TestServer {
    let up = TestServer::start();
    for p in paths {
        up.set(p, Reply::status(200, "upstream"));
    }
    up
}

fn start(name: &str, listeners: &[Listener], up: &TestServer) -> Envoy {
    Envoy::start(
        name,
        &Setup {
            listeners,
            upstream: Some(up.port()),
            jwks: None,
            concurrency: 2,
            modules: modules(),
        },
    )
}

fn token(idp: &Idp, iss: &str, extra: Value) -> String {
    let mut c =
        json!({"iss": iss, "sub": format!("user-of-{iss}"), "aud": "api", "exp": now() + 600});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    idp.key.token(&c)
}

fn provider(idp: &Idp, iss: &str, extra: Value) -> Value {
    let mut p = json!({
        "issuer": iss,
        "remote_jwks": {"http_uri": {"uri": idp.server.url("/jwks"), "timeout": "2s"}},
        "audiences": ["api"],
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

/// One listener with this module's filter (and `more` filters after it) and `routes` before
/// the catch-all route.
fn custom(config: &Value, more: &str, routes: &str) -> Listener {
    Listener::Custom {
        filters: format!("{}{more}", support::envoy::module_filter(config)),
        routes: routes.to_owned(),
    }
}

#[test]
fn requirements_pick_providers_as_jwt_authn_does() {
    if !available() {
        return;
    }
    let (a, b) = (idp("a"), idp("b"));
    let up = upstream(&[
        "/any", "/all", "/nested", "/b", "/route-b", "/admin/7", "/admin/x", "/open/x", "/x",
    ]);
    let config = json!({
        "providers": {
            "a": provider(&a, A, json!({
                "claim_to_headers": [{"header_name": "x-a-sub", "claim_name": "sub"}]
            })),
            "b": provider(&b, B, json!({
                "from_headers": [{"name": "x-b-token"}],
                "claim_to_headers": [{"header_name": "x-b-sub", "claim_name": "sub"}]
            })),
        },
        "requirement_map": {"only_b": {"provider_name": "b"}},
        "rules": [
            {"match": {"prefix": "/any"},
             "requires": {"requires_any": {"requirements": [{"provider_name": "a"}, {"provider_name": "b"}]}}},
            {"match": {"prefix": "/all"},
             "requires": {"requires_all": {"requirements": [{"provider_name": "a"}, {"provider_name": "b"}]}}},
            {"match": {"prefix": "/b"}, "requirement_name": "only_b"},
            // Nested: both providers' tokens, or a's token for the admin audience alone.
            {"match": {"prefix": "/nested"},
             "requires": {"requires_any": {"requirements": [
                 {"requires_all": {"requirements": [{"provider_name": "a"}, {"provider_name": "b"}]}},
                 {"provider_and_audiences": {"provider_name": "a", "audiences": ["admin"]}},
             ]}}},
            {"match": {"safe_regex": {"regex": "/admin/[0-9]+"},
                       "headers": [{"name": "x-env", "string_match": {"exact": "prod"}}]},
             "requires": {"provider_and_audiences": {"provider_name": "a", "audiences": ["admin"]}}},
            {"match": {"prefix": "/open"}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "a"}},
        ]
    });
    // /route-b: the route's own config picks requirement_map's only_b.
    let routes = format!(
        r#"
              - match: {{prefix: "/route-b"}}
                {{action}}{}"#,
        per_route(&json!({"requirement_name": "only_b"}))
    );
    let envoy = start("providers", &[custom(&config, "", &routes)], &up);
    let ta = bearer(&token(&a, A, json!({})));
    let tb = token(&b, B, json!({}));
    let get = |path: &str, headers: &[(&str, &str)]| envoy.get(0, path, headers).status;
    let sub = |path: &str, h: &str| up.last_header(path, h);

    // requires_any: either provider's token.
    assert_eq!(
        get("/any", &[("Authorization", &ta), ("x-b-sub", "forged")]),
        200
    );
    assert_eq!(
        sub("/any", "x-a-sub").as_deref(),
        Some("user-of-https://a.example")
    );
    assert_eq!(
        sub("/any", "x-b-sub"),
        None,
        "the other provider's header is stripped"
    );
    assert_eq!(get("/any", &[("x-b-token", &tb)]), 200);
    assert_eq!(
        sub("/any", "x-b-sub").as_deref(),
        Some("user-of-https://b.example")
    );
    assert_eq!(get("/any", &[]), 401);
    let forged = bearer(&token(&idp("a"), A, json!({}))); // a key the IdP never published
    assert_eq!(get("/any", &[("Authorization", &forged)]), 401);

    // requires_all: both tokens, each where its provider looks.
    assert_eq!(get("/all", &[("Authorization", &ta)]), 401);
    assert_eq!(get("/all", &[("x-b-token", &tb)]), 401);
    assert_eq!(
        get("/all", &[("Authorization", &ta), ("x-b-token", &tb)]),
        200
    );
    assert!(sub("/all", "x-a-sub").is_some() && sub("/all", "x-b-sub").is_some());

    // Nested requirements: requires_all inside requires_any, beside an audience check.
    let admin_a = bearer(&token(&a, A, json!({"aud": "admin"})));
    assert_eq!(get("/nested", &[("Authorization", &ta)]), 401);
    assert_eq!(get("/nested", &[("x-b-token", &tb)]), 401);
    assert_eq!(
        get("/nested", &[("Authorization", &ta), ("x-b-token", &tb)]),
        200
    );
    assert_eq!(get("/nested", &[("Authorization", &admin_a)]), 200);

    // A rule's requirement_name, and a route's: provider b only. A's token is refused there,
    // where b looks (signed by a key b's IdP never published) or where b does not look.
    for path in ["/b", "/route-b"] {
        assert_eq!(get(path, &[("x-b-token", &tb)]), 200, "{path}");
        let a_raw = token(&a, A, json!({}));
        assert_eq!(get(path, &[("x-b-token", &a_raw)]), 401, "{path}");
        assert_eq!(get(path, &[("Authorization", &ta)]), 401, "{path}");
    }

    // safe_regex and a header match: the audience this rule asks for.
    let admin = bearer(&token(&a, A, json!({"aud": "admin"})));
    assert_eq!(
        get("/admin/7", &[("x-env", "prod"), ("Authorization", &ta)]),
        401
    );
    assert_eq!(
        get("/admin/7", &[("x-env", "prod"), ("Authorization", &admin)]),
        200
    );
    // Not that rule (no header, or not digits): the catch-all's provider a with audience api.
    assert_eq!(get("/admin/7", &[("Authorization", &ta)]), 200);
    assert_eq!(
        get("/admin/x", &[("x-env", "prod"), ("Authorization", &admin)]),
        401
    );

    // A rule with no requirement: through, unverified, without identity headers.
    assert_eq!(get("/open/x", &[("x-a-sub", "admin")]), 200);
    assert_eq!(sub("/open/x", "x-a-sub"), None);
    assert_eq!(a.server.hits("/jwks"), 1);
    // b's one refetch: a's token in b's header named a kid b's set lacks.
    assert_eq!(b.server.hits("/jwks"), 2);
}

const RBAC: &str = r#"
          - name: envoy.filters.http.rbac
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
              rules:
                action: ALLOW
                policies:
                  admins:
                    permissions: [{any: true}]
                    principals:
                    - sourced_metadata:
                        metadata_source: DYNAMIC
                        metadata_matcher:
                          filter: envoy.filters.http.jwt_authn
                          path: [{key: jwt_payload}, {key: role}]
                          value: {string_match: {exact: admin}}
                  operators:
                    permissions: [{any: true}]
                    principals:
                    - sourced_metadata:
                        metadata_source: DYNAMIC
                        metadata_matcher:
                          filter: envoy.filters.http.jwt_authn
                          path: [{key: jwt_payload}, {key: groups}]
                          value: {list_match: {one_of: {string_match: {exact: ops}}}}
                  es256_tokens:
                    permissions: [{header: {name: x-policy, string_match: {exact: header}}}]
                    principals:
                    - sourced_metadata:
                        metadata_source: DYNAMIC
                        metadata_matcher:
                          filter: envoy.filters.http.jwt_authn
                          path: [{key: jwt_header}, {key: alg}]
                          value: {string_match: {exact: ES256}}
                  failures_seen:
                    permissions: [{header: {name: x-policy, string_match: {exact: failed}}}]
                    principals:
                    - sourced_metadata:
                        metadata_source: DYNAMIC
                        metadata_matcher:
                          filter: envoy.filters.http.jwt_authn
                          path: [{key: jwt_failure}, {key: message}]
                          value: {string_match: {contains: signature}}"#;

/// Claims in jwt_authn's metadata layout reach Envoy's RBAC filter: a policy on a claim lets
/// an admin through and refuses a user (403 from RBAC); a list claim and a header field work
/// too; with no token under allow_missing, RBAC sees no claims. Under allow_missing_or_failed,
/// a failed token's status is there for RBAC (failed_status_in_metadata).
#[test]
fn rbac_after_the_module_decides_on_claims_in_metadata() {
    if !available() {
        return;
    }
    let a = idp("a");
    let up = upstream(&["/api"]);
    let config = json!({
        "providers": {"a": provider(&a, A, json!({
            "payload_in_metadata": "jwt_payload",
            "header_in_metadata": "jwt_header",
            "failed_status_in_metadata": "jwt_failure",
        }))},
        "rules": [{"match": {"prefix": "/"},
                   "requires": {"requires_any": {"requirements": [{"provider_name": "a"}, {"allow_missing": {}}]}}}]
    });
    let mut lenient = config.clone();
    lenient["rules"][0]["requires"] = json!({"allow_missing_or_failed": {}});
    let envoy = start(
        "rbac",
        &[custom(&config, RBAC, ""), custom(&lenient, RBAC, "")],
        &up,
    );
    let t = |extra: Value| bearer(&token(&a, A, extra));
    let call = |headers: &[(&str, &str)]| envoy.get(0, "/api", headers);
    assert_eq!(
        call(&[("Authorization", &t(json!({"role": "admin"})))]).status,
        200
    );
    let user = call(&[("Authorization", &t(json!({"role": "user"})))]);
    assert_eq!(user.status, 403, "refused by RBAC");
    assert!(user.body.contains("RBAC"), "{}", user.body);
    assert_eq!(
        call(&[(
            "Authorization",
            &t(json!({"role": "user", "groups": ["dev", "ops"]}))
        )])
        .status,
        200,
        "a list claim"
    );
    assert_eq!(
        call(&[
            ("Authorization", &t(json!({"role": "user"}))),
            ("x-policy", "header")
        ])
        .status,
        200,
        "a field of the token's header"
    );
    // No token: the module lets it through (allow_missing), and RBAC sees no claims.
    let none = call(&[]);
    assert_eq!(none.status, 403, "no claims for RBAC");
    assert!(none.body.contains("RBAC"), "{}", none.body);
    // A bad token is still the module's 401, before RBAC.
    let forged = bearer(&token(&idp("a"), A, json!({"role": "admin"})));
    assert_eq!(call(&[("Authorization", &forged)]).status, 401);
    // Its failure is in the metadata all the same, as jwt_authn writes it: the access log of
    // the 401 shows it (and no claims).
    wait_until("the 401 in the access log", || {
        envoy.access_log(0).lines().any(|l| l.starts_with("401 "))
    });
    let line = envoy
        .access_log(0)
        .lines()
        .find(|l| l.starts_with("401 "))
        .unwrap()
        .to_owned();
    let metadata: Value =
        serde_json::from_str(&line[4..]).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert!(
        metadata["jwt_failure"]["code"]
            .as_i64()
            .is_some_and(|c| c != 0),
        "{line}"
    );
    assert!(metadata["jwt_failure"]["message"].is_string(), "{line}");
    assert!(metadata.get("jwt_payload").is_none(), "{line}");

    // allow_missing_or_failed: the forged token goes on, without claims, with its failure.
    let lenient = |headers: &[(&str, &str)]| envoy.get(1, "/api", headers).status;
    assert_eq!(
        lenient(&[("Authorization", &forged)]),
        403,
        "no claims: not an admin"
    );
    assert_eq!(
        lenient(&[("Authorization", &forged), ("x-policy", "failed")]),
        200
    );
    let user = t(json!({"role": "user"}));
    assert_eq!(
        lenient(&[("Authorization", &user), ("x-policy", "failed")]),
        403,
        "no failure"
    );
}

/// local_jwks (inline and from a file) verifies with no IdP at all.
#[test]
fn local_jwks_verifies_with_no_idp_running() {
    if !available() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let key = TestKey::ec("local", "ES256");
    let dir = std::env::temp_dir().join(format!("jwks-envoy-keyfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keys.json");
    std::fs::write(&file, jwks(&[&key])).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let up = upstream(&["/x"]);
    let local = |source: Value| json!({"issuer": A, "local_jwks": source, "audiences": ["api"]});
    let envoy = start(
        "local",
        &[
            Listener::Module(local(json!({"inline_string": jwks(&[&key])}))),
            Listener::Module(local(json!({"filename": file.display().to_string()}))),
        ],
        &up,
    );
    let c = json!({"iss": A, "sub": "u", "aud": "api", "exp": now() + 600});
    let good = bearer(&key.token(&c));
    let other = bearer(&TestKey::ec("other", "ES256").token(&c));
    for l in 0..2 {
        assert_eq!(envoy.get(l, "/x", &[("Authorization", &good)]).status, 200);
        assert_eq!(envoy.get(l, "/x", &[("Authorization", &other)]).status, 401);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// subjects, max_lifetime and require_expiration refuse what they should; the token is found
/// in a query parameter or a cookie when the provider says so, and the forwarded payload is
/// padded on request.
#[test]
fn provider_checks_and_token_locations() {
    if !available() {
        return;
    }
    let a = idp("a");
    let up = upstream(&["/x"]);
    let strict = provider(
        &a,
        A,
        json!({
            "subjects": {"prefix": "spiffe://example/"},
            // The object form of a Duration, as Envoy's YAML examples write it.
            "max_lifetime": {"seconds": 3600},
        }),
    );
    let expiring = provider(&a, A, json!({"require_expiration": true}));
    let located = provider(
        &a,
        A,
        json!({
            "from_params": ["jwt"],
            "from_cookies": ["session"],
            "forward_payload_header": "x-payload",
            "pad_forward_payload_header": true,
        }),
    );
    let envoy = start(
        "checks",
        &[
            Listener::Module(strict),
            Listener::Module(expiring),
            Listener::Module(located),
        ],
        &up,
    );
    let get = |l: usize, path: &str, extra: Value| {
        let t = bearer(&token(&a, A, extra));
        envoy.get(l, path, &[("Authorization", &t)])
    };
    let spiffe = json!({"sub": "spiffe://example/web"});
    assert_eq!(get(0, "/x", spiffe.clone()).status, 200);
    let refused = get(0, "/x", json!({"sub": "spiffe://evil/web"}));
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .header("www-authenticate")
            .unwrap_or("")
            .contains("subject"),
        "{:?}",
        refused.header("www-authenticate")
    );
    let long = get(
        0,
        "/x",
        json!({"sub": "spiffe://example/web", "exp": now() + 7200}),
    );
    assert_eq!(long.status, 401);
    assert!(long
        .header("www-authenticate")
        .unwrap_or("")
        .contains("max_lifetime"));
    assert_eq!(
        get(0, "/x", json!({"sub": "spiffe://example/web", "exp": null})).status,
        401
    );
    // require_expiration: a token without exp is refused; with one it passes.
    assert_eq!(get(1, "/x", json!({"exp": null})).status, 401);
    assert_eq!(get(1, "/x", json!({})).status, 200);
    // A provider that names a parameter and a cookie looks nowhere else, not even in
    // Authorization.
    assert_eq!(get(2, "/x", json!({})).status, 401);

    // Query parameter and cookie; the payload forwarded padded to a multiple of 4.
    let t = token(&a, A, json!({"sub": "padme"}));
    let with_query = format!("/x?a=1&jwt={t}");
    up.set(&with_query, Reply::status(200, "upstream"));
    assert_eq!(envoy.get(2, &with_query, &[]).status, 200);
    let payload = up.last_header(&with_query, "x-payload").unwrap();
    assert_eq!(payload.len() % 4, 0, "{payload}");
    assert_eq!(payload.trim_end_matches('='), t.split('.').nth(1).unwrap());
    let cookie = format!("theme=dark; session={t}");
    assert_eq!(envoy.get(2, "/x", &[("Cookie", &cookie)]).status, 200);
    assert_eq!(
        envoy.get(2, "/x?jwt=", &[]).status,
        401,
        "an empty parameter is a bad token"
    );
    assert_eq!(envoy.get(2, "/x", &[]).status, 401);
    // A second, different token in the provider's locations is refused, though the first
    // verifies: unchecked, it could reach an upstream that reads that one. The same token
    // twice is one token.
    let forged = token(&a, A, json!({"sub": "admin", "exp": now() - 10}));
    let both = format!("/x?jwt={t}&jwt={forged}");
    up.set(&both, Reply::status(200, "upstream"));
    let r = envoy.get(2, &both, &[]);
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .unwrap_or("")
            .contains("more than one token"),
        "{:?}",
        r.header("www-authenticate")
    );
    assert_eq!(
        envoy
            .get(2, &with_query, &[("Cookie", &format!("session={forged}"))])
            .status,
        401,
        "a parameter and a cookie that disagree"
    );
    assert_eq!(
        envoy.get(2, &with_query, &[("Cookie", &cookie)]).status,
        200,
        "the same token in both"
    );
}

/// bypass_cors_preflight lets a CORS preflight through without a token, and only that.
#[test]
fn cors_preflights_pass_when_asked() {
    if !available() {
        return;
    }
    let a = idp("a");
    let up = upstream(&["/x"]);
    let mut config = provider(&a, A, json!({}));
    config["bypass_cors_preflight"] = json!(true);
    let envoy = start("cors", &[Listener::Module(config)], &up);
    let port = envoy.ports[0];
    let preflight = [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "POST"),
    ];
    assert_eq!(request(port, "OPTIONS", "/x", &preflight).status, 200);
    assert_eq!(request(port, "OPTIONS", "/x", &preflight[..1]).status, 401);
    assert_eq!(request(port, "GET", "/x", &preflight).status, 401);
}

#[test]
fn jwt_authn_configs_that_cannot_work_are_refused_at_load() {
    if !available() {
        return;
    }
    let p = r#"{"issuer": "https://a.example", "remote_jwks": {"http_uri": {"uri": "https://a.example/jwks"}}}"#;
    let cases = [
        (
            format!(
                r#"{{"providers": {{"a": {p}}}, "rules": [{{"match": {{"prefix": "/", "query_parameters": []}}, "requires": {{"provider_name": "a"}}}}]}}"#
            ),
            "rules[0].match.query_parameters is not supported",
        ),
        (
            format!(
                r#"{{"providers": {{"a": {p}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": {{"provider_name": "z"}}}}]}}"#
            ),
            "rules[0].requires.provider_name \"z\" is not in providers",
        ),
        (
            format!(
                r#"{{"providers": {{"a": {p}}}, "rules": [{{"match": {{"prefix": "/"}}, "requirement_name": "nope"}}]}}"#
            ),
            "rules[0].requirement_name \"nope\" is not in requirement_map",
        ),
        (
            format!(
                r#"{{"providers": {{"a": {p}}}, "rules": [{{"match": {{"safe_regex": {{"regex": "(("}}}}}}]}}"#
            ),
            "rules[0].match.safe_regex.regex does not compile",
        ),
        (
            format!(
                r#"{{"providers": {{"a": {p}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": {{"requires_any": {{"requirements": [{{"provider_name": "a"}}]}}}}}}]}}"#
            ),
            "requires_any.requirements must list at least two",
        ),
        (
            format!(r#"{{"providers": {{"a": {p}}}, "issuer": "x"}}"#),
            "unknown field \"issuer\" in the filter config",
        ),
        (
            r#"{"providers": {"a": {"local_jwks": {"inline_string": "{\"keys\": []}"}}}}"#
                .to_owned(),
            "providers.a: the local key set: JWKS has no usable signing key",
        ),
        (
            r#"{"providers": {"a": {"issuer": "x"}}}"#.to_owned(),
            "providers.a: set exactly one key source",
        ),
        (
            format!(
                r#"{{"providers": {{"a": {p}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": {{"provider_name": "a"}}}}], "jwt_cache_config": {{}}}}"#
            ),
            "unknown field \"jwt_cache_config\"",
        ),
    ];
    for (config, expected) in cases {
        let (ok, out) = validate(&config);
        assert!(!ok, "{config} passed");
        assert!(
            out.contains(expected),
            "{config}: expected {expected:?} in:\n{out}"
        );
    }
    // The control: a config of the same shape that is right passes.
    let good = format!(
        r#"{{"providers": {{"a": {p}}}, "requirement_map": {{"r": {{"requires_any": {{"requirements": [{{"provider_name": "a"}}, {{"allow_missing": {{}}}}]}}}}}}, "rules": [{{"match": {{"safe_regex": {{"regex": "/v[0-9]+/.*"}}, "headers": [{{"name": "x", "present_match": true}}]}}, "requirement_name": "r"}}]}}"#
    );
    let (ok, out) = validate(&good);
    assert!(ok, "{out}");
}

/// Every Envoy callback envoy_abi.h declares is one the Envoy 1.40 binary exports: a name
/// spelled wrong would fail only when the module is loaded, and a missing one only when called.
#[test]
fn every_declared_envoy_callback_is_exported_by_envoy() {
    if !available() {
        return;
    }
    let header =
        std::fs::read_to_string(support::cbuild::root().join("modules/envoy/envoy_abi.h")).unwrap();
    let declared: std::collections::BTreeSet<&str> = header
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("envoy_dynamic_module_callback_"))
        .collect();
    assert!(
        declared.contains("envoy_dynamic_module_callback_http_set_dynamic_metadata_struct"),
        "{declared:?}"
    );
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(support::envoy::envoy_binary())
        .output()
        .expect("run nm (binutils)");
    let exported = String::from_utf8_lossy(&out.stdout);
    let exported: std::collections::BTreeSet<&str> = exported
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let missing: Vec<_> = declared.iter().filter(|d| !exported.contains(*d)).collect();
    assert!(missing.is_empty(), "not exported by Envoy: {missing:?}");
}
