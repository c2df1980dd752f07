//! What to call an image in MAAS: the boot resource's `name`, `title` and `base_image`.
//!
//! MAAS decides how to deploy an uploaded image from the OS part of its name: `esxi/…`
//! is deployed as VMware ESXi, `custom/…` (or a name without `/`) as a custom, Ubuntu-like
//! image. For custom images MAAS's API documentation (`boot-resources create`, parameter
//! `base_image`) says: "The Base OS image a custom image is built on top of. Only required
//! for custom image", in the form `<osystem>/<series>`, the OS one of MAAS's Linux systems
//! (`LINUX_OSYSTEMS` in MAAS: ubuntu, centos, rhel, ol). For any other OS part MAAS
//! ignores it.

/// The Linux systems MAAS accepts as a custom image's base (`LINUX_OSYSTEMS`).
pub const BASE_OSYSTEMS: [&str; 4] = ["ubuntu", "centos", "rhel", "ol"];

/// A boot resource's name and title, with what deserves a warning about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// `os/series` or a plain name.
    pub name: String,
    /// The title shown in MAAS.
    pub title: String,
    /// Things the user should know (a name that contradicts the image, …).
    pub warnings: Vec<String>,
}

/// `esxi/<major>.<minor>` and `VMware ESXi <major>.<minor>`, as MAAS's documentation
/// writes them (`name='esxi/6.7' title='VMware ESXi 6.7'`).
pub fn esxi_default(major: u32, minor: u32) -> (String, String) {
    (
        format!("esxi/{major}.{minor}"),
        format!("VMware ESXi {major}.{minor}"),
    )
}

/// What the image told about the Windows it holds (from its `SOFTWARE` registry hive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowsEdition<'a> {
    /// `ProductName`, e.g. "Windows Server 2022 Datacenter".
    pub product_name: Option<&'a str>,
    /// `EditionID`, e.g. "ServerDatacenter".
    pub edition_id: Option<&'a str>,
}

/// packer-maas's name for its Windows images, used when the edition is unknown.
pub const WINDOWS_DEFAULT: &str = "windows/windows-server";

/// Name and title of a Windows image. The rule: `windows/` then the `ProductName` made a
/// slug (lower case, each run of other characters than letters and digits one `-`):
/// "Windows Server 2022 Datacenter" → `windows/windows-server-2022-datacenter`, titled
/// with the product name; without a product name, `windows/windows-` and the slug of the
/// `EditionID` (`windows/windows-serverdatacenter`); with neither, packer-maas's
/// `windows/windows-server`, titled "Windows". MAAS deploys any `windows/` name as Windows
/// (dd file types only), so the slug only has to be stable and readable.
pub fn windows_default(e: &WindowsEdition<'_>) -> (String, String) {
    let slug = |s: &str| {
        let mut out = String::new();
        for c in s.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        out.trim_end_matches('-').to_string()
    };
    let product = e
        .product_name
        .map(clean_text)
        .filter(|p| !slug(p).is_empty());
    let edition = e.edition_id.map(clean_text).filter(|p| !slug(p).is_empty());
    match (product, edition) {
        (Some(p), _) => (format!("windows/{}", slug(&p)), p),
        (None, Some(id)) => (
            format!("windows/windows-{}", slug(&id)),
            format!("Windows {id}"),
        ),
        (None, None) => (WINDOWS_DEFAULT.to_string(), "Windows".to_string()),
    }
}

/// [`resolve`] for a Windows image: `name`/`title` as given, else [`windows_default`];
/// warns when a given name is not `windows/…` (MAAS would deploy it as another OS).
pub fn resolve_windows(
    name: Option<&str>,
    title: Option<&str>,
    edition: &WindowsEdition<'_>,
) -> Naming {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let title = title.map(str::trim).filter(|t| !t.is_empty());
    let (default_name, default_title) = windows_default(edition);
    let mut warnings = Vec::new();
    if let Some(n) = name {
        if !n.starts_with("windows/") {
            warnings.push(format!(
                "--name {n}: the image holds Windows, and MAAS deploys Windows only from a name                  windows/<release> (e.g. {default_name}); {n} is deployed as another OS"
            ));
        }
    }
    Naming {
        name: name.map_or(default_name, str::to_string),
        title: title.map_or(default_title, str::to_string),
        warnings,
    }
}

