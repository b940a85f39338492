//! The `sigbox` command: parse arguments, set up logging, run, map the result
//! to an exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // The bounded compile worker the daemon starts (not a user command).
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(sigbox::engine::WORKER_COMMAND) {
        return sigbox::engine::run_worker(&args[2..]);
    }
    // A closed stdout (`sigbox inspect DIR | head`) ends a command quietly,
    // as it ends any Unix filter, instead of panicking in `println!`.
    restore_default_sigpipe(true);
    let cli = cli::Cli::parse();
    // Except where sigbox also writes to pipes and sockets it must outlive
    // (a consumer closing stdout, a webhook or credential helper going away):
    // those commands see EPIPE as an error and handle it.
    if cli.handles_broken_pipes() {
        restore_default_sigpipe(false);
    }
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
        // The reader of stdout went away: nobody is left to tell.
        Err(error) if error.is::<sigbox::StdoutClosed>() => ExitCode::SUCCESS,
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

/// Sets SIGPIPE to its default action (the process ends, status 141 in a
/// shell) or back to ignored, as the Rust runtime leaves it.
fn restore_default_sigpipe(default: bool) {
    let action = if default {
        libc::SIG_DFL
    } else {
        libc::SIG_IGN
    };
    // SAFETY: changes only this process's disposition of one signal, before
    // any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, action);
    }
}
