//! What every command shares: the interrupt flag, the progress bar, hex, and the tool's
//! one size grammar and one size format (from `ddgz_disk::size`), and bounded numeric
//! options. One copy of each, so that every command speaks alike.

use std::ops::RangeInclusive;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;

/// `1.5 GiB`-style size: the tool's one format.
pub use ddgz_image::size::human;

/// A flag set by SIGINT/SIGTERM, for work to stop at its next check (removing what it
/// was writing); a second signal exits at once (status 130).
pub fn interrupt_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    on_interrupt(&flag)?;
    Ok(flag)
}

/// From now on SIGINT/SIGTERM set `flag`, and a second one exits at once (status 130).
pub fn on_interrupt(flag: &Arc<AtomicBool>) -> anyhow::Result<()> {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone())
            .context("cannot install a signal handler")?;
        signal_hook::flag::register(sig, flag.clone())
            .context("cannot install a signal handler")?;
    }
    Ok(())
}

/// Whether progress bars may be drawn: stderr is a terminal and not `--quiet`.
pub fn show_progress(quiet: bool) -> bool {
    use std::io::IsTerminal;
    !quiet && std::io::stderr().is_terminal()
}

/// A progress bar over `len` bytes of work, labelled `what` (its message, which may be
/// changed later); hidden unless `show`. Its rate and ETA are those of the work: callers
/// count what costs time (data bytes compressed, bytes read or sent), not positions.
pub fn progress_bar(len: u64, what: &str, show: bool) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg:>9} {elapsed_precise} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Refuses (exit 2) to write a compressed image to stdout when it is a terminal, as gzip
/// does: binary bytes there help no one and can upset the terminal.
pub fn refuse_terminal_stdout() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return Ok(());
    }
    Err(crate::exit::with_code(
        crate::exit::Code::Usage,
        anyhow::anyhow!(
            "-o -: stdout is a terminal; refusing to write a compressed image to it (redirect \
             or pipe stdout, or name a file with -o)"
        ),
    ))
}

/// A writer for text meant for a terminal that may carry text from outside (names stored
/// in images, file names): every control or reordering character but the line break is
/// escaped ([`ddgz_image::escape_message`]), so no image can move the cursor, retitle the
/// window or hide what follows. JSON is written without it (exact values).
pub struct Terminal<W>(pub W);

impl<W: std::io::Write> std::io::Write for Terminal<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // `write!` hands over whole `str` pieces, so a character is never split here.
        let text = String::from_utf8_lossy(buf);
        self.0
            .write_all(ddgz_image::escape_message(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Extensions of the files ddgz reads, stripped from an input's name to name its output:
/// the container formats (and QEMU's `.qcow`), raw disks, finished ddgz images.
pub const INPUT_EXTENSIONS: [&str; 11] = [
    ".qcow2", ".qcow", ".vmdk", ".vhdx", ".vhd", ".vdi", ".raw", ".img", ".dd.gz", ".dd.xz", ".dd",
];

/// The default output for `input`: beside it, its name without one of
/// [`INPUT_EXTENSIONS`] (any case), plus `suffix` (`.dd.gz`). Works on the name's bytes,
/// so a name that is not UTF-8 keeps its real bytes.
pub fn output_beside(input: &std::path::Path, suffix: &str, fallback: &str) -> std::path::PathBuf {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let name = input
        .file_name()
        .map_or(fallback.as_bytes(), |n| n.as_bytes());
    let stem = INPUT_EXTENSIONS
        .iter()
        .find_map(|ext| {
            let cut = name.len().checked_sub(ext.len()).filter(|&c| c > 0)?;
            name[cut..]
                .eq_ignore_ascii_case(ext.as_bytes())
                .then_some(&name[..cut])
        })
        .unwrap_or(name);
    let out = [stem, suffix.as_bytes()].concat();
    input.with_file_name(std::ffi::OsString::from_vec(out))
}

/// Lower-case hex of `bytes` (a sha256 as MAAS wants it).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A size option (the one grammar: `64M`, `512K`, `1G`, `4MiB`, `1048576`) within
/// `range`; the error names the range (`what`) so that clap's usage error (exit 2) says
/// what is allowed.
pub fn parse_size_in(s: &str, range: RangeInclusive<u64>, what: &str) -> Result<u64, String> {
    let n = ddgz_image::size::parse(s)?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(format!("{s} is {n} bytes, out of range; {what}"))
    }
}

/// Most compression threads `-j` takes: beyond this the memory in flight (a few chunks and
/// a deflate state per worker) grows with no gain on any machine ddgz targets.
pub const MAX_THREADS: usize = 128;

/// Parses a whole number within `range` for clap, naming the range when it is not: clap
/// turns the `Err` into a usage error (exit 2).
pub fn parse_in_range(s: &str, range: RangeInclusive<u64>, what: &str) -> Result<u64, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number; {what}"))?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is out of range; {what}"))
    }
}

