//! TEST-READS-UNDECLARED: a test-only signature that declares only
//! `process-name` and reads `pathname` and `argv` through the host's
//! `read-field` (the slow path for rare fields), reporting them, so tests
//! can see that undeclared fields are still reachable and correct.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The signature. It keeps no state.
pub struct ReadsUndeclared;

fn field(name: &str, value: Value) -> Field {
    Field {
        name: name.into(),
        value,
    }
}

impl Signature for ReadsUndeclared {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-READS-UNDECLARED".into(),
            version: "1".into(),
            name: "Reads undeclared fields (test only)".into(),
            event_name: "reads_undeclared".into(),
            description: "Reports pathname and argv read through read-field. For tests.".into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new("sched_process_exec").reading(&["process-name"])]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        Ok(vec![Finding {
            data: vec![
                field("comm", Value::Text(event.text("process-name")?.into())),
                field("pathname", event.read("pathname")),
                field("argv", event.read("argv")),
                field("nothing", event.read("no_such_field")),
            ],
        }])
    }
}

sigbox_sdk::export_signature!(ReadsUndeclared);
