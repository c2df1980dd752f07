//! The client against the fake MAAS (`src/fake.rs`, included by path so that these tests
//! need no cargo feature).

#[path = "../src/fake.rs"]
mod fake;

use std::ops::ControlFlow;
use std::sync::Arc;

use ddgz_maas::{ApiKey, Client, Error, FileType, NewResource, Outcome, UploadError};
use fake::{sha256_hex, Config, FakeMaas, Fault, SimClock};

const KEY: &str = "ckCONSUMER:tkTOKEN:tsSECRET";

fn data(n: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn resource(d: &[u8]) -> NewResource {
    NewResource {
        name: "esxi/8".into(),
        title: Some("VMware ESXi 8.0".into()),
        base_image: None,
        architecture: "amd64/generic".into(),
        filetype: FileType::Ddgz,
        sha256: sha256_hex(d),
        size: d.len() as u64,
    }
}

fn client(m: &FakeMaas) -> Client {
    Client::new(&m.url(), ApiKey::parse(KEY).unwrap()).unwrap()
}

fn upload(c: &Client, r: &NewResource, d: &[u8], chunk: usize) -> Result<Outcome, UploadError> {
    c.upload(r, d, chunk, &mut |_| ControlFlow::Continue(()))
}

/// Error text, with the advice, never containing any part of the key.
fn shown(e: &UploadError) -> String {
    let s = format!("{e} / {}", e.error.advice().unwrap_or_default());
    for secret in ["ckCONSUMER", "tkTOKEN", "tsSECRET"] {
        assert!(!s.contains(secret), "{s}");
    }
    s
}

#[test]
fn multi_chunk_upload_stores_the_file() {
    let m = FakeMaas::start(Config::new(KEY));
    let d = data(100_000);
    let mut progress = Vec::new();
    let out = client(&m)
        .upload(&resource(&d), &d[..], 7000, &mut |n| {
            progress.push(n);
            ControlFlow::Continue(())
        })
        .unwrap();
    let Outcome::Uploaded { created, chunks } = out else {
        panic!("{out:?}")
    };
    assert_eq!(chunks, 15);
    assert_eq!(created.file_name, "root-dd.gz");
    let r = &m.resources()[0];
    assert!(r.complete);
    assert_eq!(r.data, d);
    assert_eq!(r.id, created.id);
    assert_eq!(
        (&*r.name, r.title.as_deref(), &*r.architecture, &*r.filetype),
        ("esxi/8", Some("VMware ESXi 8.0"), "amd64/generic", "ddgz")
    );
    assert_eq!(progress.len(), 16, "before each chunk and at the end");
    assert_eq!((progress[0], progress[15]), (0, 100_000));
    assert!(progress.windows(2).all(|w| w[0] < w[1]));
    let seen = m.seen();
    assert_eq!(seen.len(), 16);
    assert!(seen.iter().all(|s| (200..300).contains(&s.status)));
    let nonces: std::collections::HashSet<_> =
        seen.iter().map(|s| &s.oauth["oauth_nonce"]).collect();
    assert_eq!(nonces.len(), 16, "a fresh nonce per request");
    assert!(seen
        .iter()
        .all(|s| s.oauth["oauth_signature"] == "&tsSECRET"));
}

#[test]
fn complete_true_sends_nothing() {
    let m = FakeMaas::start(Config::new(KEY));
    let d = data(5000);
    m.preload(&d);
    let out = upload(&client(&m), &resource(&d), &d, 1000).unwrap();
    let Outcome::AlreadyComplete(c) = out else {
        panic!("{out:?}")
    };
    assert!(c.complete && c.upload_uri.is_none());
    assert!(m.seen().iter().all(|s| s.method == "POST"));
}

#[test]
fn slow_server_beyond_the_timestamp_window() {
    // Each request takes 100 s of simulated time to arrive: 1 + 12 requests, 1300 s, far
    // past MAAS's 300 s window — accepted because each is signed when it is sent.
    let clock = SimClock::new(1_800_000_000);
    let mut cfg = Config::new(KEY);
    cfg.clock = clock.clone();
    let c2 = clock.clone();
    cfg.on_request = Some(Box::new(move || c2.advance(100)));
    let m = FakeMaas::start(cfg);
    let d = data(12_000);
    let c = client(&m).with_clock(clock.clone());
    let out = upload(&c, &resource(&d), &d, 1000).unwrap();
    assert!(matches!(out, Outcome::Uploaded { chunks: 12, .. }));
    assert_eq!(m.resources()[0].data, d);
    assert_eq!(clock.unix_time_for_test(), 1_800_000_000 + 1300);
    assert!(m.seen().iter().all(|s| (200..300).contains(&s.status)));
}

trait Now {
    fn unix_time_for_test(&self) -> u64;
}
impl Now for Arc<SimClock> {
    fn unix_time_for_test(&self) -> u64 {
        ddgz_maas::Clock::unix_time(&**self)
    }
}

#[test]
fn a_client_signing_once_expires_like_the_maas_cli() {
    // The same slow server, but the client's time stands still (as if it had signed
    // once): the server refuses once 300 s have passed.
    let server_clock = SimClock::new(1_800_000_000);
    let mut cfg = Config::new(KEY);
    cfg.clock = server_clock.clone();
    let c2 = server_clock.clone();
    cfg.on_request = Some(Box::new(move || c2.advance(100)));
    let m = FakeMaas::start(cfg);
    let d = data(12_000);
    let c = client(&m).with_clock(SimClock::new(1_800_000_000));
    let e = upload(&c, &resource(&d), &d, 1000).unwrap_err();
    let s = shown(&e);
    assert_eq!(e.error.status(), Some(401));
    assert!(
        s.contains("Expired timestamp") && s.contains("threshold 300"),
        "{s}"
    );
    assert!(s.contains("clock"), "{s}");
    assert_eq!(e.resource_id, Some(1));
    assert_eq!(
        e.sent, 2000,
        "third request at +300 s still passes, the fourth not"
    );
}

#[test]
fn a_reused_nonce_is_refused() {
    let m = FakeMaas::start(Config::new(KEY));
    let d = data(3000);
    let c = client(&m).with_clock(SimClock::with_fixed_nonce(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    ));
    let e = upload(&c, &resource(&d), &d, 1000).unwrap_err();
    let s = shown(&e);
    assert_eq!(e.error.status(), Some(401));
    assert!(s.contains("Nonce already used"), "{s}");
    assert_eq!((e.resource_id, e.sent), (Some(1), 0));
}

#[test]
fn a_bad_signature_is_401_with_advice() {
    let m = FakeMaas::start(Config::new(KEY));
    let d = data(3000);
    let c = Client::new(
        &m.url(),
        ApiKey::parse("ckCONSUMER:tkTOKEN:WRONGsecret").unwrap(),
    )
    .unwrap();
    let e = upload(&c, &resource(&d), &d, 1000).unwrap_err();
    let s = shown(&e);
    assert!(!s.contains("WRONGsecret"), "{s}");
    assert!(
        s.contains("HTTP 401") && s.contains("Invalid signature"),
        "{s}"
    );
    assert!(s.contains("maas apikey"), "{s}");
    assert_eq!(e.resource_id, None);
    assert!(m.resources().is_empty());
}

#[test]
fn server_errors_carry_status_body_and_next_step() {
    let d = data(10_000);
    // A failure mid-way: status and body, and the resource left behind.
    let mut cfg = Config::new(KEY);
    cfg.faults.push(Fault {
        method: "PUT",
        nth: 3,
        status: 500,
        body: "Internal Server Error: disk full on region".into(),
    });
    let m = FakeMaas::start(cfg);
    let e = upload(&client(&m), &resource(&d), &d, 1000).unwrap_err();
    let s = shown(&e);
    assert!(s.contains("PUT http://127.0.0.1:"), "{s}");
    assert!(
        s.contains("HTTP 500") && s.contains("disk full on region"),
        "{s}"
    );
    assert!(s.contains("regiond.log"), "{s}");
    assert_eq!((e.resource_id, e.sent), (Some(1), 2000));
    assert_eq!(m.resources()[0].data, &d[..2000]);

    // A proxy's 413: lower the chunk size.
    let mut cfg = Config::new(KEY);
    cfg.max_body = 4096;
    let m = FakeMaas::start(cfg);
    let e = upload(&client(&m), &resource(&d), &d, 8192).unwrap_err();
    let s = shown(&e);
    assert!(s.contains("HTTP 413") && s.contains("--chunk-size"), "{s}");
    assert_eq!(e.resource_id, Some(1));

    // The sha256 check at the end.
    let m = FakeMaas::start(Config::new(KEY));
    let mut r = resource(&d);
    r.sha256 = sha256_hex(b"something else");
    let e = upload(&client(&m), &r, &d, 4000).unwrap_err();
    let s = shown(&e);
    assert!(
        s.contains("HTTP 400") && s.contains("Saved content does not match given SHA256 value."),
        "{s}"
    );
    assert!(s.contains("changed during the upload"), "{s}");
    assert_eq!((e.resource_id, e.sent), (Some(1), 8000));
    assert!(!m.resources()[0].complete);

    // Field errors from the create.
    let mut r = resource(&d);
    r.architecture = "amd64".into();
    let e = upload(&client(&m), &r, &d, 4000).unwrap_err();
    let s = shown(&e);
    assert!(
        s.contains("POST") && s.contains("HTTP 400") && s.contains("\"architecture\""),
        "{s}"
    );
    assert!(s.contains("--architecture"), "{s}");
    assert_eq!(e.resource_id, None);

    // A redirect is reported, not followed (a POST cannot be replayed).
    let mut cfg = Config::new(KEY);
    cfg.faults.push(Fault {
        method: "POST",
        nth: 1,
        status: 301,
        body: String::new(),
    });
    let m3 = FakeMaas::start(cfg);
    let e = upload(&client(&m3), &resource(&d), &d, 4000).unwrap_err();
    let s = shown(&e);
    assert!(
        s.contains("HTTP 301: (empty body)") && s.contains("redirected"),
        "{s}"
    );

    // A URL without /MAAS.
    let url = m.url().replace("/MAAS", "");
    let c = Client::new(&url, ApiKey::parse(KEY).unwrap()).unwrap();
    let e = upload(&c, &resource(&d), &d, 4000).unwrap_err();
    let s = shown(&e);
    assert!(
        s.contains("HTTP 404") && s.contains("must end in /MAAS"),
        "{s}"
    );
}

#[test]
fn over_size_and_complete_puts_are_400() {
    let m = FakeMaas::start(Config::new(KEY));
    let c = client(&m);
    let d = data(10);
    let created = c.create(&resource(&d)).unwrap();
    let uri = created.upload_uri.unwrap();
    let e = c.put_chunk(&uri, &data(11), false).unwrap_err();
    assert!(
        matches!(&e, Error::Status { status: 400, body, .. } if body == "Too much data received."),
        "{e}"
    );
    assert!(e
        .advice()
        .unwrap()
        .contains("more bytes than the declared size"));
    c.put_chunk(&uri, &d, false).unwrap();
    assert!(m.resources()[0].complete);
    let e = c.put_chunk(&uri, &d[..1], false).unwrap_err();
    assert!(
        matches!(&e, Error::Status { status: 400, body, .. } if body.contains("complete file")),
        "{e}"
    );
    assert!(e
        .advice()
        .unwrap()
        .contains("already has the complete content"));
}

#[test]
fn content_length_must_match_the_declared_size() {
    let m = FakeMaas::start(Config::new(KEY));
    let d = data(5000);
    let mut r = resource(&d);
    r.size = 6000;
    let e = upload(&client(&m), &r, &d, 2000).unwrap_err();
    assert!(
        matches!(e.error, Error::Length { longer: false, .. }),
        "{e}"
    );
    assert_eq!(e.sent, 4000);
    r.size = 4000;
    let e = upload(&client(&m), &r, &d, 2000).unwrap_err();
    assert!(matches!(e.error, Error::Length { longer: true, .. }), "{e}");
    assert_eq!(e.sent, 2000, "the last chunk is not sent");
    assert!(m.resources().iter().all(|r| !r.complete));
}

#[test]
fn no_answer_is_a_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Client::new(
        &format!("http://127.0.0.1:{port}/MAAS"),
        ApiKey::parse(KEY).unwrap(),
    )
    .unwrap();
    let d = data(10);
    let e = upload(&c, &resource(&d), &d, 4).unwrap_err();
    let s = shown(&e);
    assert!(matches!(e.error, Error::Transport { .. }), "{s}");
    assert!(
        s.contains("no answer from MAAS") && s.contains("reachable"),
        "{s}"
    );
    assert!(!format!("{c:?}").contains("SECRET"));
}

#[test]
fn the_callback_can_stop_the_upload_between_chunks() {
    let m = FakeMaas::start(Config::new(KEY));
    let d = data(10_000);
    let e = client(&m)
        .upload(&resource(&d), &d[..], 1000, &mut |n| {
            if n >= 3000 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap_err();
    assert!(matches!(e.error, Error::Cancelled), "{e}");
    assert_eq!((e.resource_id, e.sent), (Some(1), 3000));
    assert_eq!(m.resources()[0].data, &d[..3000]);
}
