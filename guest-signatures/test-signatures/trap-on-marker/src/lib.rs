//! TRAP-ON-MARKER: a test-only signature that traps (panics) on every exec
//! of a program named `trapme` and reports `ok=true` for one named
//! `markerok`; other events give nothing. Drives quarantine and re-enable.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The signature.
pub struct TrapOnMarker;

impl Signature for TrapOnMarker {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRAP-ON-MARKER".into(),
            version: "1".into(),
            name: "Traps on a marker (test)".into(),
            event_name: "marker_seen".into(),
            description: "Traps on trapme, finds markerok. For quarantine tests.".into(),
            tags: vec!["test".into(), "hostile".into()],
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
        match event.text("process-name")? {
            "trapme" => panic!("TRAP-ON-MARKER: trapping on pid {}", event.host_pid),
            "markerok" => Ok(vec![Finding {
                data: vec![Field {
                    name: "ok".into(),
                    value: Value::Boolean(true),
                }],
            }]),
            _ => Ok(vec![]),
        }
    }
}

sigbox_sdk::export_signature!(TrapOnMarker);
