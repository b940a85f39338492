//! A dispatch worker: one thread running a share of the signatures.
//!
//! Each signature lives on exactly one worker, so it sees its events in
//! order and its findings are written in event order; different signatures
//! run on different cores. Each worker owns its signature set: the
//! collector hands it events and changes through its queue (the events in
//! it bounded), and its findings and notices go to the output with its
//! results. Live, the collector evaluates an exec on the worker's set
//! itself while the worker is idle (nothing queued or running), which
//! saves waking it ([`WorkerShared::try_idle`]). A worker takes whatever events are queued (up to a batch) at
//! once, so a lone event is evaluated as soon as it arrives and a burst is
//! evaluated in batches that share the fixed cost of a guest call.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::output::Output;
use super::report::log_failure;
use super::roster::Roster;
use crate::engine::{Applied, Change, Counters, LoadedSignature, MAX_BATCH, Signal, SignatureSet};
use crate::event::{Context, Event};

/// One event on its way to the workers, with what findings and log lines
/// need besides the event itself.
pub struct Envelope {
    /// The event.
    pub event: Arc<Event>,
    /// Its original Tracee JSON line (replay), copied into findings.
    pub raw: Option<RawLine>,
    /// Where it came from, for log lines.
    pub place: Place,
}

/// An event's original line: a range of the buffer replay read it into,
/// shared with the other lines read with it instead of copied per event
/// (most events never make a finding, and only a finding reads it).
#[derive(Clone)]
pub struct RawLine {
    buffer: Arc<Vec<u8>>,
    range: std::ops::Range<usize>,
}

impl RawLine {
    /// The line at `range` of `buffer`.
    pub fn shared(buffer: Arc<Vec<u8>>, range: std::ops::Range<usize>) -> Self {
        Self { buffer, range }
    }

    /// A line of its own.
    pub fn copied(line: &str) -> Self {
        let buffer = Arc::new(line.as_bytes().to_vec());
        let range = 0..buffer.len();
        Self { buffer, range }
    }

    /// The line's text; `None` if it is not UTF-8 (a source's bug: replay
    /// hands on only lines it parsed).
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(self.buffer.get(self.range.clone())?).ok()
    }
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

/// What a worker is asked to do, in queue order. Changes to its set come
/// this way too, so the collector never touches a worker's set: a change
/// queued behind events is applied once they are evaluated, at the
/// worker's next batch boundary.
pub enum Job {
    /// Evaluate an event (it holds one of the worker's queue slots).
    Event(Arc<Envelope>),
    /// Run this signature with these counters (the collector counts its
    /// dropped events in them); it replaces whatever ran from its file.
    Upsert(Box<LoadedSignature>, Arc<Counters>),
    /// Any other change to the set.
    Change(Change),
    /// End the quarantines whose cool-down is over.
    Tick,
    /// Send a signal to every signature, then acknowledge.
    Signal(Signal, Sender<()>),
    /// Finish the queued work and end.
    Stop,
}

/// A worker's signatures, shared with the collector so that it can
/// evaluate an exec itself while the worker has nothing to do
/// ([`WorkerShared::try_idle`]): one thread hand-off fewer on the path
/// someone waits on.
pub struct WorkerShared {
    /// The signatures; whoever evaluates holds it.
    pub(super) set: Mutex<SignatureSet>,
    /// Jobs queued and not yet done: 0 means every job sent so far was
    /// applied or evaluated.
    in_flight: AtomicUsize,
    /// Until when (ms after `epoch`) the collector leaves this worker's
    /// execs to it: set whenever an evaluation was slow.
    slow_until_ms: AtomicU64,
    /// What `slow_until_ms` counts from.
    epoch: Instant,
    /// Above this cost per event an evaluation is slow
    /// ([`MAX_INLINE_EVENT_COST`]; tests move it to be independent of the
    /// machine's speed).
    slow_above_ns: AtomicU64,
}

/// Above this cost per event, the collector leaves a worker's execs to the
/// worker for [`SLOW_COOLDOWN`]: a slow or spinning signature must not hold
/// up the reading of the rings, and the hand-off it saves is worth less
/// than the work.
const MAX_INLINE_EVENT_COST: Duration = Duration::from_micros(250);

