//! The detectors of a pack (a component of the `pack` world): what each
//! declared, its own limits and configuration, the pack's field table, and
//! the projection of a batch into the one `on-events` call all of them share.

use std::sync::Arc;

use super::error::{EvalError, bounded_message};
use super::loaded::SignatureInfo;
use super::selector::Selector;
use crate::engine::set::signature_set::Counters;
use crate::engine::wasm::bindings::pack::exports::sigbox::signature::detectors::PackOutcome;
use crate::engine::wasm::contract;
use crate::engine::wasm::guest_output::LogBudget;
use crate::engine::wasm::limits::Limits;
use crate::engine::wasm::model::{EventSelector, Finding};
use crate::engine::wasm::projected::{GuestAcceptance, GuestContext, GuestPackEvent, GuestValue};
use crate::event::fields::EventField;
use crate::event::{Event, Field, Value, ValueRef};

/// One detector of a loaded pack.
pub struct PackMember {
    /// What it declared, under its own id (file and digest are the pack's).
    pub info: SignatureInfo,
    /// Its selectors, compiled for the dispatch path.
    pub selectors: Vec<Selector>,
    /// The limits its id runs under (its findings are held to them; the
    /// pack's call runs under the first detector's CPU and memory limits).
    pub limits: Limits,
    /// Its id's configuration, for its `init`.
    pub config: Vec<Field>,
    /// Its counters, made with it so the pipeline's view of what runs
    /// and the running set count in the same place (the first detector
    /// counts in the ones the pipeline gives the pack instead).
    pub counters: Arc<Counters>,
    /// Where the host's lines about its failures go, tagged with its id
    /// (the guest's own output is the pack's: a host call cannot tell
    /// which detector made it).
    pub failure_log: Arc<LogBudget>,
    /// Per selector, the field-table index of each declared field.
    slots: Vec<Vec<usize>>,
}

impl PackMember {
    /// A detector declared as `info`, under `limits` and `config`; `table`
    /// is the pack's field table (see [`field_table`]).
    pub fn new(info: SignatureInfo, limits: Limits, config: Vec<Field>, table: &[String]) -> Self {
        let slots = info
            .selected_events
            .iter()
            .map(|selector| {
                selector
                    .fields
                    .iter()
                    .map(|field| {
                        table
                            .iter()
                            .position(|name| name == field)
                            .expect("the table holds every declared field")
                    })
                    .collect()
            })
            .collect();
        let failure_log = LogBudget::new(
            crate::printable(&info.metadata.id).into_owned(),
            limits.log_bytes_per_sec,
        );
        Self {
            failure_log,
            counters: Arc::default(),
            selectors: info.selected_events.iter().map(Selector::new).collect(),
            info,
            limits,
            config,
            slots,
        }
    }

    /// The index of its first selector that accepts `event`.
    pub fn selector_for(&self, event: &Event) -> Option<usize> {
        self.selectors.iter().position(|s| s.accepts(event))
    }
}

/// Every field name the detectors' selectors declare, in order of first
/// appearance: the table the WIT's `detectors` interface defines.
pub fn field_table<'a>(selectors: impl IntoIterator<Item = &'a [EventSelector]>) -> Vec<String> {
    let mut table: Vec<String> = Vec::new();
    for selector in selectors.into_iter().flatten() {
        for field in &selector.fields {
            if !table.contains(field) {
                table.push(field.clone());
            }
        }
    }
    table
}

/// An event of a pack's batch and the detectors that accepted it.
pub type PackItem<'a> = (&'a Arc<Event>, &'a [GuestAcceptance]);

/// What one detector made of one event: (event position, detector,
/// findings or its error).
pub type PackEventOutcome = (usize, usize, Result<Vec<Finding>, EvalError>);

