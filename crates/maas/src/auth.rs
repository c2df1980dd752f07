//! OAuth 1.0 PLAINTEXT, as MAAS uses it (RFC 5849 §3.4.4, §3.5.1).
//!
//! A MAAS API key is `consumer_key:token_key:token_secret`; the consumer secret is
//! empty, so the PLAINTEXT signature is `&` followed by the token secret. The server
//! rejects a nonce it has seen and a timestamp more than [`TIMESTAMP_WINDOW`] seconds
//! from its clock, so every request — every chunk of an upload — is signed anew with the
//! [`Clock`]'s current time and a fresh nonce.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Error;

/// How far (seconds) an `oauth_timestamp` may be from the server's clock before MAAS
/// answers 401 "Expired timestamp … threshold 300" (MAAS's piston OAuth server).
pub const TIMESTAMP_WINDOW: u64 = 300;

/// A MAAS API key: `consumer_key:token_key:token_secret`, as `maas apikey` prints it.
///
/// Every part is a credential: neither `Debug` nor any error message shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    consumer_key: String,
    token_key: String,
    token_secret: String,
}

impl ApiKey {
    /// Parses `consumer_key:token_key:token_secret` (surrounding whitespace ignored).
    ///
    /// The error names the number of parts, never their text.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        match parts[..] {
            [ck, tk, ts] if !ck.is_empty() && !tk.is_empty() && !ts.is_empty() => Ok(Self {
                consumer_key: ck.to_owned(),
                token_key: tk.to_owned(),
                token_secret: ts.to_owned(),
            }),
            _ => Err(Error::ApiKey {
                reason: format!(
                    "it has {} ':'-separated part(s), {} of them empty; expected 3 non-empty \
                     parts, consumer_key:token_key:token_secret (as `maas apikey --username USER` \
                     prints it)",
                    parts.len(),
                    parts.iter().filter(|p| p.is_empty()).count()
                ),
            }),
        }
    }

    /// The consumer key (first part).
    pub fn consumer_key(&self) -> &str {
        &self.consumer_key
    }

    /// The token key (second part).
    pub fn token_key(&self) -> &str {
        &self.token_key
    }

    /// The token secret (third part), the PLAINTEXT signature's only secret.
    pub fn token_secret(&self) -> &str {
        &self.token_secret
    }

    /// The `Authorization` header value for one request, signed with `clock`'s time and a
    /// fresh nonce from it.
    ///
    /// `OAuth oauth_version="1.0", oauth_signature_method="PLAINTEXT",
    /// oauth_consumer_key="…", oauth_token="…", oauth_signature="&…", oauth_nonce="…",
    /// oauth_timestamp="…"` — the consumer secret is empty, so the signature is
    /// `&` + the percent-encoded token secret (RFC 5849 §3.4.4).
    pub fn authorization(&self, clock: &dyn Clock) -> String {
        format!(
            "OAuth oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", \
             oauth_consumer_key=\"{}\", oauth_token=\"{}\", oauth_signature=\"&{}\", \
             oauth_nonce=\"{}\", oauth_timestamp=\"{}\"",
            percent_encode(&self.consumer_key),
            percent_encode(&self.token_key),
            percent_encode(&self.token_secret),
            percent_encode(&clock.nonce()),
            clock.unix_time(),
        )
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// RFC 5849 §3.6 percent-encoding: everything but `A-Z a-z 0-9 - . _ ~`.
pub fn percent_encode(s: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(s, ESCAPED).to_string()
}

/// The source of time and nonces for signing requests; injectable so that tests can
/// simulate a slow upload.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch, for `oauth_timestamp`.
    fn unix_time(&self) -> u64;
    /// A nonce never returned before by this clock (OAuth requires uniqueness per
    /// timestamp; we make it unique outright).
    fn nonce(&self) -> String;
}

/// The real clock and an unpredictable, never-repeating nonce.
#[derive(Debug, Default)]
pub struct SystemClock {
    counter: AtomicU64,
}

impl SystemClock {
    /// A new system clock.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Clock for SystemClock {
    fn unix_time(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn nonce(&self) -> String {
        // Uniqueness comes from the counter plus the time in nanoseconds; the
        // randomly keyed hash (std's RandomState, seeded from the OS) makes it unguessable
        // without another dependency.
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u128(nanos);
        format!("{:016x}{:x}{n:x}", h.finish(), nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Clock for Fixed {
        fn unix_time(&self) -> u64 {
            1_700_000_000
        }
        fn nonce(&self) -> String {
            "n1".into()
        }
    }

    #[test]
    fn header_is_plaintext_oauth() {
        let k = ApiKey::parse(" ck:tk:ts\n").unwrap();
        assert_eq!(
            k.authorization(&Fixed),
            "OAuth oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", \
             oauth_consumer_key=\"ck\", oauth_token=\"tk\", oauth_signature=\"&ts\", \
             oauth_nonce=\"n1\", oauth_timestamp=\"1700000000\""
        );
    }

    #[test]
    fn bad_keys_are_refused_without_echo() {
        for bad in ["", "a:b", "a:b:c:d", "a::c", "secretvalue"] {
            let e = ApiKey::parse(bad).unwrap_err().to_string();
            assert!(bad.is_empty() || !e.contains(bad), "{e}");
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let k = ApiKey::parse("ckX:tkY:tsZ").unwrap();
        let d = format!("{k:?}");
        assert!(!d.contains("ckX") && !d.contains("tkY") && !d.contains("tsZ"));
    }

    #[test]
    fn nonces_are_fresh() {
        let c = SystemClock::new();
        let set: std::collections::HashSet<String> = (0..1000).map(|_| c.nonce()).collect();
        assert_eq!(set.len(), 1000);
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("a-b.c_d~e f&g"), "a-b.c_d~e%20f%26g");
    }
}
