//! The command line of `cargo xtask bench`.

use std::path::PathBuf;

/// `ddgz convert` against pigz, gzip and qemu-img + pigz on the fixtures.
#[derive(Debug, clap::Parser)]
#[command(name = "xtask bench")]
pub struct Args {
    /// One run of generic-2g only (unless fixtures are named), no tar row.
    #[arg(long)]
    pub quick: bool,
    /// Runs per job (the median is reported) [default: 3, 1 with --quick].
    #[arg(long, value_name = "N")]
    pub runs: Option<usize>,
    /// Runs of the peers (pigz, gzip, qemu-img + pigz) on disks over 4 GiB [default: --runs].
    #[arg(long, value_name = "N")]
    pub big_peer_runs: Option<usize>,
    /// Skip `gzip -6` on disks larger than this many GiB.
    #[arg(long, value_name = "N")]
    pub gzip_max_gib: Option<u64>,
    /// Threads for ddgz and pigz [default: one per core].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Before each run, wait up to this many seconds for the 1-minute load average to
    /// fall below 0.5 (the bench's own previous run raises it); 0: never wait.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub settle: u64,
    /// Where the fixtures are built [default: target/fixtures].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write the results as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write a bar chart of the median wall times.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Fixtures to run [default: generic-2g, esxi67-10g, esxi8-min-32g, esxi8-min-1t].
    pub fixtures: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn parses() {
        Args::command().debug_assert();
        let a = Args::try_parse_from([
            "b", "--quick", "--runs", "2", "--json", "x.json", "tiny-64m",
        ])
        .unwrap();
        assert!(a.quick && a.runs == Some(2) && a.fixtures == ["tiny-64m"]);
        assert!(Args::try_parse_from(["b", "--runs", "x"]).is_err());
    }
}
