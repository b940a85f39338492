//! The commands: wire a source, the engine and a sink together and run them.

use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use crate::config::{Command, Input};
use crate::engine::{Limits, LoadedSignature, Runtime, SignatureSet};
use crate::pipeline::{Pipeline, error_chain};
use crate::sink::{FindingWriter, OutputFormat, tracee_json::value_json};
use crate::source::replay::replay;
use crate::wit::{OriginFilter, Signal};

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
        } => run_replay(&signatures, &input, output, limits),
        Command::Run { .. } => anyhow::bail!("the live kernel source is not built yet"),
        Command::Inspect { module } => inspect(&module),
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

fn run_replay(
    dir: &Path,
    input: &Input,
    output: OutputFormat,
    limits: Limits,
) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(limits).context("cannot start the wasm engine")?;
    let (set, load_failures) = load_signatures(&runtime, dir)?;
    let stdout = io::stdout().lock();
    let mut pipeline = Pipeline::new(
        set,
        FindingWriter::new(BufWriter::new(stdout), output, false),
    );

    let result = match input {
        Input::Stdin => replay(io::stdin().lock(), &mut pipeline),
        Input::File(path) => {
            let file = File::open(path)
                .with_context(|| format!("cannot open the event file {}", path.display()))?;
            replay(BufReader::with_capacity(1 << 20, file), &mut pipeline)
        }
    };
    if let Err(error) = result {
        if error.kind() == io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(error).context("replay stopped");
    }
    pipeline
        .signatures_mut()
        .signal(Signal::SourceComplete, |failure| {
            tracing::warn!(
                signature = %failure.signature.metadata.id,
                "source-complete signal: {}",
                error_chain(&failure.error)
            );
        });
    match pipeline.finish(load_failures) {
        Ok(summary) => {
            eprintln!("sigbox: {summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(error) => Err(error).context("cannot write findings"),
    }
}

/// Prints a module's metadata as JSON, or why it is not a valid signature.
fn inspect(module: &Path) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(Limits::default()).context("cannot start the wasm engine")?;
    let signature = match LoadedSignature::load(&runtime, module, &[]) {
        Ok(signature) => signature,
        Err(error) => {
            eprintln!("sigbox: not a valid signature: {}", error_chain(&error));
            return Ok(ExitCode::FAILURE);
        }
    };
    let info = signature.info();
    let m = &info.metadata;
    let p = &m.properties;
    let extra: serde_json::Map<String, serde_json::Value> = p
        .extra
        .iter()
        .map(|f| (f.name.clone(), value_json(&f.value)))
        .collect();
    let selected: Vec<_> = info
        .selected_events
        .iter()
        .map(|s| json!({"name": s.name, "origin": origin_name(s.origin)}))
        .collect();
    let report = json!({
        "file": info.path,
        "sha256": info.sha256,
        "id": m.id,
        "version": m.version,
        "name": m.name,
        "eventName": m.event_name,
        "description": m.description,
        "tags": m.tags,
        "properties": {
            "Severity": p.severity,
            "Category": p.category,
            "Technique": p.technique,
            "Kubernetes_Technique": p.kubernetes_technique,
            "id": p.mitre_id,
            "external_id": p.external_id,
            "extra": extra,
        },
        "selectedEvents": selected,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// Tracee's spelling of an origin filter.
fn origin_name(origin: OriginFilter) -> &'static str {
    match origin {
        OriginFilter::Any => "*",
        OriginFilter::Host => "host",
        OriginFilter::Container => "container",
        OriginFilter::ContainerInit => "container-init",
    }
}
