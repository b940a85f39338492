//! The commands: wire a source, the engine and a sink together and run them.

mod inspect;
mod live;
mod registry;
mod replay;
mod test;
mod trust;

use std::io;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use tokio::sync::mpsc::unbounded_channel;

use crate::config::{Command, Reload};
use crate::engine::{Catalog, Policy, Runtime, Startup, log_rejections, spawn_watcher};
use crate::pipeline::Pipeline;
use crate::trust::{Gate, TrustMode};

/// Runs one command to completion.
///
/// # Errors
/// Set-up failed (unreadable signatures directory or input, engine creation,
/// missing privileges); the message says what and where.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Replay(options) => replay::run_replay(&options),
        Command::Run(options) => live::run_live(&options),
        Command::Inspect { modules } => inspect::inspect(&modules),
        Command::Bench {
            module,
            events,
            recorded,
        } => {
            println!(
                "{}",
                crate::bench::bench_module(&module, events, recorded.as_deref())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::New {
            name,
            language,
            dir,
        } => {
            let project = crate::scaffold::new_project(&name, language, &dir)?;
            println!(
                "created {}: `make -C {0}` builds {name}.wasm, `make -C {0} test` runs its vectors",
                project.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { stem } => trust::keygen(&stem),
        Command::Sign {
            key,
            module,
            out,
            detached,
        } => trust::sign(&key, &module, out.as_deref(), detached),
        Command::Verify { trust, module } => trust::verify(&trust, &module),
        Command::Fingerprint { keys } => trust::fingerprint(&keys),
        Command::Test { module, vectors } => test::test(&module, &vectors),
        Command::Push {
            module,
            reference,
            connection,
        } => registry::push(&module, &reference, &connection),
        Command::Pull(options) => registry::pull(&options),
        Command::Status { status_file } => Ok(if crate::status::print_status(&status_file)? {
            ExitCode::SUCCESS
        } else {
            // Scripts checking on the daemon see that it is not running.
            ExitCode::from(3)
        }),
    }
}

/// Loads every signature in `dir` into `pipeline`, waiting for each (a
/// replay is a batch job: every event meets every module; each load is
/// bounded by the compile and load limits, and the wait is logged), and,
/// unless `reload` is off, keeps the running set in step with the
/// directory from then on. Returns how many files were rejected at start.
///
/// # Errors
/// The directory cannot be listed.
fn load_signatures<W: io::Write + Send + 'static>(
    runtime: &Runtime,
    policy: Arc<Policy>,
    gate: Gate,
    dir: &Path,
    reload: Reload,
    pipeline: &mut Pipeline<W>,
) -> anyhow::Result<usize> {
    let catalog_policy = policy.clone();
    let mut catalog = Catalog::new(dir, policy, gate);
    let started = std::time::Instant::now();
    let scan = catalog
        .scan(runtime)
        .with_context(|| format!("cannot list the signatures directory {}", dir.display()))?;
    log_rejections(&scan.rejected);
    for change in scan.changes {
        pipeline.apply(change);
    }
    tracing::info!(
        "loading the signatures directory took {} ms",
        started.elapsed().as_millis()
    );
    // A module that is there but does not run is reported where findings
    // go, as later rejections are.
    for error in &scan.rejected {
        pipeline.report_rejected_module(error.path(), &crate::error_chain(error));
    }
    check_loaded(&catalog_policy, dir, reload, pipeline);
    if reload != Reload::Off {
        watch_signatures(catalog, runtime, reload, pipeline, Startup::Loaded)?;
    }
    Ok(scan.rejected.len())
}

/// Starts loading every signature in `dir` on the reload thread without
/// waiting for any, then keeps the running set in step with the directory
/// (`sigbox run`): changes reach `pipeline` as they are ready. The receiver
/// is told when startup need not wait longer (see [`Startup::LoadFirst`]).
///
/// # Errors
/// The directory cannot be listed, or the reload thread cannot be started.
fn start_loading<W: io::Write + Send + 'static>(
    runtime: &Runtime,
    policy: Arc<Policy>,
    gate: Gate,
    dir: &Path,
    reload: Reload,
    pipeline: &mut Pipeline<W>,
) -> anyhow::Result<tokio::sync::oneshot::Receiver<()>> {
    // A directory that cannot be listed at start is an error, as in replay.
    crate::engine::wasm_files(dir)
        .with_context(|| format!("cannot list the signatures directory {}", dir.display()))?;
    let catalog = Catalog::new(dir, policy, gate);
    let (ready, first_modules_in) = tokio::sync::oneshot::channel();
    watch_signatures(
        catalog,
        runtime,
        reload,
        pipeline,
        Startup::LoadFirst(ready),
    )?;
    Ok(first_modules_in)
}

