//! What a conversion produced, for people (`Display`) and programs (`serde`, the JSON of
//! `ddgz convert --json`).

use std::fmt;
use std::path::PathBuf;

use ddgz_disk::size::human;

/// What a conversion produced.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// The image read.
    pub input: PathBuf,
    /// Its format, as the registry names it.
    pub format: &'static str,
    /// Every other file the image named and had read (extents, backing, data and parent
    /// files), as resolved paths.
    pub named_files: Vec<PathBuf>,
    /// The file written (`None` for a writer).
    pub output: Option<PathBuf>,
    /// Guest bytes: the size of the disk.
    pub virtual_size: u64,
    /// Bytes not known to be zero.
    pub allocated_bytes: u64,
    /// Bytes of gzip or xz written (for the raw output: bytes of data written, the rest
    /// of the file being holes).
    pub output_bytes: u64,
    /// `output_bytes / virtual_size`.
    pub ratio: f64,
    /// Wall time from opening to the end.
    pub seconds: f64,
    /// Virtual bytes per second.
    pub throughput_bytes_per_second: f64,
    /// sha256 of the output (hex), as MAAS asks for it; empty for the raw output.
    pub sha256: String,
    /// CRC-32 of the disk (hex), as in the gzip trailer; empty for the raw output.
    pub crc32: String,
    /// Chunks written as zeros without compressing them.
    pub zero_chunks: u64,
    /// Chunks compressed.
    pub data_chunks: u64,
    /// Compression threads used.
    pub threads: usize,
    /// Deflate level, or the xz preset.
    pub level: u32,
    /// The output's compression: `gzip`, `xz`, or `none` (the raw disk).
    pub compression: &'static str,
    /// What validation found (as `ddgz validate --json`'s); `None` without validation when
    /// the layout could not be read.
    pub findings: Option<ddgz_layout::Findings>,
    /// What `--zero-free` zeroed, per partition, and why it left the others as they were
    /// (absent without `--zero-free`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zero_free: Option<crate::ZeroFree>,
}

impl fmt::Display for Summary {
    /// The report `ddgz convert` prints: one line per figure.
    fn fmt(&self, w: &mut fmt::Formatter<'_>) -> fmt::Result {
        let out = self
            .output
            .as_ref()
            .map_or("(stdout)".to_string(), |p| p.display().to_string());
        writeln!(
            w,
            "converted {} ({}) -> {}",
            self.input.display(),
            self.format,
            out
        )?;
        writeln!(
            w,
            "  virtual size   {} ({} bytes)",
            human(self.virtual_size),
            self.virtual_size
        )?;
        writeln!(
            w,
            "  allocated      {} ({} bytes)",
            human(self.allocated_bytes),
            self.allocated_bytes
        )?;
        let raw = self.compression == "none";
        if raw {
            writeln!(
                w,
                "  output         raw disk with holes: {} ({} bytes) written, {:.2} % of the \
                 virtual size",
                human(self.output_bytes),
                self.output_bytes,
                self.ratio * 100.0
            )?;
            writeln!(w, "  time           {:.2} s", self.seconds)?;
        } else {
            writeln!(
                w,
                "  output         {} ({} bytes), {:.2} % of the virtual size",
                human(self.output_bytes),
                self.output_bytes,
                self.ratio * 100.0
            )?;
            writeln!(
                w,
                "  time           {:.2} s, {}/s of virtual disk ({} threads, {}level {})",
                self.seconds,
                human(self.throughput_bytes_per_second as u64),
                self.threads,
                if self.compression == "xz" { "xz " } else { "" },
                self.level
            )?;
        }
        if let Some(z) = &self.zero_free {
            writeln!(
                w,
                "  zero-free      {} of free space written as zeros",
                human(z.zeroed_bytes)
            )?;
            for v in &z.volumes {
                writeln!(w, "                 {v}")?;
            }
        }
        if raw {
            return Ok(());
        }
        writeln!(w, "  sha256         {}", self.sha256)?;
        writeln!(w, "  size           {}", self.output_bytes)
    }
}
