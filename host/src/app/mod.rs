//! The commands: wire a source, the engine and a sink together and run them.

mod inspect;
mod live;
mod replay;

use std::io;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Command;
use crate::engine::{Runtime, SignatureSet};
use crate::error_chain;
use crate::pipeline::Pipeline;
use crate::wit::Signal;

/// Runs one command to completion.
///
/// # Errors
/// Set-up failed (unreadable signatures directory or input, engine creation,
/// missing privileges); the message says what and where.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Replay {
            signatures,
            input,
            output,
            limits,
        } => replay::run_replay(&signatures, &input, output, limits),
        Command::Run {
            signatures,
            output,
            limits,
        } => live::run_live(&signatures, output, limits),
        Command::Inspect { module } => inspect::inspect(&module),
    }
}

/// Loads the signatures in `dir`, logging each load and each rejected file.
fn load_signatures(runtime: &Runtime, dir: &Path) -> anyhow::Result<(SignatureSet, usize)> {
    let (set, errors) = SignatureSet::load_dir(runtime, dir, &[])
        .with_context(|| format!("cannot list the signatures directory {}", dir.display()))?;
    for error in &errors {
        tracing::error!("rejected signature: {}", error_chain(error));
    }
    for status in set.status() {
        let info = &status.info;
        tracing::info!(
            id = %info.metadata.id,
            version = %info.metadata.version,
            sha256 = %info.sha256,
            file = %info.path.display(),
            "loaded signature"
        );
    }
    if set.is_empty() {
        tracing::warn!("no signatures loaded from {}", dir.display());
    }
    Ok((set, errors.len()))
}

/// Tells every signature the source has ended, logging those that fail.
fn signal_source_complete(set: &mut SignatureSet) {
    set.signal(Signal::SourceComplete, |failure| {
        tracing::warn!(
            signature = %failure.signature.metadata.id,
            "source-complete signal: {}",
            error_chain(&failure.error)
        );
    });
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
