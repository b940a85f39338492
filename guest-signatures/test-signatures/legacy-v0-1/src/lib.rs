//! TRC-1016-V0.1: TRC-1016's logic built against the frozen 0.1 contract
//! (`wit/v0.1`), with its own id so it can run beside the 0.2 TRC-1016. Tests
//! use it to check that the host still loads and serves 0.1 modules, and that
//! both contracts give the same findings.

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/v0.1",
        world: "signature",
    });
}

use bindings::exports::sigbox::signature::detector::Guest;
use bindings::sigbox::signature::types::{
    Event, EventSelector, Field, FieldFilter, Finding, Metadata, OriginFilter, Payload, Properties,
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

/// The string `prev_comm` argument, from either payload.
fn prev_comm(event: &Event) -> Result<&str, String> {
    let found = match &event.payload {
        Payload::Exec(exec) => exec.prev_comm.as_deref(),
        Payload::Generic(fields) => fields.iter().find_map(|f| match (&*f.name, &f.value) {
            ("prev_comm", Value::Text(text)) => Some(text.as_str()),
            _ => None,
        }),
    };
    found.ok_or_else(|| {
        format!(
            "event {}: argument prev_comm is missing or not a string",
            event.name
        )
    })
}

struct Legacy;

impl Guest for Legacy {
    fn get_metadata() -> Metadata {
        Metadata {
            id: "TRC-1016-V0.1".into(),
            version: "1".into(),
            name: "Web server spawned a shell (0.1 contract)".into(),
            event_name: "illegitimate_shell".into(),
            description: "TRC-1016 built against the 0.1 contract. For tests.".into(),
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
                    field: "prev-comm".into(),
                    any_of: list(&WEB_SERVER_NAMES),
                },
                FieldFilter {
                    field: "process-name".into(),
                    any_of: list(&SHELL_NAMES),
                },
            ],
        }]
    }

    fn init(_config: Vec<Field>) -> Result<(), String> {
        Ok(())
    }

    fn on_event(event: Event) -> Result<Vec<Finding>, String> {
        let before = prev_comm(&event)?;
        if WEB_SERVER_NAMES.contains(&before) && SHELL_NAMES.contains(&event.process_name.as_str())
        {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }

    fn on_signal(_signal: Signal) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(Legacy with_types_in bindings);
