//! A pack in the running set: its detectors' events go to the pack in one
//! call per batch, and each detector keeps its own counters, findings,
//! failures and quarantine.
//!
//! Faults: a trap or limit hit ends the call for every detector of the
//! batch (one instance, one memory, one deadline). The batch is then
//! evaluated again detector by detector (one call each, holding only that
//! detector's events), so the innocent ones deliver their findings; the
//! detector whose own call faults is the guilty one: its fault is counted
//! (and may quarantine it alone), and its events are evaluated again one
//! per call, as a faulting signature's are. A fault no detector repeats on
//! its own (their work together passed the deadline) quarantines no one.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::signature_set::Counters;
use super::signature_set::{
    CoverageChange, Detection, ErrorLog, Failure, Notice, SignatureStatus, Slot, SlotSink, earlier,
    nanos, record_failure,
};
use crate::engine::signature::error::EvalError;
use crate::engine::signature::loaded::MAX_BATCH;
use crate::engine::signature::pack::{PackEventOutcome, PackItem};
use crate::engine::wasm::model::Signal;
use crate::engine::wasm::projected::GuestAcceptance;
use crate::event::Event;

/// The accounting of one detector of a pack.
pub(crate) struct Member {
    /// Its index in the pack.
    index: usize,
    counters: Arc<Counters>,
    faults: VecDeque<Instant>,
    /// While quarantined: when it comes back.
    pub(super) quarantined_until: Option<Instant>,
    error_log: ErrorLog,
}

impl Member {
    pub(super) fn new(index: usize, counters: Arc<Counters>) -> Self {
        Self {
            index,
            counters,
            faults: VecDeque::new(),
            quarantined_until: None,
            error_log: ErrorLog::default(),
        }
    }
}

/// One status per detector of the pack in `slot`.
pub(super) fn statuses(slot: &Slot) -> Vec<SignatureStatus> {
    slot.members
        .iter()
        .map(|m| member_status(slot, m))
        .collect()
}

fn member_status(slot: &Slot, member: &Member) -> SignatureStatus {
    let info = &slot.signature.members()[member.index].info;
    member
        .counters
        .memory_bytes
        .store(slot.signature.memory_bytes(), Ordering::Relaxed);
    SignatureStatus {
        info: info.clone(),
        event_id: info.event_id,
        counters: member.counters.clone(),
    }
}

/// Ends the quarantines of `slot`'s detectors whose cool-down is over. The
/// instance is not rebuilt: it is the other detectors' too, and the fault
/// that quarantined the detector rebuilt it already if it had to be.
pub(super) fn end_quarantines(slot: &mut Slot, notices: &mut Vec<Notice>) {
    let now = Instant::now();
    for index in 0..slot.members.len() {
        let member = &mut slot.members[index];
        if member.quarantined_until.is_none_or(|until| now < until) {
            continue;
        }
        member.quarantined_until = None;
        member
            .counters
            .quarantined_until_ms
            .store(0, Ordering::Relaxed);
        notices.push(Notice {
            signature: member_status(slot, &slot.members[index]),
            change: CoverageChange::Reenabled {
                restart_error: None,
            },
        });
    }
}

