//! A fake MAAS region API for tests: the two boot-resource endpoints of MAAS.md, on
//! 127.0.0.1, in a thread of the test process.
//!
//! It is as strict as MAAS where MAAS is strict: OAuth PLAINTEXT checked on every request
//! (401 on an unknown consumer or token, a bad signature, a reused nonce, or a timestamp
//! more than 300 s from its clock); a multipart create needing `name`, `architecture`,
//! `filetype`, `sha256` (64 hex) and `size`, answered 201 with
//! `sets{version}.files{name}{complete, upload_uri}` (`complete: true` when a complete
//! file with that sha256 and size exists); chunk PUTs appended in order, 400 "Too much
//! data received." past `size`, 400 on a PUT to a complete file, and at `size` bytes a
//! sha256 check (400 "Saved content does not match given SHA256 value.", data dropped).
//! Faults (any status and body for the n-th POST or PUT) and a hook run as each request
//! arrives (to advance a [`SimClock`]) let tests script failures and slow servers.
//!
//! Written against the crate's public API only, so that tests may also include it by path.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ddgz_maas::auth::TIMESTAMP_WINDOW;
use ddgz_maas::{ApiKey, Clock, FileType, SystemClock};
use sha2::{Digest, Sha256};

/// The URL path of the MAAS served (`http://127.0.0.1:PORT/MAAS`).
pub const PREFIX: &str = "/MAAS";

/// A clock whose time moves only when told, and whose nonces count up (or repeat, to
/// test nonce checks).
#[derive(Debug)]
pub struct SimClock {
    now: AtomicU64,
    nonce: AtomicU64,
    fixed_nonce: bool,
}

impl SimClock {
    /// Starts at `now` (Unix seconds).
    pub fn new(now: u64) -> Arc<Self> {
        Arc::new(Self {
            now: AtomicU64::new(now),
            nonce: AtomicU64::new(0),
            fixed_nonce: false,
        })
    }

    /// Starts at `now` and returns the same nonce every time.
    pub fn with_fixed_nonce(now: u64) -> Arc<Self> {
        Arc::new(Self {
            now: AtomicU64::new(now),
            nonce: AtomicU64::new(0),
            fixed_nonce: true,
        })
    }

