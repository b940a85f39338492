//! The commands: wire a source, the engine and a sink together and run them.

mod inspect;
mod live;
mod replay;

use std::io;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use tokio::sync::mpsc::unbounded_channel;

use crate::config::{Command, Reload};
use crate::engine::{Catalog, Policy, Runtime, log_rejections, spawn_watcher};
use crate::pipeline::Pipeline;

/// Runs one command to completion.
///
/// # Errors
/// Set-up failed (unreadable signatures directory or input, engine creation,
/// missing privileges); the message says what and where.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Replay(options) => replay::run_replay(&options),
        Command::Run(options) => live::run_live(&options),
        Command::Inspect { module } => inspect::inspect(&module),
        Command::Bench { module, events } => {
            println!("{}", crate::bench::bench_module(&module, events)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { status_file } => {
            crate::status::print_status(&status_file)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Loads every signature in `dir` into `pipeline` and, unless `reload` is
/// off, keeps the running set in step with the directory from then on. Returns how many files were rejected at start.
///
/// # Errors
/// The directory cannot be listed.
fn load_signatures<W: io::Write>(
    runtime: &Runtime,
    policy: Arc<Policy>,
    dir: &Path,
    reload: Reload,
    pipeline: &mut Pipeline<W>,
) -> anyhow::Result<usize> {
    let mut catalog = Catalog::new(dir, policy);
    let scan = catalog
        .scan(runtime)
        .with_context(|| format!("cannot list the signatures directory {}", dir.display()))?;
    log_rejections(&scan.rejected);
    for change in scan.changes {
        pipeline.apply(change);
    }
    if pipeline.signatures().is_empty() {
        tracing::warn!("no signatures loaded from {}", dir.display());
    }
    if reload != Reload::Off {
        let file_watch = reload == Reload::Watch;
        let (changes, receiver) = unbounded_channel();
        spawn_watcher(catalog, runtime.clone(), changes, file_watch)?;
        pipeline.watch(receiver);
        if file_watch {
            tracing::info!(
                "watching {} for signature changes (SIGHUP rescans)",
                dir.display()
            );
        } else {
            tracing::info!("SIGHUP rescans {} for signature changes", dir.display());
        }
    }
    Ok(scan.rejected.len())
}

/// Starts the status file writer when a path is configured.
fn write_status<W: io::Write>(pipeline: &Pipeline<W>, path: Option<&Path>) -> anyhow::Result<()> {
    if let Some(path) = path {
        pipeline.board().spawn_writer(path.to_owned())?;
        tracing::info!(
            "active signatures listed in {} (sigbox status)",
            path.display()
        );
    }
    Ok(())
}

/// Flushes findings and prints the summary to stderr. A closed stdout is a
/// normal way for a consumer to stop reading, not an error.
fn finish<W: io::Write>(pipeline: Pipeline<W>, load_failures: usize) -> anyhow::Result<ExitCode> {
    match pipeline.finish(load_failures) {
        Ok(summary) => {
            eprintln!("sigbox: {summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(error) => Err(error).context("cannot write findings"),
    }
}
