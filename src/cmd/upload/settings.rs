//! The settings `ddgz upload` checks before it reads a byte: `--name`,
//! `--architecture`, `--base-image`, the MAAS URL and the API key.

use anyhow::Context;
use ddgz_maas::{ApiKey, Client};

use super::ResourceArgs;
use crate::exit::{with_code, Code, ResultExt};

/// The environment variable holding the MAAS URL.
const ENV_URL: &str = "MAAS_URL";
/// The environment variable holding the API key.
const ENV_KEY: &str = "MAAS_API_KEY";

/// Checks everything `upload_file` needs before any file is read or written: `--name`,
/// `--architecture`, the MAAS URL and the API key. `convert --upload` calls it before
/// converting, so that a missing setting fails in a second, not after the conversion.
pub fn preflight(r: &ResourceArgs) -> anyhow::Result<()> {
    checked(r).map(|_| ())
}

/// The trimmed `--name`, the `base_image` to send and a client, or a usage error.
pub(super) fn checked(r: &ResourceArgs) -> anyhow::Result<(&str, Option<String>, Client)> {
    let name = r
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            with_code(
                Code::Usage,
                anyhow::anyhow!(
                    "uploading needs --name, the boot resource's name in MAAS (e.g. --name esxi/8)"
                ),
            )
        })?;
    if !matches!(r.architecture.split_once('/'), Some((a, s)) if !a.is_empty() && !s.is_empty()) {
        return Err(with_code(
            Code::Usage,
            anyhow::anyhow!(
                "--architecture {:?}: expected arch/subarch, e.g. amd64/generic",
                r.architecture
            ),
        ));
    }
    let client = client(r)?;
    Ok((name, base_image(name, r.base_image.as_deref())?, client))
}

/// The `base_image` to send for `name`: required and checked for a custom image (MAAS's
/// API documentation, `boot-resources create`: "Only required for custom image"), dropped
/// with a note for any other name, which MAAS ignores it for.
pub fn base_image(name: &str, given: Option<&str>) -> anyhow::Result<Option<String>> {
    use ddgz_maas::naming::{check_base_image, is_custom};
    let given = given.map(str::trim).filter(|b| !b.is_empty());
    match (is_custom(name), given) {
        (true, Some(b)) => check_base_image(b)
            .map(|()| Some(b.to_string()))
            .map_err(|e| with_code(Code::Usage, anyhow::anyhow!("--base-image: {e}"))),
        (true, None) => Err(with_code(
            Code::Usage,
            anyhow::anyhow!(
                "{name} is a custom image name, and MAAS's API requires base_image for custom \
                 images (boot-resources create: \"Only required for custom image\"): give \
                 --base-image OS/SERIES, e.g. --base-image ubuntu/jammy"
            ),
        )),
        (false, Some(b)) => {
            eprintln!("ddgz: note: --base-image {b} is not sent: MAAS uses it for custom images only, not {name}");
            Ok(None)
        }
        (false, None) => Ok(None),
    }
}

/// Builds the client from `--url`/`MAAS_URL` and `--api-key-file`/`MAAS_API_KEY`.
fn client(r: &ResourceArgs) -> anyhow::Result<Client> {
    let url = match &r.url {
        Some(u) => u.clone(),
        None => std::env::var(ENV_URL).map_err(|_| {
            with_code(
                Code::Usage,
                anyhow::anyhow!(
                    "no MAAS URL: set {ENV_URL} or pass --url (e.g. http://maas.example:5240/MAAS)"
                ),
            )
        })?,
    };
    let (text, source) = match &r.api_key_file {
        Some(p) => {
            let t = crate::cmd::stream::read_small(p, crate::cmd::stream::MAX_KEY_FILE)
                .with_context(|| format!("cannot read the API key file {}", p.display()))
                .input()?;
            (t, format!("--api-key-file {}", p.display()))
        }
        None => match std::env::var(ENV_KEY) {
            Ok(t) => (t, ENV_KEY.to_owned()),
            Err(_) => {
                return Err(with_code(
                    Code::Usage,
                    anyhow::anyhow!(
                        "no MAAS API key: set {ENV_KEY} or pass --api-key-file FILE (the key is \
                         consumer_key:token_key:token_secret, from `maas apikey --username USER`)"
                    ),
                ))
            }
        },
    };
    let key = ApiKey::parse(&text).map_err(|e| {
        with_code(
            Code::Usage,
            anyhow::anyhow!(
                "{e} (read from {source})\n  next: {}",
                e.advice().unwrap_or_default()
            ),
        )
    })?;
    let timeouts = ddgz_maas::Timeouts {
        response: std::time::Duration::from_secs(r.response_timeout),
        ..Default::default()
    };
    Client::new(&url, key)
        .map(|c| c.with_timeouts(timeouts))
        .map_err(|e| {
            with_code(
                Code::Usage,
                anyhow::anyhow!("{e}\n  next: {}", e.advice().unwrap_or_default()),
            )
        })
}
