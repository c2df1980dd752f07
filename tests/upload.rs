//! `ddgz upload` against the in-process fake MAAS (`ddgz_maas::fake`, on 127.0.0.1).

use std::io::Write;
use std::process::Output;

use ddgz_maas::fake::{Config, FakeMaas, Fault};

use crate::util::{ddgz, Dir};

const KEY: &str = "e2eConsumerKey:e2eTokenKey:e2eTokenSecret";
const PARTS: [&str; 3] = ["e2eConsumerKey", "e2eTokenKey", "e2eTokenSecret"];

/// A small "disk": an MBR signature and pseudo-random sectors.
fn disk(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut d: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    d[510] = 0x55;
    d[511] = 0xaa;
    d
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Runs `ddgz upload ARGS` with MAAS_URL and MAAS_API_KEY set (unless `None`), and
/// checks that no part of the key appears in what it printed.
fn run(dir: &Dir, url: Option<&str>, key: Option<&str>, args: &[&str]) -> (Output, String, String) {
    let mut c = ddgz();
    c.arg("upload").args(args).current_dir(dir.path());
    for v in [
        "MAAS_URL",
        "MAAS_API_KEY",
        "http_proxy",
        "HTTP_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        c.env_remove(v);
    }
    if let Some(u) = url {
        c.env("MAAS_URL", u);
    }
    if let Some(k) = key {
        c.env("MAAS_API_KEY", k);
    }
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    for p in PARTS.iter().chain(&["WrongSecret"]) {
        assert!(
            !stdout.contains(p) && !stderr.contains(p),
            "{p} printed:\n{stdout}\n{stderr}"
        );
    }
    (out, stdout, stderr)
}

#[test]
fn uploads_in_chunks_then_finds_it_complete() {
    let dir = Dir::new();
    let m = FakeMaas::start(Config::new(KEY));
    let file = gzip(&disk(300_000));
    std::fs::write(dir.join("esxi.dd.gz"), &file).unwrap();
    let args = [
        "esxi.dd.gz",
        "--name",
        "esxi/8",
        "--title",
        "VMware ESXi 8.0",
        "--chunk-size",
        "16K",
    ];
    let (out, stdout, stderr) = run(&dir, Some(&m.url()), Some(KEY), &args);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let chunks = file.len().div_ceil(16 << 10);
    assert!(chunks > 5);
    assert!(stdout.contains("boot resource 1 (esxi/8, ddgz"), "{stdout}");
    assert!(stdout.contains(&format!("{chunks} chunk(s)")), "{stdout}");
    assert!(
        !stderr.contains("eta"),
        "no progress bar on a pipe: {stderr}"
    );
    let r = &m.resources()[0];
    assert!(r.complete);
    assert_eq!(r.data, file);
    assert_eq!(
        (&*r.filetype, r.title.as_deref()),
        ("ddgz", Some("VMware ESXi 8.0"))
    );
    assert_eq!(m.seen().len(), 1 + chunks);

    // Again, with the key from a file: MAAS says complete, nothing is sent.
    std::fs::write(dir.join("key"), format!("{KEY}\n")).unwrap();
    let args = [
        "esxi.dd.gz",
        "--name",
        "esxi/8",
        "--api-key-file",
        "key",
        "-q",
    ];
    let (out, stdout, stderr) = run(&dir, Some(&m.url()), None, &args);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("already has this content"), "{stdout}");
    assert_eq!(stderr, "");
    assert_eq!(m.seen().len(), 2 + chunks);
}

