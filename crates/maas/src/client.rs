//! The two requests of a MAAS boot-resource upload (MAAS.md "How an image gets into
//! MAAS"), each signed anew:
//!
//! 1. `POST {MAAS}/api/2.0/boot-resources/`, multipart form with `name`, `title`,
//!    `architecture`, `filetype`, `sha256`, `size`; the answer (201, JSON) has
//!    `sets{version}.files{name}` each with `complete` and `upload_uri`.
//! 2. `PUT upload_uri`, repeatedly, each body the next chunk (`application/octet-stream`,
//!    `Content-Length` set). Chunks are appended; there are no offsets and no resume.

use std::fmt;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{ApiKey, Clock, SystemClock};
use crate::error::cut_body;
use crate::{Error, FileType, UploadError};

/// The boot-resources collection, relative to the MAAS URL (`http://HOST:5240/MAAS`).
pub const API_PATH: &str = "/api/2.0/boot-resources/";

/// The chunk size of the official MAAS CLI, and ours by default.
pub const DEFAULT_CHUNK_SIZE: usize = 4 << 20;

/// Largest answer body read (JSON of a boot resource, or an error text).
const MAX_ANSWER: u64 = 1 << 20;

/// What to create: the fields of `boot-resources create` without `content`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResource {
    /// `os/series` or a plain name, e.g. `esxi/8`.
    pub name: String,
    /// Shown in the MAAS UI; MAAS derives one when absent.
    pub title: Option<String>,
    /// `<osystem>/<series>` a custom image is built on (MAAS's API: "Only required for
    /// custom image"; ignored for other names). See [`crate::naming`].
    pub base_image: Option<String>,
    /// `arch/subarch`, e.g. `amd64/generic`.
    pub architecture: String,
    /// The upload's file type.
    pub filetype: FileType,
    /// sha256 of the uploaded file, 64 lowercase hex digits.
    pub sha256: String,
    /// Size of the uploaded file in bytes.
    pub size: u64,
}

/// MAAS's answer to the create request: the one file of the newest set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The boot resource's id (for `maas $PROFILE boot-resource delete ID`).
    pub id: u64,
    /// The set's version key.
    pub version: String,
    /// The file's name in the set (`root-dd.gz` for ddgz).
    pub file_name: String,
    /// MAAS already has this content (same sha256 and size): nothing to send.
    pub complete: bool,
    /// Where to PUT the chunks (a path on the MAAS host), absent when complete.
    pub upload_uri: Option<String>,
}

/// How an upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// MAAS had the content already (`complete: true`); nothing was sent.
    AlreadyComplete(Created),
    /// Every byte was sent and MAAS accepted the last chunk (so the sha256 matched).
    Uploaded {
        /// The resource created.
        created: Created,
        /// How many PUT requests were made.
        chunks: u64,
    },
}

/// How long the client waits, per request phase. A server that accepts the connection
/// and never answers fails after `connect + response`, not after the hours a large
/// upload may take: only the body of a chunk in flight and MAAS's answer to the last
/// chunk (it hashes the whole file first) get long limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Name resolution and TCP connect.
    pub connect: Duration,
    /// From the end of a request to the first byte of the answer, and the longest pause
    /// while bytes move in either direction.
    pub response: Duration,
    /// Sending one chunk's body, whole.
    pub chunk_body: Duration,
    /// MAAS's answer to the last chunk.
    pub last_answer: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(30),
            response: Duration::from_secs(120),
            chunk_body: Duration::from_secs(600),
            last_answer: Duration::from_secs(600),
        }
    }
}

