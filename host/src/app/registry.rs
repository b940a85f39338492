//! `sigbox push` and `sigbox pull [--follow]` (see [`crate::registry`]).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::PullOptions;
use crate::engine::{Limits, LoadedSignature, Runtime};
use crate::registry::{self, Connection, Follow};
use crate::trust::Gate;

/// `sigbox push FILE.wasm REF`: the module must load as a signature; its
/// id, version and name become annotations of the manifest.
///
/// # Errors
/// The module cannot be read or is not a signature, or the push failed.
pub fn push(module: &Path, reference: &str, connection: &Connection) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(module).with_context(|| format!("cannot read {}", module.display()))?;
    let detached = std::fs::read(crate::trust::detached_signature_path(module)).ok();
    let runtime = Runtime::new(Limits::default()).context("cannot start the wasm engine")?;
    let loaded = LoadedSignature::from_bytes(&runtime, module, &bytes, &[])
        .map_err(|e| anyhow::anyhow!("not pushed: {}", crate::error_chain(&e)))?;
    let info = loaded.info().clone();
    drop(loaded);
    if !is_signed(&bytes, detached.as_deref()) {
        tracing::warn!(
            "{} is not signed: daemons and `sigbox pull` with a trust policy will refuse it \
             (sign it first: sigbox sign --key KEY {0})",
            module.display()
        );
    }
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let digest = tokio.block_on(registry::push(
        connection, module, bytes, detached, &info, reference,
    ))?;
    // Two digests: the module file's (what `verify`, `status` and trust
    // policy pins show) and the OCI manifest's (what `pull REF@DIGEST` takes).
    crate::print_line(format_args!(
        "pushed {} v{} to {reference} (module sha256 {}, manifest {digest})",
        info.metadata.id, info.metadata.version, info.sha256
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `sigbox pull REF --into DIR [--follow --every D]`. Pulling once exits 1
/// when the registry fails or is too slow, when SIGINT or SIGTERM ends the
/// pull, or when the trust policy refuses the module (nothing is installed
/// then).
///
/// # Errors
/// Bad options.
pub fn pull(options: &PullOptions) -> anyhow::Result<ExitCode> {
    let admission = Gate::open(&options.trust)?.admission();
    let follow = Follow::new(
        &options.connection,
        &options.reference,
        &options.into,
        options.name.as_deref(),
        admission,
    )?;
    if let Some(every) = options.follow {
        anyhow::ensure!(
            !options.reference.contains('@'),
            "--follow needs a tag to follow; {} names a fixed digest",
            options.reference
        );
        follow.run(every)?;
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = follow.poll();
    follow.record_outcome(&outcome);
    match outcome {
        Ok(Some(installed)) => {
            crate::print_line(format_args!(
                "{} {} as {} (manifest {})",
                if installed.changed {
                    "installed"
                } else {
                    "already installed:"
                },
                installed.description,
                installed.file.display(),
                installed.digest
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        // A new follower knows no manifest yet; kept for completeness.
        Ok(None) => Ok(ExitCode::SUCCESS),
        Err(error) => {
            eprintln!("sigbox: {error:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Whether the module carries a signature, embedded or detached (whoever
/// made it: trust is decided where it is pulled or loaded).
fn is_signed(bytes: &[u8], detached: Option<&[u8]>) -> bool {
    wasmsign2::signature_info_from_reader(&mut std::io::Cursor::new(bytes), detached)
        .is_ok_and(|info| info.is_signed())
}
