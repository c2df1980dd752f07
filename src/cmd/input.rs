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
    /// A compressed raw disk, and the progress bar its passes move.
    Packed(Box<(ddgz_packed::Packed, indicatif::ProgressBar)>),
}

/// Opens `path`: a compressed disk when `opts.format` is unset and the registry
/// identifies it as one ([`ddgz_image::identify`]), else an image.
pub fn open(path: &Path, opts: &OpenOptions) -> anyhow::Result<Input> {
    if opts.format.is_none() {
        let input = InputFile::open(path).input()?;
        if let Identity::Packed(_) = ddgz_image::identify_file(&input).input()? {
            let bar = decoding(path, input.size());
            let p = ddgz_packed::Packed::from_input_progress(
                input,
                &ddgz_packed::Options::default(),
                Some(follow(&bar)),
            );
            bar.finish_and_clear();
            return Ok(Input::Packed(Box::new((p.input()?, bar))));
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
                // Later passes move the bar of the first again (see `follow`).
                let (p, bar) = &mut **p;
                let r = p.run(|d| f(d));
                bar.finish_and_clear();
                r.input()?
            }
        }
    }
}

/// A progress bar over the compressed file while it is decoded (a pass over a 32 GiB
/// `.dd.gz` takes many seconds), on a terminal only: stderr, never with the output.
fn decoding(path: &Path, compressed: u64) -> indicatif::ProgressBar {
    let bar = crate::cli::progress_bar(compressed, "decoding", crate::cli::show_progress(false));
    bar.set_message(format!(
        "decoding {}",
        ddgz_image::escape(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
    ));
    bar
}

/// Moves `bar` as a pass reads the compressed file; a pass after the first says so.
fn follow(bar: &indicatif::ProgressBar) -> ddgz_packed::Progress {
    let bar = bar.clone();
    Box::new(move |pass, at| {
        if bar.is_hidden() {
            return;
        }
        if at < bar.position() || bar.is_finished() {
            bar.reset();
            bar.set_message(format!("pass {pass}"));
        }
        bar.set_position(at);
        if at >= bar.length().unwrap_or(0) {
            bar.finish_and_clear();
        }
    })
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
