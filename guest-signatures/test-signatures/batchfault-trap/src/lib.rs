//! BATCHFAULT-TRAP: a test-only 0.2 module that traps on the last event of
//! every call holding more than one event, and evaluates events given one
//! per call without fault. The host must count each such batch fault (and
//! quarantine the module), not only hide it by evaluating the events again.

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/v0.2",
        world: "signature",
    });
}

use bindings::exports::sigbox::signature::detector::Guest;
use bindings::sigbox::signature::types::{
    Event, EventSelector, Field, Metadata, OriginFilter, Outcome, Properties, Signal,
};

struct BatchfaultTrap;

impl Guest for BatchfaultTrap {
    fn get_metadata() -> Metadata {
        Metadata {
            id: "BATCHFAULT-TRAP".into(),
            version: "1".into(),
            name: "Traps on every batch (test only)".into(),
            event_name: "batchfault_trap".into(),
            description: "Traps on the last event of every call of several events. For tests."
                .into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties {
                severity: 0,
                category: String::new(),
                technique: String::new(),
                kubernetes_technique: String::new(),
                mitre_id: String::new(),
                external_id: String::new(),
                extra: vec![],
            },
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector {
            name: "sched_process_exec".into(),
            origin: OriginFilter::Any,
            filters: vec![],
            fields: vec![],
        }]
    }

    fn init(_config: Vec<Field>) -> Result<(), String> {
        Ok(())
    }

    fn on_events(events: Vec<Event>) -> Vec<Outcome> {
        if events.len() > 1 {
            // The last event of the batch "breaks" it: a panic traps.
            panic!("BATCHFAULT-TRAP: a batch of {} events", events.len());
        }
        vec![]
    }

    fn on_signal(_signal: Signal) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(BatchfaultTrap with_types_in bindings);
