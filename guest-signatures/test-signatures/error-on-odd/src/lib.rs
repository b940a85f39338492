//! ERROR-ON-ODD: a test-only signature that returns an error for every exec
//! of a program named `oddinput` (input it cannot judge) and reports
//! `ok=true` for one named `markerok`. Returned errors must never quarantine.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The signature.
pub struct ErrorOnOdd;

impl Signature for ErrorOnOdd {
    fn metadata() -> Metadata {
        Metadata {
            id: "ERROR-ON-ODD".into(),
            version: "1".into(),
            name: "Errors on odd input (test)".into(),
            event_name: "odd_input_seen".into(),
            description: "Returns errors on oddinput. For integrity tests.".into(),
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
            "oddinput" => Err(format!("odd input: pid {}", event.host_pid)),
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

sigbox_sdk::export_signature!(ErrorOnOdd);
