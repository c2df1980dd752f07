//! `ddgz`: the command line. Definitions and glue only; the work lives in `crates/`.
//!
//! `main` calls `run`; the exit-code policy lives in [`exit`] alone.
// The doc comments of clap's arguments are `--help` text, written for the user:
// `[PART:]PATH` and a bare example URL are what they must read there, not rustdoc links.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::bare_urls)]

mod cli;
mod cmd;
mod exit;

use clap::{Parser, Subcommand};

/// Turn VM disk images (qcow2, raw, VMDK, VHD, VHDX, VDI) into MAAS `ddgz` images, unprivileged.
///
/// The everyday call is `ddgz convert disk.qcow2`: it validates the disk, compresses it
/// in parallel into one gzip member next to the input (zero regions cost nothing), and
/// prints the sha256, the size and the `maas … boot-resources create` line to upload it.
#[derive(Debug, Parser)]
#[command(name = "ddgz", version, propagate_version = true, after_long_help = exit::HELP)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    Convert(cmd::convert::Args),
    Inspect(cmd::inspect::InspectArgs),
    Validate(cmd::inspect::ValidateArgs),
    Ls(cmd::files::LsArgs),
    Cat(cmd::files::CatArgs),
    KsMedia(cmd::fat::KsMediaArgs),
    Verify(cmd::verify::Args),
    Upload(cmd::upload::Args),
    Tar(cmd::tar::Args),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Convert(a) => cmd::convert::run(a),
        Cmd::Inspect(a) => cmd::inspect::run_inspect(a),
        Cmd::Validate(a) => cmd::inspect::run_validate(a),
        Cmd::Ls(a) => cmd::files::run_ls(a),
        Cmd::Cat(a) => cmd::files::run_cat(a),
        Cmd::KsMedia(a) => cmd::fat::run_ks_media(a),
        Cmd::Verify(a) => cmd::verify::run(a),
        Cmd::Upload(a) => cmd::upload::run(a),
        Cmd::Tar(a) => cmd::tar::run(a),
    }
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(()) => 0,
        Err(e) => exit::report(&e),
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks (unique argument names across flattened groups, …).
    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
