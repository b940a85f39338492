//! `sigbox run`: live exec events from the kernel until SIGINT or SIGTERM.

use std::io;
use std::path::Path;
use std::pin::{Pin, pin};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

use super::{check_loaded, finish, open_gate, start_loading, write_status};
use crate::config::DaemonOptions;
use crate::engine::{Change, Runtime};
use crate::event::Kind;
use crate::pipeline::{Backpressure, Pipeline, PipelineOptions, Place};
use crate::privilege;
use crate::sink::FindingWriter;
use crate::source::ContainerLookup;
use crate::source::bpf::{CollectorOptions, ExecCollector, check_privileges};
use crate::telemetry::metrics::Metrics;

/// How often an idle daemon ends cool-downs and checks for kernel drops
/// (signature changes wake it at once).
const IDLE_APPLY: Duration = Duration::from_secs(1);

/// Checks privileges first (before anything else happens), attaches the
/// eBPF collector, drops every privilege, then loads the signatures and
/// evaluates every exec until SIGINT or SIGTERM, then prints the summary.
pub fn run_live(options: &DaemonOptions) -> anyhow::Result<ExitCode> {
    check_privileges().context("sigbox run loads eBPF programs")?;
    crate::descriptors::raise_open_file_limit();
    let account = options
        .user
        .as_deref()
        .map(privilege::lookup_user)
        .transpose()?;
    // One thread: the collector's reads and the wasm calls never overlap, so
    // a signature sees events in ring-buffer order. It also keeps the process
    // single-threaded until privileges are dropped (capabilities are per thread).
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // The collector registers its ring buffer with this runtime's reactor.
    let mut collector = tokio
        .block_on(async {
            ExecCollector::start_with(&CollectorOptions {
                collect_env: options.exec_env,
                process_tree_max: options.process_tree_max,
                ..CollectorOptions::default()
            })
        })
        .context("cannot start the eBPF exec collector")?;
    prepare_status_dir(options.status_file.as_deref(), account)?;
    let gate = open_gate(&options.trust)?;
    privilege::drop_privileges(account).context("cannot drop privileges")?;
    tracing::info!(
        uid = current_uid(),
        "eBPF attached; dropped every capability{}",
        options
            .user
            .as_deref()
            .map(|u| format!(" and switched to user {u}"))
            .unwrap_or_default()
    );

    // Its thread starts only now, without privileges.
    let mut containers = ContainerLookup::start(&options.containers);
    let runtime = Runtime::for_daemon(options.policy.defaults.clone())
        .context("cannot start the wasm engine")?;
    // The kernel does not wait for a slow signature, so neither does the
    // collector: a full worker queue drops (and reports) events.
    // Outputs and their threads start only now, without privileges.
    let reopen = Arc::new(AtomicBool::new(false));
    let (outputs, output_counters) = options.outputs.open(io::stdout(), reopen.clone())?;
    let mut pipeline = Pipeline::with_options(
        FindingWriter::new(outputs, options.output, true),
        PipelineOptions {
            workers: options.workers,
            queue_events: options.queue_events,
            backpressure: Backpressure::Drop,
        },
    );
    pipeline
        .board()
        .set_served_events(&collector.served_events());
    if !options.exec_env {
        pipeline
            .board()
            .set_withheld_fields(&[("env", "`sigbox run --exec-env`")]);
    }
    // Modules load on the reload thread; detection starts once the first
    // are in, and no slow one holds the rest (see `wait_for_first_modules`).
    let first_modules_in = start_loading(
        &runtime,
        options.policy.clone(),
        gate,
        &options.signatures,
        options.reload,
        &mut pipeline,
    )?;
    let mut shutdown = pin!(shutdown_signal());
    let (load_failures, stopped) =
        wait_for_first_modules(&tokio, &mut pipeline, first_modules_in, shutdown.as_mut());
    select_kernel_events(&mut collector, &pipeline);
    check_loaded(
        &options.policy,
        &options.signatures,
        options.reload,
        &pipeline,
    );
    write_status(&pipeline, options.status_file.as_deref())?;
    let telemetry = pipeline.telemetry().clone();
    for counters in output_counters {
        telemetry.add_output(counters);
    }
    if let Some(containers) = &containers {
        telemetry.set_containers(containers.counters());
    }
    match collector.drops_reader() {
        Ok(read) => telemetry.set_kernel_drops(Box::new(read)),
        Err(error) => tracing::warn!("sigbox_kernel_drops will be missing from /metrics: {error}"),
    }
    match collector.kernel_state_reader() {
        Ok(read) => telemetry.set_kernel_files(Box::new(read)),
        Err(error) => tracing::warn!("kernel event metrics will be missing: {error}"),
    }
    telemetry.set_process_tree(Box::new(collector.process_tree_reader()));
    telemetry.heartbeat();
    if let Some(address) = options.listen {
        let metrics = Metrics::new(telemetry.clone(), pipeline.board().clone());
        match crate::telemetry::server::spawn(address, metrics) {
            Ok(bound) => tracing::info!("serving /metrics and /healthz on http://{bound}"),
            // Detection goes on without them; the operator is told why.
            Err(error) => tracing::error!("{error:#}; running without /metrics and /healthz"),
        }
    }
    let mut reopen_signal = tokio
        .block_on(async { signal(SignalKind::user_defined1()) })
        .context("cannot install the SIGUSR1 handler")?;
    tracing::info!(
        prev_comm_source = ?collector.prev_comm_source(),
        "watching exec events; stop with SIGINT or SIGTERM"
    );
    // This thread runs the live loop: woken by the kernel for each exec,
    // it should not wait for a core behind other processes' longer slices.
    // Asked for last, so the threads it started (loaders, listener) keep
    // the default slice: a thread inherits its creator's.
    let short_slice = crate::sched_slice::shorten_for_this_thread();
    tracing::debug!(short_slice, "scheduler slice of the live loop");
    let mut batch = Vec::with_capacity(4096);
    let mut idle = tokio.block_on(async { tokio::time::interval(IDLE_APPLY) });
    let mut reported_drops = [0; 3];
    if let Some(name) = stopped {
        tracing::info!("received {name} while loading signatures, stopping");
    }
    while stopped.is_none() {
        // Only the waiting happens inside the async runtime. Signatures are
        // called outside it: wasmtime-wasi's synchronous host calls start
        // their own runtime, which panics inside another one.
        let wake = tokio.block_on(async {
            tokio::select! {
                biased;
                name = &mut shutdown => Wake::Stop(name),
                _ = reopen_signal.recv() => Wake::Reopen,
                _ = idle.tick() => Wake::Idle,
                change = pipeline.next_change() => Wake::Change(change),
                read = collector.read_batch(&mut batch) => Wake::Events(read),
            }
        });
        telemetry.heartbeat();
        match wake {
            Wake::Stop(name) => {
                tracing::info!("received {name}, stopping");
                pipeline.stop_soon();
                // What the kernel handed over before the stop is queued too:
                // evaluated within the grace, else counted as not evaluated.
                let pending = collector.read_pending(&mut batch);
                if pending > 0 {
                    tracing::info!("queueing the {pending} exec events read before stopping");
                    process_batch(&mut pipeline, &mut batch, containers.as_mut());
                }
                break;
            }
            Wake::Reopen => {
                tracing::info!("SIGUSR1: the findings file is reopened before the next record");
                reopen.store(true, Ordering::Relaxed);
            }
            Wake::Idle => {
                pipeline.tick();
                select_kernel_events(&mut collector, &pipeline);
            }
            Wake::Change(Some(change)) => {
                pipeline.apply(change);
                select_kernel_events(&mut collector, &pipeline);
            }
            // The reload thread ended (it logged why); nothing more will come.
            Wake::Change(None) => pipeline.stop_watching(),
            Wake::Events(read) => {
                read.context("cannot read the exec ring buffer")?;
                if !process_batch(&mut pipeline, &mut batch, containers.as_mut()) {
                    break;
                }
                pipeline.publish_counts();
            }
        }
        // Events the kernel could not hand over are lost detections: say so
        // where findings go, not only in the summary.
        for ((event, drops), reported) in
            collector.ring_losses().into_iter().zip(&mut reported_drops)
        {
            if drops > *reported {
                pipeline.report_kernel_drops(event, drops - *reported, drops);
                *reported = drops;
            }
        }
    }
    telemetry.source_ended();
    let counts = pipeline.counts_mut();
    counts.kernel_drops = Some(collector.ring_losses().iter().map(|(_, n)| n).sum());
    counts.bad_records += collector.bad_records();
    // Detaches the programs before the summary is printed.
    drop(collector);
    finish(pipeline, load_failures, false)
}

