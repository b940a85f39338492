//! The set of running signatures and the dispatch of events to them.
//!
//! Each dispatch worker owns a set. Changes (a signature loaded, replaced or
//! unloaded) arrive as [`Change`]s built elsewhere — compiled and
//! instantiated off the dispatch path — queued with its events, and are
//! applied between two batches, so every event is evaluated by exactly one
//! version of each signature.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::stop::StopSignal;
use crate::engine::signature::error::EvalError;
use crate::engine::signature::loaded::{LoadedSignature, SignatureInfo};
use crate::engine::wasm::guest_output::LogBudget;
use crate::engine::wasm::model::{Finding, Signal};
use crate::event::Event;

/// Per-signature counters, shared with the status reporter (hence atomic).
#[derive(Debug, Default)]
pub struct Counters {
    /// Events passed to the signature.
    pub events: AtomicU64,
    /// Findings it produced.
    pub findings: AtomicU64,
    /// Failures of any kind: errors it returned plus traps plus limit hits
    /// (a fault of a call of several events counts once, as does each
    /// failure when its events are evaluated again one per call).
    pub errors: AtomicU64,
    /// Traps (panics, `unreachable`, …).
    pub traps: AtomicU64,
    /// Resource limit hits (CPU, memory, stack, findings, finding size).
    pub limit_hits: AtomicU64,
    /// Faults (traps or limit hits, also counted there) of calls holding
    /// several events, whose events were then evaluated again one per call.
    pub batch_faults: AtomicU64,
    /// Events queued for it that were not evaluated because the daemon was
    /// told to stop.
    pub unevaluated: AtomicU64,
    /// Times it was quarantined.
    pub quarantines: AtomicU64,
    /// Selected events it did not see because it was quarantined (or
    /// because a fault ended the call that held them).
    pub missed_events: AtomicU64,
    /// Events it did not see because its worker's queue was full (live).
    pub dropped_events: AtomicU64,
    /// Log bytes dropped over its budget.
    pub dropped_log_bytes: AtomicU64,
    /// While quarantined: until when, in milliseconds since the Unix epoch;
    /// 0 while active.
    pub quarantined_until_ms: AtomicU64,
    /// Time per evaluated event.
    pub evaluation: EvaluationTimes,
    /// Host time spent on its behalf outside its guest calls: matching its
    /// filters against every event, checking its findings, in nanoseconds.
    pub host_ns: AtomicU64,
    /// Bytes of linear memory its instance holds (its state), after its
    /// last call.
    pub memory_bytes: AtomicU64,
}

/// Upper bounds of the evaluation-time buckets, in microseconds.
pub const EVALUATION_BUCKETS_US: [u64; 12] =
    [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10_000];

/// A histogram of time per evaluated event (a guest call of several events
/// counts each at the call's average; a call that faulted and the calls
/// that evaluated its events again count together), for metrics.
#[derive(Debug, Default)]
pub struct EvaluationTimes {
    /// Events at or under each bound of [`EVALUATION_BUCKETS_US`] (not
    /// cumulative); the last slot counts the rest.
    buckets: [AtomicU64; EVALUATION_BUCKETS_US.len() + 1],
    sum_ns: AtomicU64,
}

