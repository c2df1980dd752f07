//! What to call a Linux root tarball (`filetype=tgz`) in MAAS, from the image's
//! `/etc/os-release`: the names packer-maas's READMEs use, beside [`crate::naming`]'s
//! rules for disk images.

/// `KEY=value` pairs of an os-release file, quotes removed.
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once('=')?;
            if k.starts_with('#') || k.is_empty() {
                return None;
            }
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.to_string(), v.replace("\\\"", "\"").replace("\\\\", "\\")))
        })
        .collect()
}

/// A suggested boot resource for a root tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Suggestion {
    /// `rhel/rhel9`, `custom/rocky9`, …
    pub name: String,
    /// `Rocky Linux 9.4 Custom`, …
    pub title: String,
    /// The base image MAAS requires of a custom image, when it follows from the OS.
    pub base_image: Option<String>,
}

/// The boot-resource name, title and base image packer-maas's READMEs would use for this
/// OS (`release` as [`parse`] returns it): `rhel/rhel9`, `centos/centos9`, `suse/sles15`,
/// `custom/ubuntu-24.04`, `custom/debian-12`, else `custom/<ID><major>`
/// (`custom/rocky9`); a custom image's base image is `rhel/<major>` for the RHEL family,
/// `ubuntu/<codename>` for Ubuntu.
pub fn suggest(release: &[(String, String)]) -> Suggestion {
    let get = |k: &str| {
        release
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let clean = |s: String| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
            .collect()
    };
    let id = clean(get("ID"));
    let id = if id.is_empty() { "linux".into() } else { id };
    let version = clean(get("VERSION_ID"));
    let major = version.split('.').next().unwrap_or("").to_string();
    let name = match id.as_str() {
        "rhel" => format!("rhel/rhel{major}"),
        "centos" => format!("centos/centos{major}"),
        "sles" | "sled" | "sles_sap" => format!("suse/sles{major}"),
        "ubuntu" | "debian" if !version.is_empty() => format!("custom/{id}-{version}"),
        _ => format!("custom/{id}{major}"),
    };
    let pretty = crate::naming::clean_text(&get("NAME"));
    let title = format!(
        "{} {} Custom",
        if pretty.is_empty() { &id } else { &pretty },
        version
    )
    .replace("  ", " ");
    let like = format!("{id} {}", get("ID_LIKE"));
    let codename = clean(get("VERSION_CODENAME"));
    let base_image = if !crate::naming::is_custom(&name) {
        None
    } else if id == "ubuntu" && !codename.is_empty() {
        Some(format!("ubuntu/{codename}"))
    } else if (like.contains("rhel") || like.contains("fedora") || like.contains("centos"))
        && !major.is_empty()
        && id != "fedora"
    {
        Some(format!("rhel/{major}"))
    } else {
        None
    };
    Suggestion {
        name,
        title,
        base_image,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_os_release() {
        let rel = |s: &str| suggest(&parse(s));
        let r = rel("NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"9.4\"\n");
        assert_eq!((r.name.as_str(), r.base_image), ("rhel/rhel9", None));
        let r = rel(
            "ID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nNAME=\"Rocky Linux\"",
        );
        assert_eq!(
            (r.name.as_str(), r.base_image.as_deref()),
            ("custom/rocky9", Some("rhel/9"))
        );
        let r = rel("NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"24.04\"\nVERSION_CODENAME=noble");
        assert_eq!(
            (r.name.as_str(), r.title.as_str()),
            ("custom/ubuntu-24.04", "Ubuntu 24.04 Custom")
        );
        assert_eq!(r.base_image.as_deref(), Some("ubuntu/noble"));
        assert_eq!(rel("ID=sles\nVERSION_ID=\"15.6\"").name, "suse/sles15");
        assert_eq!(rel("ID=debian\nVERSION_ID=\"12\"").name, "custom/debian-12");
        assert_eq!(rel("").name, "custom/linux");
    }
}