/// Whether MAAS treats `name` as a custom image: `custom/…` or no OS part at all.
pub fn is_custom(name: &str) -> bool {
    match name.split_once('/') {
        None => true,
        Some((os, _)) => os == "custom",
    }
}

/// Checks a `base_image` as MAAS does: `<osystem>/<series>` with a Linux OS.
pub fn check_base_image(base: &str) -> Result<(), String> {
    match base.split_once('/') {
        Some((os, series))
            if !series.is_empty() && !series.contains('/') && BASE_OSYSTEMS.contains(&os) =>
        {
            Ok(())
        }
        Some((os, _)) if !BASE_OSYSTEMS.contains(&os) => Err(format!(
            "base image {base:?}: MAAS takes a Linux base ({}) for custom images, e.g. ubuntu/jammy",
            BASE_OSYSTEMS.join(", ")
        )),
        _ => Err(format!(
            "base image {base:?}: must be <osystem>/<series>, e.g. ubuntu/jammy"
        )),
    }
}

/// Checks a `--name` or `--title` given by the user: no control characters (ESC, BEL,
/// line breaks), which MAAS would store and show raw and which no one means to type.
pub fn check_text(what: &str, value: &str) -> Result<(), String> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "{what} {value:?} holds the control character {c:?}; names and titles are plain text"
        )),
        None => Ok(()),
    }
}

