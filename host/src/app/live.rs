//! `sigbox run`: live exec events from the kernel until SIGINT or SIGTERM.

use std::io;
use std::pin::pin;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

use super::{finish, load_signatures, write_status};
use crate::config::DaemonOptions;
use crate::engine::Runtime;
use crate::pipeline::Pipeline;
use crate::sink::FindingWriter;
use crate::source::bpf::{ExecCollector, check_privileges};

/// Where live events come from, for log lines.
const KERNEL: &str = "kernel";

/// How soon a signature change is applied when no event arrives.
const IDLE_APPLY: Duration = Duration::from_millis(100);

/// Checks privileges first (before anything else happens), loads the
/// signatures, attaches the eBPF collector and evaluates every exec until
/// SIGINT or SIGTERM, then prints the summary.
pub fn run_live(options: &DaemonOptions) -> anyhow::Result<ExitCode> {
    check_privileges().context("sigbox run loads eBPF programs")?;
    let runtime = Runtime::new(options.limits.clone()).context("cannot start the wasm engine")?;
    let mut pipeline = Pipeline::new(FindingWriter::new(io::stdout(), options.output, true));
    let load_failures =
        load_signatures(&runtime, &options.signatures, options.reload, &mut pipeline)?;
    write_status(&pipeline, options.status_file.as_deref())?;
    // One thread: the collector's reads and the wasm calls never overlap, so
    // a signature sees events in ring-buffer order.
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    tokio.block_on(async move {
        let mut collector =
            ExecCollector::start().context("cannot start the eBPF exec collector")?;
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
