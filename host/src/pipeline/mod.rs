//! The path every event takes, whatever its source: the collector thread
//! drops each event no running signature's selectors accept (counted) and
//! hands the others to the dispatch workers whose signatures select them;
//! each worker evaluates its signatures and writes their findings; failures
//! are logged and counted, coverage changes reported where findings go.
//!
//! One event crosses each layer once, in one direction: source → collector
//! ([`Pipeline::process`]) → worker queue → signatures → writer. Changes to
//! the signatures take the same queues, so the collector never takes a
//! worker's set or waits for one to apply a change.

mod host_filter;
mod output;
mod report;
mod roster;
mod worker;

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::engine::{Change, Counters, Signal, SignatureSet, SignatureStatus, StopSignal};
use crate::event::{Event, Kind};
use crate::sink::FindingWriter;
use crate::sink::coverage::CoverageRecord;
use crate::status::StatusBoard;
use crate::telemetry::{Reload, Telemetry};

pub use crate::telemetry::HostFiltered;
pub use crate::telemetry::StreamCounts;
use host_filter::HostFilter;
use output::Output;
pub use report::Summary;
use roster::Roster;
use worker::{Envelope, Job, Worker, WorkerShared};
pub use worker::{Place, RawLine};

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
    jobs: Sender<Job>,
    /// A token per event in its queue: full, the queue holds
    /// `--queue-events` events (changes and signals queue regardless).
    slots: Sender<()>,
    thread: Option<JoinHandle<()>>,
    /// Its signatures and whether it has work queued.
    shared: Arc<WorkerShared>,
    /// What it runs once the changes queued for it are applied, in load
    /// order: for routing, counting drops, status and the summary.
    running: Vec<SignatureStatus>,
}

impl WorkerHandle {
    fn selects(&self, event: &str) -> bool {
        self.running.iter().any(|s| selects(s, event))
    }

    /// Queues `job` (the queue itself is unbounded: only events take a slot).
    fn queue(&self, job: Job) {
        if !self.send(job) {
            tracing::error!("a dispatch worker is gone (a sigbox bug; please report it)");
        }
    }

    /// Queues `job`, counted in flight until the worker is done with it;
    /// false if the worker is gone.
    fn send(&self, job: Job) -> bool {
        self.shared.queued();
        let sent = self.jobs.send(job).is_ok();
        if !sent {
            self.shared.done(1);
        }
        sent
    }
}

fn selects(signature: &SignatureStatus, event: &str) -> bool {
    signature
        .info
        .selected_events
        .iter()
        .any(|selector| selector.name == event)
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
    /// Signature file → the worker running it (once its queue is applied).
    placement: HashMap<PathBuf, usize>,
    backpressure: Backpressure,
    drops: DropReport,
    /// The running signatures' selectors, tested before an event is queued.
    host_filter: HostFilter,
    telemetry: Arc<Telemetry>,
    /// Shared with every worker's set.
    stop: Arc<StopSignal>,
    /// Signature changes applied so far: while it holds still, so do the
    /// selected names (a source that sorted events on a snapshot of them
    /// need not ask again per event).
    changes_applied: u64,
    /// An exec is evaluated on the collector's thread when its worker is
    /// idle ([`Pipeline::evaluate_idle_execs_here`]).
    inline_execs: bool,
}

