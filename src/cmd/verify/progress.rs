//! The progress bar of `ddgz verify`.

use std::path::Path;

/// A progress bar over the compressed bytes, drawn only on a terminal without `--quiet`.
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub(super) fn new(path: &Path, quiet: bool) -> Self {
        if !crate::cli::show_progress(quiet) {
            return Self { bar: None };
        }
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Self {
            bar: Some(crate::cli::progress_bar(len, "verifying", true)),
        }
    }

    pub(super) fn start(&self, pass: u32) {
        if let Some(b) = &self.bar {
            b.set_position(0);
            b.set_message(if pass == 1 {
                "verifying".to_string()
            } else {
                format!("pass {pass}: reading partition headers")
            });
        }
    }

    pub(super) fn at(&self, compressed: u64) {
        if let Some(b) = &self.bar {
            b.set_position(compressed);
        }
    }

    pub(super) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
