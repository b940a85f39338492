//! The set of running signatures and the dispatch of events to them.
//!
//! The set lives on the dispatch thread. Changes (a signature loaded,
//! replaced or unloaded) arrive as [`Change`]s built elsewhere — compiled and
//! instantiated off the dispatch path — and are applied between two events, so
//! every event is evaluated by exactly one version of each signature.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::error::EvalError;
use super::selector::Selector;
use super::signature::{LoadedSignature, SignatureInfo};
use crate::wit::{Event, Finding, Signal};

/// Tracee numbers signature events from 6000; findings use these ids.
const FIRST_SIGNATURE_EVENT_ID: u32 = 6000;

/// Per-signature counters, shared with the status reporter (hence atomic).
#[derive(Debug, Default)]
pub struct Counters {
    /// Events passed to the signature.
    pub events: AtomicU64,
    /// Findings it produced.
    pub findings: AtomicU64,
    /// Events it failed to evaluate, for any reason (the sum of the next
    /// three plus errors it returned itself).
    pub errors: AtomicU64,
    /// Traps (panics, `unreachable`, …).
    pub traps: AtomicU64,
    /// Resource limit hits (CPU, memory, stack, findings, finding size).
    pub limit_hits: AtomicU64,
    /// Times it was quarantined (0 or 1 per loaded version).
    pub quarantines: AtomicU64,
    /// Log bytes dropped over its budget.
    pub dropped_log_bytes: AtomicU64,
    /// Whether it is quarantined: disabled until its file changes.
    pub quarantined: std::sync::atomic::AtomicBool,
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
    /// Quarantines.
    pub quarantines: u64,
    /// Log bytes dropped over its budget.
    pub dropped_log_bytes: u64,
    /// Whether it is quarantined now.
    pub quarantined: bool,
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
            quarantines: get(&self.quarantines),
            dropped_log_bytes: get(&self.dropped_log_bytes),
            quarantined: self.quarantined.load(Ordering::Relaxed),
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A running signature with its counters and finding event id.
struct Slot {
    signature: LoadedSignature,
    /// Its selectors, compiled for the dispatch path.
    selectors: Vec<Selector>,
    event_id: u32,
    counters: Arc<Counters>,
    /// When its recent failures happened, for the quarantine rule.
    failures: VecDeque<Instant>,
}

impl Slot {
    /// Counts a failure by kind; quarantines the signature when it has failed
    /// `quarantine_after` times within `quarantine_window`. Returns true when
    /// this failure quarantined it.
    fn record_failure(&mut self, error: &EvalError) -> bool {
        let counters = &self.counters;
        Counters::add(&counters.errors, 1);
        match error {
            EvalError::Trap(_) | EvalError::Unavailable(_) => Counters::add(&counters.traps, 1),
            EvalError::LimitHit { .. } => Counters::add(&counters.limit_hits, 1),
            EvalError::Returned(_) => {}
        }
        let limits = self.signature.limits();
        if limits.quarantine_after == 0 {
            return false;
        }
        let now = Instant::now();
        self.failures.push_back(now);
        while self
            .failures
            .front()
            .is_some_and(|&t| now.duration_since(t) > limits.quarantine_window)
        {
            self.failures.pop_front();
        }
        if self.failures.len() < limits.quarantine_after as usize {
            return false;
        }
        counters.quarantined.store(true, Ordering::Relaxed);
        Counters::add(&counters.quarantines, 1);
        true
    }

