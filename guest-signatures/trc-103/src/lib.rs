//! TRC-103 "Code injection detected using ptrace":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/ptrace_code_injection.go`).
//!
//! One finding (no data) for a `ptrace` whose `request` is `PTRACE_POKETEXT`
//! or `PTRACE_POKEDATA`: a write into another process's memory. A missing or
//! non-integer `request` is an error.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The event this signature selects.
const PTRACE: &str = "ptrace";

/// `PTRACE_POKETEXT` (`parsers.PTRACE_POKETEXT`, the same on every architecture).
const PTRACE_POKETEXT: i64 = 4;

/// `PTRACE_POKEDATA`.
const PTRACE_POKEDATA: i64 = 5;

/// The TRC-103 signature. It keeps no state.
pub struct PtraceCodeInjection;

impl Signature for PtraceCodeInjection {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-103".into(),
            version: "1".into(),
            name: "Code injection detected using ptrace".into(),
            event_name: "ptrace_code_injection".into(),
            // Verbatim from the Go source.
            description: "Possible code injection into another process was detected. Code injection is an exploitation technique used to run malicious code, adversaries may use it in order to execute their malware.".into(),
            tags: vec![],
            properties: Properties {
                severity: 3,
                category: "defense-evasion".into(),
                technique: "Ptrace System Calls".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--ea016b56-ae0e-47fe-967a-cc0ad51af67f".into(),
                external_id: "T1055.008".into(),
                extra: vec![],
            },
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new(PTRACE).reading(&["request"])]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(PtraceCodeInjection)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        if event.name() == PTRACE
            && matches!(event.int("request")?, PTRACE_POKETEXT | PTRACE_POKEDATA)
        {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

sigbox_sdk::export_signature!(PtraceCodeInjection);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{OriginFilter, TestEvent, Value};

    fn ptrace(request: Value) -> TestEvent {
        TestEvent::new(PTRACE).with("request", request)
    }

    fn run(event: TestEvent) -> Result<Vec<Finding>, String> {
        PtraceCodeInjection::new(&[])
            .unwrap()
            .on_event(&event.event())
    }

    fn fires() -> Result<Vec<Finding>, String> {
        Ok(vec![Finding { data: vec![] }])
    }

    // Tracee v0.24.1, signatures/golang/ptrace_code_injection_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        // "should trigger detection - PTRACE_POKETEXT" and "- PTRACE_POKEDATA".
        assert_eq!(run(ptrace(Value::Signed(4))), fires());
        assert_eq!(run(ptrace(Value::Signed(5))), fires());
        // "should not trigger detection - wrong request": PTRACE_PEEKTEXT.
        assert_eq!(run(ptrace(Value::Signed(1))), Ok(vec![]));
    }

    #[test]
    fn edge_cases() {
        assert_eq!(run(ptrace(Value::Unsigned(5))), fires());
        // TRACEME, PEEKDATA, POKEUSER (6), ATTACH.
        for request in [0, 2, 6, 16] {
            assert_eq!(run(ptrace(Value::Signed(request))), Ok(vec![]));
        }
        for odd in [Value::None, Value::Text("PTRACE_POKETEXT".into())] {
            assert!(run(ptrace(odd)).unwrap_err().contains("request"));
        }
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = PtraceCodeInjection::metadata();
        assert_eq!(
            (metadata.id.as_str(), metadata.version.as_str()),
            ("TRC-103", "1")
        );
        assert_eq!(metadata.name, "Code injection detected using ptrace");
        assert_eq!(metadata.event_name, "ptrace_code_injection");
        assert!(metadata.description.starts_with("Possible code injection"));
        assert_eq!(metadata.properties.severity, 3);
        assert_eq!(metadata.properties.external_id, "T1055.008");
    }

    #[test]
    fn selects_every_ptrace_reading_only_request() {
        assert_eq!(
            PtraceCodeInjection::selected_events(),
            vec![EventSelector {
                name: PTRACE.into(),
                origin: OriginFilter::Any,
                filters: vec![],
                fields: vec!["request".into()],
            }]
        );
    }
}