/// A MAAS API client for boot-resource uploads.
///
/// Every request gets a fresh `Authorization` header from the [`Clock`], so an upload may
/// last far longer than MAAS's 300 s timestamp window.
pub struct Client {
    agent: ureq::Agent,
    /// `scheme://authority/path` without a trailing slash, e.g. `http://h:5240/MAAS`.
    base: String,
    /// `scheme://authority`, against which MAAS's `upload_uri` paths resolve.
    origin: String,
    key: ApiKey,
    clock: Arc<dyn Clock>,
    timeouts: Timeouts,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the MAAS at `url` (`http://HOST:5240/MAAS`; a trailing `/` or
    /// `/api/2.0` is accepted) with the system clock.
    pub fn new(url: &str, key: ApiKey) -> Result<Self, Error> {
        let (base, origin) = parse_base(url)?;
        let t = Timeouts::default();
        Ok(Self {
            agent: agent(&t),
            base,
            origin,
            key,
            clock: Arc::new(SystemClock::new()),
            timeouts: t,
        })
    }

    /// Uses `t` instead of [`Timeouts::default`].
    pub fn with_timeouts(mut self, t: Timeouts) -> Self {
        self.agent = agent(&t);
        self.timeouts = t;
        self
    }

    /// Uses `clock` for timestamps and nonces (tests simulate time with it).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The MAAS URL this client talks to (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The boot-resources collection URL.
    pub fn endpoint(&self) -> String {
        format!("{}{API_PATH}", self.base)
    }

    /// The absolute URL of an `upload_uri` from MAAS (usually a path on the same host).
    ///
    /// An absolute URL on another origin (scheme, host, port) is refused: the API key
    /// goes to the configured MAAS only, whatever an answer says.
    pub fn resolve(&self, uri: &str) -> Result<String, Error> {
        let lower = uri.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let (_, theirs) = parse_base(uri).map_err(|_| self.foreign(uri))?;
            if same_origin(&theirs, &self.origin) {
                Ok(uri.to_owned())
            } else {
                Err(self.foreign(uri))
            }
        } else if uri.contains("://") || uri.starts_with("//") {
            Err(self.foreign(uri))
        } else if uri.starts_with('/') {
            Ok(format!("{}{uri}", self.origin))
        } else {
            Ok(format!("{}/{uri}", self.base))
        }
    }

    fn foreign(&self, uri: &str) -> Error {
        Error::Protocol {
            method: "POST",
            url: self.endpoint(),
            status: 201,
            reason: format!(
                "the upload_uri {:?} is not on {}; ddgz sends the API key to the configured \
                 MAAS only (check MAAS's maas_url setting and any proxy in front of it)",
                redact(uri),
                self.origin
            ),
        }
    }

    /// Step 1: creates the boot resource (multipart POST) and returns its file.
    pub fn create(&self, r: &NewResource) -> Result<Created, Error> {
        let url = self.endpoint();
        let mut fields: Vec<(&str, String)> = vec![("name", r.name.clone())];
        if let Some(t) = &r.title {
            fields.push(("title", t.clone()));
        }
        if let Some(b) = &r.base_image {
            fields.push(("base_image", b.clone()));
        }
        fields.push(("architecture", r.architecture.clone()));
        fields.push(("filetype", r.filetype.as_str().to_owned()));
        fields.push(("sha256", r.sha256.clone()));
        fields.push(("size", r.size.to_string()));
        let (content_type, body) = multipart(&fields, &self.clock.nonce());
        let req = self
            .agent
            .post(&url)
            .header("Authorization", &self.key.authorization(&*self.clock))
            .header("Accept", "application/json")
            .content_type(&content_type);
        let (status, text) = answer("POST", &url, req.send(&body[..]))?;
        parse_created(&text).map_err(|reason| Error::Protocol {
            method: "POST",
            url,
            status,
            reason,
        })
    }

    /// Step 2, once: appends `chunk` to the file at `upload_uri`; `last` gives MAAS's
    /// answer the longer [`Timeouts::last_answer`].
    pub fn put_chunk(&self, upload_uri: &str, chunk: &[u8], last: bool) -> Result<(), Error> {
        let url = self.resolve(upload_uri)?;
        let t = &self.timeouts;
        let wait = if last { t.last_answer } else { t.response };
        let req = self
            .agent
            .put(&url)
            .header("Authorization", &self.key.authorization(&*self.clock))
            .content_type("application/octet-stream")
            .config()
            .timeout_recv_response(Some(wait))
            // The answer to the last chunk may be long in coming: no idle limit on it.
            .timeout_per_read(if last { None } else { Some(t.response) })
            .build();
        answer("PUT", &url, req.send(chunk)).map(|_| ())
    }

