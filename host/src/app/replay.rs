//! `sigbox replay`: Tracee JSON events from a file or stdin.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

use super::{finish, load_signatures, open_gate, write_status};
use crate::config::{Input, Reload, ReplayOptions};
use crate::engine::Runtime;
use crate::engine::StopSignal;
use crate::pipeline::{Backpressure, Pipeline, PipelineOptions, STOP_GRACE};
use crate::sink::FindingWriter;
use crate::source::replay::{replay, replay_stream};

/// Replays the input to its end through every signature, then sends
/// `source-complete` and prints the summary. SIGINT or SIGTERM stop reading
/// at the next line and the workers soon after (see [`STOP_GRACE`]); the
/// summary says what was left.
pub fn run_replay(options: &ReplayOptions) -> anyhow::Result<ExitCode> {
    let daemon = &options.daemon;
    let runtime = Runtime::for_daemon(daemon.policy.defaults.clone())
        .context("cannot start the wasm engine")?;
    // A stream (stdin, a FIFO) may run for a long time: flush each finding so
    // consumers see it at once. A file is read as fast as possible.
    let streaming = daemon.reload != Reload::Off;
    // Replay waits for a worker that falls behind: the input can wait, and
    // nothing is lost.
    let mut pipeline = Pipeline::with_options(
        FindingWriter::new(BufWriter::new(io::stdout()), daemon.output, streaming),
        PipelineOptions {
            workers: daemon.workers,
            queue_events: daemon.queue_events,
            backpressure: Backpressure::Wait,
        },
    );
    let gate = open_gate(&daemon.trust)?;
    let load_failures = load_signatures(
        &runtime,
        daemon.policy.clone(),
        gate,
        &daemon.signatures,
        daemon.reload,
        &mut pipeline,
    )?;
    write_status(&pipeline, daemon.status_file.as_deref())?;
    stop_on_signal(pipeline.stop_signal())?;

    let result = match &options.input {
        Input::Stdin => {
            if io::stdin().is_terminal() {
                tracing::info!(
                    "waiting for Tracee JSON events on stdin (a terminal): paste events, one per \
                     line, and end with Ctrl-D, or give a file: sigbox replay -s DIR FILE"
                );
            }
            if streaming {
                replay_stream(BufReader::new(io::stdin()), &mut pipeline)
            } else {
                replay(io::stdin().lock(), &mut pipeline)
            }
        }
        Input::File(path) => {
            let file = File::open(path)
                .with_context(|| format!("cannot open the event file {}", path.display()))?;
            let input = BufReader::with_capacity(1 << 20, file);
            if streaming {
                replay_stream(input, &mut pipeline)
            } else {
                replay(input, &mut pipeline)
            }
        }
    };
    if let Err(error) = result {
        if error.kind() == io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(error).context("replay stopped");
    }
    pipeline.apply_pending();
    if pipeline.stop_requested() {
        tracing::info!("stopped before the end of the input");
        pipeline.stop_soon();
    } else {
        pipeline.signal_source_complete();
    }
    finish(pipeline, load_failures, true)
}

/// Makes the first SIGINT or SIGTERM a stop request, on a thread of its
/// own (replay runs no async runtime of its own).
fn stop_on_signal(stop: Arc<StopSignal>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    // Installed before replay starts, so no signal is missed.
    let (mut interrupt, mut terminate) = runtime
        .block_on(async {
            Ok::<_, io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })
        .context("cannot install the SIGINT and SIGTERM handlers")?;
    std::thread::Builder::new()
        .name("sigbox-replay-stop".into())
        .spawn(move || {
            let name = runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => "SIGINT",
                    _ = terminate.recv() => "SIGTERM",
                }
            });
            tracing::info!("received {name}, stopping");
            stop.request(STOP_GRACE);
        })
        .context("cannot start the signal handler")?;
    Ok(())
}
