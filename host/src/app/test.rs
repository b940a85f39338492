//! `sigbox test MODULE.wasm VECTORS...`: runs a signature on its test
//! vectors through the real host and sandbox (see [`crate::vectors`]).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::engine::{Limits, LoadedSignature, Runtime};
use crate::vectors::{self, Mismatch};

/// Loads `module`, runs every case of every vector file, prints one line per
/// case (a diff for each failure) and a summary. Exit status 0 when every
/// case passed, 1 when some failed.
///
/// # Errors
/// The module does not load, or a vector file is unreadable or malformed
/// (the message names the file and line).
pub fn test(module: &Path, vector_files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut cases = Vec::new();
    for file in vector_files {
        cases.extend(vectors::read_file(file)?);
    }
    // The daemon's runtime and default limits: a case passes here only if it
    // would pass in `sigbox run`.
    let runtime = Runtime::for_daemon(Limits::default()).context("cannot start the wasm engine")?;
    let mut signature = LoadedSignature::load(&runtime, module, &[])
        .map_err(|e| anyhow::anyhow!(crate::error_chain(&e)))
        .with_context(|| format!("cannot load {}", module.display()))?;
    // A pack is named by its detectors' ids.
    let id = match signature.members() {
        [] => signature.metadata().id.clone(),
        members => members
            .iter()
            .map(|m| m.info.metadata.id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut out = io::stdout().lock();
    let mut failed = 0;
    for case in &cases {
        let outcome = vectors::evaluate(&mut signature, case);
        if vectors::matches(&case.expect, &outcome) {
            writeln!(out, "ok   {}", case.name)?;
        } else {
            failed += 1;
            let mismatch = Mismatch {
                case,
                outcome: &outcome,
            };
            writeln!(out, "{mismatch}")?;
        }
    }
    writeln!(
        out,
        "{id} ({}): {} passed, {failed} failed",
        module.display(),
        cases.len() - failed
    )?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