/// Switches the kernel's optional events on or off, and sets their filters, for
/// the signatures running now (after each change: a hot swap that needs an
/// event kind turns it on).
fn select_kernel_events<W: io::Write + Send + 'static>(
    collector: &mut ExecCollector,
    pipeline: &Pipeline<W>,
) {
    let active = pipeline.board().active();
    collector.select_for(active.iter().flat_map(|s| &s.info.selected_events));
}

/// Applies the signatures the reload thread loads until every module of
/// the directory is in or has failed, or until none finished for a while
/// (the slow ones are added as they finish). Events meanwhile wait in the
/// kernel's ring buffer. Returns how many files were rejected, and the
/// shutdown signal's name if one came first.
fn wait_for_first_modules<W: io::Write + Send + 'static>(
    tokio: &tokio::runtime::Runtime,
    pipeline: &mut Pipeline<W>,
    mut first_modules_in: tokio::sync::oneshot::Receiver<()>,
    mut shutdown: Pin<&mut impl Future<Output = &'static str>>,
) -> (usize, Option<&'static str>) {
    let started = std::time::Instant::now();
    let mut rejected = 0;
    loop {
        let wake = tokio.block_on(async {
            tokio::select! {
                biased;
                name = &mut shutdown => Err(Some(name)),
                // Changes sent before the go-ahead are applied first.
                change = pipeline.next_change() => Ok(change),
                _ = &mut first_modules_in => Err(None),
            }
        });
        match wake {
            Ok(Some(change)) => {
                rejected += usize::from(matches!(change, Change::Rejected { .. }));
                pipeline.apply(change);
            }
            Ok(None) => {
                pipeline.stop_watching();
                return (rejected, None);
            }
            Err(stopped) => {
                tracing::info!(
                    "{} signatures active after {} ms of loading",
                    pipeline.signature_count(),
                    started.elapsed().as_millis()
                );
                return (rejected, stopped);
            }
        }
    }
}

