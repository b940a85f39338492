//! TEST-MISSPELT-FIELD: a test-only signature whose exec selector declares
//! and filters on `prevcomm`, a field Tracee's `sched_process_exec` does not
//! have (it means `prev_comm`): `sigbox inspect` must warn that it always
//! reads `none` and that the filter passes every event.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The signature. It keeps no state and finds nothing.
pub struct MisspeltField;

impl Signature for MisspeltField {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-MISSPELT-FIELD".into(),
            version: "1".into(),
            name: "Declares a field exec events lack (test only)".into(),
            event_name: "misspelt_field".into(),
            description: "Selects exec events by a misspelt field; finds nothing.".into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new("sched_process_exec")
                .filter("prevcomm", &["nginx"])
                .reading(&["prevcomm", "prev_comm"]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_event(&mut self, _event: &Event) -> Result<Vec<Finding>, String> {
        Ok(vec![])
    }
}

sigbox_sdk::export_signature!(MisspeltField);
