//! What a verification that passed found, and its lines as `ddgz verify` prints them.

use std::path::PathBuf;

use crate::{Layout, Summary, ZeroFree};

/// What a verification found: the stream, the comparison, the layout.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Report {
    /// The input's name, as in the lines.
    pub name: String,
    /// The stream: members, compressed and decompressed bytes, CRC32.
    pub stream: Summary,
    /// With a source: it equals the stream byte for byte.
    pub against: Option<Compared>,
    /// Unless `no_layout`: the layout check passed.
    pub layout: Option<Layout>,
}

/// The source the stream equals.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Compared {
    /// The source, as given.
    pub path: PathBuf,
    /// Its size in bytes (that of the decompressed disk).
    pub size: u64,
    /// How many `--add` were applied to it.
    pub added: usize,
    /// With `zero_free`: what was read as zeros.
    pub zero_free: Option<ZeroFree>,
}

impl Report {
    /// The lines `ddgz verify` prints, the stream's first.
    pub fn lines(&self) -> Vec<String> {
        let name = &self.name;
        let s = &self.stream;
        // An xz file (ddxz) counts no gzip members.
        let stream = if s.members == 0 {
            "xz stream OK".to_string()
        } else {
            format!(
                "gzip stream OK: {} member{}",
                s.members,
                if s.members == 1 { "" } else { "s" }
            )
        };
        let mut lines = vec![format!(
            "{name}: {stream}, {} bytes compressed, {} bytes decompressed, CRC32 {:08x}",
            s.compressed, s.uncompressed, s.crc32
        )];
        if let Some(c) = &self.against {
            let added = if c.added == 0 {
                String::new()
            } else {
                format!(" with the files of {} --add added", c.added)
            };
            let zeroed = match &c.zero_free {
                Some(z) => format!(
                    "{} with {} of free space read as zeros",
                    if added.is_empty() { "" } else { " and" },
                    ddgz_image::size::human(z.zeroed_bytes)
                ),
                None => String::new(),
            };
            lines.push(format!(
                "{name}: equal to {}{added}{zeroed} ({} bytes), byte for byte",
                c.path.display(),
                c.size
            ));
            if let Some(z) = &c.zero_free {
                lines.extend(z.volumes.iter().map(|v| format!("{name}: zero-free: {v}")));
            }
        }
        if let Some(l) = &self.layout {
            let n = l.warnings.len();
            let passes = match l.passes {
                Some(p) => format!(
                    " ({p} pass{} over the stream)",
                    if p == 1 { "" } else { "es" }
                ),
                None => String::new(),
            };
            lines.push(format!(
                "{name}: layout OK: profile {}, no errors, {n} warning{}{passes}",
                l.profile,
                if n == 1 { "" } else { "s" }
            ));
            lines.extend(l.warnings.iter().map(|w| format!("{name}: {w}")));
        }
        lines
    }
}
