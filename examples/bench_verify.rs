//! The Rust side of the cross-language benchmark (`bench/run.sh`, see BENCHMARKS.md).
//!
//! - `fixtures DIR`: writes the keys and tokens every path verifies (`jwks.json`,
//!   `tokens.json`, and `floor.json`: each public key in the form aws-lc-rs takes).
//! - `time URL DIR MILLIS`: one round of the floor and of `Client::verify`, each algorithm for
//!   about MILLIS ms; prints `path alg ns_per_verification`.
//! - `count floor|rust ALG N URL DIR`: N verifications in `counted_loop`, for callgrind.
//! - `lookup URL DIR MILLIS`: ns per cache-hit `get_signing_key`, and verifications per second
//!   on 1 and on 2 threads.
//! - `cold ROUNDS`: µs from client creation to the first verified token against a loopback
//!   server, for a fixed JWKS URL and through discovery, with the requests each made.
//! - `memory`: the heap a client holds for a cached set of 10 RSA-2048 keys (malloc's own
//!   count; the difference between the client before and after its first fetch).

#[path = "../tests/support/mod.rs"]
mod support;

use support::keys;
use support::server::{Reply, TestServer};

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{self, ParsedPublicKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jwks::{Client, ClientOptions};
use keys::TestKey;
use serde_json::{json, Value};

/// The bytes malloc has handed out and not had back, in every arena (glibc's mallinfo2):
/// Rust's allocations and aws-lc's alike.
fn live() -> isize {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks + info.hblkhd) as isize
}

/// Bytes a warm client holds beyond the same client before its first fetch, for a set of
/// `n` RSA-2048 keys.
fn held_for(keys: &[TestKey], n: usize) -> isize {
    let server = TestServer::start();
    server.set_jwks(&keys::jwks(&keys[..n].iter().collect::<Vec<_>>()));
    let client = Client::new(ClientOptions::new(server.url("/jwks"))).expect("client");
    std::thread::sleep(Duration::from_millis(50));
    let before = live();
    client.warm_up().expect("the set");
    std::thread::sleep(Duration::from_millis(50));
    live() - before
}

fn memory() {
    let keys: Vec<TestKey> = (0..10)
        .map(|i| TestKey::rsa(&format!("key-{i}"), "RS256"))
        .collect();
    let ten = held_for(&keys, 10);
    let one = held_for(&keys, 1);
    println!(
        "A client holding a set of 10 RSA-2048 keys: {ten} bytes of heap more than before its \
         first fetch; {} bytes per key beyond the first (the set of one: {one} bytes).",
        (ten - one) / 9
    );
}

/// The algorithms measured, in table order.
const ALGS: [&str; 5] = ["RS256", "PS256", "ES256", "ES384", "EdDSA"];
const AUDIENCE: &str = "bench";
const ISSUER: &str = "https://issuer.bench";

fn verification_alg(alg: &str) -> &'static dyn signature::VerificationAlgorithm {
    match alg {
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        "ES256" => &signature::ECDSA_P256_SHA256_FIXED,
        "ES384" => &signature::ECDSA_P384_SHA384_FIXED,
        "EdDSA" => &signature::ED25519,
        other => panic!("unknown algorithm {other}"),
    }
}

fn read_json(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name)).expect("fixture file");
    serde_json::from_str(&text).expect("fixture JSON")
}

fn fixtures(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let keys = [
        TestKey::rsa("rs256", "RS256"),
        TestKey::rsa("ps256", "PS256"),
        TestKey::ec("es256", "ES256"),
        TestKey::ec("es384", "ES384"),
        TestKey::ed25519("eddsa"),
    ];
    // The pinned claims: sub, iss, aud, iat and exp (valid until 2100); kid and alg in the
    // header, nothing else.
    let claims = json!({
        "sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "iat": 1_767_225_600u64,
        "exp": 4_102_444_800u64,
    });
    let mut tokens = BTreeMap::new();
    let mut floor = BTreeMap::new();
    for key in &keys {
        let header = json!({ "alg": key.alg, "kid": key.kid });
        tokens.insert(key.alg, key.sign_with(key.alg, &header, &claims));
        floor.insert(key.alg, B64.encode(key.public_key_bytes()));
    }
    let set = keys::jwks(&keys.iter().collect::<Vec<_>>());
    std::fs::write(dir.join("jwks.json"), set + "\n").unwrap();
    let pretty = |v: &BTreeMap<&str, String>| serde_json::to_string_pretty(v).unwrap() + "\n";
    std::fs::write(dir.join("tokens.json"), pretty(&tokens)).unwrap();
    std::fs::write(dir.join("floor.json"), pretty(&floor)).unwrap();
}

