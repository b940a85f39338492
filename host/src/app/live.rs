//! `sigbox run`: live exec events from the kernel until SIGINT or SIGTERM.

use std::io;
use std::path::Path;
use std::pin::pin;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

use super::{finish, load_signatures, write_status};
use crate::config::DaemonOptions;
use crate::engine::Runtime;
use crate::pipeline::Pipeline;
use crate::privilege;
use crate::sink::FindingWriter;
use crate::source::bpf::{ExecCollector, check_privileges};

/// Where live events come from, for log lines.
const KERNEL: &str = "kernel";

/// How soon a signature change is applied when no event arrives.
const IDLE_APPLY: Duration = Duration::from_millis(100);

/// Checks privileges first (before anything else happens), attaches the
/// eBPF collector, drops every privilege, then loads the signatures and
/// evaluates every exec until SIGINT or SIGTERM, then prints the summary.
pub fn run_live(options: &DaemonOptions) -> anyhow::Result<ExitCode> {
    check_privileges().context("sigbox run loads eBPF programs")?;
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
    tokio.block_on(async move {
        let mut collector =
            ExecCollector::start().context("cannot start the eBPF exec collector")?;
        prepare_status_dir(options.status_file.as_deref(), account)?;
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

        let runtime = Runtime::new(options.policy.defaults.clone())
            .context("cannot start the wasm engine")?;
        let mut pipeline = Pipeline::new(FindingWriter::new(io::stdout(), options.output, true));
        let load_failures = load_signatures(
            &runtime,
            options.policy.clone(),
            &options.signatures,
            options.reload,
            &mut pipeline,
        )?;
        write_status(&pipeline, options.status_file.as_deref())?;
        let mut shutdown = pin!(shutdown_signal());
        tracing::info!(
            prev_comm_source = ?collector.prev_comm_source(),
            "watching exec events; stop with SIGINT or SIGTERM"
        );
        let mut batch = Vec::with_capacity(4096);
        let mut idle = tokio::time::interval(IDLE_APPLY);
        'events: loop {
            tokio::select! {
                biased;
                name = &mut shutdown => {
                    tracing::info!("received {name}, stopping");
                    break;
                }
                _ = idle.tick() => pipeline.apply_pending(),
                read = collector.read_batch(&mut batch) => {
                    read.context("cannot read the exec ring buffer")?;
                    for event in batch.drain(..) {
                        pipeline.counts_mut().records += 1;
                        if let Err(error) = pipeline.process(&event, None, &KERNEL) {
                            if error.kind() != io::ErrorKind::BrokenPipe {
                                tracing::error!("cannot write findings: {error}");
                            }
                            break 'events;
                        }
                    }
                }
            }
        }
        let counts = pipeline.counts_mut();
        counts.kernel_drops = Some(collector.kernel_drops());
        counts.bad_records += collector.bad_records();
        // Detaches the programs before the summary is printed.
        drop(collector);
        finish(pipeline, load_failures)
    })
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