#[test]
fn a_raw_disk_goes_up_as_ddraw() {
    let dir = Dir::new();
    let m = FakeMaas::start(Config::new(KEY));
    std::fs::write(dir.join("disk.img"), disk(20_000)).unwrap();
    let (out, _, stderr) = run(
        &dir,
        Some(&m.url()),
        Some(KEY),
        &[
            "disk.img",
            "--name",
            "custom/x",
            "--base-image",
            "ubuntu/jammy",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(m.resources()[0].filetype, "ddraw");
    assert_eq!(m.resources()[0].base_image.as_deref(), Some("ubuntu/jammy"));
}

/// MAAS's API documentation requires `base_image` for custom images: without it, or with
/// one MAAS refuses, nothing is sent.
#[test]
fn a_custom_image_needs_a_base_image() {
    let dir = Dir::new();
    let m = FakeMaas::start(Config::new(KEY));
    std::fs::write(dir.join("disk.img"), disk(20_000)).unwrap();
    for args in [
        &["disk.img", "--name", "custom/x"][..],
        &["disk.img", "--name", "x"],
        &["disk.img", "--name", "custom/x", "--base-image", "jammy"],
        &["disk.img", "--name", "custom/x", "--base-image", "esxi/8.0"],
    ] {
        let (out, _, stderr) = run(&dir, Some(&m.url()), Some(KEY), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("base"), "{stderr}");
    }
    assert!(m.seen().is_empty());
    // Not a custom name: MAAS ignores base_image, so it is not sent.
    let (out, _, stderr) = run(
        &dir,
        Some(&m.url()),
        Some(KEY),
        &[
            "disk.img",
            "--name",
            "esxi/8.0",
            "--base-image",
            "ubuntu/jammy",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("not sent"), "{stderr}");
    assert_eq!(m.resources()[0].base_image, None);
}

#[test]
fn the_ddtgz_mistake_is_refused_before_any_request() {
    let dir = Dir::new();
    let m = FakeMaas::start(Config::new(KEY));
    std::fs::write(dir.join("esxi.dd.gz"), gzip(&disk(10_000))).unwrap();
    let args = ["esxi.dd.gz", "--name", "esxi/8", "--filetype", "ddtgz"];
    let (out, _, stderr) = run(&dir, Some(&m.url()), Some(KEY), &args);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not look like a tar archive") && stderr.contains("--filetype ddgz"),
        "{stderr}"
    );
    assert!(m.seen().is_empty());
}

#[test]
fn errors_name_the_status_the_body_and_the_next_step() {
    let dir = Dir::new();
    std::fs::write(dir.join("esxi.dd.gz"), gzip(&disk(100_000))).unwrap();
    let args = ["esxi.dd.gz", "--name", "esxi/8", "--chunk-size", "8K"];

    // A wrong key: 401, and where to get the right one.
    let m = FakeMaas::start(Config::new(KEY));
    let wrong = "e2eConsumerKey:e2eTokenKey:WrongSecret";
    let (out, stdout, stderr) = run(&dir, Some(&m.url()), Some(wrong), &args);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("HTTP 401") && stderr.contains("Invalid signature"),
        "{stderr}"
    );
    assert!(stderr.contains("maas apikey"), "{stderr}");
    assert!(
        !stderr.contains("boot-resource delete"),
        "nothing was created: {stderr}"
    );

    // A failure mid-way: the partial resource and how to remove it.
    let mut cfg = Config::new(KEY);
    cfg.faults.push(Fault {
        method: "PUT",
        nth: 4,
        status: 503,
        body: "Service Unavailable: region restarting".into(),
    });
    let m = FakeMaas::start(cfg);
    let (out, _, stderr) = run(&dir, Some(&m.url()), Some(KEY), &args);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("HTTP 503") && stderr.contains("region restarting"),
        "{stderr}"
    );
    assert!(stderr.contains("24 KiB of"), "{stderr}");
    assert!(
        stderr.contains("maas $PROFILE boot-resource delete 1"),
        "{stderr}"
    );

    // No MAAS listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (out, _, stderr) = run(
        &dir,
        Some(&format!("http://127.0.0.1:{port}/MAAS")),
        Some(KEY),
        &args,
    );
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("no answer from MAAS"), "{stderr}");
}