impl<W: Write + Send + 'static> Pipeline<W> {
    /// A pipeline with no signatures yet, writing findings with `writer`.
    ///
    /// # Panics
    /// A worker thread cannot be started.
    pub fn with_options(writer: FindingWriter<W>, options: PipelineOptions) -> Self {
        let stop = Arc::new(StopSignal::default());
        let board = StatusBoard::default();
        let telemetry = Telemetry::new();
        // Live: a finding's latency is how long its event took to come out.
        let live = options.backpressure == Backpressure::Drop;
        let output = Arc::new(Output::new(
            writer,
            live.then(|| telemetry.finding_latency().clone()),
        ));
        let workers = options.workers.max(1);
        let roster = Arc::new(Roster::new(workers, board.clone(), telemetry.clone()));
        let workers = (0..workers)
            .map(|index| {
                let mut set = SignatureSet::default();
                set.obey(stop.clone());
                let shared = Arc::new(WorkerShared::new(set));
                let (jobs, queue) = crossbeam_channel::unbounded();
                let (slots, taken) = crossbeam_channel::bounded(options.queue_events.max(1));
                let worker = Worker {
                    index,
                    shared: shared.clone(),
                    jobs: queue,
                    slots: taken,
                    output: output.clone(),
                    roster: roster.clone(),
                    // Live: someone waits for each finding as it happens.
                    short_slice: live,
                };
                let thread = worker.spawn().expect("starting a dispatch worker");
                WorkerHandle {
                    jobs,
                    slots,
                    thread: Some(thread),
                    shared,
                    running: Vec::new(),
                }
            })
            .collect();
        Self {
            workers,
            output,
            counts: StreamCounts::default(),
            changes: None,
            board,
            placement: HashMap::new(),
            changes_applied: 0,
            backpressure: options.backpressure,
            drops: DropReport::default(),
            host_filter: HostFilter::default(),
            telemetry,
            stop,
            inline_execs: false,
        }
    }

    /// Live: while `on`, an exec whose worker has nothing queued or running
    /// is evaluated on the collector's thread, in [`Pipeline::process`],
    /// instead of waking the worker: on a loaded machine, waiting for the
    /// woken worker to get a core is most of an exec's latency. Order is
    /// kept: only the collector queues jobs, and it evaluates an exec only
    /// when every job it queued is done. The live loop turns it on for a
    /// batch holding one exec: a burst goes to the workers in batches, in
    /// parallel. Other kinds (floods of opens) always go to the workers,
    /// and so do the execs of a worker whose signatures are slow, so the
    /// collector keeps up with the rings.
    pub fn evaluate_idle_execs_here(&mut self, on: bool) {
        self.inline_execs = on;
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

    /// Every signature with its counters, in worker then load order, as
    /// they run once the queued changes are applied (after
    /// [`Pipeline::finish`]'s join: as they ran).
    pub fn status(&self) -> Vec<SignatureStatus> {
        self.workers
            .iter()
            .flat_map(|w| w.running.iter().cloned())
            .collect()
    }

    /// How many signatures run.
    pub fn signature_count(&self) -> usize {
        self.placement.len()
    }

    /// Queues one change for the worker that runs, or will run, the
    /// signature, behind the events already queued for it: the worker
    /// applies it at its next batch boundary and logs it with the
    /// signature's id, version, digest and file. Never waits for a worker.
    pub fn apply(&mut self, change: Change) {
        self.changes_applied += 1;
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
        let handle = &mut self.workers[worker];
        match change {
            Change::Upsert(signature) => {
                // The counters are made here, so events dropped for the new
                // version before it runs are counted as its own.
                let counters = Arc::<Counters>::default();
                // A pack runs as its detectors, one status each.
                let statuses = crate::engine::statuses_of(&signature, &counters);
                let at = handle.running.iter().position(|s| s.info.path == path);
                handle.running.retain(|s| s.info.path != path);
                let at = at.unwrap_or(handle.running.len());
                handle.running.splice(at..at, statuses);
                self.placement.insert(path, worker);
                handle.queue(Job::Upsert(signature, counters));
                self.refresh_host_filter();
            }
            Change::Remove(_) => {
                handle.running.retain(|s| s.info.path != path);
                self.placement.remove(&path);
                handle.queue(Job::Change(change));
                self.refresh_host_filter();
            }
            Change::Moved { ref to, .. } => {
                for moved in handle.running.iter_mut().filter(|s| s.info.path == path) {
                    moved.info.path = to.clone();
                }
                self.placement.remove(&path);
                self.placement.insert(to.clone(), worker);
                handle.queue(Job::Change(change));
            }
            // A rejected update is reported by the set, with the
            // signature's state; a restored file changes nothing there.
            Change::Rejected { .. } => handle.queue(Job::Change(change)),
            Change::Restored(_) => {}
        }
    }

    /// Rebuilds the host filter from what runs once the queued changes are
    /// applied: events the collector queues from now on are behind those
    /// changes, so each worker meets them with the set they were filtered
    /// for. A quarantined signature's selectors stay (it is still loaded).
    fn refresh_host_filter(&mut self) {
        self.host_filter = HostFilter::new(
            self.workers
                .iter()
                .flat_map(|w| &w.running)
                .flat_map(|s| &s.info.selected_events),
        );
    }

    /// The worker running the fewest signatures (the first of those).
    fn least_loaded(&self) -> usize {
        let mut load = vec![0usize; self.workers.len()];
        for &worker in self.placement.values() {
            load[worker] += 1;
        }
        (0..load.len()).min_by_key(|&w| load[w]).unwrap_or(0)
    }

    /// Work for a quiet moment: apply prepared changes, end quarantines
    /// whose cool-down is over, report dropped events.
    pub fn tick(&mut self) {
        self.apply_pending();
        for worker in &self.workers {
            // A worker with work queued ticks before its next batch anyway.
            if worker.jobs.is_empty() {
                worker.queue(Job::Tick);
            }
        }
        self.report_drops(false);
    }

    /// Reports `event` events the kernel dropped where findings go (and in
    /// the log).
    pub fn report_kernel_drops(&mut self, event: &str, lost: u64, total: u64) {
        tracing::error!(
            "the kernel dropped {lost} {event} events ({total} since start): the ring buffer was full"
        );
        self.output
            .post_record(CoverageRecord::events_lost(event, lost, total));
    }

    /// A module in the signatures directory that does not run (rejected
    /// when it appeared; a rejected new version of a running signature is
    /// reported by the set instead): written where findings go, since a
    /// detection someone meant to deploy is missing, or someone tried to
    /// slip in a module the trust policy refuses. The caller has logged it.
    pub fn report_rejected_module(&mut self, path: &Path, reason: &str) {
        self.telemetry.count_reload(Reload::Rejected);
        self.output
            .post_record(CoverageRecord::module_rejected(path, reason));
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

    /// Mutable access for the source's own counters (records, bad records, drops).
    pub fn counts_mut(&mut self) -> &mut StreamCounts {
        &mut self.counts
    }

    /// Whether a running signature selects events named `name` (pending
    /// signature changes applied first, as [`Pipeline::process`] does): a
    /// source need not build an event nobody selects.
    pub fn selects(&mut self, name: &str) -> bool {
        self.apply_pending();
        self.workers.iter().any(|worker| worker.selects(name))
    }

    /// The event names running signatures select (pending changes applied
    /// first): a snapshot for a source that sorts events on other threads.
    pub fn selected_names(&mut self) -> std::collections::HashSet<String> {
        self.apply_pending();
        self.workers
            .iter()
            .flat_map(|worker| &worker.running)
            .flat_map(|signature| &signature.info.selected_events)
            .map(|selector| selector.name.clone())
            .collect()
    }

    /// How many signature changes have been applied (pending ones first):
    /// the names [`Pipeline::selected_names`] returned still hold while
    /// this is unchanged.
    pub(crate) fn selection_generation(&mut self) -> u64 {
        self.apply_pending();
        self.changes_applied
    }

    /// [`Pipeline::selection_generation`] without applying pending
    /// changes: the generation of the names just taken.
    pub(crate) fn applied_changes(&self) -> u64 {
        self.changes_applied
    }

    /// Counts an event no signature selects, which the source did not build
    /// ([`Pipeline::selects`] said so), as [`Pipeline::process`] would.
    ///
    /// # Errors
    /// As [`Pipeline::process`].
    pub fn pass_unselected(&mut self) -> io::Result<()> {
        if let Some(error) = self.output.write_error() {
            return Err(error);
        }
        self.counts.events += 1;
        self.report_drops(false);
        Ok(())
    }

    /// Hands `event` to the workers whose signatures select it, unless no
    /// running signature's selectors accept it: then it is dropped here,
    /// before any queue, and counted (`host_filtered`). `raw` is the
    /// event's original JSON, if it has one; `place` says where it came from.
    ///
    /// # Errors
    /// Only when findings cannot be written (e.g. stdout was closed): the
    /// caller should stop. Signature failures are logged and counted by the
    /// workers.
    pub fn process(&mut self, event: Event, raw: Option<RawLine>, place: Place) -> io::Result<()> {
        self.process_shared(Arc::new(event), raw, place)
    }

    /// [`Pipeline::process`] for an event already in its `Arc` (built on
    /// another thread: it then moves as a pointer).
    ///
    /// # Errors
    /// As [`Pipeline::process`].
    pub fn process_shared(
        &mut self,
        event: Arc<Event>,
        raw: Option<RawLine>,
        place: Place,
    ) -> io::Result<()> {
        self.apply_pending();
        if let Some(error) = self.output.write_error() {
            return Err(error);
        }
        self.counts.events += 1;
        if !self.host_filter.accepts(&event) {
            self.counts.host_filtered.count(&event);
            return Ok(());
        }
        let targets: Vec<usize> = (0..self.workers.len())
            .filter(|&index| self.workers[index].selects(event.name()))
            .collect();
        if !targets.is_empty() {
            // One shared envelope, however many workers take it.
            let envelope = Arc::new(Envelope { event, raw, place });
            for index in targets {
                self.send(index, &envelope);
            }
        }
        self.report_drops(false);
        Ok(())
    }

    fn send(&mut self, worker: usize, envelope: &Arc<Envelope>) {
        let handle = &self.workers[worker];
        // See `evaluate_idle_execs_here`.
        if self.inline_execs
            && envelope.event.kind() == Some(Kind::SchedProcessExec)
            && let Some(mut set) = handle.shared.try_idle()
        {
            handle
                .shared
                .evaluate(&mut set, std::slice::from_ref(envelope), &self.output);
            return;
        }
        // A slot first: when the queue is full, the collector waits (replay)
        // or drops the event (live).
        let slot = match self.backpressure {
            Backpressure::Wait => handle.slots.send(()).is_ok(),
            Backpressure::Drop => handle.slots.try_send(()).is_ok(),
        };
        // Not delivered: the queue is full (live), or the worker is gone
        // (a bug); either way the event is counted as dropped, never lost
        // silently.
        if slot && handle.send(Job::Event(envelope.clone())) {
            return;
        }
        let name = envelope.event.name();
        self.counts.queue_drops += 1;
        self.drops.since_last += 1;
        self.drops.total += 1;
        for signature in handle.running.iter().filter(|s| selects(s, name)) {
            Counters::add(&signature.counters.dropped_events, 1);
            let id = &signature.info.metadata.id;
            match self
                .drops
                .pending
                .iter_mut()
                .find(|(pending, _)| pending == id)
            {
                Some((_, n)) => *n += 1,
                None => self.drops.pending.push((id.clone(), 1)),
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
        self.output.post_record(CoverageRecord::events_dropped(
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
            if worker.send(Job::Signal(Signal::SourceComplete, done.clone())) {
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

#[cfg(test)]
mod tests;
