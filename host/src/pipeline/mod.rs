//! The path every event takes, whatever its source: the collector thread
//! hands each event to the dispatch workers whose signatures select it;
//! each worker evaluates its signatures and writes their findings; failures
//! are logged and counted, coverage changes reported where findings go.
//!
//! One event crosses each layer once, in one direction: source → collector
//! ([`Pipeline::process`]) → worker queue → signatures → writer.

mod output;
mod report;
mod worker;

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::engine::Signal;
use crate::engine::{Applied, Change, Counters, SignatureSet, SignatureStatus, StopSignal};
use crate::event::Event;
use crate::sink::FindingWriter;
use crate::sink::coverage::CoverageRecord;
use crate::status::StatusBoard;
use crate::telemetry::{Reload, Telemetry};

pub use crate::telemetry::StreamCounts;
use output::Output;
pub use report::Summary;
use report::{describe, identify};
pub use worker::Place;
use worker::{Envelope, Job, lock};

/// What the collector does when a worker's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backpressure {
    /// Wait for room (replay: the input can wait; nothing is lost).
    Wait,
    /// Drop the event for that worker's signatures, count it and report it
    /// (live: the kernel does not wait, so the collector must not either).
    Drop,
}

/// How the pipeline dispatches.
#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// Dispatch worker threads (each signature runs on one).
    pub workers: usize,
    /// Events each worker's queue holds.
    pub queue_events: usize,
    /// What happens when a queue is full.
    pub backpressure: Backpressure,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            workers: default_workers(),
            queue_events: DEFAULT_QUEUE_EVENTS,
            backpressure: Backpressure::Wait,
        }
    }
}

/// Events a worker's queue holds by default: about a second of a busy
/// node's execs for one slow signature, a few MiB at most.
pub const DEFAULT_QUEUE_EVENTS: usize = 4096;

/// One worker per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// After SIGINT or SIGTERM, how long workers go on evaluating queued events
/// before they count the rest as not evaluated: long enough for what was
/// read just before the stop, short enough that a slow signature's queue
/// never holds the daemon up. The guest call in flight then still ends (at
/// most its time limit).
pub const STOP_GRACE: Duration = Duration::from_secs(1);

/// How often dropped events are reported at most (the first at once).
const DROP_REPORT_PERIOD: Duration = Duration::from_secs(1);

/// A dispatch worker as the collector sees it.
struct WorkerHandle {
    set: Arc<Mutex<SignatureSet>>,
    jobs: Sender<Job>,
    thread: Option<JoinHandle<()>>,
    /// What its signatures select, for routing and for counting drops.
    selecting: Vec<Selecting>,
}

/// One signature of a worker: its id, the event names it selects, its counters.
struct Selecting {
    id: String,
    events: Vec<String>,
    counters: Arc<Counters>,
}

impl WorkerHandle {
    fn selects(&self, event: &str) -> bool {
        self.selecting
            .iter()
            .any(|s| s.events.iter().any(|e| e == event))
    }

    fn refresh(&mut self) {
        self.selecting = lock(&self.set)
            .status()
            .into_iter()
            .map(|s| Selecting {
                id: s.info.metadata.id.clone(),
                events: s
                    .info
                    .selected_events
                    .iter()
                    .map(|e| e.name.clone())
                    .collect(),
                counters: s.counters,
            })
            .collect();
    }
}

/// Dropped events not yet reported.
#[derive(Default)]
struct DropReport {
    /// Signature id → events it missed since the last report.
    pending: Vec<(String, u64)>,
    since_last: u64,
    total: u64,
    last: Option<Instant>,
}

/// Dispatches events to signatures on worker threads and writes their findings.
pub struct Pipeline<W: Write + Send + 'static> {
    workers: Vec<WorkerHandle>,
    output: Arc<Output<W>>,
    counts: StreamCounts,
    /// Prepared signature changes (hot swap), applied between events.
    changes: Option<UnboundedReceiver<Change>>,
    board: StatusBoard,
    /// Signature file → the worker running it.
    placement: HashMap<PathBuf, usize>,
    backpressure: Backpressure,
    drops: DropReport,
    telemetry: Arc<Telemetry>,
    /// Shared with every worker's set.
    stop: Arc<StopSignal>,
}

