//! BATCHFAULT-SPIN: a test-only 0.2 module that traps on the last event of
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

struct BatchfaultSpin;

impl Guest for BatchfaultSpin {
    fn get_metadata() -> Metadata {
        Metadata {
            id: "BATCHFAULT-SPIN".into(),
            version: "1".into(),
            name: "Spins on every batch (test only)".into(),
            event_name: "batchfault_spin".into(),
            description: "Spins forever in every call of several events. For tests.".into(),
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
            let mut n = 0u64;
            loop {
                n = core::hint::black_box(n.wrapping_add(1));
            }
        }
        vec![]
    }

    fn on_signal(_signal: Signal) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(BatchfaultSpin with_types_in bindings);