impl EvaluationTimes {
    /// Records `events` events evaluated in `elapsed` together.
    pub fn record(&self, elapsed: Duration, events: u64) {
        if events == 0 {
            return;
        }
        let nanos = nanos(elapsed);
        let each_us = nanos / events / 1000;
        let slot = EVALUATION_BUCKETS_US
            .iter()
            .position(|&bound| each_us < bound)
            .unwrap_or(EVALUATION_BUCKETS_US.len());
        self.buckets[slot].fetch_add(events, Ordering::Relaxed);
        self.sum_ns.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Adds time spent for the signature that no evaluated event owns (a
    /// call a fault ended, matching filters against events it did not
    /// select) to the sum only.
    pub fn add_time(&self, elapsed: Duration) {
        self.sum_ns.fetch_add(nanos(elapsed), Ordering::Relaxed);
    }

    /// `(sum in seconds, count, cumulative (bound in seconds, count))`, in
    /// the shape Prometheus histograms take (the last bound is +Inf).
    pub fn cumulative(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut total = 0;
        let mut buckets = Vec::with_capacity(EVALUATION_BUCKETS_US.len() + 1);
        for (slot, count) in self.buckets.iter().enumerate() {
            total += count.load(Ordering::Relaxed);
            let bound = EVALUATION_BUCKETS_US
                .get(slot)
                .map_or(f64::INFINITY, |&us| us as f64 / 1e6);
            buckets.push((bound, total));
        }
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        (sum, total, buckets)
    }
}

pub(super) fn nanos(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

/// A snapshot of [`Counters`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SignatureStats {
    /// Events passed to the signature.
    pub events: u64,
    /// Findings it produced.
    pub findings: u64,
    /// Events it failed to evaluate.
    pub errors: u64,
    /// Traps.
    pub traps: u64,
    /// Resource limit hits.
    pub limit_hits: u64,
    /// Faults of calls holding several events.
    pub batch_faults: u64,
    /// Events not evaluated because the daemon was told to stop.
    pub unevaluated: u64,
    /// Quarantines.
    pub quarantines: u64,
    /// Selected events missed while quarantined.
    pub missed_events: u64,
    /// Events dropped because its worker's queue was full.
    pub dropped_events: u64,
    /// Log bytes dropped over its budget.
    pub dropped_log_bytes: u64,
    /// Whether it is quarantined now.
    pub quarantined: bool,
    /// Until when (ms since the Unix epoch), 0 when active.
    pub quarantined_until_ms: u64,
    /// Host time spent on its behalf outside guest calls, in nanoseconds.
    pub host_ns: u64,
    /// Bytes of linear memory its instance holds (a gauge: never summed).
    pub memory_bytes: u64,
}

impl SignatureStats {
    /// Adds `other`'s counts to these (a retired version's to its
    /// successor's, so per-id counters never go down); the quarantine state
    /// stays this one's.
    pub fn add_counts(&mut self, other: &SignatureStats) {
        self.events += other.events;
        self.findings += other.findings;
        self.errors += other.errors;
        self.traps += other.traps;
        self.limit_hits += other.limit_hits;
        self.batch_faults += other.batch_faults;
        self.unevaluated += other.unevaluated;
        self.quarantines += other.quarantines;
        self.missed_events += other.missed_events;
        self.dropped_events += other.dropped_events;
        self.dropped_log_bytes += other.dropped_log_bytes;
        self.host_ns += other.host_ns;
    }
}

impl Counters {
    /// The current values.
    pub fn snapshot(&self) -> SignatureStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SignatureStats {
            events: get(&self.events),
            findings: get(&self.findings),
            errors: get(&self.errors),
            traps: get(&self.traps),
            limit_hits: get(&self.limit_hits),
            batch_faults: get(&self.batch_faults),
            unevaluated: get(&self.unevaluated),
            quarantines: get(&self.quarantines),
            missed_events: get(&self.missed_events),
            dropped_events: get(&self.dropped_events),
            dropped_log_bytes: get(&self.dropped_log_bytes),
            quarantined: get(&self.quarantined_until_ms) != 0,
            quarantined_until_ms: get(&self.quarantined_until_ms),
            host_ns: get(&self.host_ns),
            memory_bytes: get(&self.memory_bytes),
        }
    }

    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A running signature with its counters and finding event id.
pub(super) struct Slot {
    pub(super) signature: LoadedSignature,
    /// A pack's detectors, each with its own counters and quarantine
    /// (empty for a signature; a pack's own counters below then go unused).
    pub(super) members: Vec<super::pack_slot::Member>,
    counters: Arc<Counters>,
    /// When its recent faults (traps, limit hits) happened, for the
    /// quarantine rule.
    faults: VecDeque<Instant>,
    /// While quarantined: when it comes back.
    quarantined_until: Option<Instant>,
    /// After a call of several events faulted: how many more calls hold one
    /// event each.
    singles_left: usize,
    /// Which log lines its returned errors get.
    error_log: ErrorLog,
}

impl Slot {
    /// Counts a failure by kind; a fault (never a returned error) may
    /// quarantine the signature. Returns the quarantine's end when this
    /// failure started one.
    fn record_failure(&mut self, error: &EvalError, now: Instant) -> Option<Duration> {
        record_failure(
            &self.counters,
            &mut self.faults,
            &mut self.quarantined_until,
            self.signature.limits(),
            error,
            now,
        )
    }

    /// How many events its next call may hold: one, for a batch's worth of
    /// calls after a call of several faulted (past its re-run), so a module
    /// that faults on every batch faults at most once per two batches'
    /// worth of events and pays its limit at most once per event meanwhile.
    fn batch_size(&mut self) -> usize {
        if self.singles_left > 0 {
            self.singles_left -= 1;
            return 1;
        }
        self.signature.max_batch()
    }

    /// Handles a failure: counts it, decides whether it is logged, and
    /// notes a quarantine it started.
    fn fail(
        &mut self,
        error: &EvalError,
        now: Instant,
        notices: &mut Vec<Notice>,
    ) -> (Option<Duration>, ErrorReport) {
        let quarantined_for = self.record_failure(error, now);
        let report = if error.is_fault() {
            ErrorReport::Log { suppressed: 0 }
        } else {
            self.error_log.decide(now)
        };
        if let Some(cooldown) = quarantined_for {
            notices.push(Notice {
                signature: status(self),
                change: CoverageChange::Quarantined {
                    reason: error.to_string(),
                    cooldown,
                },
            });
        }
        (quarantined_for, report)
    }

    /// Whether the signature sits out this event; ends a quarantine whose
    /// cool-down is over (with a fresh instance), noting it in `notices`.
    fn sits_out(&mut self, notices: &mut Vec<Notice>) -> bool {
        let Some(until) = self.quarantined_until else {
            return false;
        };
        if Instant::now() < until {
            return true;
        }
        self.quarantined_until = None;
        self.counters
            .quarantined_until_ms
            .store(0, Ordering::Relaxed);
        let restarted = self.signature.restart();
        notices.push(Notice {
            signature: status(self),
            change: CoverageChange::Reenabled {
                restart_error: restarted.err().map(|e| crate::error_chain(&e)),
            },
        });
        false
    }
}

/// Counts a failure by kind in `counters`; a fault (never a returned
/// error) may start a quarantine (`quarantined_until`) under `limits`'
/// rule. Returns the quarantine's length when this failure started one.
pub(super) fn record_failure(
    counters: &Counters,
    faults: &mut VecDeque<Instant>,
    quarantined_until: &mut Option<Instant>,
    limits: &crate::engine::Limits,
    error: &EvalError,
    now: Instant,
) -> Option<Duration> {
    Counters::add(&counters.errors, 1);
    match error {
        EvalError::Trap(_) | EvalError::Unavailable(_) => Counters::add(&counters.traps, 1),
        EvalError::LimitHit { .. } => Counters::add(&counters.limit_hits, 1),
        EvalError::Returned(_) => return None,
    }
    if limits.quarantine_after == 0 {
        return None;
    }
    faults.push_back(now);
    while faults
        .front()
        .is_some_and(|&t| now.duration_since(t) > limits.quarantine_window)
    {
        faults.pop_front();
    }
    if faults.len() < limits.quarantine_after as usize {
        return None;
    }
    faults.clear();
    let nth = counters.quarantines.fetch_add(1, Ordering::Relaxed) + 1;
    let cooldown = limits.cooldown(u32::try_from(nth).unwrap_or(u32::MAX));
    *quarantined_until = Some(now + cooldown);
    counters
        .quarantined_until_ms
        .store(unix_ms(SystemTime::now() + cooldown), Ordering::Relaxed);
    Some(cooldown)
}

/// Where one slot's results go during [`SignatureSet::dispatch_batch`].
pub(super) struct SlotSink<'s, D, F> {
    /// Accepted event (by its index among the slot's accepted events) →
    /// index in the dispatched batch.
    positions: &'s [usize],
    pub(super) on_detection: &'s mut D,
    pub(super) on_failure: &'s mut F,
    pub(super) earliest_release: &'s mut Option<Instant>,
    pub(super) notices: &'s mut Vec<Notice>,
    /// Once due, no guest call starts.
    pub(super) stop: &'s StopSignal,
}

impl Slot {
    /// Counts host time spent for the signature outside its guest calls.
    fn charge_host_time(&self, spent: Duration) {
        Counters::add(&self.counters.host_ns, nanos(spent));
        self.counters.evaluation.add_time(spent);
    }