    /// Creates the resource and, unless MAAS has the content already, sends `content`
    /// (exactly `r.size` bytes) in chunks of `chunk_size` bytes, calling `progress` with
    /// the bytes accepted so far before the first chunk and after each; when it answers
    /// [`ControlFlow::Break`] the upload stops with [`Error::Cancelled`].
    ///
    /// On failure after the create, the resource stays in MAAS, incomplete: the error
    /// carries its id. Nothing is retried — a chunk that MAAS may have appended cannot be
    /// sent again.
    pub fn upload(
        &self,
        r: &NewResource,
        mut content: impl Read,
        chunk_size: usize,
        progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
    ) -> Result<Outcome, UploadError> {
        let created = self.create(r).map_err(|error| UploadError {
            resource_id: None,
            sent: 0,
            error,
        })?;
        if created.complete {
            return Ok(Outcome::AlreadyComplete(created));
        }
        let fail = |sent, error| UploadError {
            resource_id: Some(created.id),
            sent,
            error,
        };
        let Some(uri) = created.upload_uri.clone() else {
            let error = Error::Protocol {
                method: "POST",
                url: self.endpoint(),
                status: 201,
                reason: "the file is not complete but has no upload_uri".into(),
            };
            return Err(fail(0, error));
        };
        // Before any byte goes out: the chunks go to MAAS's own origin or nowhere.
        self.resolve(&uri).map_err(|e| fail(0, e))?;
        let chunk_size = chunk_size.max(1);
        let first = usize::try_from(r.size)
            .unwrap_or(usize::MAX)
            .min(chunk_size);
        let mut buf = vec![0u8; first];
        let mut sent = 0u64;
        let mut chunks = 0u64;
        while sent < r.size {
            if progress(sent).is_break() {
                return Err(fail(sent, Error::Cancelled));
            }
            let want = usize::try_from(r.size - sent)
                .unwrap_or(usize::MAX)
                .min(chunk_size);
            let n = read_full(&mut content, &mut buf[..want]).map_err(|source| {
                fail(
                    sent,
                    Error::Read {
                        offset: sent,
                        source,
                    },
                )
            })?;
            if n < want {
                return Err(fail(
                    sent,
                    Error::Length {
                        declared: r.size,
                        longer: false,
                    },
                ));
            }
            if sent + n as u64 == r.size {
                // Before the last chunk (after which MAAS checks the sha256 and closes the
                // file), make sure there is nothing beyond the declared size.
                let mut one = [0u8; 1];
                let more = read_full(&mut content, &mut one).map_err(|source| {
                    fail(
                        sent,
                        Error::Read {
                            offset: r.size,
                            source,
                        },
                    )
                })?;
                if more > 0 {
                    return Err(fail(
                        sent,
                        Error::Length {
                            declared: r.size,
                            longer: true,
                        },
                    ));
                }
            }
            let last = sent + n as u64 == r.size;
            self.put_chunk(&uri, &buf[..n], last)
                .map_err(|e| fail(sent, e))?;
            sent += n as u64;
            chunks += 1;
        }
        let _ = progress(sent);
        Ok(Outcome::Uploaded { created, chunks })
    }
}

