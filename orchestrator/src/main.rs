//! The `cairn` binary: parses the command line and hands it to [`orchestrator::cli::run`].

use clap::Parser;

fn main() {
    let cli = orchestrator::cli::Cli::parse();
    std::process::exit(orchestrator::cli::run(cli));
}
