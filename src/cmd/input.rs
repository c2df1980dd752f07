//! A reading command's input (`inspect`, `validate`, `ls`, `cat`): an image opened through
//! the format registry, or a finished `.dd.gz` / `.dd.xz` (recognised by its magic number
//! unless `--format` is given) read in passes by `ddgz-packed`, in bounded memory and
//! without a scratch file. A command runs its reading code through [`Input::run`] — which
//! may run it several times on a packed disk — and prints only the result.

use std::path::Path;

use ddgz_image::{Container, Format, Identity, Image, InputFile, OpenOptions};

use crate::exit::ResultExt;

/// An opened input.
pub enum Input {
    /// An image file of a registered format.
    Image(Image),
    /// A compressed raw disk.
    Packed(Box<ddgz_packed::Packed>),
}

/// Opens `path`: a compressed disk when `opts.format` is unset and the registry
/// identifies it as one ([`ddgz_image::identify`]), else an image.
pub fn open(path: &Path, opts: &OpenOptions) -> anyhow::Result<Input> {
    if opts.format.is_none() {
        let input = InputFile::open(path).input()?;
        if let Identity::Packed(_) = ddgz_image::identify_file(&input).input()? {
            let bar = decoding(path, input.size());
            let p = ddgz_packed::Packed::from_input(input, &ddgz_packed::Options::default());
            bar.finish_and_clear();
            return Ok(Input::Packed(Box::new(p.input()?)));
        }
    }
    Ok(Input::Image(Image::open(path, opts).input()?))
}

impl Input {
    /// Every other file the image named and had read (none for a packed disk).
    pub fn named_files(&self) -> Vec<std::path::PathBuf> {
        match self {
            Input::Image(i) => i.named_files().to_vec(),
            Input::Packed(_) => Vec::new(),
        }
    }

    /// Runs `f` on the disk and returns its result; on a packed disk, the result of the
    /// first run that read only decoded bytes (see `ddgz_packed::Packed::run`). `f` must
    /// have no effect but its result.
    pub fn run<T>(
        &mut self,
        mut f: impl FnMut(&dyn Container) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        match self {
            Input::Image(i) => f(i),
            Input::Packed(p) => {
                let bar = decoding(p.path(), 0);
                let r = p.run(|d| f(d));
                bar.finish_and_clear();
                r.input()?
            }
        }
    }
}

/// A spinner with the elapsed time while a compressed disk is decoded (a pass over a
/// 32 GiB `.dd.gz` takes many seconds), on a terminal only: stderr, never with the output.
fn decoding(path: &Path, compressed: u64) -> indicatif::ProgressBar {
    if !crate::cli::show_progress(false) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
    {
        bar.set_style(style);
    }
    let size = if compressed > 0 {
        format!(" ({})", crate::cli::human(compressed))
    } else {
        String::new()
    };
    bar.set_message(format!(
        "decoding {}{size}",
        ddgz_image::escape(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
    ));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// `--format` values: the names of the format registry's entries (`ddgz_image::FORMATS`),
/// so a new format needs no change here.
#[derive(Debug, Clone, Copy)]
pub struct FormatArg(Format);

impl clap::ValueEnum for FormatArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::LazyLock<Vec<FormatArg>> = std::sync::LazyLock::new(|| {
            ddgz_image::FORMATS
                .iter()
                .map(|e| FormatArg(e.format))
                .collect()
        });
        &ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let e = self.0.entry();
        Some(clap::builder::PossibleValue::new(e.name).aliases(e.aliases.iter().copied()))
    }
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        f.0
    }
}
