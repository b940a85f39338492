//! HOSTWORK-KEYS: a test-only 0.2 module whose every finding carries 12,000
//! distinct keys, just under the default finding size limit (64 KiB of names
//! and values). Within every limit, so the host must check it and write it,
//! at a cost linear in its keys. It sees only execs of a program named
//! `hwkeys` (a host filter), so the machine's other execs cost nothing.

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

/// Keys per finding: `k0` … `k11999`, 60,890 bytes of names with empty
/// text values.
const KEYS: usize = 12_000;

struct HostworkKeys;

impl Guest for HostworkKeys {
    fn get_metadata() -> Metadata {
        Metadata {
            id: "HOSTWORK-KEYS".into(),
            version: "1".into(),
            name: "Findings of many keys (test only)".into(),
            event_name: "hostwork_keys".into(),
            description: "Returns findings of 12,000 keys, just under the size limit. For tests."
                .into(),
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
            filters: vec![FieldFilter {
                field: "process-name".into(),
                any_of: vec!["hwkeys".into()],
            }],
            fields: vec![],
        }]
    }

    fn init(_config: Vec<Field>) -> Result<(), String> {
        Ok(())
    }

    fn on_events(events: Vec<Event>) -> Vec<Outcome> {
        (0..events.len() as u32)
            .map(|event| Outcome {
                event,
                findings: Ok(vec![Finding {
                    data: (0..KEYS)
                        .map(|key| Field {
                            name: format!("k{key}"),
                            value: Value::Text(String::new()),
                        })
                        .collect(),
                }]),
            })
            .collect()
    }

    fn on_signal(_signal: Signal) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(HostworkKeys with_types_in bindings);
