//! TEST-SELECTS-OPEN: a test-only signature selecting `sched_process_exec`
//! and `security_file_open`, an event the live source never produces (the
//! daemon must say so). It reports nothing.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The signature.
pub struct SelectsOpen;

impl Signature for SelectsOpen {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-SELECTS-OPEN".into(),
            version: "1".into(),
            name: "Selects file opens (test)".into(),
            event_name: "selects_open".into(),
            description: "Selects an event the live source does not produce. For tests.".into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::any_origin("sched_process_exec"),
            EventSelector::any_origin("security_file_open"),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_event(&mut self, _event: &Event) -> Result<Vec<Finding>, String> {
        Ok(vec![])
    }
}

sigbox_sdk::export_signature!(SelectsOpen);
