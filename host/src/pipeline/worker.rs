//! A dispatch worker: one thread running a share of the signatures.
//!
//! Each signature lives on exactly one worker, so it sees its events in
//! order and its findings are written in event order; different signatures
//! run on different cores. The collector hands events over through a bounded
//! queue; a worker takes whatever is queued (up to a batch) at once, so a
//! lone event is evaluated as soon as it arrives and a burst is evaluated in
//! batches that share the fixed cost of a guest call.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::output::Output;
use super::report::log_failure;
use crate::engine::Signal;
use crate::engine::{MAX_BATCH, SignatureSet};
use crate::event::{Context, Event};

/// One event on its way to the workers, with what findings and log lines
/// need besides the event itself.
pub struct Envelope {
    /// The event.
    pub event: Arc<Event>,
    /// Its original Tracee JSON line (replay), copied into findings.
    pub raw: Option<Box<str>>,
    /// Where it came from, for log lines.
    pub place: Place,
}

/// Where an event came from, for log lines.
#[derive(Debug, Clone, Copy)]
pub enum Place {
    /// The kernel (live).
    Kernel,
    /// A line of the replayed input.
    Line(u64),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kernel => f.write_str("kernel"),
            Self::Line(n) => write!(f, "line {n}"),
        }
    }
}

/// What a worker is asked to do, in queue order.
pub enum Job {
    /// Evaluate an event.
    Event(Arc<Envelope>),
    /// Send a signal to every signature, then acknowledge.
    Signal(Signal, Sender<()>),
    /// Finish the queued work and end.
    Stop,
}

/// Locks a worker's signature set (a panic elsewhere does not poison it for
/// good: the set's state is consistent between calls).
pub fn lock(set: &Mutex<SignatureSet>) -> MutexGuard<'_, SignatureSet> {
    set.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts a worker thread.
pub fn spawn<W: Write + Send + 'static>(
    index: usize,
    set: Arc<Mutex<SignatureSet>>,
    jobs: Receiver<Job>,
    output: Arc<Output<W>>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("sigbox-worker-{index}"))
        .spawn(move || run(&set, &jobs, &output))
}

fn run<W: Write>(set: &Mutex<SignatureSet>, jobs: &Receiver<Job>, output: &Output<W>) {
    let mut batch: Vec<Arc<Envelope>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(job) = jobs.recv() {
        let mut next = Some(job);
        while let Some(job) = next.take() {
            match job {
                Job::Event(envelope) => {
                    batch.push(envelope);
                    // Whatever else is already queued joins the batch.
                    while batch.len() < MAX_BATCH {
                        match jobs.try_recv() {
                            Ok(Job::Event(envelope)) => batch.push(envelope),
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    // A host bug must not end the worker: its queue would
                    // close and its signatures would silently see nothing.
                    let evaluated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        evaluate(&mut lock(set), &batch, output);
                    }));
                    if evaluated.is_err() {
                        tracing::error!(
                            "a dispatch worker panicked evaluating {} events (a sigbox bug; \
                             please report it); they were not evaluated, the worker goes on",
                            batch.len()
                        );
                    }
                    batch.clear();
                }
                Job::Signal(signal, done) => {
                    let mut set = lock(set);
                    set.signal(signal, |failure| {
                        log_failure(&failure, &end_of_input(), &"end of input");
                    });
                    output.write_notices(&mut set);
                    drop(set);
                    let _ = done.send(());
                }
                Job::Stop => return,
            }
        }
    }
}

/// Evaluates a batch with every signature of the set and writes what came
/// of it: coverage changes first (a re-enable before the signature's next
/// finding), then findings in event order per signature.
pub fn evaluate<W: Write>(set: &mut SignatureSet, batch: &[Arc<Envelope>], output: &Output<W>) {
    set.tick();
    output.write_notices(set);
    let events: Vec<Arc<Event>> = batch.iter().map(|e| Arc::clone(&e.event)).collect();
    let mut failures = 0;
    set.dispatch_batch(
        &events,
        |index, detection| {
            let envelope = &batch[index];
            output.write_finding(&detection, &envelope.event, envelope.raw.as_deref());
        },
        |index, failure| {
            failures += 1;
            log_failure(&failure, &batch[index].event, &batch[index].place);
        },
    );
    output.count_errors(failures);
    output.write_notices(set);
}

/// What failure lines name for the `source-complete` signal.
fn end_of_input() -> Event {
    Event::named(Context::default(), "source-complete")
}