/// How long one slow evaluation keeps a worker's execs off the collector.
/// A signature that is fast and spins by turns (under its CPU limit, so
/// never quarantined) then holds the reader at most once in this time,
/// not on every other exec.
const SLOW_COOLDOWN: Duration = Duration::from_secs(10);

impl WorkerShared {
    /// Shares `set`, with nothing in flight.
    pub fn new(set: SignatureSet) -> Self {
        Self {
            set: Mutex::new(set),
            in_flight: AtomicUsize::new(0),
            slow_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            slow_above_ns: AtomicU64::new(MAX_INLINE_EVENT_COST.as_nanos() as u64),
        }
    }

    /// Counts a job about to be queued.
    pub fn queued(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    /// Uncounts a job that could not be queued, or `n` jobs done.
    pub fn done(&self, n: usize) {
        self.in_flight.fetch_sub(n, Ordering::AcqRel);
    }

    /// The set, when the worker has no job queued or running. Sound for
    /// order only when called by the one thread that queues jobs (the
    /// collector): nothing can be queued between the test and the use, so
    /// what it evaluates comes after everything queued before.
    /// Not while its signatures were lately slow (see [`SLOW_COOLDOWN`]).
    pub fn try_idle(&self) -> Option<MutexGuard<'_, SignatureSet>> {
        if self.in_flight.load(Ordering::Acquire) != 0
            || self.since_epoch_ms() < self.slow_until_ms.load(Ordering::Relaxed)
        {
            return None;
        }
        self.set.try_lock().ok()
    }

    /// [`evaluate_guarded`], noting when it was slow (see [`SLOW_COOLDOWN`]).
    pub fn evaluate<W: Write>(
        &self,
        set: &mut SignatureSet,
        batch: &[Arc<Envelope>],
        output: &Output<W>,
    ) {
        let started = Instant::now();
        evaluate_guarded(set, batch, output);
        let per_event = started.elapsed() / u32::try_from(batch.len().max(1)).unwrap_or(u32::MAX);
        if per_event.as_nanos() > u128::from(self.slow_above_ns.load(Ordering::Relaxed)) {
            let until = self.since_epoch_ms() + SLOW_COOLDOWN.as_millis() as u64;
            self.slow_until_ms.store(until, Ordering::Relaxed);
        }
    }

    /// Counts an evaluation as slow above `cost` per event instead of
    /// [`MAX_INLINE_EVENT_COST`].
    #[cfg(test)]
    pub(super) fn slow_above(&self, cost: Duration) {
        let nanos = u64::try_from(cost.as_nanos()).unwrap_or(u64::MAX);
        self.slow_above_ns.store(nanos, Ordering::Relaxed);
    }

    fn since_epoch_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The set, for its worker (waits while the collector evaluates).
    fn lock(&self) -> MutexGuard<'_, SignatureSet> {
        self.set.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A dispatch worker: its own signature set and the ends of its queue.
pub struct Worker<W: Write> {
    /// Its place among the workers (thread name, roster entry).
    pub index: usize,
    /// The signatures it runs; only this worker touches them, but for an
    /// exec the collector evaluates while the worker is idle.
    pub shared: Arc<WorkerShared>,
    /// Its queue.
    pub jobs: Receiver<Job>,
    /// One token per queued event: taking an event off the queue frees
    /// its slot (the collector's end bounds the events queued).
    pub slots: Receiver<()>,
    pub output: Arc<Output<W>>,
    pub roster: Arc<Roster>,
    /// Ask for a short scheduler slice, so a queued event does not wait
    /// for a core behind other processes' longer slices
    /// ([`crate::sched_slice`]).
    pub short_slice: bool,
}

impl<W: Write + Send + 'static> Worker<W> {
    /// Starts the worker thread.
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("sigbox-worker-{}", self.index))
            .spawn(move || self.run())
    }
}