    /// Evaluates one guest batch (`chunk`, starting at accepted event
    /// `offset`). When a fault ends a call of several events, the fault is
    /// counted like any other, and the events are evaluated again one per
    /// call, so one hostile event cannot hide the findings of the others in
    /// its batch. The time of every call made for them is charged to them.
    fn evaluate<D, F>(
        &mut self,
        chunk: &[(&Arc<Event>, usize)],
        offset: usize,
        sink: &mut SlotSink<'_, D, F>,
    ) where
        D: FnMut(usize, Detection<'_>),
        F: FnMut(usize, Failure<'_>),
    {
        if self.sits_out(sink.notices) {
            Counters::add(&self.counters.missed_events, chunk.len() as u64);
            return;
        }
        // Events count as evaluated once a call holding them returns (or
        // faults on them alone). Every call's time counts, a faulted one's
        // too (copying its output out of the guest may be what took it).
        let started = Instant::now();
        let evaluated_before = self.counters.events.load(Ordering::Relaxed);
        match self.signature.on_events(chunk) {
            Ok(outcomes) => {
                Counters::add(&self.counters.events, chunk.len() as u64);
                self.deliver(outcomes, offset, sink);
            }
            Err(error) if chunk.len() > 1 => {
                Counters::add(&self.counters.batch_faults, 1);
                self.singles_left = self.signature.max_batch();
                self.report(error, offset, chunk.len(), sink);
                self.evaluate_one_by_one(chunk, offset, sink);
            }
            Err(error) => {
                Counters::add(&self.counters.events, 1);
                self.report(error, offset, 1, sink);
            }
        }
        let evaluated = self.counters.events.load(Ordering::Relaxed) - evaluated_before;
        self.counters
            .evaluation
            .record(started.elapsed(), evaluated.max(1));
    }

    /// Evaluates the events of a call that faulted again, one per call,
    /// until the signature is quarantined or the daemon stops.
    fn evaluate_one_by_one<D, F>(
        &mut self,
        chunk: &[(&Arc<Event>, usize)],
        offset: usize,
        sink: &mut SlotSink<'_, D, F>,
    ) where
        D: FnMut(usize, Detection<'_>),
        F: FnMut(usize, Failure<'_>),
    {
        for (index, item) in chunk.iter().enumerate() {
            let left = (chunk.len() - index) as u64;
            if sink.stop.due() {
                Counters::add(&self.counters.unevaluated, left);
                return;
            }
            if self.sits_out(sink.notices) {
                Counters::add(&self.counters.missed_events, left);
                return;
            }
            Counters::add(&self.counters.events, 1);
            match self.signature.on_events(std::slice::from_ref(item)) {
                Ok(outcomes) => self.deliver(outcomes, offset + index, sink),
                Err(error) => self.report(error, offset + index, 1, sink),
            }
        }
    }

    /// Hands findings and per-event errors to the sink.
    fn deliver<D, F>(
        &mut self,
        outcomes: Vec<crate::engine::signature::loaded::EventOutcome>,
        offset: usize,
        sink: &mut SlotSink<'_, D, F>,
    ) where
        D: FnMut(usize, Detection<'_>),
        F: FnMut(usize, Failure<'_>),
    {
        for (index, result) in outcomes {
            match result {
                Ok(findings) => {
                    Counters::add(&self.counters.findings, findings.len() as u64);
                    let position = sink.positions[offset + index];
                    for finding in findings {
                        (sink.on_detection)(
                            position,
                            Detection {
                                signature: self.signature.info(),
                                event_id: self.signature.info().event_id,
                                finding,
                            },
                        );
                    }
                }
                Err(error) => self.report(error, offset + index, 1, sink),
            }
        }
    }

    /// Counts and reports a failure: of the event at `accepted_index`, or
    /// of a call of `events` events starting there.
    fn report<D, F>(
        &mut self,
        error: EvalError,
        accepted_index: usize,
        events: usize,
        sink: &mut SlotSink<'_, D, F>,
    ) where
        D: FnMut(usize, Detection<'_>),
        F: FnMut(usize, Failure<'_>),
    {
        let (quarantined_for, report) = self.fail(&error, Instant::now(), sink.notices);
        *sink.earliest_release = earlier(*sink.earliest_release, self.quarantined_until);
        (sink.on_failure)(
            sink.positions[accepted_index],
            Failure {
                signature: self.signature.info(),
                error,
                events,
                quarantined_for,
                report,
                log: self.signature.log_budget(),
            },
        );
    }
}

/// Rate limit for the log lines of errors a signature returns: the first
/// [`ErrorLog::FULL`] in full, then one line per [`ErrorLog::PERIOD`] saying
/// how many more there were, so a malformed stream cannot flood the log.
#[derive(Default)]
pub(super) struct ErrorLog {
    logged: u32,
    suppressed: u64,
    last_summary: Option<Instant>,
}

impl ErrorLog {
    const FULL: u32 = 5;
    const PERIOD: Duration = Duration::from_secs(10);

    pub(super) fn decide(&mut self, now: Instant) -> ErrorReport {
        if self.logged < Self::FULL {
            self.logged += 1;
            return ErrorReport::Log { suppressed: 0 };
        }
        if self
            .last_summary
            .is_none_or(|t| now.duration_since(t) >= Self::PERIOD)
        {
            self.last_summary = Some(now);
            let suppressed = std::mem::take(&mut self.suppressed);
            return ErrorReport::Log { suppressed };
        }
        self.suppressed += 1;
        ErrorReport::Suppressed
    }
}

/// Whether a failure gets a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorReport {
    /// Log it; `suppressed` similar errors were not logged since the last line.
    Log {
        /// Errors not logged since the previous line.
        suppressed: u64,
    },
    /// Counted only (rate limit).
    Suppressed,
}

/// A change in what a signature can detect, written where findings go.
#[derive(Debug, Clone)]
pub enum CoverageChange {
    /// Disabled for `cooldown` after too many faults.
    Quarantined {
        /// The fault that tipped it over.
        reason: String,
        /// How long it stays disabled.
        cooldown: Duration,
    },
    /// Back after its cool-down, with a fresh instance (or, if that failed,
    /// why: it then fails each event until the next quarantine).
    Reenabled {
        /// Why a fresh instance could not be made, if it could not.
        restart_error: Option<String>,
    },
    /// A new version of its file was rejected; the running version stays.
    UpdateRejected {
        /// Why the new version was rejected.
        reason: String,
        /// The sha256 of the rejected bytes, when the file now holds them
        /// (a restart would load them, not the running version).
        file_sha256: Option<String>,
    },
}

/// A coverage change and the signature it concerns (state after the change).
#[derive(Debug, Clone)]
pub struct Notice {
    /// The signature, with its counters.
    pub signature: SignatureStatus,
    /// What changed.
    pub change: CoverageChange,
}

/// Milliseconds since the Unix epoch (never 0 for a real time).
pub fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .max(1)
}

/// What a [`SignatureSet`] reports about one running signature.
#[derive(Debug, Clone)]
pub struct SignatureStatus {
    /// Its file, digest, metadata and selected events.
    pub info: SignatureInfo,
    /// The event id its findings carry.
    pub event_id: u32,
    /// Its live counters.
    pub counters: Arc<Counters>,
}

/// A finding together with the signature that produced it.
pub struct Detection<'a> {
    /// The signature's metadata, file and digest.
    pub signature: &'a SignatureInfo,
    /// The event id of the signature's findings.
    pub event_id: u32,
    /// What the signature returned.
    pub finding: Finding,
}

/// An event a signature failed to evaluate.
pub struct Failure<'a> {
    /// The signature.
    pub signature: &'a SignatureInfo,
    /// Why.
    pub error: EvalError,
    /// Events in the call that failed: 1, or more when a call of several
    /// events faulted (each is then evaluated again, one per call).
    pub events: usize,
    /// When this failure quarantined the signature: for how long.
    pub quarantined_for: Option<Duration>,
    /// Whether to log it (returned errors are rate-limited).
    pub report: ErrorReport,
    /// The signature's log budget: failure lines are its output too.
    pub log: &'a LogBudget,
}

/// A change to the set, prepared off the dispatch path.
pub enum Change {
    /// Run this signature; it replaces whatever ran from the same file.
    Upsert(Box<LoadedSignature>),
    /// Stop running the signature loaded from this file.
    Remove(PathBuf),
    /// A new version of this file was rejected (the reason given); whatever
    /// runs from it keeps running.
    Rejected {
        /// The file.
        path: PathBuf,
        /// Why, in one line.
        reason: String,
        /// The sha256 of the rejected bytes when the file holds them (none
        /// when they could not be read, or never reached the file, as a
        /// version `sigbox pull` refused).
        file_sha256: Option<String>,
    },
    /// The file holds the running version's bytes again after a rejected
    /// update: nothing changes but what status says of the file.
    Restored(PathBuf),
    /// The signature running from `from` keeps running, from `to` (the same
    /// bytes under another name: a rename, or a hard link left behind).
    Moved {
        /// The name that went.
        from: PathBuf,
        /// The name it runs from now.
        to: PathBuf,
    },
}

/// What applying a [`Change`] did.
#[derive(Debug, Clone)]
pub enum Applied {
    /// A new signature runs.
    Loaded(SignatureStatus),
    /// A new version replaced `old`, whose final state is given.
    Replaced {
        /// The version that stopped.
        old: Box<SignatureStatus>,
        /// The version now running.
        new: Box<SignatureStatus>,
    },
    /// The signature stopped; its final state.
    Unloaded(SignatureStatus),
    /// The signature runs on, known by another file name.
    Moved(SignatureStatus),
    /// Nothing was running from that file.
    NotLoaded(PathBuf),
    /// Nothing changed (a rejected update: the running version stays).
    Unchanged,
}

/// The running signatures, indexed by the event names they select.
#[derive(Default)]
pub struct SignatureSet {
    slots: Vec<Slot>,
    /// Coverage changes not yet taken by [`SignatureSet::take_notices`].
    notices: Vec<Notice>,
    /// When the earliest quarantine ends, if any signature is quarantined.
    earliest_release: Option<Instant>,
    /// The daemon's stop request: once due, no guest call starts.
    stop: Arc<StopSignal>,
}

impl SignatureSet {
    /// Applies one change. Duplicate ids are not checked here: the catalog
    /// that prepares changes owns that rule (see `engine::reload::catalog`).
    pub fn apply(&mut self, change: Change) -> Applied {
        match change {
            Change::Upsert(signature) => self.upsert(*signature, Arc::default()),
            Change::Remove(path) => match self.position(&path) {
                Some(index) => Applied::Unloaded(status(&self.slots.remove(index))),
                None => Applied::NotLoaded(path),
            },
            Change::Rejected {
                path,
                reason,
                file_sha256,
            } => {
                if let Some(index) = self.position(&path) {
                    self.notices.push(Notice {
                        signature: status(&self.slots[index]),
                        change: CoverageChange::UpdateRejected {
                            reason,
                            file_sha256,
                        },
                    });
                }
                Applied::Unchanged
            }
            Change::Restored(_) => Applied::Unchanged,
            Change::Moved { from, to } => match self.position(&from) {
                Some(index) => {
                    self.slots[index].signature.set_path(to);
                    Applied::Moved(status(&self.slots[index]))
                }
                None => Applied::NotLoaded(from),
            },
        }
    }

    /// Runs `signature`, counting in `counters` (shared with whoever counts
    /// on its behalf, as the collector its dropped events); it replaces
    /// whatever ran from the same file.
    pub fn upsert(&mut self, signature: LoadedSignature, counters: Arc<Counters>) -> Applied {
        // A pack's first detector counts in `counters`; the others in
        // their own.
        let members = (signature.members().iter().enumerate())
            .map(|(index, declared)| {
                let counters = if index == 0 {
                    counters.clone()
                } else {
                    declared.counters.clone()
                };
                super::pack_slot::Member::new(index, counters)
            })
            .collect();
        let slot = Slot {
            signature,
            members,
            counters,
            faults: VecDeque::new(),
            quarantined_until: None,
            singles_left: 0,
            error_log: ErrorLog::default(),
        };
        let path = slot.signature.info().path.clone();
        match self.position(&path) {
            Some(index) => {
                let old = std::mem::replace(&mut self.slots[index], slot);
                Applied::Replaced {
                    old: Box::new(status(&old)),
                    new: Box::new(status(&self.slots[index])),
                }
            }
            None => {
                self.slots.push(slot);
                Applied::Loaded(status(self.slots.last().expect("just pushed")))
            }
        }
    }

    /// Makes `stop` the request this set obeys: once it is due, events are
    /// counted as not evaluated instead of being passed to a signature.
    pub fn obey(&mut self, stop: Arc<StopSignal>) {
        self.stop = stop;
    }

    fn position(&self, path: &Path) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.signature.info().path == path)
    }

    /// How many signatures run.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when none runs.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The running signatures (a pack's detectors one by one) and their
    /// counters, in load order.
    pub fn status(&self) -> Vec<SignatureStatus> {
        self.slots
            .iter()
            .flat_map(|slot| {
                if slot.members.is_empty() {
                    vec![status(slot)]
                } else {
                    super::pack_slot::statuses(slot)
                }
            })
            .collect()
    }

    /// Passes `event` to every signature whose selectors accept it; see
    /// [`Self::dispatch_batch`].
    pub fn dispatch(
        &mut self,
        event: &Arc<Event>,
        mut on_detection: impl FnMut(Detection<'_>),
        mut on_failure: impl FnMut(Failure<'_>),
    ) {
        self.dispatch_batch(
            std::slice::from_ref(event),
            |_, detection| on_detection(detection),
            |_, failure| on_failure(failure),
        );
    }

    /// Passes each of `events` to every signature whose selectors accept it
    /// (name, origin and field filters, checked here without calling the
    /// guest), calling `on_detection` for each finding and `on_failure` for
    /// each event a signature failed on, with the event's index in
    /// `events`. Each signature sees its events in order, in batches of up
    /// to [`LoadedSignature::max_batch`] (one event per call for a batch's
    /// worth of calls after a batch of its faulted). A failing signature never stops the
    /// others. Once the stop request is due, no guest call starts: the
    /// events left are counted as not evaluated.
    pub fn dispatch_batch(
        &mut self,
        events: &[Arc<Event>],
        mut on_detection: impl FnMut(usize, Detection<'_>),
        mut on_failure: impl FnMut(usize, Failure<'_>),
    ) {
        let mut accepted: Vec<(&Arc<Event>, usize)> = Vec::with_capacity(events.len());
        let mut positions: Vec<usize> = Vec::with_capacity(events.len());
        for slot in &mut self.slots {
            if !slot.members.is_empty() {
                let mut sink = SlotSink {
                    positions: &[],
                    on_detection: &mut on_detection,
                    on_failure: &mut on_failure,
                    earliest_release: &mut self.earliest_release,
                    notices: &mut self.notices,
                    stop: &self.stop,
                };
                super::pack_slot::dispatch(slot, events, &mut sink);
                continue;
            }
            accepted.clear();
            positions.clear();
            // Matching its filters is host work done for this signature:
            // charged to it, whether or not it selects the events.
            let filtering = Instant::now();
            for (position, event) in events.iter().enumerate() {
                if let Some(selector) = slot.signature.selector_for(event) {
                    accepted.push((event, selector));
                    positions.push(position);
                }
            }
            slot.charge_host_time(filtering.elapsed());
            if accepted.is_empty() {
                continue;
            }
            let mut sink = SlotSink {
                positions: &positions,
                on_detection: &mut on_detection,
                on_failure: &mut on_failure,
                earliest_release: &mut self.earliest_release,
                notices: &mut self.notices,
                stop: &self.stop,
            };
            let mut offset = 0;
            while offset < accepted.len() {
                if sink.stop.due() {
                    let left = (accepted.len() - offset) as u64;
                    Counters::add(&slot.counters.unevaluated, left);
                    break;
                }
                let end = accepted.len().min(offset + slot.batch_size());
                slot.evaluate(&accepted[offset..end], offset, &mut sink);
                offset = end;
            }
            // Checking its output ran inside the timed calls: already in
            // the evaluation time, so only the host counter takes it.
            let checking = slot.signature.take_host_time();
            Counters::add(&slot.counters.host_ns, nanos(checking));
            let dropped = slot.signature.dropped_log_bytes();
            slot.counters
                .dropped_log_bytes
                .store(dropped, Ordering::Relaxed);
            slot.counters
                .memory_bytes
                .store(slot.signature.memory_bytes(), Ordering::Relaxed);
        }
    }

    /// Ends the quarantines whose cool-down is over. Called before each
    /// event (so a re-enable is reported before the signature's next
    /// finding) and when idle; free while nothing is quarantined.
    pub fn tick(&mut self) {
        // A re-enable runs `init`: a guest call, which a stop forbids.
        if self.stop.due() {
            return;
        }
        let Some(release) = self.earliest_release else {
            return;
        };
        let now = Instant::now();
        if now < release {
            return;
        }
        for slot in &mut self.slots {
            slot.sits_out(&mut self.notices);
            super::pack_slot::end_quarantines(slot, &mut self.notices);
        }
        self.earliest_release = self
            .slots
            .iter()
            .flat_map(|s| {
                let members = s.members.iter().map(|m| m.quarantined_until);
                std::iter::once(s.quarantined_until).chain(members)
            })
            .flatten()
            .min();
    }

    /// Coverage changes since the last call, oldest first.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Sends `signal` to every signature, reporting those that fail.
    pub fn signal(&mut self, signal: Signal, mut on_failure: impl FnMut(Failure<'_>)) {
        let now = Instant::now();
        for slot in &mut self.slots {
            if !slot.members.is_empty() {
                super::pack_slot::signal(
                    slot,
                    signal,
                    &mut self.notices,
                    &mut self.earliest_release,
                    &mut on_failure,
                );
                continue;
            }
            if slot.sits_out(&mut self.notices) {
                continue;
            }
            if let Err(error) = slot.signature.on_signal(signal) {
                let (quarantined_for, report) = slot.fail(&error, now, &mut self.notices);
                self.earliest_release = earlier(self.earliest_release, slot.quarantined_until);
                on_failure(Failure {
                    signature: slot.signature.info(),
                    error,
                    events: 1,
                    quarantined_for,
                    report,
                    log: slot.signature.log_budget(),
                });
            }
        }
    }
}

/// What will run when `signature` is upserted with `counters`: its status,
/// or a pack's detectors' one by one (the first counting in `counters`,
/// as [`SignatureSet::upsert`] does).
pub fn statuses_of(signature: &LoadedSignature, counters: &Arc<Counters>) -> Vec<SignatureStatus> {
    let status = |info: &SignatureInfo, counters: &Arc<Counters>| SignatureStatus {
        info: info.clone(),
        event_id: info.event_id,
        counters: counters.clone(),
    };
    match signature.members() {
        [] => vec![status(signature.info(), counters)],
        members => (members.iter().enumerate())
            .map(|(index, m)| status(&m.info, if index == 0 { counters } else { &m.counters }))
            .collect(),
    }
}

/// The earlier of two optional instants.
pub(super) fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn status(slot: &Slot) -> SignatureStatus {
    slot.counters
        .memory_bytes
        .store(slot.signature.memory_bytes(), Ordering::Relaxed);
    SignatureStatus {
        info: slot.signature.info().clone(),
        event_id: slot.signature.info().event_id,
        counters: slot.counters.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Limits, Runtime, RuntimeOptions};
    use crate::event::{Context, Kind};

    /// A test guest built by `make` (`bash guest-signatures/build.sh`),
    /// loaded with default limits.
    fn load(name: &str) -> LoadedSignature {
        load_as(name, name, Limits::default())
    }

    /// The test guest `name`, loaded under `limits` as if from the file
    /// `as_file`.wasm (two builds can then be versions of one file). Fails
    /// saying what to run when the guests are not built: `make test` builds
    /// them before the unit tests.
    fn load_as(name: &str, as_file: &str, limits: Limits) -> LoadedSignature {
        let built = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/signatures-test")
            .join(format!("{name}.wasm"));
        let bytes = std::fs::read(&built).unwrap_or_else(|error| {
            panic!(
                "{}: {error}; build the test guests first (make all)",
                built.display()
            )
        });
        let runtime = Runtime::with_options(RuntimeOptions {
            limits,
            compile_cache: false,
            ..RuntimeOptions::default()
        })
        .unwrap();
        let path = Path::new("/signatures").join(format!("{as_file}.wasm"));
        LoadedSignature::from_bytes(&runtime, &path, &bytes, &[]).unwrap()
    }

    fn exec_event(pid: u32) -> Arc<Event> {
        named_exec(pid, "ls")
    }

    fn named_exec(pid: u32, process_name: &str) -> Arc<Event> {
        let context = Context {
            timestamp_ns: u64::from(pid),
            pid,
            tid: pid,
            ppid: 1,
            host_pid: pid,
            host_tid: pid,
            host_ppid: 1,
            process_name: process_name.into(),
            executable_path: "/bin/ls".into(),
            ..Context::default()
        };
        Arc::new(Event::new(context, Kind::SchedProcessExec))
    }

    /// Dispatches `events`, returning each failure as (index, events in
    /// the failed call, whether it is a fault).
    fn dispatch(set: &mut SignatureSet, events: &[Arc<Event>]) -> Vec<(usize, usize, bool)> {
        let mut failures = Vec::new();
        set.dispatch_batch(
            events,
            |_, _| panic!("the test module finds nothing"),
            |index, failure| failures.push((index, failure.events, failure.error.is_fault())),
        );
        failures
    }

    #[test]
    fn a_batch_fault_is_counted_and_charged_and_the_next_calls_hold_one_event() {
        let signature = load("batchfault-trap");
        let mut set = SignatureSet::default();
        set.apply(Change::Upsert(Box::new(signature)));
        let events: Vec<Arc<Event>> = (1..=5).map(exec_event).collect();
        // The call of five traps: one fault, reported at its first event;
        // the five are evaluated again one per call, without fault.
        assert_eq!(dispatch(&mut set, &events), vec![(0, 5, true)]);
        let counters = set.status()[0].counters.clone();
        let stats = counters.snapshot();
        assert_eq!(
            (stats.events, stats.errors, stats.traps, stats.batch_faults),
            (5, 1, 1, 1)
        );
        // Its time (the call and the re-run) is charged to the five.
        let (seconds, count, _) = counters.evaluation.cumulative();
        assert_eq!(count, 5);
        assert!(seconds > 0.0);
        // The next events go one per call: no batch, no fault.
        assert!(dispatch(&mut set, &events).is_empty());
        let stats = counters.snapshot();
        assert_eq!((stats.events, stats.batch_faults), (10, 1));
    }

    /// Dispatches `events`, returning (event index, signature id, the
    /// finding's `version` or `ok` value) per detection, in the order given.
    fn detections(set: &mut SignatureSet, events: &[Arc<Event>]) -> Vec<(usize, String, String)> {
        let mut found = Vec::new();
        set.dispatch_batch(
            events,
            |index, detection| {
                let value = detection
                    .finding
                    .data
                    .iter()
                    .find(|f| f.name == "version" || f.name == "ok")
                    .map(|f| format!("{:?}", f.value))
                    .unwrap_or_default();
                found.push((index, detection.signature.metadata.id.clone(), value));
            },
            |_, failure| panic!("no failure expected: {}", failure.error),
        );
        found
    }

    #[test]
    fn a_faulting_signature_is_quarantined_misses_events_then_comes_back_fresh() {
        let limits = Limits {
            quarantine_after: 2,
            quarantine_cooldown: Duration::from_millis(200),
            ..Limits::default()
        };
        let mut set = SignatureSet::default();
        set.apply(Change::Upsert(Box::new(load_as(
            "trap-on-marker",
            "trap-on-marker",
            limits,
        ))));
        let counters = set.status()[0].counters.clone();
        // Two faults within the window: quarantined, said once.
        for pid in [1, 2] {
            assert_eq!(dispatch(&mut set, &[named_exec(pid, "trapme")]).len(), 1);
        }
        let notices = set.take_notices();
        assert!(
            matches!(&notices[..], [Notice { change: CoverageChange::Quarantined { cooldown, .. }, .. }] if *cooldown == Duration::from_millis(200)),
            "{notices:?}"
        );
        assert!(counters.snapshot().quarantined);
        // While quarantined, what it selects is missed and counted.
        assert!(detections(&mut set, &[named_exec(3, "markerok")]).is_empty());
        assert_eq!(counters.snapshot().missed_events, 1);
        // Once the cool-down is over it is back, with a fresh instance.
        std::thread::sleep(Duration::from_millis(250));
        let found = detections(&mut set, &[named_exec(4, "markerok")]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(matches!(
            &set.take_notices()[..],
            [Notice {
                change: CoverageChange::Reenabled {
                    restart_error: None
                },
                ..
            }]
        ));
        let stats = counters.snapshot();
        assert_eq!(
            (stats.quarantines, stats.quarantined, stats.traps),
            (1, false, 2)
        );
    }

    #[test]
    fn each_signature_sees_its_events_in_order_and_a_new_version_takes_over() {
        let mut set = SignatureSet::default();
        set.apply(Change::Upsert(Box::new(load_as(
            "versioned-v1",
            "versioned",
            Limits::default(),
        ))));
        set.apply(Change::Upsert(Box::new(load_as(
            "trap-on-marker",
            "trap-on-marker",
            Limits::default(),
        ))));
        let events: Vec<Arc<Event>> = (0..5)
            .map(|pid| named_exec(pid, if pid % 2 == 0 { "markerok" } else { "ls" }))
            .collect();
        let found = detections(&mut set, &events);
        let of = |id: &str| -> Vec<usize> {
            found
                .iter()
                .filter(|(_, s, _)| s == id)
                .map(|(i, _, _)| *i)
                .collect()
        };
        assert_eq!(of("TEST-VERSIONED"), vec![0, 1, 2, 3, 4]);
        assert_eq!(of("TRAP-ON-MARKER"), vec![0, 2, 4]);
        assert!(
            found
                .iter()
                .all(|(_, id, v)| id != "TEST-VERSIONED" || v.contains('1'))
        );

        // The same file's next version replaces it: later events meet v2
        // only, and the old version's final counters are handed back.
        let applied = set.apply(Change::Upsert(Box::new(load_as(
            "versioned-v2",
            "versioned",
            Limits::default(),
        ))));
        let Applied::Replaced { old, new } = applied else {
            panic!("not a replacement");
        };
        assert_eq!(old.counters.snapshot().events, 5);
        assert_eq!(new.counters.snapshot().events, 0);
        assert_eq!(set.len(), 2);
        let found = detections(&mut set, &events[..1]);
        let versions: Vec<&str> = found
            .iter()
            .filter(|(_, id, _)| id == "TEST-VERSIONED")
            .map(|(_, _, v)| v.as_str())
            .collect();
        assert_eq!(versions.len(), 1);
        assert!(versions[0].contains('2'), "{versions:?}");
    }

    #[test]
    fn a_packs_detectors_find_under_their_own_ids_and_a_hostile_one_is_quarantined_alone() {
        let limits = Limits {
            quarantine_after: 2,
            quarantine_cooldown: Duration::from_secs(3600),
            ..Limits::default()
        };
        let mut set = SignatureSet::default();
        set.apply(Change::Upsert(Box::new(load_as(
            "pack-hostile",
            "pack-hostile",
            limits,
        ))));
        set.apply(Change::Upsert(Box::new(load("trap-on-marker"))));
        let ids: Vec<String> = set
            .status()
            .iter()
            .map(|s| s.info.metadata.id.clone())
            .collect();
        assert_eq!(
            ids,
            [
                "PACK-FIND-1",
                "PACK-HOSTILE",
                "PACK-FIND-2",
                "TRAP-ON-MARKER"
            ]
        );
        let mut found = detections(&mut set, &[named_exec(1, "packmark")]);
        found.sort();
        let of_event: Vec<&str> = found.iter().map(|(_, id, _)| id.as_str()).collect();
        assert_eq!(of_event, ["PACK-FIND-1", "PACK-FIND-2", "PACK-HOSTILE"]);

        // A batch where the hostile detector traps: the others' findings of
        // the whole batch come, the hostile one's of the other events too.
        let collect = |set: &mut SignatureSet, events: &[Arc<Event>]| {
            let (mut found, mut failed) = (Vec::new(), Vec::new());
            set.dispatch_batch(
                events,
                |index, d| found.push((index, d.signature.metadata.id.clone())),
                |index, f| failed.push((index, f.signature.metadata.id.clone(), f.events)),
            );
            found.sort();
            (found, failed)
        };
        let batch = [
            named_exec(2, "packmark"),
            named_exec(3, "packtrap"),
            named_exec(4, "markerok"),
        ];
        let (found, failed) = collect(&mut set, &batch);
        let id = |s: &str| s.to_owned();
        assert_eq!(
            found,
            [
                (0, id("PACK-FIND-1")),
                (0, id("PACK-FIND-2")),
                (0, id("PACK-HOSTILE")),
                (2, id("TRAP-ON-MARKER"))
            ]
        );
        // Its own call of its three events faulted, then the single one
        // did: two faults, quarantined (its third event is missed).
        assert_eq!(
            failed,
            [(0, id("PACK-HOSTILE"), 3), (1, id("PACK-HOSTILE"), 1)]
        );
        let notices = set.take_notices();
        assert!(
            matches!(&notices[..], [Notice { signature, change: CoverageChange::Quarantined { .. } }] if signature.info.metadata.id == "PACK-HOSTILE"),
            "{notices:?}"
        );
        // Quarantined alone: the others go on finding; it misses events.
        let (found, failed) = collect(&mut set, &[named_exec(5, "packmark")]);
        assert_eq!(found, [(0, id("PACK-FIND-1")), (0, id("PACK-FIND-2"))]);
        assert!(failed.is_empty());
        let stats: Vec<SignatureStats> =
            set.status().iter().map(|s| s.counters.snapshot()).collect();
        assert_eq!(
            stats
                .iter()
                .map(|s| (s.findings, s.quarantined))
                .collect::<Vec<_>>(),
            [(3, false), (2, true), (3, false), (1, false)]
        );
        assert_eq!((stats[1].traps, stats[1].missed_events), (2, 2));
        assert_eq!((stats[0].traps, stats[0].batch_faults), (0, 1));
    }

    #[test]
    fn once_the_stop_is_due_no_event_reaches_a_signature_and_each_is_counted() {
        let signature = load("batchfault-trap");
        let mut set = SignatureSet::default();
        let stop = Arc::new(StopSignal::default());
        set.obey(stop.clone());
        set.apply(Change::Upsert(Box::new(signature)));
        stop.request(Duration::ZERO);
        let events: Vec<Arc<Event>> = (1..=5).map(exec_event).collect();
        // A batch would trap: no call was made.
        assert!(dispatch(&mut set, &events).is_empty());
        let stats = set.status()[0].counters.snapshot();
        assert_eq!((stats.events, stats.unevaluated, stats.errors), (0, 5, 0));
    }
}
