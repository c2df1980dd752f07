//! Errors of the MAAS client: each names the request, and a refused request carries the
//! HTTP status and MAAS's body; [`Error::advice`] says what to do next.

use std::io;

/// Longest part of a MAAS answer body kept in an error (the rest is cut, marked `…`).
pub const MAX_BODY_SHOWN: usize = 4000;

/// An error talking to MAAS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API key is not `consumer_key:token_key:token_secret`.
    #[error("invalid MAAS API key: {reason}")]
    ApiKey {
        /// What is wrong, without the key's text.
        reason: String,
    },
    /// The MAAS URL cannot be used.
    #[error("invalid MAAS URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No HTTP answer: connection refused, DNS, timeout, reset.
    #[error("{method} {url}: no answer from MAAS: {source}")]
    Transport {
        /// `POST` or `PUT`.
        method: &'static str,
        /// The request URL.
        url: String,
        /// What the HTTP client saw.
        #[source]
        source: Box<ureq::Error>,
    },
    /// MAAS answered, but not with success.
    #[error("{method} {url}: MAAS answered HTTP {status}: {}", shown_body(body))]
    Status {
        /// `POST` or `PUT`.
        method: &'static str,
        /// The request URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// MAAS's answer body (cut at [`MAX_BODY_SHOWN`] bytes).
        body: String,
        /// The `Location` header of a redirect.
        location: Option<String>,
    },
    /// MAAS answered success with a body that is not what its API documents.
    #[error("{method} {url}: unexpected answer from MAAS (HTTP {status}): {reason}")]
    Protocol {
        /// `POST` or `PUT`.
        method: &'static str,
        /// The request URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// What was expected and what came.
        reason: String,
    },
    /// The content to upload could not be read.
    #[error("reading the content to upload at byte {offset}: {source}")]
    Read {
        /// Bytes read before the failure.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The caller's progress callback asked to stop (e.g. on Ctrl-C).
    #[error("upload interrupted")]
    Cancelled,
    /// The content is not as long as the size declared to MAAS.
    #[error(
        "the content to upload is {} than the {declared} bytes declared to MAAS \
         (it changed since its size was taken?)",
        if *longer { "longer" } else { "shorter" }
    )]
    Length {
        /// The size declared in the create request.
        declared: u64,
        /// Whether the content was longer (else shorter).
        longer: bool,
    },
}

fn shown_body(body: &str) -> String {
    let b = body.trim();
    if b.is_empty() {
        "(empty body)".to_owned()
    } else {
        b.to_owned()
    }
}

/// Cuts `body` to at most [`MAX_BODY_SHOWN`] bytes on a character boundary.
pub(crate) fn cut_body(mut body: String) -> String {
    if body.len() > MAX_BODY_SHOWN {
        let mut end = MAX_BODY_SHOWN;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body.truncate(end);
        body.push('…');
    }
    body
}

impl Error {
    /// The HTTP status MAAS answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } | Error::Protocol { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// What the user can do about this error, from what MAAS's API is known to answer.
    pub fn advice(&self) -> Option<String> {
        let s = |x: &str| Some(x.to_owned());
        match self {
            Error::ApiKey { .. } => s(
                "get the key with `maas apikey --username USER` on the region controller (or \
                 the web UI: your user → API keys); pass it in MAAS_API_KEY or a file given \
                 to --api-key-file",
            ),
            Error::Url { .. } => {
                s("give the MAAS URL as http://HOST:5240/MAAS (--url or MAAS_URL)")
            }
            Error::Transport { .. } => s(
                "check that MAAS is running and reachable from here at that URL (--url or \
                 MAAS_URL, usually http://HOST:5240/MAAS)",
            ),
            Error::Protocol { .. } => s(
                "this MAAS's API answers differently from what ddgz knows (MAAS 3.0 on); \
                 upload with `maas $PROFILE boot-resources create … content@=FILE` instead",
            ),
            Error::Cancelled => None,
            Error::Read { .. } => s("check that the file is readable and run again"),
            Error::Length { .. } => {
                s("make sure nothing writes the file while it is uploaded, and run again")
            }
            Error::Status {
                status,
                body,
                location,
                ..
            } => {
                let b = body.to_ascii_lowercase();
                match *status {
                    300..=399 => Some(format!(
                        "MAAS redirected the request{}: give that address in --url or MAAS_URL",
                        location
                            .as_deref()
                            .map_or(String::new(), |l| format!(" to {l}"))
                    )),
                    400 if b.contains("too much data") => s(
                        "MAAS received more bytes than the declared size: the file changed \
                         during the upload, or the size given was wrong",
                    ),
                    400 if b.contains("sha256") => s(
                        "the bytes MAAS received do not hash to the declared sha256 (MAAS \
                         discarded them): the file changed during the upload, or the sha256 \
                         given was wrong",
                    ),
                    400 if b.contains("complete") => s(
                        "MAAS already has the complete content for this file: nothing more to \
                         send",
                    ),
                    400 => s(
                        "MAAS refused the request's fields (named in its answer): fix the \
                         corresponding option (--name, --title, --architecture, --filetype)",
                    ),
                    401 if b.contains("timestamp") => s(
                        "this machine's clock and the MAAS server's differ by more than 300 s: \
                         synchronise them (NTP), then run again",
                    ),
                    401 if b.contains("nonce") => s(
                        "MAAS saw a request nonce twice (a replay, or a proxy resending \
                         requests): run again, bypassing any proxy",
                    ),
                    401 => s(
                        "MAAS did not accept the API key: check that it is this MAAS's key \
                         (`maas apikey --username USER`) and is passed unaltered in \
                         MAAS_API_KEY or --api-key-file",
                    ),
                    403 => s(
                        "the API key's user may not do this: uploading boot resources needs a \
                         MAAS administrator's key",
                    ),
                    404 => s(
                        "no such API at that address: the MAAS URL must end in /MAAS (e.g. \
                         http://HOST:5240/MAAS)",
                    ),
                    413 => s("a proxy in front of MAAS limits request bodies (nginx: \
                         client_max_body_size): run again with a smaller --chunk-size, e.g. \
                         --chunk-size 1M"),
                    500..=599 => s(
                        "a server-side failure: see the region controller's log (regiond.log) \
                         and run again",
                    ),
                    _ => None,
                }
            }
        }
    }
}

/// A failed [`Client::upload`](crate::Client::upload): the error and how far it got.
#[derive(Debug)]
pub struct UploadError {
    /// The boot resource created before the failure: MAAS keeps it, incomplete, and has
    /// no way to resume it, so it must be deleted
    /// (`maas $PROFILE boot-resource delete ID`) before a new attempt.
    pub resource_id: Option<u64>,
    /// Bytes MAAS accepted before the failure.
    pub sent: u64,
    /// What failed.
    pub error: Error,
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for UploadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}
