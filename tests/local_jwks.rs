//! A local key set (jwt_authn's local_jwks, NGINX Plus's auth_jwt_key_file): parsed with the
//! rules of a fetched set, never fetched, and a key file trusted only as a key file should be.

mod support;

use std::path::PathBuf;

use jwks::{Client, ClientOptions, ErrorKind, LocalJwks};
use support::keys::{claims, jwks, TestKey};

fn local(set: LocalJwks) -> ClientOptions {
    let mut o = ClientOptions::default();
    o.local_jwks = Some(set);
    o
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jwks-local-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_local_set_verifies_without_any_request_and_an_unknown_kid_is_not_found_at_once() {
    let key = TestKey::ec("a", "ES256");
    let client = Client::new(local(LocalJwks::Text(jwks(&[&key])))).unwrap();
    let token = key.token(&claims());
    let v = client.verify(&token).unwrap();
    assert!(!v.stale());
    assert_eq!(
        client.verify_nonblocking(&token).unwrap().claims()["sub"],
        "user-1"
    );
    client.warm_up_nonblocking().unwrap();
    client.warm_up().unwrap();

    let other = TestKey::ec("b", "ES256").token(&claims());
    assert_eq!(
        client.verify(&other).unwrap_err().kind(),
        ErrorKind::KeyNotFound
    );
    // The non-blocking call answers too: there is nothing to wait for.
    assert_eq!(
        client.verify_nonblocking(&other).unwrap_err().kind(),
        ErrorKind::KeyNotFound
    );
    // A forced refresh is the set itself.
    assert_eq!(client.get_jwk_set(true).unwrap().keys().len(), 1);
    let stats = client.stats();
    assert_eq!(
        (stats.fetches, stats.unknown_kid_refetches, stats.keys_held),
        (0, 0, 1)
    );
}

#[test]
fn a_local_set_is_checked_when_the_client_is_made() {
    let key = TestKey::ec("a", "ES256");
    let kind = |o: ClientOptions| Client::new(o).unwrap_err().kind();
    assert_eq!(
        kind(local(LocalJwks::Text("not json".into()))),
        ErrorKind::InvalidJwks
    );
    assert_eq!(
        kind(local(LocalJwks::Text(r#"{"keys":[]}"#.into()))),
        ErrorKind::NoSigningKeys
    );
    let mut small = local(LocalJwks::Text(jwks(&[&key])));
    small.max_response_bytes = 16;
    assert_eq!(kind(small), ErrorKind::InvalidArgument);
    // One key source per client.
    let mut both = local(LocalJwks::Text(jwks(&[&key])));
    both.uri = "https://idp.example/jwks".into();
    let err = Client::new(both).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("exclude each other"), "{err}");
    let mut discovery = local(LocalJwks::Text(jwks(&[&key])));
    discovery.discovery.allowed_issuers = vec!["https://idp.example".into()];
    assert_eq!(kind(discovery), ErrorKind::InvalidArgument);
}

#[cfg(unix)]
#[test]
fn a_key_file_is_read_when_the_client_is_made_and_trusted_only_with_strict_modes() {
    use std::os::unix::fs::PermissionsExt;

    let key = TestKey::ec("a", "ES256");
    let token = key.token(&claims());
    let dir = temp_dir("file");
    let path = dir.join("keys.json");
    std::fs::write(&path, jwks(&[&key])).unwrap();
    let mode =
        |m: u32| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m)).unwrap();
    mode(0o644);
    let client = Client::new(local(LocalJwks::File(path.clone()))).unwrap();
    client.verify(&token).unwrap();
    // Read once: the client keeps what it read, whatever happens to the file.
    std::fs::write(&path, "garbage").unwrap();
    client.verify(&token).unwrap();
    std::fs::write(&path, jwks(&[&key])).unwrap();

    for (m, reason) in [
        (0o666, "writable by group or others"),
        (0o664, "writable by group or others"),
    ] {
        mode(m);
        let err = Client::new(local(LocalJwks::File(path.clone()))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{m:o}");
        assert!(err.message().contains(reason), "{m:o}: {err}");
    }
    mode(0o600);
    Client::new(local(LocalJwks::File(path.clone()))).unwrap();

    // A FIFO is refused without waiting for a writer; a directory is no key file.
    let fifo = dir.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let err = support::guarded("fifo", move || {
        Client::new(local(LocalJwks::File(fifo)))
            .unwrap_err()
            .message()
            .to_owned()
    });
    assert!(err.contains("not a regular file"), "{err}");
    let err = Client::new(local(LocalJwks::File(dir.clone()))).unwrap_err();
    assert!(err.message().contains("not a regular file"), "{err}");
    let err = Client::new(local(LocalJwks::File(dir.join("missing")))).unwrap_err();
    assert!(err.message().contains("cannot be opened"), "{err}");

    // Owned by another user (not root, not us): refused.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        let err = Client::new(local(LocalJwks::File(path.clone()))).unwrap_err();
        assert!(err.message().contains("owned by uid 65534"), "{err}");
    } else {
        eprintln!("the other-owner case needs root (CI runs as root)");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
