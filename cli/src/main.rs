//! `fieldbook`: the desktop front end. `fieldbook demo` runs the main scenario on the embedded
//! store (no server needed); `--json` prints machine-readable output for scripts.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod demo;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "fieldbook",
    version,
    about = "Offline-first case recording for children's social care"
)]
struct Cli {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Two tablets record visits offline, edit the same record, exchange changes, and converge.
    Demo {
        /// Keep the demo's encrypted stores in this directory (default: a temporary one).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { dir } => demo::run(dir, cli.json),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldbook: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
