//! TEST-OPENS-BY-NAME: a test-only signature reporting each
//! `security_file_open` of [`WATCHED`] by a process named [`OPENER`]. The
//! kernel can test the path but not the process name, so opens of
//! [`WATCHED`] by any other process leave the kernel and are dropped by the
//! host's filters before they are queued for a worker.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The only file whose opens it selects.
pub const WATCHED: &str = "/tmp/sigbox-e2e-opens-by-name/watched";
/// The only process name it selects.
pub const OPENER: &str = "sigbox-opener";

/// The signature. It keeps no state.
pub struct OpensByName;

impl Signature for OpensByName {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-OPENS-BY-NAME".into(),
            version: "1".into(),
            name: "Opens of a test file by a named process (test only)".into(),
            event_name: "opens_by_name".into(),
            description: "Reports opens of one path by one process name. For tests.".into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new("security_file_open")
                .filter("pathname", &[WATCHED])
                .filter("process-name", &[OPENER])
                .reading(&["pathname"]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(OpensByName)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        Ok(vec![Finding {
            data: event
                .get("pathname")
                .map(|value| Field {
                    name: "pathname".into(),
                    value: value.clone(),
                })
                .into_iter()
                .collect(),
        }])
    }
}

sigbox_sdk::export_signature!(OpensByName);