/// Hands `catalog` to the reload thread, whose changes `pipeline` applies.
fn watch_signatures<W: io::Write + Send + 'static>(
    catalog: Catalog,
    runtime: &Runtime,
    reload: Reload,
    pipeline: &mut Pipeline<W>,
    startup: Startup,
) -> anyhow::Result<()> {
    let dir = catalog.dir().to_owned();
    let file_watch = reload == Reload::Watch;
    let (changes, receiver) = unbounded_channel();
    spawn_watcher(
        catalog,
        runtime.clone(),
        changes,
        file_watch,
        Arc::clone(pipeline.telemetry().scan_health()),
        startup,
    )?;
    pipeline.watch(receiver);
    if file_watch {
        tracing::info!(
            "watching {} for signature changes (SIGHUP rescans)",
            dir.display()
        );
    } else {
        tracing::info!("SIGHUP rescans {} for signature changes", dir.display());
    }
    Ok(())
}

/// Once the first signatures are in: says when none is, and warns about
/// configuration for ids none has.
fn check_loaded<W: io::Write + Send + 'static>(
    policy: &Policy,
    dir: &Path,
    reload: Reload,
    pipeline: &Pipeline<W>,
) {
    if pipeline.signature_count() == 0 {
        tracing::error!(
            "no signatures loaded from {}: nothing is being detected. Put signature modules \
             there (`*.wasm` components built for wasm32-wasip2, e.g. what `make` writes to \
             target/signatures/){}",
            dir.display(),
            if reload == Reload::Off {
                ""
            } else {
                "; the directory is watched, so they are loaded as they arrive"
            }
        );
    }
    warn_about_unknown_sections(policy, pipeline);
}

/// Loads the trust policy the options name (before privileges are
/// dropped, so it may be readable by root only), and says which it is.
///
/// # Errors
/// The policy or one of its keys cannot be read or is invalid.
fn open_gate(mode: &TrustMode) -> anyhow::Result<Gate> {
    let gate = Gate::open(mode)?;
    match gate.policy_file() {
        Some(file) => tracing::info!(
            "verifying every signature module against the trust policy {} (SIGHUP reloads it)",
            file.display()
        ),
        None => tracing::warn!(
            "--allow-unsigned: signature modules load without verifying who signed them; \
             anyone who can write to the signatures directory decides what is detected"
        ),
    }
    Ok(gate)
}

/// A `[signature."ID"]` section for an id no loaded signature has is most
/// likely a typo (its limits would silently not apply); hot swap may still
/// bring that id later, so it is a warning, not an error.
fn warn_about_unknown_sections<W: io::Write + Send + 'static>(
    policy: &Policy,
    pipeline: &Pipeline<W>,
) {
    let loaded: Vec<String> = pipeline
        .status()
        .iter()
        .map(|s| s.info.metadata.id.clone())
        .collect();
    let mut configured: Vec<&String> = policy.limits.keys().chain(policy.config.keys()).collect();
    configured.sort();
    configured.dedup();
    for id in configured.into_iter().filter(|id| !loaded.contains(id)) {
        tracing::warn!(
            "the config file has a [signature.\"{}\"] section, but no loaded signature has that id \
             (loaded: {}); its settings apply only if a signature with that id is loaded later",
            crate::printable(id),
            if loaded.is_empty() {
                "none".to_owned()
            } else {
                loaded.join(", ")
            }
        );
    }
}

/// Starts the status file writer when a path is configured.
fn write_status<W: io::Write + Send + 'static>(
    pipeline: &Pipeline<W>,
    path: Option<&Path>,
) -> anyhow::Result<()> {
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
///
/// With `strict` (replay), a signature file that failed to load, or no
/// signature at all, makes the exit status 1: CI for signature repositories
/// relies on it.
fn finish<W: io::Write + Send + 'static>(
    pipeline: Pipeline<W>,
    load_failures: usize,
    strict: bool,
) -> anyhow::Result<ExitCode> {
    pipeline.board().mark_stopped();
    let loaded = pipeline.signature_count();
    match pipeline.finish(load_failures) {
        Ok(summary) => {
            eprintln!("sigbox: {summary}");
            if strict && (load_failures > 0 || loaded == 0) {
                eprintln!(
                    "sigbox: exit status 1: {}",
                    if loaded == 0 {
                        "no signature was loaded".to_owned()
                    } else {
                        format!("{load_failures} signature files failed to load (see above)")
                    }
                );
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(error) => Err(error).context("cannot write findings"),
    }
}
