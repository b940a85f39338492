//! TEST-ANCESTRY-ECHO: a test-only signature reporting, for each exec two
//! levels below a process named `ancestry-top`, the chain the host call
//! `ancestors` returns, so tests can check every field of it live and in
//! `sigbox test` vectors.
//!
//! The finding's data: `chain`, a JSON list of the ancestors, nearest
//! first, each `{"pid", "hostPid", "entityId", "processName",
//! "executablePath", "uid", "startNs", "exitNs", "containerId"}`.

use sigbox_sdk::{
    Ancestor, Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value,
};

/// The name of the grandparent whose grandchildren's execs are reported.
pub const TOP: &str = "ancestry-top";

/// The signature. It keeps no state.
pub struct AncestryEcho;

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One ancestor as a JSON object.
fn ancestor_json(a: &Ancestor) -> String {
    format!(
        r#"{{"pid":{},"hostPid":{},"entityId":{},"processName":{},"executablePath":{},"uid":{},"startNs":{},"exitNs":{},"containerId":{}}}"#,
        a.pid,
        a.host_pid,
        a.entity_id,
        json_string(&a.process_name),
        json_string(&a.executable_path),
        a.uid,
        a.start_ns,
        a.exit_ns,
        json_string(&a.container_id),
    )
}

/// The chain as a JSON list.
pub fn chain_json(chain: &[Ancestor]) -> String {
    let items: Vec<String> = chain.iter().map(ancestor_json).collect();
    format!("[{}]", items.join(","))
}

impl Signature for AncestryEcho {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-ANCESTRY-ECHO".into(),
            version: "1".into(),
            name: "Echo the ancestry of execs below ancestry-top (test only)".into(),
            event_name: "ancestry_echo".into(),
            description: "Reports the ancestor chain of execs whose grandparent is named \
                ancestry-top. For tests."
                .into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new("sched_process_exec")
                .reading(&["process-name"])
                .filter("ancestor.2.process-name", &[TOP]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        Ok(vec![Finding {
            data: vec![Field {
                name: "chain".into(),
                value: Value::Json(chain_json(&event.ancestors())),
            }],
        }])
    }
}

sigbox_sdk::export_signature!(AncestryEcho);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::TestEvent;

    #[test]
    fn the_chain_is_reported_as_json() {
        let event = TestEvent::new("sched_process_exec")
            .text("process-name", "true")
            .ancestors(vec![
                Ancestor {
                    pid: 7,
                    host_pid: 70,
                    entity_id: 3,
                    uid: 1000,
                    start_ns: 5,
                    exit_ns: 6,
                    container_id: "c0ffee".into(),
                    ..Ancestor::named("s\"h", "/bin/sh")
                },
                Ancestor::named(TOP, ""),
            ]);
        let findings = AncestryEcho.on_event(&event.event()).unwrap();
        assert_eq!(
            findings[0].data[0].value,
            Value::Json(
                r#"[{"pid":7,"hostPid":70,"entityId":3,"processName":"s\"h","executablePath":"/bin/sh","uid":1000,"startNs":5,"exitNs":6,"containerId":"c0ffee"},{"pid":0,"hostPid":0,"entityId":0,"processName":"ancestry-top","executablePath":"","uid":0,"startNs":0,"exitNs":0,"containerId":""}]"#
                    .into()
            )
        );
    }
}