    fn quarantined(&self) -> bool {
        self.counters.quarantined.load(Ordering::Relaxed)
    }
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
    /// True when this failure quarantined the signature.
    pub quarantined: bool,
}

/// A change to the set, prepared off the dispatch path.
pub enum Change {
    /// Run this signature; it replaces whatever ran from the same file.
    Upsert(Box<LoadedSignature>),
    /// Stop running the signature loaded from this file.
    Remove(PathBuf),
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
    /// Nothing was running from that file.
    NotLoaded(PathBuf),
}

/// The running signatures, indexed by the event names they select.
#[derive(Default)]
pub struct SignatureSet {
    slots: Vec<Slot>,
    /// Event name → indexes into `slots` of signatures selecting it.
    by_event: HashMap<String, Vec<usize>>,
    /// Signature id → finding event id, stable across reloads within a run.
    event_ids: HashMap<String, u32>,
}

impl SignatureSet {
    /// Applies one change. Duplicate ids are not checked here: the catalog
    /// that prepares changes owns that rule (see `engine::catalog`).
    pub fn apply(&mut self, change: Change) -> Applied {
        let applied = match change {
            Change::Upsert(signature) => {
                let signature = *signature;
                let id = signature.metadata().id.clone();
                let next = FIRST_SIGNATURE_EVENT_ID + self.event_ids.len() as u32;
                let event_id = *self.event_ids.entry(id).or_insert(next);
                let selectors = signature
                    .info()
                    .selected_events
                    .iter()
                    .map(Selector::new)
                    .collect();
                let slot = Slot {
                    signature,
                    selectors,
                    event_id,
                    counters: Arc::default(),
                    failures: VecDeque::new(),
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
            Change::Remove(path) => match self.position(&path) {
                Some(index) => Applied::Unloaded(status(&self.slots.remove(index))),
                None => Applied::NotLoaded(path),
            },
        };
        self.reindex();
        applied
    }

    fn position(&self, path: &Path) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.signature.info().path == path)
    }

    fn reindex(&mut self) {
        self.by_event.clear();
        for (index, slot) in self.slots.iter().enumerate() {
            for selector in &slot.selectors {
                let entry = self.by_event.entry(selector.name().to_owned()).or_default();
                if !entry.contains(&index) {
                    entry.push(index);
                }
            }
        }
    }

    /// How many signatures run.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when none runs.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The running signatures and their counters, in load order.
    pub fn status(&self) -> Vec<SignatureStatus> {
        self.slots.iter().map(status).collect()
    }

    /// Passes `event` to every signature whose selectors accept it (name,
    /// origin and field filters, checked here without calling the guest),
    /// calling `on_detection` for each finding and `on_failure` for each
    /// signature that failed on it. A failing signature never stops the others.
    pub fn dispatch(
        &mut self,
        event: &Event,
        mut on_detection: impl FnMut(Detection<'_>),
        mut on_failure: impl FnMut(Failure<'_>),
    ) {
        let Some(indexes) = self.by_event.get(&event.name) else {
            return;
        };
        for &index in indexes {
            let slot = &mut self.slots[index];
            if slot.quarantined() {
                continue;
            }
            if !slot.selectors.iter().any(|s| s.accepts(event)) {
                continue;
            }
            Counters::add(&slot.counters.events, 1);
            match slot.signature.on_event(event) {
                Ok(findings) => {
                    Counters::add(&slot.counters.findings, findings.len() as u64);
                    for finding in findings {
                        on_detection(Detection {
                            signature: slot.signature.info(),
                            event_id: slot.event_id,
                            finding,
                        });
                    }
                }
                Err(error) => {
                    let quarantined = slot.record_failure(&error);
                    on_failure(Failure {
                        signature: slot.signature.info(),
                        error,
                        quarantined,
                    });
                }
            }
            let dropped = slot.signature.dropped_log_bytes();
            slot.counters
                .dropped_log_bytes
                .store(dropped, Ordering::Relaxed);
        }
    }

    /// Sends `signal` to every signature, reporting those that fail.
    pub fn signal(&mut self, signal: Signal, mut on_failure: impl FnMut(Failure<'_>)) {
        for slot in self.slots.iter_mut().filter(|s| !s.quarantined()) {
            if let Err(error) = slot.signature.on_signal(signal) {
                let quarantined = slot.record_failure(&error);
                on_failure(Failure {
                    signature: slot.signature.info(),
                    error,
                    quarantined,
                });
            }
        }
    }
}

fn status(slot: &Slot) -> SignatureStatus {
    SignatureStatus {
        info: slot.signature.info().clone(),
        event_id: slot.event_id,
        counters: slot.counters.clone(),
    }
}