/// `-j N`: 0 (one per core) to [`MAX_THREADS`].
pub fn parse_threads(s: &str) -> Result<usize, String> {
    parse_in_range(
        s,
        0..=MAX_THREADS as u64,
        &format!("threads must be between 0 (one per core) and {MAX_THREADS}"),
    )
    .map(|n| n as usize)
}

/// `--chunk-size`: 4 KiB to [`ddgz_deflate::MAX_CHUNK_SIZE`].
pub fn parse_deflate_chunk_size(s: &str) -> Result<usize, String> {
    let max = ddgz_deflate::MAX_CHUNK_SIZE as u64;
    parse_size_in(
        s,
        4096..=max,
        &format!(
            "the chunk size must be between 4096 and {max} bytes (4K to {})",
            human(max)
        ),
    )
    .map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_options_name_their_range() {
        assert_eq!(parse_threads("0"), Ok(0));
        assert_eq!(parse_threads("128"), Ok(128));
        for bad in [
            "129",
            "18446744073709551615",
            "99999999999999999999",
            "-1",
            "x",
        ] {
            let e = parse_threads(bad).unwrap_err();
            assert!(e.contains("between 0 (one per core) and 128"), "{bad}: {e}");
        }
        assert!(parse_deflate_chunk_size("4095").is_err());
        assert_eq!(parse_deflate_chunk_size("65536"), Ok(65536));
        assert_eq!(parse_deflate_chunk_size("64K"), Ok(65536));
        assert!(parse_deflate_chunk_size(&(64u64 << 20 | 1).to_string())
            .unwrap_err()
            .contains("between 4096 and 67108864"));
    }

    #[test]
    fn terminal_text_is_escaped() {
        use std::io::Write;
        let mut t = Terminal(Vec::new());
        let from_image = "x\x1b]0;owned\x07";
        writeln!(t, "createType {from_image}").unwrap();
        assert_eq!(
            String::from_utf8(t.0).unwrap(),
            "createType x\\e]0;owned\\u{7}\n"
        );
    }

    #[test]
    fn default_outputs_strip_every_input_extension() {
        use std::os::unix::ffi::OsStrExt;
        use std::path::{Path, PathBuf};
        let o = |p: &str| output_beside(Path::new(p), ".dd.gz", "disk");
        for (i, want) in [
            ("a/disk.qcow2", "a/disk.dd.gz"),
            ("disk.vhdx", "disk.dd.gz"),
            ("disk.VHD", "disk.dd.gz"),
            ("disk.vdi", "disk.dd.gz"),
            ("disk.vmdk", "disk.dd.gz"),
            ("x.img", "x.dd.gz"),
            ("out/packer-esxi", "out/packer-esxi.dd.gz"),
            (".qcow2", ".qcow2.dd.gz"),
        ] {
            assert_eq!(o(i), PathBuf::from(want), "{i}");
        }
        let raw = std::ffi::OsStr::from_bytes(b"d\xff.vhdx");
        assert_eq!(
            output_beside(Path::new(raw), ".tar.gz", "root")
                .as_os_str()
                .as_bytes(),
            b"d\xff.tar.gz"
        );
    }

    #[test]
    fn sizes_and_hex() {
        assert_eq!(parse_size_in("64M", 0..=u64::MAX, ""), Ok(64 << 20));
        let e = parse_size_in("1G", 0..=1 << 20, "at most 1M").unwrap_err();
        assert!(
            e.contains("1073741824 bytes, out of range; at most 1M"),
            "{e}"
        );
        assert!(parse_size_in("12X", 0..=u64::MAX, "").is_err());
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(human(3 << 29), "1.5 GiB");
    }
}

/// `--allow-outside-files`, shared by every command that opens an image.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct OutsideArgs {
    /// Let the image name files outside its own directory: an absolute or `../` VMDK
    /// extent, qcow2 backing or data file, or VHD parent (qemu-img follows them; ddgz
    /// refuses them by default, so that an image from elsewhere cannot pull a host file
    /// into the output). `inspect` and `convert --json` list every file an image named.
    #[arg(long)]
    pub allow_outside_files: bool,
}