/// What one path verifies: a closure per algorithm.
type Verifier = Box<dyn Fn()>;

/// The fixture token for `alg`, and its signing input and decoded signature.
fn fixture_token(dir: &Path, alg: &str) -> (String, Vec<u8>, Vec<u8>) {
    let token = read_json(dir, "tokens.json")[alg]
        .as_str()
        .unwrap()
        .to_owned();
    let (input, sig) = token.rsplit_once('.').unwrap();
    let (input, sig) = (input.as_bytes().to_vec(), B64.decode(sig).unwrap());
    (token, input, sig)
}

fn floor_verifier(dir: &Path, alg: &str) -> Verifier {
    let (_, input, sig) = fixture_token(dir, alg);
    let key = B64
        .decode(read_json(dir, "floor.json")[alg].as_str().unwrap())
        .unwrap();
    let key = ParsedPublicKey::new(verification_alg(alg), key).expect("floor key");
    Box::new(move || key.verify_sig(black_box(&input), black_box(&sig)).unwrap())
}

/// The signature check alone through the key libjwks parsed from the JWKS (the floor's work
/// on libjwks's own key object).
fn key_verifier(client: &Client, dir: &Path, alg: &str) -> Verifier {
    let (_, input, sig) = fixture_token(dir, alg);
    let key = client
        .get_signing_key(&alg.to_ascii_lowercase())
        .expect("fixture key");
    let alg: jwks::Algorithm = alg.parse().unwrap();
    Box::new(move || {
        key.verify_signature(alg, black_box(&input), black_box(&sig))
            .unwrap()
    })
}

fn client(url: &str) -> Client {
    let mut options = ClientOptions::new(url);
    options.validation.audience = vec![AUDIENCE.into()];
    options.validation.issuer = Some(ISSUER.into());
    let client = Client::new(options).expect("client");
    client.warm_up().expect("warm up");
    client
}

fn rust_verifier(client: &Client, dir: &Path, alg: &str) -> Verifier {
    let (token, _, _) = fixture_token(dir, alg);
    let client = client.clone();
    client.verify(&token).expect("the fixture token verifies");
    Box::new(move || {
        black_box(client.verify(black_box(&token)).unwrap());
    })
}

/// ns per call of `f`, over about `millis` ms after a short warm-up.
fn time(f: &dyn Fn(), millis: u64) -> f64 {
    let budget = Duration::from_millis(millis);
    let mut n = 16u64;
    for _ in 0..n {
        f();
    }
    loop {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        let took = start.elapsed();
        if took >= budget {
            return took.as_nanos() as f64 / n as f64;
        }
        n = (n * 2).max((n as f64 * budget.as_secs_f64() / took.as_secs_f64().max(1e-9)) as u64);
    }
}

#[inline(never)]
fn counted_loop(f: &dyn Fn(), n: u64) {
    for _ in 0..n {
        f();
    }
}

