//! TRC-102 "Anti-Debugging detected":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/anti_debugging_ptraceme.go`).
//!
//! One finding (no data) for a `ptrace` whose `request` is
//! `PTRACE_TRACEME`: a process asking to be traced by its parent, so no
//! debugger can attach to it. A missing or non-integer `request` is an error.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The event this signature selects.
const PTRACE: &str = "ptrace";

/// `PTRACE_TRACEME` (`parsers.PTRACE_TRACEME`, the same on every architecture).
const PTRACE_TRACEME: i64 = 0;

/// The TRC-102 signature. It keeps no state.
pub struct AntiDebuggingPtraceme;

impl Signature for AntiDebuggingPtraceme {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-102".into(),
            version: "1".into(),
            name: "Anti-Debugging detected".into(),
            event_name: "anti_debugging".into(),
            // Verbatim from the Go source.
            description: "A process used anti-debugging techniques to block a debugger. Malware use anti-debugging to stay invisible and inhibit analysis of their behavior.".into(),
            tags: vec![],
            properties: Properties {
                severity: 1,
                category: "defense-evasion".into(),
                technique: "Debugger Evasion".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--e4dc8c01-417f-458d-9ee0-bb0617c1b391".into(),
                external_id: "T1622".into(),
                extra: vec![],
            },
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new(PTRACE).reading(&["request"])]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(AntiDebuggingPtraceme)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        if event.name() == PTRACE && event.int("request")? == PTRACE_TRACEME {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

sigbox_sdk::export_signature!(AntiDebuggingPtraceme);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{OriginFilter, TestEvent, Value};

    fn ptrace(request: Value) -> TestEvent {
        TestEvent::new(PTRACE).with("request", request)
    }

    fn run(event: TestEvent) -> Result<Vec<Finding>, String> {
        AntiDebuggingPtraceme::new(&[])
            .unwrap()
            .on_event(&event.event())
    }

    fn fires() -> Result<Vec<Finding>, String> {
        Ok(vec![Finding { data: vec![] }])
    }

    // Tracee v0.24.1, signatures/golang/anti_debugging_ptraceme_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        // "should trigger detection": PTRACE_TRACEME.
        assert_eq!(run(ptrace(Value::Signed(0))), fires());
        // "should not trigger detection - wrong request": PTRACE_PEEKTEXT.
        assert_eq!(run(ptrace(Value::Signed(1))), Ok(vec![]));
    }

    #[test]
    fn edge_cases() {
        assert_eq!(run(ptrace(Value::Unsigned(0))), fires());
        // PTRACE_ATTACH (16) and PTRACE_POKETEXT (4) are not TRACEME.
        for request in [4, 16, -1] {
            assert_eq!(run(ptrace(Value::Signed(request))), Ok(vec![]));
        }
        for odd in [Value::None, Value::Text("PTRACE_TRACEME".into())] {
            assert!(run(ptrace(odd)).unwrap_err().contains("request"));
        }
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = AntiDebuggingPtraceme::metadata();
        assert_eq!(
            (metadata.id.as_str(), metadata.version.as_str()),
            ("TRC-102", "1")
        );
        assert_eq!(metadata.name, "Anti-Debugging detected");
        assert_eq!(metadata.event_name, "anti_debugging");
        assert!(
            metadata
                .description
                .ends_with("inhibit analysis of their behavior.")
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(metadata.properties.severity, 1);
        assert_eq!(metadata.properties.external_id, "T1622");
    }

    #[test]
    fn selects_every_ptrace_reading_only_request() {
        assert_eq!(
            AntiDebuggingPtraceme::selected_events(),
            vec![EventSelector {
                name: PTRACE.into(),
                origin: OriginFilter::Any,
                filters: vec![],
                fields: vec!["request".into()],
            }]
        );
    }
}