/// Reads until `buf` is full or the end; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The HTTP agent: no redirects (a redirected POST or PUT cannot be replayed, and the
/// key must not follow one), status codes as answers, and the phase timeouts of `t`.
fn agent(t: &Timeouts) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_resolve(Some(t.connect))
        .timeout_connect(Some(t.connect))
        .timeout_send_request(Some(t.response))
        .timeout_send_body(Some(t.chunk_body))
        .timeout_per_write(Some(t.response))
        .timeout_recv_response(Some(t.response))
        .timeout_per_read(Some(t.response))
        .timeout_recv_body(Some(t.response))
        .user_agent(concat!("ddgz/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// `uri` with any `user:password@` replaced by `***@`, so that no credential is echoed.
pub fn redact(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => uri.to_owned(),
    }
}

/// Whether two `scheme://authority` origins are the same (case-insensitive, default
/// ports implied).
fn same_origin(a: &str, b: &str) -> bool {
    fn norm(o: &str) -> String {
        let o = o.to_ascii_lowercase();
        for (scheme, port) in [("http://", ":80"), ("https://", ":443")] {
            if let Some(auth) = o.strip_prefix(scheme) {
                if let Some(host) = auth.strip_suffix(port) {
                    return format!("{scheme}{host}");
                }
            }
        }
        o
    }
    norm(a) == norm(b)
}

/// Splits the MAAS URL into (base without trailing slash, origin).
fn parse_base(url: &str) -> Result<(String, String), Error> {
    let bad = |reason: &str| Error::Url {
        url: redact(url),
        reason: reason.to_owned(),
    };
    let u = url.trim();
    let (scheme, rest) = u
        .split_once("://")
        .ok_or_else(|| bad("no scheme: expected http://HOST:5240/MAAS"))?;
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "http" => {}
        "https" if cfg!(feature = "tls") => {}
        "https" => {
            return Err(bad(
                "this ddgz was built without TLS (cargo feature ddgz-maas/tls); MAAS's API \
                 also listens on plain HTTP: http://HOST:5240/MAAS",
            ))
        }
        _ => return Err(bad("the scheme must be http or https")),
    }
    if rest.contains(['?', '#']) {
        return Err(bad("a query or fragment has no place in the MAAS URL"));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    if authority.contains('@') {
        return Err(bad("credentials in the URL are not used: give the API key in MAAS_API_KEY or --api-key-file"));
    }
    let mut path = path.trim_end_matches('/');
    if let Some(p) = path.strip_suffix("api/2.0") {
        path = p.trim_end_matches('/');
    }
    let origin = format!("{scheme}://{authority}");
    let base = if path.is_empty() {
        origin.clone()
    } else {
        format!("{origin}/{path}")
    };
    Ok((base, origin))
}

/// Turns the HTTP result into (status, body) for 2xx, or the error.
fn answer(
    method: &'static str,
    url: &str,
    res: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<(u16, String), Error> {
    let mut resp = res.map_err(|e| Error::Transport {
        method,
        url: url.to_owned(),
        source: Box::new(e),
    })?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // A body that cannot be read whole is shown as far as it came.
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    if (200..300).contains(&status) {
        Ok((status, body))
    } else {
        Err(Error::Status {
            method,
            url: url.to_owned(),
            status,
            body: cut_body(body),
            location,
        })
    }
}

/// A `multipart/form-data` body (RFC 7578) of text fields: (content type, body).
fn multipart(fields: &[(&str, String)], seed: &str) -> (String, Vec<u8>) {
    let mut boundary = format!("ddgz-{seed}");
    while fields.iter().any(|(_, v)| v.contains(&boundary)) {
        boundary.push('x');
    }
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Reads the create answer: `{id, sets: {version: {files: {name: {complete,
/// upload_uri}}}}}`, taking the newest set (greatest version key) and its first file.
fn parse_created(text: &str) -> Result<Created, String> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("not JSON ({e}): {}", cut_body(text.to_owned())))?;
    let id = v["id"]
        .as_u64()
        .ok_or("no numeric \"id\" in the boot resource")?;
    let sets = v["sets"]
        .as_object()
        .ok_or("no \"sets\" object in the boot resource")?;
    let (version, set) = sets
        .iter()
        .max_by(|a, b| a.0.cmp(b.0))
        .ok_or("the boot resource has no set")?;
    let files = set["files"]
        .as_object()
        .ok_or_else(|| format!("set {version} has no \"files\" object"))?;
    let (file_name, file) = files
        .iter()
        .next()
        .ok_or_else(|| format!("set {version} has no file"))?;
    let complete = file["complete"]
        .as_bool()
        .ok_or_else(|| format!("file {file_name} has no boolean \"complete\""))?;
    let upload_uri = file["upload_uri"].as_str().map(str::to_owned);
    Ok(Created {
        id,
        version: version.clone(),
        file_name: file_name.clone(),
        complete,
        upload_uri,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let p = |u| parse_base(u).map_err(|e| e.to_string());
        let want = Ok(("http://h:5240/MAAS".into(), "http://h:5240".into()));
        assert_eq!(p("http://h:5240/MAAS"), want);
        assert_eq!(p("http://h:5240/MAAS/"), want);
        assert_eq!(p("http://h:5240/MAAS/api/2.0/"), want);
        assert_eq!(
            p("http://h:5240"),
            Ok(("http://h:5240".into(), "http://h:5240".into()))
        );
        assert!(p("h:5240/MAAS").is_err());
        assert!(p("ftp://h/MAAS").is_err());
        let e = p("http://u:s3cret@h/MAAS").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        if !cfg!(feature = "tls") {
            assert!(p("https://h:5443/MAAS").unwrap_err().contains("TLS"));
        }
    }

    #[test]
    fn upload_uris_stay_on_the_origin() {
        let key = ApiKey::parse("a:b:c").unwrap();
        let c = Client::new("http://Maas.example:5240/MAAS", key).unwrap();
        let ok = |u: &str| c.resolve(u).unwrap();
        assert_eq!(ok("/MAAS/x/"), "http://Maas.example:5240/MAAS/x/");
        assert_eq!(ok("x/"), "http://Maas.example:5240/MAAS/x/");
        assert_eq!(
            ok("HTTP://maas.example:5240/MAAS/x/"),
            "HTTP://maas.example:5240/MAAS/x/"
        );
        for bad in [
            "http://evil.example:5240/MAAS/x/",
            "http://maas.example:5241/MAAS/x/",
            "http://maas.example:5240@evil.example/x/",
            "//evil.example/x/",
            "ftp://maas.example:5240/x",
        ] {
            let e = c.resolve(bad).unwrap_err().to_string();
            assert!(
                e.contains("sends the API key to the configured"),
                "{bad}: {e}"
            );
        }
        let d = Client::new("http://h/MAAS", ApiKey::parse("a:b:c").unwrap()).unwrap();
        assert!(d.resolve("http://h:80/MAAS/x").is_ok());
        assert_eq!(redact("http://u:p@h:1/x@y"), "http://***@h:1/x@y");
    }

    #[test]
    fn created_answers() {
        let j = r#"{"id": 7, "type": "Uploaded", "sets": {"20240101": {"files": {"root-dd.gz":
            {"complete": false, "upload_uri": "/MAAS/api/2.0/boot-resources/7/upload/9/"}}}}}"#;
        let c = parse_created(j).unwrap();
        assert_eq!(c.id, 7);
        assert_eq!(c.file_name, "root-dd.gz");
        assert!(!c.complete);
        assert_eq!(
            c.upload_uri.as_deref(),
            Some("/MAAS/api/2.0/boot-resources/7/upload/9/")
        );
        assert!(parse_created("{}").is_err());
        assert!(parse_created("<html>").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn multipart_body() {
        let (ct, body) = multipart(&[("name", "esxi/8".into()), ("size", "3".into())], "n");
        assert_eq!(ct, "multipart/form-data; boundary=ddgz-n");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "--ddgz-n\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nesxi/8\r\n\
             --ddgz-n\r\nContent-Disposition: form-data; name=\"size\"\r\n\r\n3\r\n--ddgz-n--\r\n"
        );
    }
}