impl<W: Write> Worker<W> {
    fn run(self) {
        if self.short_slice && !crate::sched_slice::shorten_for_this_thread() {
            tracing::debug!("worker {}: the kernel keeps its default slice", self.index);
        }
        let mut batch: Vec<Arc<Envelope>> = Vec::with_capacity(MAX_BATCH);
        while let Ok(job) = self.jobs.recv() {
            let mut next = Some(job);
            while let Some(job) = next.take() {
                let mut set = self.shared.lock();
                let jobs = match job {
                    Job::Event(envelope) => {
                        self.take_slot();
                        batch.push(envelope);
                        // Whatever else is already queued joins the batch,
                        // up to the next job that is not an event.
                        while batch.len() < MAX_BATCH {
                            match self.jobs.try_recv() {
                                Ok(Job::Event(envelope)) => {
                                    self.take_slot();
                                    batch.push(envelope);
                                }
                                Ok(other) => {
                                    next = Some(other);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        self.shared.evaluate(&mut set, &batch, &self.output);
                        let jobs = batch.len();
                        batch.clear();
                        jobs
                    }
                    Job::Upsert(signature, counters) => {
                        let applied = set.upsert(*signature, counters);
                        self.report(&mut set, applied, false);
                        1
                    }
                    Job::Change(change) => {
                        let rejected = matches!(change, Change::Rejected { .. });
                        let applied = set.apply(change);
                        self.report(&mut set, applied, rejected);
                        1
                    }
                    Job::Tick => {
                        set.tick();
                        self.output.write_notices(set.take_notices());
                        1
                    }
                    Job::Signal(signal, done) => {
                        set.signal(signal, |failure| {
                            log_failure(&failure, &end_of_input(), &"end of input");
                        });
                        self.output.write_notices(set.take_notices());
                        let _ = done.send(());
                        1
                    }
                    Job::Stop => return,
                };
                // Done only once the set is free again.
                drop(set);
                self.shared.done(jobs);
            }
        }
    }

    /// Frees the queue slot of the event just taken.
    fn take_slot(&self) {
        // The collector took the slot before queueing the event, so it is there.
        let _ = self.slots.try_recv();
    }

    /// Writes the notices a change made (a rejected update) and reports
    /// the change with the set's new list.
    fn report(&self, set: &mut SignatureSet, applied: Applied, rejected: bool) {
        self.output.write_notices(set.take_notices());
        self.roster
            .applied(self.index, applied, rejected, set.status());
    }
}

/// Evaluates a batch; a host bug must not end the worker (its queue would
/// close and its signatures would silently see nothing) nor the collector.
pub fn evaluate_guarded<W: Write>(
    set: &mut SignatureSet,
    batch: &[Arc<Envelope>],
    output: &Output<W>,
) {
    let evaluated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        evaluate(set, batch, output);
    }));
    if evaluated.is_err() {
        tracing::error!(
            "a dispatch worker panicked evaluating {} events (a sigbox bug; \
             please report it); they were not evaluated, the worker goes on",
            batch.len()
        );
    }
}

/// Evaluates a batch with every signature of the set and writes what came
/// of it: coverage changes first (a re-enable before the signature's next
/// finding), then findings in event order per signature.
pub fn evaluate<W: Write>(set: &mut SignatureSet, batch: &[Arc<Envelope>], output: &Output<W>) {
    set.tick();
    output.write_notices(set.take_notices());
    let events: Vec<Arc<Event>> = batch.iter().map(|e| Arc::clone(&e.event)).collect();
    let mut failures = 0;
    set.dispatch_batch(
        &events,
        |index, detection| {
            let envelope = &batch[index];
            let raw = envelope.raw.as_ref().and_then(RawLine::text);
            output.write_finding(&detection, &envelope.event, raw);
        },
        |index, failure| {
            failures += 1;
            log_failure(&failure, &batch[index].event, &batch[index].place);
        },
    );
    output.count_errors(failures);
    output.write_notices(set.take_notices());
}

/// What failure lines name for the `source-complete` signal.
fn end_of_input() -> Event {
    Event::named(Context::default(), "source-complete")
}
