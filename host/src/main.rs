//! The `sigbox` command: parse arguments, set up logging, run, map the result
//! to an exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // The bounded compile worker the daemon starts (not a user command).
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(sigbox::engine::compiler::WORKER_COMMAND) {
        return sigbox::engine::compiler::run_worker(&args[2..]);
    }
    let cli = cli::Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // One record per line, control characters escaped (no ANSI colours:
        // they would be escaped too).
        .with_writer(sigbox::logging::OneLineStderr)
        .with_ansi(false);
    match cli.log_format {
        cli::LogFormat::Text => logs.init(),
        cli::LogFormat::Json => logs.json().init(),
    }
    match cli.into_command().and_then(sigbox::run) {
        Ok(code) => code,
        Err(error) => {
            // Line by line: a multi-line message (a TOML error's line and
            // caret) stays readable; other control characters are escaped.
            let message = format!("{error:#}");
            let lines: Vec<_> = message.lines().map(sigbox::printable).collect();
            eprintln!("sigbox: error: {}", lines.join("\n"));
            ExitCode::from(2)
        }
    }
}
