//! TEST-SELECTS-CONNECT: a test-only signature selecting `sched_process_exec`
//! and `security_socket_connect` (the pipeline's drop-accounting test feeds
//! it both). It reports nothing.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The signature.
pub struct SelectsConnect;

impl Signature for SelectsConnect {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-SELECTS-CONNECT".into(),
            version: "1".into(),
            name: "Selects socket connects (test)".into(),
            event_name: "selects_connect".into(),
            description: "Selects execs and socket connects. For tests.".into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::any_origin("sched_process_exec"),
            EventSelector::any_origin("security_socket_connect"),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_event(&mut self, _event: &Event) -> Result<Vec<Finding>, String> {
        Ok(vec![])
    }
}

sigbox_sdk::export_signature!(SelectsConnect);