#[test]
fn missing_settings_are_usage_errors() {
    let dir = Dir::new();
    std::fs::write(dir.join("esxi.dd.gz"), gzip(&disk(1000))).unwrap();
    let url = "http://127.0.0.1:9/MAAS";
    let (out, _, stderr) = run(&dir, Some(url), Some(KEY), &["esxi.dd.gz"]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--name"), "{stderr}");
    let (out, _, stderr) = run(&dir, None, Some(KEY), &["esxi.dd.gz", "--name", "x"]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("MAAS_URL"), "{stderr}");
    let (out, _, stderr) = run(&dir, Some(url), None, &["esxi.dd.gz", "--name", "x"]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("MAAS_API_KEY") && stderr.contains("--api-key-file"),
        "{stderr}"
    );
    let (out, _, stderr) = run(
        &dir,
        Some(url),
        Some("e2eConsumerKey:e2eTokenSecret"),
        &["esxi.dd.gz", "--name", "x"],
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("2 ':'-separated part(s)"), "{stderr}");
    let (out, _, stderr) = run(
        &dir,
        Some(url),
        Some(KEY),
        &["missing.dd.gz", "--name", "esxi/8"],
    );
    assert_eq!(out.status.code(), Some(3), "{stderr}");
}

#[test]
fn ctrl_c_stops_between_chunks_and_says_how_to_clean_up() {
    let dir = Dir::new();
    let mut cfg = Config::new(KEY);
    cfg.on_request = Some(Box::new(|| {
        std::thread::sleep(std::time::Duration::from_millis(100))
    }));
    let m = FakeMaas::start(cfg);
    std::fs::write(dir.join("esxi.dd.gz"), gzip(&disk(200_000))).unwrap();
    let mut c = ddgz();
    c.args([
        "upload",
        "esxi.dd.gz",
        "--name",
        "esxi/8",
        "--chunk-size",
        "4K",
    ])
    .current_dir(dir.path())
    .env("MAAS_URL", m.url())
    .env("MAAS_API_KEY", KEY)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let t0 = std::time::Instant::now();
    while m.seen().iter().filter(|s| s.method == "PUT").count() < 2 {
        assert!(t0.elapsed().as_secs() < 30, "no upload started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("upload interrupted"), "{stderr}");
    assert!(
        stderr.contains("maas $PROFILE boot-resource delete 1"),
        "{stderr}"
    );
    let puts = m.seen().iter().filter(|s| s.method == "PUT").count();
    assert!(puts < 10, "stopped early: {puts} chunks");
    assert!(!m.resources()[0].complete);
}

#[test]
fn convert_upload_sends_what_it_wrote() {
    let dir = Dir::new();
    let m = FakeMaas::start(Config::new(KEY));
    std::fs::write(dir.join("disk.raw"), disk(300_000)).unwrap();
    let mut c = ddgz();
    c.args([
        "convert",
        "disk.raw",
        "--no-validate",
        "--upload",
        "--name",
        "esxi/8",
    ])
    .args(["--upload-chunk-size", "16K", "-q"])
    .current_dir(dir.path())
    .env("MAAS_URL", m.url())
    .env("MAAS_API_KEY", KEY);
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    for p in PARTS {
        assert!(!stdout.contains(p) && !stderr.contains(p), "{p} printed");
    }
    let written = std::fs::read(dir.join("disk.dd.gz")).unwrap();
    let r = &m.resources()[0];
    assert!(r.complete);
    assert_eq!(r.data, written);
    assert_eq!(m.seen().len(), 1 + written.len().div_ceil(16 << 10));
}

#[test]
fn convert_json_upload_keeps_stdout_one_json_object() {
    let dir = Dir::new();
    let m = FakeMaas::start(Config::new(KEY));
    std::fs::write(dir.join("disk.raw"), disk(300_000)).unwrap();
    let out = ddgz()
        .args([
            "convert",
            "disk.raw",
            "--no-validate",
            "--json",
            "--upload",
            "--name",
            "esxi/8",
        ])
        .current_dir(dir.path())
        .env("MAAS_URL", m.url())
        .env("MAAS_API_KEY", KEY)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    assert_eq!(v["sha256"].as_str().map(str::len), Some(64));
    assert!(
        stderr.contains("uploaded"),
        "the upload result goes to stderr: {stderr}"
    );
}

/// An `upload_uri` on another origin (a MAAS whose `maas_url` names another host, or a
/// hostile answer) is refused before any chunk: the API key never reaches that host.
#[test]
fn the_key_goes_to_the_configured_origin_only() {
    let dir = Dir::new();
    std::fs::write(dir.join("esxi.dd.gz"), gzip(&disk(20_000))).unwrap();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let mut cfg = Config::new(KEY);
    cfg.upload_origin = Some(format!("http://{}", other.local_addr().unwrap()));
    let m = FakeMaas::start(cfg);
    let (out, _, stderr) = run(
        &dir,
        Some(&m.url()),
        Some(KEY),
        &["esxi.dd.gz", "--name", "esxi/8"],
    );
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("is not on http://127.0.0.1:") && stderr.contains("configured"),
        "{stderr}"
    );
    assert!(
        stderr.contains("boot-resource delete 1"),
        "the created resource is named: {stderr}"
    );
    assert!(
        matches!(other.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "ddgz connected to the other origin"
    );
    assert!(
        m.seen().iter().all(|s| s.method == "POST"),
        "no PUT was made"
    );
}

/// A server that accepts the connection and never answers: a clear error after the
/// response timeout, not a hang.
#[test]
fn a_silent_server_times_out() {
    let dir = Dir::new();
    std::fs::write(dir.join("esxi.dd.gz"), gzip(&disk(20_000))).unwrap();
    // Bound but never accepted: the kernel completes the handshake, nobody answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/MAAS", silent.local_addr().unwrap());
    let mut c = ddgz();
    c.args([
        "upload",
        "esxi.dd.gz",
        "--name",
        "esxi/8",
        "--response-timeout",
        "2",
    ])
    .current_dir(dir.path())
    .env("MAAS_URL", &url)
    .env("MAAS_API_KEY", KEY)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("ddgz upload hung on a silent server");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("no answer from MAAS") && stderr.to_lowercase().contains("timeout"),
        "{stderr}"
    );
    let (out, _, stderr) = run(
        &dir,
        Some(&url),
        Some(KEY),
        &["esxi.dd.gz", "--name", "x", "--response-timeout", "0"],
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("1..=3600"), "{stderr}");
}

/// Credentials in `MAAS_URL` are refused and never echoed.
#[test]
fn credentials_in_the_url_are_not_echoed() {
    let dir = Dir::new();
    std::fs::write(dir.join("esxi.dd.gz"), gzip(&disk(20_000))).unwrap();
    let (out, stdout, stderr) = run(
        &dir,
        Some("http://admin:Hunter2Pass@127.0.0.1:9/MAAS"),
        Some(KEY),
        &["esxi.dd.gz", "--name", "esxi/8"],
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("credentials in the URL"), "{stderr}");
    assert!(
        !stderr.contains("Hunter2Pass") && !stdout.contains("Hunter2Pass"),
        "{stderr}"
    );
}