/// What woke the live loop.
enum Wake {
    /// A shutdown signal, by name.
    Stop(&'static str),
    /// SIGUSR1: reopen the findings file (logrotate).
    Reopen,
    /// Nothing happened for [`IDLE_APPLY`]: apply pending changes, end cool-downs.
    Idle,
    /// A prepared signature change arrived (`None`: the reload thread ended).
    Change(Option<Change>),
    /// A batch of events was read (or reading failed).
    Events(Result<usize, crate::source::bpf::BpfError>),
}

/// Evaluates a batch of events, with their containers' names and images
/// when known; false when findings can no longer be written.
fn process_batch<W: io::Write + Send + 'static>(
    pipeline: &mut Pipeline<W>,
    batch: &mut Vec<crate::event::Event>,
    containers: Option<&mut ContainerLookup>,
) -> bool {
    if let Some(containers) = containers {
        containers.enrich(batch);
    }
    // Execs first (a stable sort: each ring's order stays): someone waits
    // for their findings, and the rings' events have no order between
    // them anyway (each ring is read in turn).
    batch.sort_by_key(|event| event.kind() != Some(Kind::SchedProcessExec));
    // A lone exec skips the hand-off to its worker (when that is idle); a
    // burst goes to the workers, batched.
    let lone_exec = batch
        .get(1)
        .is_none_or(|e| e.kind() != Some(Kind::SchedProcessExec));
    pipeline.evaluate_idle_execs_here(lone_exec);
    for live in batch.drain(..) {
        pipeline.counts_mut().records += 1;
        if let Err(error) = pipeline.process(live, None, Place::Kernel) {
            if error.kind() != io::ErrorKind::BrokenPipe {
                tracing::error!("cannot write findings: {error}");
            }
            return false;
        }
    }
    true
}

/// Creates the status file's directory while still privileged and, when
/// switching users, gives it to the new user so the file can still be written.
fn prepare_status_dir(
    status_file: Option<&Path>,
    account: Option<privilege::Account>,
) -> anyhow::Result<()> {
    let Some(dir) = status_file
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
    else {
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if let Some(account) = account {
        privilege::hand_over(dir, account)?;
    }
    Ok(())
}

/// The real user id, for the log line.
fn current_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(u32::MAX)
}

/// Resolves with the signal's name on the first SIGINT or SIGTERM.
async fn shutdown_signal() -> &'static str {
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot install signal handlers; stop sigbox with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