/// Projects `batch` into borrowed pack events and calls `call` with them.
/// Each table entry is filled from the first accepting selector that
/// declares it (selectors of one event kind resolve a name alike), the
/// others are `none`; lists (`ancestors.process-name`) are built first so
/// every value can borrow.
pub fn with_projected<R>(
    members: &[PackMember],
    table_len: usize,
    batch: &[PackItem<'_>],
    call: impl FnOnce(&[GuestPackEvent<'_>]) -> R,
) -> R {
    let mut chosen: Vec<Option<&EventField>> = vec![None; table_len * batch.len()];
    for ((_, accepted), row) in batch.iter().zip(chosen.chunks_mut(table_len.max(1))) {
        for acceptance in *accepted {
            let member = &members[acceptance.detector as usize];
            let selector = acceptance.selector as usize;
            let fields = member.selectors[selector].fields();
            for (field, &slot) in fields.iter().zip(&member.slots[selector]) {
                row[slot].get_or_insert(field);
            }
        }
    }
    let row_of = |index: usize| &chosen[index * table_len..(index + 1) * table_len];
    let lists: Vec<Value> = batch
        .iter()
        .enumerate()
        .flat_map(|(index, (event, _))| {
            row_of(index)
                .iter()
                .flatten()
                .filter(|field| !field.borrows())
                .map(|field| field.value(event))
        })
        .collect();
    let mut lists_left = lists.iter();
    let mut values: Vec<GuestValue<'_>> = Vec::with_capacity(chosen.len());
    for (index, (event, _)) in batch.iter().enumerate() {
        for field in row_of(index) {
            values.push(match field {
                None => GuestValue::None,
                Some(field) => match field.value_ref(event) {
                    Some(value) => value.into(),
                    None => lists_left
                        .next()
                        .map_or(GuestValue::None, |list| ValueRef::from(list).into()),
                },
            });
        }
    }
    let events: Vec<GuestPackEvent<'_>> = batch
        .iter()
        .enumerate()
        .map(|(index, (event, accepted))| GuestPackEvent {
            context: GuestContext(contract::context_to_v2(event)),
            accepted,
            fields: &values[index * table_len..(index + 1) * table_len],
        })
        .collect();
    call(&events)
}

/// Checks a pack's outcomes: each must name an event of the batch and a
/// detector that accepted it, in increasing (event, detector) order (else
/// the host cannot tell whose finding it is: the call is faulty); then
/// each detector's findings are held to its own limits.
pub fn checked(
    members: &[PackMember],
    batch: &[PackItem<'_>],
    outcomes: Vec<PackOutcome>,
) -> Result<Vec<PackEventOutcome>, EvalError> {
    let mut next = (0usize, 0usize);
    for outcome in &outcomes {
        let at = (outcome.event as usize, outcome.detector as usize);
        let accepted = batch
            .get(at.0)
            .is_some_and(|(_, accepted)| accepted.iter().any(|a| a.detector as usize == at.1));
        if at < next || !accepted {
            return Err(EvalError::LimitHit {
                limit: "outcomes",
                detail: format!(
                    "returned an outcome for event {} and detector {} of a batch of {} (each \
                     must name an event and a detector that accepted it, in increasing order)",
                    at.0,
                    at.1,
                    batch.len()
                ),
            });
        }
        next = (at.0, at.1 + 1);
    }
    Ok(outcomes
        .into_iter()
        .map(|outcome| {
            let detector = outcome.detector as usize;
            let result = match outcome.findings {
                Ok(findings) => {
                    let findings: Vec<Finding> = findings
                        .into_iter()
                        .map(contract::to_v3::finding_in)
                        .collect();
                    super::loaded::check_findings(&findings, &members[detector].limits)
                        .map(|()| findings)
                }
                Err(message) => Err(EvalError::Returned(bounded_message(message))),
            };
            (outcome.event as usize, detector, result)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::wasm::model::OriginFilter;

    fn selector(name: &str, fields: &[&str]) -> EventSelector {
        EventSelector {
            name: name.into(),
            origin: OriginFilter::Any,
            filters: vec![],
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn the_field_table_is_every_declared_name_once_in_order_of_first_appearance() {
        let first = [selector(
            "sched_process_exec",
            &["prev_comm", "process-name"],
        )];
        let second = [
            selector("security_file_open", &["pathname"]),
            selector("sched_process_exec", &["process-name", "pathname", "argv"]),
        ];
        assert_eq!(
            field_table([&first[..], &second[..]]),
            ["prev_comm", "process-name", "pathname", "argv"]
        );
    }
}