/// Passes `events` to the pack in `slot`: each event with the detectors
/// whose selectors accept it (quarantined ones count it as missed), in
/// calls of up to [`MAX_BATCH`] events.
pub(super) fn dispatch<D, F>(slot: &mut Slot, events: &[Arc<Event>], sink: &mut SlotSink<'_, D, F>)
where
    D: FnMut(usize, Detection<'_>),
    F: FnMut(usize, Failure<'_>),
{
    end_quarantines(slot, sink.notices);
    let filtering = Instant::now();
    let mut items: Vec<(usize, Vec<GuestAcceptance>)> = Vec::new();
    for (position, event) in events.iter().enumerate() {
        let mut accepted = Vec::new();
        for (index, declared) in slot.signature.members().iter().enumerate() {
            let Some(selector) = declared.selector_for(event) else {
                continue;
            };
            let member = &slot.members[index];
            if member.quarantined_until.is_some() {
                Counters::add(&member.counters.missed_events, 1);
                continue;
            }
            accepted.push(GuestAcceptance {
                detector: index as u32,
                selector: selector as u32,
            });
        }
        if !accepted.is_empty() {
            items.push((position, accepted));
        }
    }
    // Matching is host work done for every detector: shared out evenly.
    let share = filtering.elapsed() / slot.members.len().max(1) as u32;
    for member in &slot.members {
        Counters::add(&member.counters.host_ns, nanos(share));
        member.counters.evaluation.add_time(share);
    }
    for (offset, chunk) in items.chunks(MAX_BATCH).enumerate() {
        if sink.stop.due() {
            for (_, accepted) in &items[offset * MAX_BATCH..] {
                for a in accepted {
                    let counters = &slot.members[a.detector as usize].counters;
                    Counters::add(&counters.unevaluated, 1);
                }
            }
            break;
        }
        evaluate(slot, events, chunk, sink);
    }
    let checking = slot.signature.take_host_time();
    let memory = slot.signature.memory_bytes();
    let dropped = slot.signature.dropped_log_bytes();
    for member in &slot.members {
        let counters = &member.counters;
        Counters::add(
            &counters.host_ns,
            nanos(checking) / slot.members.len() as u64,
        );
        counters.memory_bytes.store(memory, Ordering::Relaxed);
        counters.dropped_log_bytes.store(dropped, Ordering::Relaxed);
    }
}

/// One call for `chunk` (event positions with their acceptances); on a
/// fault, the detector-by-detector re-run the module comment describes.
fn evaluate<D, F>(
    slot: &mut Slot,
    events: &[Arc<Event>],
    chunk: &[(usize, Vec<GuestAcceptance>)],
    sink: &mut SlotSink<'_, D, F>,
) where
    D: FnMut(usize, Detection<'_>),
    F: FnMut(usize, Failure<'_>),
{
    let batch: Vec<PackItem<'_>> = chunk
        .iter()
        .map(|(position, accepted)| (&events[*position], &accepted[..]))
        .collect();
    let positions: Vec<usize> = chunk.iter().map(|(position, _)| *position).collect();
    let started = Instant::now();
    match slot.signature.on_pack_events(&batch) {
        Ok(outcomes) => {
            let mut per_member = vec![0u64; slot.members.len()];
            for (_, accepted) in chunk {
                for a in accepted {
                    per_member[a.detector as usize] += 1;
                }
            }
            let total: u64 = per_member.iter().sum();
            let elapsed = started.elapsed();
            for (member, &count) in slot.members.iter().zip(&per_member) {
                if count > 0 {
                    Counters::add(&member.counters.events, count);
                    let share = elapsed.mul_f64(count as f64 / total as f64);
                    member.counters.evaluation.record(share, count);
                }
            }
            deliver(slot, outcomes, &positions, sink);
        }
        Err(fault) => {
            let mut detectors: Vec<usize> = chunk
                .iter()
                .flat_map(|(_, accepted)| accepted.iter().map(|a| a.detector as usize))
                .collect();
            detectors.sort_unstable();
            detectors.dedup();
            for &detector in &detectors {
                Counters::add(&slot.members[detector].counters.batch_faults, 1);
            }
            let mut guilty = false;
            for detector in detectors {
                guilty |= evaluate_alone(slot, events, chunk, detector, sink);
            }
            if !guilty {
                tracing::warn!(
                    pack = %slot.signature.info().path.display(),
                    "a call of the pack faulted ({fault}) but none of its detectors did on its \
                     own: each delivered its findings from its own call; none is quarantined"
                );
            }
        }
    }
}

/// Evaluates `detector`'s events of `chunk` in a call of its own; if that
/// faults too, the detector is guilty: the fault is reported as its own
/// and its events are evaluated again one per call. Returns whether it
/// was guilty.
fn evaluate_alone<D, F>(
    slot: &mut Slot,
    events: &[Arc<Event>],
    chunk: &[(usize, Vec<GuestAcceptance>)],
    detector: usize,
    sink: &mut SlotSink<'_, D, F>,
) -> bool
where
    D: FnMut(usize, Detection<'_>),
    F: FnMut(usize, Failure<'_>),
{
    let mine: Vec<(usize, [GuestAcceptance; 1])> = chunk
        .iter()
        .filter_map(|(position, accepted)| {
            let a = accepted.iter().find(|a| a.detector as usize == detector)?;
            Some((*position, [*a]))
        })
        .collect();
    let run = |slot: &mut Slot, part: &[(usize, [GuestAcceptance; 1])]| {
        let batch: Vec<PackItem<'_>> = part
            .iter()
            .map(|(position, accepted)| (&events[*position], &accepted[..]))
            .collect();
        let started = Instant::now();
        let result = slot.signature.on_pack_events(&batch);
        // Events count as evaluated once a call holding them returns (or
        // faults on one alone); every call's time counts.
        let counters = &slot.members[detector].counters;
        if result.is_ok() || part.len() == 1 {
            Counters::add(&counters.events, part.len() as u64);
        }
        counters
            .evaluation
            .record(started.elapsed(), part.len() as u64);
        result
    };
    let positions: Vec<usize> = mine.iter().map(|(position, _)| *position).collect();
    match run(slot, &mine) {
        Ok(outcomes) => {
            deliver(slot, outcomes, &positions, sink);
            false
        }
        Err(error) => {
            report(slot, detector, error, positions[0], mine.len(), sink);
            for (index, single) in mine.iter().enumerate() {
                let left = (mine.len() - index) as u64;
                let counters = slot.members[detector].counters.clone();
                if sink.stop.due() {
                    Counters::add(&counters.unevaluated, left);
                    break;
                }
                if slot.members[detector].quarantined_until.is_some() {
                    Counters::add(&counters.missed_events, left);
                    break;
                }
                match run(slot, std::slice::from_ref(single)) {
                    Ok(outcomes) => deliver(slot, outcomes, &[single.0], sink),
                    Err(error) => report(slot, detector, error, single.0, 1, sink),
                }
            }
            true
        }
    }
}

/// Hands each detector's findings and errors to the sink; `positions` maps
/// the call's event positions to the dispatched batch's.
fn deliver<D, F>(
    slot: &mut Slot,
    outcomes: Vec<PackEventOutcome>,
    positions: &[usize],
    sink: &mut SlotSink<'_, D, F>,
) where
    D: FnMut(usize, Detection<'_>),
    F: FnMut(usize, Failure<'_>),
{
    for (event, detector, result) in outcomes {
        let position = positions[event];
        match result {
            Ok(findings) => {
                let counters = &slot.members[detector].counters;
                Counters::add(&counters.findings, findings.len() as u64);
                let info = &slot.signature.members()[detector].info;
                for finding in findings {
                    (sink.on_detection)(
                        position,
                        Detection {
                            signature: info,
                            event_id: info.event_id,
                            finding,
                        },
                    );
                }
            }
            Err(error) => report(slot, detector, error, position, 1, sink),
        }
    }
}

/// Counts and reports a failure of `detector` (of `events` events, from the
/// one at `position`), quarantining it alone when its faults say so.
fn report<D, F>(
    slot: &mut Slot,
    detector: usize,
    error: EvalError,
    position: usize,
    events: usize,
    sink: &mut SlotSink<'_, D, F>,
) where
    D: FnMut(usize, Detection<'_>),
    F: FnMut(usize, Failure<'_>),
{
    let (quarantined_for, report) = fail(slot, detector, &error, sink.notices);
    let member = &slot.members[detector];
    *sink.earliest_release = earlier(*sink.earliest_release, member.quarantined_until);
    (sink.on_failure)(
        position,
        Failure {
            signature: &slot.signature.members()[detector].info,
            error,
            events,
            quarantined_for,
            report,
            log: &slot.signature.members()[detector].failure_log,
        },
    );
}

/// Counts `detector`'s failure, notes a quarantine it started; whether it
/// is logged.
fn fail(
    slot: &mut Slot,
    detector: usize,
    error: &EvalError,
    notices: &mut Vec<Notice>,
) -> (
    Option<std::time::Duration>,
    super::signature_set::ErrorReport,
) {
    let limits = &slot.signature.members()[detector].limits;
    let member = &mut slot.members[detector];
    let now = Instant::now();
    let quarantined_for = record_failure(
        &member.counters,
        &mut member.faults,
        &mut member.quarantined_until,
        limits,
        error,
        now,
    );
    let report = if error.is_fault() {
        super::signature_set::ErrorReport::Log { suppressed: 0 }
    } else {
        member.error_log.decide(now)
    };
    if let Some(cooldown) = quarantined_for {
        notices.push(Notice {
            signature: member_status(slot, &slot.members[detector]),
            change: CoverageChange::Quarantined {
                reason: error.to_string(),
                cooldown,
            },
        });
    }
    (quarantined_for, report)
}

/// Sends `signal` to each detector of the pack not quarantined, reporting
/// those that fail.
pub(super) fn signal(
    slot: &mut Slot,
    signal: Signal,
    notices: &mut Vec<Notice>,
    earliest_release: &mut Option<Instant>,
    on_failure: &mut impl FnMut(Failure<'_>),
) {
    end_quarantines(slot, notices);
    for detector in 0..slot.members.len() {
        if slot.members[detector].quarantined_until.is_some() {
            continue;
        }
        if let Err(error) = slot.signature.on_member_signal(detector, signal) {
            let (quarantined_for, report) = fail(slot, detector, &error, notices);
            *earliest_release =
                earlier(*earliest_release, slot.members[detector].quarantined_until);
            on_failure(Failure {
                signature: &slot.signature.members()[detector].info,
                error,
                events: 1,
                quarantined_for,
                report,
                log: &slot.signature.members()[detector].failure_log,
            });
        }
    }
}