impl<W: Write + Send + 'static> Pipeline<W> {
    /// A pipeline with the default options (one worker per core, waiting
    /// when a queue is full).
    ///
    /// # Panics
    /// A worker thread cannot be started.
    pub fn new(writer: FindingWriter<W>) -> Self {
        Self::with_options(writer, PipelineOptions::default())
    }

    /// A pipeline with no signatures yet, writing findings with `writer`.
    ///
    /// # Panics
    /// A worker thread cannot be started.
    pub fn with_options(writer: FindingWriter<W>, options: PipelineOptions) -> Self {
        let output = Arc::new(Output::new(writer));
        let stop = Arc::new(StopSignal::default());
        let workers = (0..options.workers.max(1))
            .map(|index| {
                let mut set = SignatureSet::default();
                set.obey(stop.clone());
                let set = Arc::new(Mutex::new(set));
                let (jobs, queue) = crossbeam_channel::bounded(options.queue_events.max(1));
                let thread = worker::spawn(index, set.clone(), queue, output.clone())
                    .expect("starting a dispatch worker");
                WorkerHandle {
                    set,
                    jobs,
                    thread: Some(thread),
                    selecting: Vec::new(),
                }
            })
            .collect();
        Self {
            workers,
            output,
            counts: StreamCounts::default(),
            changes: None,
            board: StatusBoard::default(),
            placement: HashMap::new(),
            backpressure: options.backpressure,
            drops: DropReport::default(),
            telemetry: Telemetry::new(),
            stop,
        }
    }

    /// The stop request the workers obey; a signal handler may make it
    /// (with [`STOP_GRACE`]) from another thread.
    pub fn stop_signal(&self) -> Arc<StopSignal> {
        self.stop.clone()
    }

    /// Whether a stop was requested: the source should stop reading.
    pub fn stop_requested(&self) -> bool {
        self.stop.requested()
    }

    /// A signal asked the daemon to stop: the workers evaluate what is
    /// queued for up to [`STOP_GRACE`], then count the rest per signature
    /// as not evaluated; [`Pipeline::finish`] follows.
    pub fn stop_soon(&mut self) {
        self.stop.request(STOP_GRACE);
        self.counts.stopped_by_signal = true;
    }

    /// What this pipeline publishes for metrics (reloads, counts).
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// Publishes the counts for metrics (cheap: a few atomic stores).
    pub fn publish_counts(&self) {
        let mut counts = self.counts.clone();
        counts.coverage_records = self.output.written().coverage_records;
        self.telemetry.publish_counts(&counts);
    }

    /// Applies changes from `changes` before each event from now on.
    pub fn watch(&mut self, changes: UnboundedReceiver<Change>) {
        self.changes = Some(changes);
    }

    /// The active list this pipeline keeps up to date.
    pub fn board(&self) -> &StatusBoard {
        &self.board
    }

    /// Every running signature with its counters, in worker then load order.
    pub fn status(&self) -> Vec<SignatureStatus> {
        self.workers
            .iter()
            .flat_map(|w| lock(&w.set).status())
            .collect()
    }

    /// How many signatures run.
    pub fn signature_count(&self) -> usize {
        self.placement.len()
    }

    /// Applies one change between events (on the worker that runs, or will
    /// run, the signature) and logs it with the signature's id, version,
    /// digest and file.
    pub fn apply(&mut self, change: Change) {
        let path = match &change {
            Change::Upsert(signature) => signature.info().path.clone(),
            Change::Remove(path)
            | Change::Rejected { path, .. }
            | Change::Restored(path)
            | Change::Moved { from: path, .. } => path.clone(),
        };
        // What status says of the file: it holds a rejected version while
        // an older one runs, or (any other change) what runs again.
        match &change {
            Change::Rejected {
                file_sha256: Some(sha256),
                ..
            } if self.placement.contains_key(&path) => {
                self.board.mark_file_rejected(&path, sha256);
            }
            Change::Rejected { .. } => {}
            _ => self.board.clear_file_rejected(&path),
        }
        let worker = match (self.placement.get(&path), &change) {
            (Some(&worker), _) => worker,
            (None, Change::Upsert(_)) => self.least_loaded(),
            (None, _) => {
                match change {
                    Change::Remove(path) => {
                        tracing::debug!("{} was not running; nothing to unload", path.display())
                    }
                    Change::Rejected { path, reason, .. } => {
                        self.report_rejected_module(&path, &reason)
                    }
                    Change::Upsert(_) | Change::Restored(_) | Change::Moved { .. } => {}
                }
                return;
            }
        };
        let rejected = matches!(change, Change::Rejected { .. });
        let handle = &mut self.workers[worker];
        let mut set = lock(&handle.set);
        let applied = set.apply(change);
        self.output.write_notices(&mut set);
        drop(set);
        match applied {
            Applied::Loaded(new) => {
                self.telemetry.count_reload(Reload::Loaded);
                self.placement.insert(path, worker);
                tracing::info!("loaded signature {}{}", identify(&new), signers(&new));
                self.warn_unserved(&new);
            }
            Applied::Replaced { old, new } => {
                self.telemetry.count_reload(Reload::Replaced);
                self.board.retire(&old);
                tracing::info!(
                    "replaced signature {} with {}{}",
                    describe(&old),
                    identify(&new),
                    signers(&new)
                );
                self.warn_unserved(&new);
            }
            Applied::Unloaded(old) => {
                self.telemetry.count_reload(Reload::Unloaded);
                self.board.retire(&old);
                self.placement.remove(&path);
                tracing::info!("unloaded signature {}", describe(&old));
                if self.placement.is_empty() {
                    tracing::error!(
                        "the last signature was unloaded: nothing is being detected until a module is added"
                    );
                }
            }
            Applied::Moved(now) => {
                self.placement.remove(&path);
                self.placement.insert(now.info.path.clone(), worker);
                tracing::info!(
                    "signature {} kept running under its new name",
                    identify(&now)
                );
            }
            Applied::NotLoaded(path) => {
                tracing::debug!("{} was not running; nothing to unload", path.display())
            }
            Applied::Unchanged if rejected => self.telemetry.count_reload(Reload::Rejected),
            Applied::Unchanged => {}
        }
        self.workers[worker].refresh();
        self.board.set(self.status());
    }

    /// The worker running the fewest signatures (the first of those).
    fn least_loaded(&self) -> usize {
        let mut load = vec![0usize; self.workers.len()];
        for &worker in self.placement.values() {
            load[worker] += 1;
        }
        (0..load.len()).min_by_key(|&w| load[w]).unwrap_or(0)
    }

    /// Warns when a signature selects events this source never produces, or
    /// reads fields it leaves out.
    fn warn_unserved(&self, status: &SignatureStatus) {
        let unserved = self.board.unserved(status);
        if !unserved.is_empty() {
            tracing::warn!(
                "signature {} selects {} which this source never produces: it will never see {}",
                identify(status),
                unserved.join(", "),
                if unserved.len() == 1 { "it" } else { "them" }
            );
        }
        for (field, option) in self.board.withheld(status) {
            tracing::warn!(
                "signature {} reads `{field}`, which this daemon does not collect: it will \
                 never match on it (start with {option})",
                identify(status),
            );
        }
    }

    /// Work for a quiet moment: apply prepared changes, end quarantines
    /// whose cool-down is over, report dropped events.
    pub fn tick(&mut self) {
        self.apply_pending();
        for worker in &self.workers {
            // A busy worker ticks before its next batch anyway; the
            // collector does not wait for it.
            if let Ok(mut set) = worker.set.try_lock() {
                set.tick();
                self.output.write_notices(&mut set);
            }
        }
        self.report_drops(false);
    }

    /// Reports events the kernel dropped where findings go (and in the log).
    pub fn report_kernel_drops(&mut self, lost: u64, total: u64) {
        tracing::error!(
            "the kernel dropped {lost} exec events ({total} since start): the ring buffer was full"
        );
        self.output
            .write_record(&CoverageRecord::events_lost(lost, total));
    }

    /// A module in the signatures directory that does not run (rejected
    /// when it appeared; a rejected new version of a running signature is
    /// reported by the set instead): written where findings go, since a
    /// detection someone meant to deploy is missing, or someone tried to
    /// slip in a module the trust policy refuses. The caller has logged it.
    pub fn report_rejected_module(&mut self, path: &Path, reason: &str) {
        self.telemetry.count_reload(Reload::Rejected);
        self.output
            .write_record(&CoverageRecord::module_rejected(path, reason));
    }

    /// Waits for the next prepared change (forever when nothing is watched),
    /// so an idle loop can wake for it instead of polling.
    pub async fn next_change(&mut self) -> Option<Change> {
        match self.changes.as_mut() {
            Some(changes) => changes.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Stops waiting for changes (their sender is gone).
    pub fn stop_watching(&mut self) {
        self.changes = None;
    }

    /// Applies every change that is ready, without waiting.
    pub fn apply_pending(&mut self) {
        while let Some(change) = self.changes.as_mut().and_then(|rx| rx.try_recv().ok()) {
            self.apply(change);
        }
    }

    /// The source's counters so far (records, bad records, drops).
    pub fn counts(&self) -> &StreamCounts {
        &self.counts
    }

    /// Mutable access for the source's own counters (records, bad records, drops).
    pub fn counts_mut(&mut self) -> &mut StreamCounts {
        &mut self.counts
    }

    /// Hands `event` to the workers whose signatures select it. `raw` is the
    /// event's original JSON, if it has one; `place` says where it came from.
    ///
    /// # Errors
    /// Only when findings cannot be written (e.g. stdout was closed): the
    /// caller should stop. Signature failures are logged and counted by the
    /// workers.
    pub fn process(&mut self, event: Event, raw: Option<&str>, place: Place) -> io::Result<()> {
        self.apply_pending();
        if let Some(error) = self.output.write_error() {
            return Err(error);
        }
        self.counts.events += 1;
        let targets: Vec<usize> = (0..self.workers.len())
            .filter(|&index| self.workers[index].selects(event.name()))
            .collect();
        if !targets.is_empty() {
            // One shared envelope, however many workers take it.
            let envelope = Arc::new(Envelope {
                event: Arc::new(event),
                raw: raw.map(Box::from),
                place,
            });
            for index in targets {
                self.send(index, envelope.clone());
            }
        }
        self.report_drops(false);
        Ok(())
    }

    fn send(&mut self, worker: usize, envelope: Arc<Envelope>) {
        let handle = &self.workers[worker];
        let job = Job::Event(envelope);
        // Not delivered: the queue is full (live), or the worker is gone
        // (a bug); either way the event is counted as dropped, never lost
        // silently.
        let full = match self.backpressure {
            Backpressure::Wait => match handle.jobs.send(job) {
                Ok(()) => return,
                Err(crossbeam_channel::SendError(job)) => job,
            },
            Backpressure::Drop => match handle.jobs.try_send(job) {
                Ok(()) => return,
                Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => job,
            },
        };
        let Job::Event(envelope) = full else {
            unreachable!("an event was sent")
        };
        self.counts.queue_drops += 1;
        self.drops.since_last += 1;
        self.drops.total += 1;
        for signature in &handle.selecting {
            if signature.events.iter().any(|e| e == envelope.event.name()) {
                Counters::add(&signature.counters.dropped_events, 1);
                match self
                    .drops
                    .pending
                    .iter_mut()
                    .find(|(id, _)| *id == signature.id)
                {
                    Some((_, n)) => *n += 1,
                    None => self.drops.pending.push((signature.id.clone(), 1)),
                }
            }
        }
    }

    /// Reports dropped events where findings go: the first at once, then at
    /// most once per [`DROP_REPORT_PERIOD`] (or everything, with `now`).
    fn report_drops(&mut self, now: bool) {
        if self.drops.since_last == 0 {
            return;
        }
        if !now
            && self
                .drops
                .last
                .is_some_and(|t| t.elapsed() < DROP_REPORT_PERIOD)
        {
            return;
        }
        let pending = std::mem::take(&mut self.drops.pending);
        let ids: Vec<String> = pending.iter().map(|(id, _)| id.clone()).collect();
        let detail: Vec<String> = pending
            .iter()
            .map(|(id, n)| format!("{} ({n})", crate::printable(id)))
            .collect();
        tracing::error!(
            "a dispatch worker fell behind: {} events dropped ({} since start), missed by {}; \
             raise --queue-events or --workers, or find the slow signature in sigbox status",
            self.drops.since_last,
            self.drops.total,
            detail.join(", ")
        );
        self.output.write_record(&CoverageRecord::events_dropped(
            &ids,
            self.drops.since_last,
            self.drops.total,
        ));
        self.drops.since_last = 0;
        self.drops.last = Some(Instant::now());
    }

    /// Tells every signature the source has ended (after every queued
    /// event), logging those that fail.
    pub fn signal_source_complete(&mut self) {
        let (done, acks) = crossbeam_channel::unbounded();
        let mut waiting = 0;
        for worker in &self.workers {
            if worker
                .jobs
                .send(Job::Signal(Signal::SourceComplete, done.clone()))
                .is_ok()
            {
                waiting += 1;
            }
        }
        for _ in 0..waiting {
            let _ = acks.recv();
        }
    }

    /// Waits for the workers to finish their queues, flushes findings and
    /// returns the summary.
    ///
    /// # Errors
    /// Writing or flushing failed.
    pub fn finish(mut self, load_failures: usize) -> io::Result<Summary> {
        self.apply_pending();
        for worker in &self.workers {
            let _ = worker.jobs.send(Job::Stop);
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take()
                && thread.join().is_err()
            {
                tracing::error!("a dispatch worker panicked");
            }
        }
        self.report_drops(true);
        if let Some(error) = self.output.write_error() {
            return Err(error);
        }
        self.output.flush()?;
        let written = self.output.written();
        let mut counts = self.counts.clone();
        counts.findings = written.findings;
        counts.signature_errors = written.signature_errors;
        counts.coverage_records = written.coverage_records;
        Ok(Summary {
            counts,
            signatures: self.status(),
            load_failures,
        })
    }
}

impl<W: Write + Send + 'static> Drop for Pipeline<W> {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            let _ = worker.jobs.send(Job::Stop);
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// `, signed by A, B` for a verified signature, nothing otherwise.
fn signers(status: &SignatureStatus) -> String {
    if status.info.signed_by.is_empty() {
        String::new()
    } else {
        format!(", signed by {}", status.info.signed_by.join(", "))
    }
}
