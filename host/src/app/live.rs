//! `sigbox run`: live exec events from the kernel until SIGINT or SIGTERM.

use std::io;
use std::path::Path;
use std::pin::pin;
use std::process::ExitCode;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

use super::{finish, load_signatures};
use crate::engine::{Limits, Runtime};
use crate::pipeline::Pipeline;
use crate::sink::{FindingWriter, OutputFormat};
use crate::source::bpf::{ExecCollector, check_privileges};

/// Where live events come from, for log lines.
const KERNEL: &str = "kernel";

/// Checks privileges first (before anything else happens), loads the
/// signatures, attaches the eBPF collector and evaluates every exec until
/// SIGINT or SIGTERM, then prints the summary.
pub fn run_live(dir: &Path, output: OutputFormat, limits: Limits) -> anyhow::Result<ExitCode> {
    check_privileges().context("sigbox run loads eBPF programs")?;
    let runtime = Runtime::new(limits).context("cannot start the wasm engine")?;
    let (set, load_failures) = load_signatures(&runtime, dir)?;
    // One thread: the collector's reads and the wasm calls never overlap, so
    // a signature sees events in ring-buffer order.
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    tokio.block_on(async move {
        let mut collector =
            ExecCollector::start().context("cannot start the eBPF exec collector")?;
        let mut pipeline = Pipeline::new(set, FindingWriter::new(io::stdout(), output, true));
        let mut shutdown = pin!(shutdown_signal());
        tracing::info!(
            prev_comm_source = ?collector.prev_comm_source(),
            "watching exec events; stop with SIGINT or SIGTERM"
        );
        let mut batch = Vec::with_capacity(4096);
        'events: loop {
            tokio::select! {
                biased;
                name = &mut shutdown => {
                    tracing::info!("received {name}, stopping");
                    break;
                }
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
