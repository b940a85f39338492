//! HOSTILE-OUTCOMES: a test-only 0.2 module that breaks the outcome rules
//! (positions must increase and stay inside the batch): it reports a finding
//! for a position past the end of every batch. The host must treat that as
//! a fault, never attach the finding to some other event.

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/v0.2",
        world: "signature",
    });
}

use bindings::exports::sigbox::signature::detector::Guest;
use bindings::sigbox::signature::types::{
    Event, EventSelector, Field, Finding, Metadata, OriginFilter, Outcome, Properties, Signal,
};

struct HostileOutcomes;

impl Guest for HostileOutcomes {
    fn get_metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-OUTCOMES".into(),
            version: "1".into(),
            name: "Outcomes out of range (test only)".into(),
            event_name: "hostile_outcomes".into(),
            description: "Reports findings for events that are not in the batch. For tests.".into(),
            tags: vec!["test".into()],
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
        vec![Outcome {
            event: events.len() as u32,
            findings: Ok(vec![Finding { data: vec![] }]),
        }]
    }

    fn on_signal(_signal: Signal) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(HostileOutcomes with_types_in bindings);