/// `value` with its control characters removed and runs of spaces made one: for names
/// and titles taken from the image (os-release's `NAME`), which may hold anything.
pub fn clean_text(value: &str) -> String {
    let kept: String = value.chars().filter(|c| !c.is_control()).collect();
    kept.split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Name and title for an upload: `name`/`title` as given, else `esxi/<release>` for an
/// image whose `boot.cfg` gave `esxi` = (major, minor), else `custom/<stem>`. Warns when a
/// given name contradicts the image (another ESXi release, or not `esxi/` for ESXi).
pub fn resolve(
    name: Option<&str>,
    title: Option<&str>,
    esxi: Option<(u32, u32)>,
    stem: &str,
) -> Naming {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let title = title.map(str::trim).filter(|t| !t.is_empty());
    let mut warnings = Vec::new();
    let (default_name, default_title) = match esxi {
        Some((major, minor)) => esxi_default(major, minor),
        None => (format!("custom/{stem}"), stem.to_string()),
    };
    if let (Some(n), Some((major, minor))) = (name, esxi) {
        match n.split_once('/') {
            Some(("esxi", release)) => {
                if !release_matches(release, major, minor) {
                    warnings.push(format!(
                        "--name {n}: the image is ESXi {major}.{minor} (boot.cfg); MAAS will \
                         list it as ESXi {release} (esxi/{major}.{minor} would match)"
                    ));
                }
            }
            _ => warnings.push(format!(
                "--name {n}: the image is ESXi {major}.{minor}, and MAAS deploys ESXi only from \
                 a name esxi/<release> (e.g. esxi/{major}.{minor}); {n} is deployed as a \
                 custom (Ubuntu-like) image"
            )),
        }
    } else if let (Some(n), None) = (name, esxi) {
        if n.starts_with("esxi/") {
            warnings.push(format!(
                "--name {n}: MAAS will deploy this as ESXi, but no ESXi boot.cfg was found in the image"
            ));
        }
    }
    Naming {
        name: name.map_or(default_name, str::to_string),
        title: title.map_or(default_title, str::to_string),
        warnings,
    }
}

/// Whether `release` (`8`, `8.0`, `8.0.3`) names ESXi `major.minor`.
fn release_matches(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release.split('.');
    let num = |p: Option<&str>| p.and_then(|s| s.parse::<u32>().ok());
    match (num(parts.next()), parts.next()) {
        (Some(m), None) => m == major,
        (Some(m), Some(n)) => m == major && n.parse::<u32>().ok() == Some(minor),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esxi_images_default_to_esxi_release_names() {
        let n = resolve(None, None, Some((8, 0)), "packer-esxi");
        assert_eq!(
            (n.name.as_str(), n.title.as_str()),
            ("esxi/8.0", "VMware ESXi 8.0")
        );
        assert!(n.warnings.is_empty());
        let n = resolve(None, None, None, "win");
        assert_eq!((n.name.as_str(), n.title.as_str()), ("custom/win", "win"));
        let n = resolve(Some("esxi/8"), Some("Mine"), Some((8, 0)), "x");
        assert_eq!((n.name.as_str(), n.title.as_str()), ("esxi/8", "Mine"));
        assert!(n.warnings.is_empty(), "{:?}", n.warnings);
    }

    #[test]
    fn a_name_that_contradicts_the_image_is_a_warning() {
        for bad in [
            "esxi/7.0",
            "esxi/8.1",
            "esxi/9",
            "esxi/latest",
            "custom/esxi",
        ] {
            let n = resolve(Some(bad), None, Some((8, 0)), "x");
            assert_eq!(n.name, bad);
            assert_eq!(n.warnings.len(), 1, "{bad}: {:?}", n.warnings);
        }
        for good in ["esxi/8", "esxi/8.0", "esxi/8.0.3"] {
            assert!(resolve(Some(good), None, Some((8, 0)), "x")
                .warnings
                .is_empty());
        }
        assert_eq!(resolve(Some("esxi/8.0"), None, None, "x").warnings.len(), 1);
    }

    #[test]
    fn windows_images_are_named_from_their_edition() {
        let e = WindowsEdition {
            product_name: Some("Windows Server 2022 Datacenter"),
            edition_id: Some("ServerDatacenter"),
        };
        let n = resolve_windows(None, None, &e);
        assert_eq!(
            (n.name.as_str(), n.title.as_str()),
            (
                "windows/windows-server-2022-datacenter",
                "Windows Server 2022 Datacenter"
            )
        );
        let e = WindowsEdition {
            product_name: Some("\x1b[2J"),
            edition_id: Some("ServerStandard"),
        };
        assert_eq!(windows_default(&e).0, "windows/2j");
        let e = WindowsEdition {
            product_name: None,
            edition_id: Some("ServerStandard"),
        };
        assert_eq!(windows_default(&e).0, "windows/windows-serverstandard");
        let n = resolve_windows(None, None, &WindowsEdition::default());
        assert_eq!(
            (n.name.as_str(), n.title.as_str()),
            (WINDOWS_DEFAULT, "Windows")
        );
        let n = resolve_windows(
            Some("windows/mine"),
            Some("Mine"),
            &WindowsEdition::default(),
        );
        assert_eq!(
            (n.name.as_str(), n.title.as_str()),
            ("windows/mine", "Mine")
        );
        assert!(n.warnings.is_empty());
        let n = resolve_windows(Some("custom/win"), None, &WindowsEdition::default());
        assert_eq!(n.warnings.len(), 1);
    }

    #[test]
    fn names_and_titles_are_plain_text() {
        assert!(check_text("--title", "Rocky 9 Custom").is_ok());
        for bad in ["a\x1b[31m", "a\nb", "bell\x07", "\u{9b}"] {
            assert!(check_text("--title", bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            clean_text("Debian\x1b[2J  GNU/Linux\n"),
            "Debian[2J GNU/Linux"
        );
    }

    #[test]
    fn base_images_follow_maas_rules() {
        assert!(is_custom("custom/x") && is_custom("plain") && !is_custom("esxi/8.0"));
        assert!(check_base_image("ubuntu/jammy").is_ok());
        assert!(check_base_image("rhel/9").is_ok());
        for bad in ["jammy", "esxi/8.0", "ubuntu/", "ubuntu/a/b", "custom/x", ""] {
            assert!(check_base_image(bad).is_err(), "{bad}");
        }
    }
}
