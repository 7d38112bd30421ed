//! The `cairn` binary: parses the command line and hands it to [`orchestrator::cli::run`].

use clap::Parser;

/// Journeys allocate many small strings and maps per step; with mimalloc `cairn simulate` of
/// 100 000 contacts took 0.94 s against 1.37 s with glibc's allocator (scripts/bench-simulate.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = orchestrator::cli::Cli::parse();
    std::process::exit(orchestrator::cli::run(cli));
}
