//! The `sigbox` command: parse arguments, set up logging, run, map the result
//! to an exit code.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.into_command().and_then(sigbox::run) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("sigbox: error: {error:#}");
            ExitCode::from(2)
        }
    }
}
