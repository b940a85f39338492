//! TRC-1016-V0.2: TRC-1016's logic built against the frozen 0.2 contract
//! (`wit/v0.2`), with its own id so it can run beside the 0.3 TRC-1016.
//! Tests use it to check that the host still loads and serves 0.2 modules,
//! and that every contract gives the same findings.

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/v0.2",
        world: "signature",
    });
}

use bindings::exports::sigbox::signature::detector::Guest;
use bindings::sigbox::signature::types::{
    Event, EventSelector, Field, FieldFilter, Finding, Metadata, OriginFilter, Outcome, Properties,
    Signal, Value,
};

const SHELL_NAMES: [&str; 8] = ["ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash"];
const WEB_SERVER_NAMES: [&str; 7] = [
    "nginx",
    "httpd",
    "httpd-foregroun",
    "http-nio",
    "lighttpd",
    "apache",
    "apache2",
];

/// The declared fields, in the order `selected_events` declares them.
const PREV_COMM: usize = 0;
const PROCESS_NAME: usize = 1;

/// A declared string field, or Tracee's error for it.
fn text(event: &Event, index: usize, name: &str) -> Result<String, String> {
    match event.fields.get(index) {
        Some(Value::Text(text)) => Ok(text.clone()),
        _ => Err(format!(
            "event sched_process_exec: argument {name} is missing or not a string"
        )),
    }
}

fn evaluate(event: &Event) -> Result<Vec<Finding>, String> {
    let before = text(event, PREV_COMM, "prev_comm")?;
    let name = text(event, PROCESS_NAME, "process-name")?;
    if WEB_SERVER_NAMES.contains(&before.as_str()) && SHELL_NAMES.contains(&name.as_str()) {
        Ok(vec![Finding { data: vec![] }])
    } else {
        Ok(vec![])
    }
}

struct Legacy;

impl Guest for Legacy {
    fn get_metadata() -> Metadata {
        Metadata {
            id: "TRC-1016-V0.2".into(),
            version: "1".into(),
            name: "Web server spawned a shell (0.2 contract)".into(),
            event_name: "illegitimate_shell".into(),
            description: "TRC-1016 built against the 0.2 contract. For tests.".into(),
            tags: vec!["test".into()],
            properties: Properties {
                severity: 2,
                category: "initial-access".into(),
                technique: String::new(),
                kubernetes_technique: String::new(),
                mitre_id: String::new(),
                external_id: "T1190".into(),
                extra: vec![],
            },
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        let list = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
        vec![EventSelector {
            name: "sched_process_exec".into(),
            origin: OriginFilter::Any,
            filters: vec![
                FieldFilter {
                    field: "prev_comm".into(),
                    any_of: list(&WEB_SERVER_NAMES),
                },
                FieldFilter {
                    field: "process-name".into(),
                    any_of: list(&SHELL_NAMES),
                },
            ],
            fields: vec!["prev_comm".into(), "process-name".into()],
        }]
    }

    fn init(_config: Vec<Field>) -> Result<(), String> {
        Ok(())
    }

    fn on_events(events: Vec<Event>) -> Vec<Outcome> {
        events
            .iter()
            .enumerate()
            .map(|(index, event)| Outcome {
                event: index as u32,
                findings: evaluate(event),
            })
            .filter(|outcome| {
                outcome.findings.as_ref().is_ok_and(|f| !f.is_empty()) || outcome.findings.is_err()
            })
            .collect()
    }

    fn on_signal(_signal: Signal) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(Legacy with_types_in bindings);