/// Verifications per second over `millis` ms on `threads` threads together.
fn throughput(client: &Client, token: &str, threads: usize, millis: u64) -> f64 {
    let stop = Instant::now() + Duration::from_millis(millis);
    let done: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while Instant::now() < stop {
                        for _ in 0..32 {
                            black_box(client.verify(black_box(token)).unwrap());
                        }
                        n += 32;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    done as f64 / (millis as f64 / 1000.0)
}

/// The cold path, timed from `Client::new` to the first verified token, `rounds` times over
/// fresh clients: a fixed JWKS URL (one request) and discovery (the configuration, then the
/// keys: two requests). Prints `cold fixed|discovery median_us requests_per_client`.
fn cold(rounds: usize) {
    let key = TestKey::ec("cold", "ES256");
    let server = TestServer::start();
    let iss = server.url("/idp");
    server.set("/idp/jwks", Reply::json(keys::jwks(&[&key])));
    server.set(
        "/idp/.well-known/openid-configuration",
        Reply::json(json!({"issuer": iss, "jwks_uri": server.url("/idp/jwks")}).to_string()),
    );
    let token =
        key.token(&json!({"iss": iss, "sub": "u", "aud": AUDIENCE, "exp": 4_102_444_800u64}));
    for mode in ["fixed", "discovery"] {
        let before =
            server.hits("/idp/jwks") + server.hits("/idp/.well-known/openid-configuration");
        let mut times = Vec::new();
        for _ in 0..rounds {
            let mut options = match mode {
                "fixed" => ClientOptions::new(server.url("/idp/jwks")),
                _ => {
                    let mut o = ClientOptions::default();
                    o.discovery.allowed_issuers = vec![iss.clone()];
                    o
                }
            };
            options.validation.audience = vec![AUDIENCE.into()];
            let start = Instant::now();
            let client = Client::new(options).expect("client");
            client.verify(&token).expect("the first token verifies");
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
        let after = server.hits("/idp/jwks") + server.hits("/idp/.well-known/openid-configuration");
        times.sort_by(f64::total_cmp);
        let requests = (after - before) as f64 / rounds as f64;
        println!("cold {mode} {:.0} {requests}", times[times.len() / 2]);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    match arg(0) {
        "fixtures" => fixtures(Path::new(arg(1))),
        "time" => {
            let (url, dir) = (arg(1), Path::new(arg(2)));
            let millis: u64 = arg(3).parse().unwrap_or(300);
            let client = client(url);
            for alg in ALGS {
                let floor = floor_verifier(dir, alg);
                println!("floor {alg} {:.0}", time(&floor, millis));
                let rust = rust_verifier(&client, dir, alg);
                println!("rust {alg} {:.0}", time(&rust, millis));
            }
        }
        "count" => {
            let (path, alg, n) = (arg(1), arg(2), arg(3).parse().unwrap_or(100));
            let (url, dir) = (arg(4), Path::new(arg(5)));
            let f = match path {
                "floor" => floor_verifier(dir, alg),
                "key" => key_verifier(&client(url), dir, alg),
                "keyalloc" => {
                    let inner = key_verifier(&client(url), dir, alg);
                    Box::new(move || {
                        let held = black_box(vec![1u8; 160]);
                        inner();
                        drop(held);
                    })
                }
                _ => rust_verifier(&client(url), dir, alg),
            };
            counted_loop(&f, n);
        }
        "lookup" => {
            let (url, dir) = (arg(1), Path::new(arg(2)));
            let millis: u64 = arg(3).parse().unwrap_or(300);
            let client = client(url);
            client.get_signing_key("rs256").unwrap();
            let lookup = || {
                black_box(client.get_signing_key(black_box("rs256")).unwrap());
            };
            println!("lookup rs256 {:.1}", time(&lookup, millis));
            let tokens = read_json(dir, "tokens.json");
            for alg in ["RS256", "ES256"] {
                let token = tokens[alg].as_str().unwrap();
                let one = throughput(&client, token, 1, millis * 3);
                let two = throughput(&client, token, 2, millis * 3);
                println!("threads {alg} {one:.0} {two:.0}");
            }
        }
        "cold" => cold(arg(1).parse().unwrap_or(20)),
        "memory" => memory(),
        _ => {
            eprintln!("usage: bench_verify fixtures DIR | time URL DIR MILLIS | count floor|key|rust ALG N URL DIR | lookup URL DIR MILLIS | cold ROUNDS");
            std::process::exit(2);
        }
    }
}