    /// Moves time forward by `secs`.
    pub fn advance(&self, secs: u64) {
        self.now.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn unix_time(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
    fn nonce(&self) -> String {
        if self.fixed_nonce {
            return "always-the-same".into();
        }
        format!("sim{}", self.nonce.fetch_add(1, Ordering::SeqCst))
    }
}

/// A scripted answer: the `nth` (1-based) request with `method` gets `status` and `body`
/// instead of being handled (after its authentication passed).
#[derive(Debug, Clone)]
pub struct Fault {
    /// `POST` or `PUT`.
    pub method: &'static str,
    /// Which request of that method, from 1.
    pub nth: usize,
    /// The HTTP status to answer.
    pub status: u16,
    /// The body to answer.
    pub body: String,
}

/// How the fake behaves.
pub struct Config {
    /// The only API key accepted.
    pub key: ApiKey,
    /// The server's clock (timestamps are checked against it).
    pub clock: Arc<dyn Clock>,
    /// Run as each request arrives, before it is checked (e.g. advance a [`SimClock`] to
    /// make the server slow).
    pub on_request: Option<Box<dyn Fn() + Send>>,
    /// Scripted failures.
    pub faults: Vec<Fault>,
    /// Bodies longer than this get 413 "Request Entity Too Large", as from a proxy.
    pub max_body: usize,
    /// When set, `upload_uri` is an absolute URL on this origin (`http://host:port`), as
    /// from a MAAS whose `maas_url` names another host.
    pub upload_origin: Option<String>,
}

impl Config {
    /// Accepts `key`, real time, no faults, bodies up to 64 MiB.
    pub fn new(key: &str) -> Self {
        Self {
            key: ApiKey::parse(key).expect("a valid test key"),
            clock: Arc::new(SystemClock::new()),
            on_request: None,
            faults: Vec::new(),
            max_body: 64 << 20,
            upload_origin: None,
        }
    }
}

/// A boot resource as the fake stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Resource id.
    pub id: u64,
    /// File id (in the upload URI).
    pub file_id: u64,
    /// The form's `name`.
    pub name: String,
    /// The form's `title`, if sent.
    pub title: Option<String>,
    /// The form's `base_image`, if sent.
    pub base_image: Option<String>,
    /// The form's `architecture`.
    pub architecture: String,
    /// The form's `filetype`.
    pub filetype: String,
    /// The declared sha256.
    pub sha256: String,
    /// The declared size.
    pub size: u64,
    /// The bytes appended so far.
    pub data: Vec<u8>,
    /// Whether all bytes arrived and matched the sha256.
    pub complete: bool,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// URL path.
    pub path: String,
    /// OAuth parameters of the Authorization header (percent-decoded).
    pub oauth: BTreeMap<String, String>,
    /// Body length.
    pub len: usize,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct State {
    resources: Vec<Stored>,
    nonces: HashSet<String>,
    seen: Vec<Seen>,
    posts: usize,
    puts: usize,
    next_id: u64,
}

/// A running fake MAAS; stops when dropped.
pub struct FakeMaas {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeMaas {
    /// Starts serving on 127.0.0.1 (a free port).
    pub fn start(config: Config) -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let state = Arc::new(Mutex::new(State {
            next_id: 1,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                match server.recv_timeout(Duration::from_millis(50)) {
                    Ok(Some(req)) => serve(&config, &st, req),
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
        });
        Self {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/MAAS`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{PREFIX}", self.port)
    }

    /// The resources created so far.
    pub fn resources(&self) -> Vec<Stored> {
        self.state.lock().unwrap().resources.clone()
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Stores a complete file with this content, as if uploaded before.
    pub fn preload(&self, data: &[u8]) {
        let mut s = self.state.lock().unwrap();
        let id = s.next_id;
        s.next_id += 1;
        s.resources.push(Stored {
            id,
            file_id: id + 1000,
            name: "preloaded".into(),
            title: None,
            base_image: None,
            architecture: "amd64/generic".into(),
            filetype: "ddgz".into(),
            sha256: sha256_hex(data),
            size: data.len() as u64,
            data: data.to_vec(),
            complete: true,
        });
    }
}

impl Drop for FakeMaas {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Lowercase hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn serve(config: &Config, state: &Mutex<State>, mut req: tiny_http::Request) {
    if let Some(hook) = &config.on_request {
        hook();
    }
    let method = req.method().as_str().to_owned();
    let path = req.url().split('?').next().unwrap_or("").to_owned();
    let header = |name: &'static str| {
        req.headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str().to_owned())
    };
    let auth = header("Authorization");
    let content_type = header("Content-Type").unwrap_or_default();
    let has_length = header("Content-Length").is_some();
    let mut body = Vec::new();
    let read = req
        .as_reader()
        .take(config.max_body as u64 + 1)
        .read_to_end(&mut body);
    let oauth = auth.as_deref().map(parse_oauth).unwrap_or_default();
    let (status, text) = {
        let mut s = state.lock().unwrap();
        let answer = if read.is_err() {
            (400, "Could not read the request body.".to_owned())
        } else if body.len() > config.max_body {
            (
                413,
                "<html><body><h1>413 Request Entity Too Large</h1></body></html>".into(),
            )
        } else if let Err(e) = check_auth(config, &mut s, auth.as_deref(), &oauth) {
            (401, format!("Authorization Error: {e}"))
        } else {
            let fault = {
                let n = match method.as_str() {
                    "POST" => {
                        s.posts += 1;
                        s.posts
                    }
                    "PUT" => {
                        s.puts += 1;
                        s.puts
                    }
                    _ => 0,
                };
                config
                    .faults
                    .iter()
                    .find(|f| f.method == method && f.nth == n)
                    .cloned()
            };
            match fault {
                Some(f) => (f.status, f.body),
                None => route(
                    &mut s,
                    config,
                    &method,
                    &path,
                    &content_type,
                    has_length,
                    &body,
                ),
            }
        };
        s.seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            oauth,
            len: body.len(),
            status: answer.0,
        });
        answer
    };
    let ct = if text.starts_with('{') {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let resp = tiny_http::Response::from_string(text)
        .with_status_code(status)
        .with_header(tiny_http::Header::from_bytes("Content-Type", ct).unwrap());
    let _ = req.respond(resp);
}

/// `OAuth k="v", k="v"` → percent-decoded map (as MAAS's piston OAuth server reads it).
fn parse_oauth(h: &str) -> BTreeMap<String, String> {
    let Some(rest) = h.strip_prefix("OAuth ") else {
        return BTreeMap::new();
    };
    rest.split(',')
        .filter_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            Some((k.to_owned(), percent_decode(v.trim().trim_matches('"'))))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn check_auth(
    config: &Config,
    s: &mut State,
    header: Option<&str>,
    p: &BTreeMap<String, String>,
) -> Result<(), String> {
    let Some(_) = header else {
        return Err("no Authorization header".into());
    };
    let get = |k: &str| p.get(k).map(String::as_str);
    if get("oauth_signature_method") != Some("PLAINTEXT") {
        return Err("only PLAINTEXT signatures are supported".into());
    }
    if get("oauth_consumer_key") != Some(config.key.consumer_key()) {
        return Err("Invalid consumer.".into());
    }
    let token = get("oauth_token").unwrap_or("");
    if token != config.key.token_key() {
        return Err(format!("Invalid access token: {token}"));
    }
    if get("oauth_signature") != Some(&format!("&{}", config.key.token_secret())) {
        return Err("Invalid signature.".into());
    }
    let now = config.clock.unix_time();
    let ts: u64 = get("oauth_timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or("Missing or invalid oauth_timestamp")?;
    if now.abs_diff(ts) > TIMESTAMP_WINDOW {
        return Err(format!(
            "'Expired timestamp: given {ts} and now {now} has a greater difference than \
             threshold {TIMESTAMP_WINDOW}'"
        ));
    }
    let nonce = get("oauth_nonce").ok_or("Missing oauth_nonce")?;
    if !s.nonces.insert(nonce.to_owned()) {
        return Err(format!("'Nonce already used: {nonce}'"));
    }
    Ok(())
}

fn route(
    s: &mut State,
    config: &Config,
    method: &str,
    path: &str,
    content_type: &str,
    has_length: bool,
    body: &[u8],
) -> (u16, String) {
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return (404, "Not Found".into());
    };
    let Some(rest) = rest.strip_prefix("/api/2.0/boot-resources/") else {
        return (404, "Not Found".into());
    };
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match (method, &parts[..]) {
        ("POST", [""]) => create(s, config, content_type, body),
        ("PUT", [id, "upload", fid]) => match (id.parse::<u64>(), fid.parse::<u64>()) {
            (Ok(id), Ok(fid)) => upload(s, id, fid, content_type, has_length, body),
            _ => (404, "Not Found".into()),
        },
        (_, [""]) | (_, [_, "upload", _]) => (405, "Method Not Allowed".into()),
        _ => (404, "Not Found".into()),
    }
}

/// Parses a multipart/form-data body of text fields.
fn form(content_type: &str, body: &[u8]) -> Option<BTreeMap<String, String>> {
    let (mime, params) = content_type.split_once(';')?;
    if mime.trim() != "multipart/form-data" {
        return None;
    }
    let boundary = params
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let text = std::str::from_utf8(body).ok()?;
    let delim = format!("--{boundary}");
    let mut out = BTreeMap::new();
    let mut pieces = text.split(delim.as_str());
    if !pieces.next()?.is_empty() {
        return None;
    }
    for piece in pieces {
        if piece.starts_with("--") {
            return Some(out);
        }
        let piece = piece.strip_prefix("\r\n")?.strip_suffix("\r\n")?;
        let (headers, value) = piece.split_once("\r\n\r\n")?;
        let name = headers
            .lines()
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with("content-disposition: form-data")
            })?
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))?
            .trim_matches('"');
        out.insert(name.to_owned(), value.to_owned());
    }
    None
}

/// The operating systems of MAAS's registry (what a name's OS part may be).
const KNOWN_OSYSTEMS: [&str; 9] = [
    "ubuntu", "centos", "rhel", "ol", "custom", "windows", "suse", "esxi", "caringo",
];

fn field_error(field: &str, msg: &str) -> (u16, String) {
    (400, serde_json::json!({ field: [msg] }).to_string())
}

fn create(s: &mut State, config: &Config, content_type: &str, body: &[u8]) -> (u16, String) {
    let Some(f) = form(content_type, body) else {
        return (400, "Expected a multipart/form-data body.".into());
    };
    for required in ["name", "architecture", "filetype"] {
        if f.get(required).is_none_or(|v| v.is_empty()) {
            return field_error(required, "This field is required.");
        }
    }
    if f.contains_key("content") {
        return (400, "this fake takes sha256 and size, not content".into());
    }
    let (Some(sha256), Some(size)) = (f.get("sha256"), f.get("size")) else {
        return field_error("__all__", "Both sha256 and size are required.");
    };
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return field_error("sha256", "Enter a valid sha256 (64 hex digits).");
    }
    let Ok(size) = size.parse::<u64>() else {
        return field_error("size", "Enter a whole number.");
    };
    if f["filetype"].parse::<FileType>().is_err() {
        return field_error(
            "filetype",
            &format!(
                "Select a valid choice. {} is not one of the available choices.",
                f["filetype"]
            ),
        );
    }
    let arch = &f["architecture"];
    if !matches!(arch.split_once('/'), Some((a, b)) if !a.is_empty() && !b.is_empty()) {
        return field_error(
            "architecture",
            &format!("Select a valid choice. {arch} is not one of the available choices."),
        );
    }
    // MAAS's BootResourceForm: the OS part of a name must be one MAAS knows, and a custom
    // image's base_image must be <osystem>/<series> with a Linux OS (ignored otherwise).
    let name = &f["name"];
    if let Some((os, _)) = name.split_once('/') {
        if !KNOWN_OSYSTEMS.contains(&os) {
            return field_error(
                "name",
                &format!("Unsupport operating system {os}, supported operating systems: {KNOWN_OSYSTEMS:?}"),
            );
        }
    }
    if let Some(base) = f.get("base_image").filter(|b| !b.is_empty()) {
        if ddgz_maas::naming::is_custom(name) {
            if let Err(e) = ddgz_maas::naming::check_base_image(base) {
                return field_error("base_image", &e);
            }
        }
    }
    let sha256 = sha256.to_ascii_lowercase();
    let existing = s
        .resources
        .iter()
        .find(|r| r.complete && r.sha256 == sha256 && r.size == size)
        .map(|r| r.data.clone());
    let id = s.next_id;
    s.next_id += 1;
    let file_id = id + 1000;
    let filetype = f["filetype"].to_ascii_lowercase();
    let file_name = match filetype.as_str() {
        "ddgz" => "root-dd.gz",
        "ddxz" => "root-dd.xz",
        "ddraw" => "root-dd.raw",
        _ => "root-dd",
    };
    let stored = Stored {
        id,
        file_id,
        name: f["name"].clone(),
        title: f.get("title").cloned(),
        base_image: f.get("base_image").cloned(),
        architecture: arch.clone(),
        filetype,
        sha256: sha256.clone(),
        size,
        complete: existing.is_some(),
        data: existing.unwrap_or_default(),
    };
    let mut file = serde_json::json!({
        "filename": file_name,
        "filetype": file_name,
        "sha256": sha256,
        "size": size,
        "complete": stored.complete,
    });
    if !stored.complete {
        file["progress"] = 0.into();
        let origin = config.upload_origin.as_deref().unwrap_or("");
        file["upload_uri"] =
            format!("{origin}{PREFIX}/api/2.0/boot-resources/{id}/upload/{file_id}/").into();
    }
    let answer = serde_json::json!({
        "id": id,
        "type": "Uploaded",
        "name": stored.name,
        "architecture": stored.architecture,
        "resource_uri": format!("{PREFIX}/api/2.0/boot-resources/{id}/"),
        "sets": { "20260101": {
            "version": "20260101", "label": "uploaded", "size": size,
            "complete": stored.complete, "files": { file_name: file },
        }},
    });
    s.resources.push(stored);
    (201, answer.to_string())
}

fn upload(
    s: &mut State,
    id: u64,
    file_id: u64,
    content_type: &str,
    has_length: bool,
    body: &[u8],
) -> (u16, String) {
    let Some(r) = s
        .resources
        .iter_mut()
        .find(|r| r.id == id && r.file_id == file_id)
    else {
        return (404, "Not Found".into());
    };
    if content_type != "application/octet-stream" {
        return (400, "Content-Type must be application/octet-stream.".into());
    }
    if !has_length {
        return (400, "Content-Length header is required.".into());
    }
    if r.complete {
        return (400, "Cannot upload to a complete file.".into());
    }
    if r.data.len() as u64 + body.len() as u64 > r.size {
        return (400, "Too much data received.".into());
    }
    r.data.extend_from_slice(body);
    if r.data.len() as u64 == r.size {
        if sha256_hex(&r.data) != r.sha256 {
            r.data.clear();
            return (
                400,
                "Saved content does not match given SHA256 value.".into(),
            );
        }
        r.complete = true;
    }
    (200, String::new())
}
