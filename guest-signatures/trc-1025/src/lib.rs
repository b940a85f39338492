//! TRC-1025 "Code injection detected using process_vm_writev syscall":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/process_vm_write_code_injection.go`).
//!
//! One finding (no data) for a `process_vm_writev` whose target `pid`
//! differs from the writer's own pid (`processId`, both as seen in the
//! writer's pid namespace). A missing or non-integer `pid` is an error.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The event this signature selects.
const PROCESS_VM_WRITEV: &str = "process_vm_writev";

/// The TRC-1025 signature. It keeps no state.
pub struct ProcessVmWriteCodeInjection;

impl Signature for ProcessVmWriteCodeInjection {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1025".into(),
            version: "1".into(),
            name: "Code injection detected using process_vm_writev syscall".into(),
            event_name: "process_vm_write_inject".into(),
            // Verbatim from the Go source.
            description: "Possible code injection into another process was detected. Code injection is an exploitation technique used to run malicious code, adversaries may use it in order to execute their malware.".into(),
            tags: vec![],
            properties: Properties {
                severity: 3,
                category: "defense-evasion".into(),
                technique: "Process Injection".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--43e7dc91-05b2-474c-b9ac-2ed4fe101f4d".into(),
                external_id: "T1055".into(),
                extra: vec![],
            },
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new(PROCESS_VM_WRITEV).reading(&["pid"])]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(ProcessVmWriteCodeInjection)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        if event.name() == PROCESS_VM_WRITEV && event.int("pid")? != i64::from(event.pid) {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

sigbox_sdk::export_signature!(ProcessVmWriteCodeInjection);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{Context, OriginFilter, TestEvent, Value};

    fn write_by(process_id: u32, pid: Value) -> TestEvent {
        let mut event = TestEvent::new(PROCESS_VM_WRITEV).with("pid", pid);
        event.context = Context::with_pid(process_id);
        event
    }

    fn run(event: TestEvent) -> Result<Vec<Finding>, String> {
        ProcessVmWriteCodeInjection::new(&[])
            .unwrap()
            .on_event(&event.event())
    }

    fn fires() -> Result<Vec<Finding>, String> {
        Ok(vec![Finding { data: vec![] }])
    }

    // Tracee v0.24.1, signatures/golang/process_vm_write_code_injection_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        // "should trigger detection": process 109 writes into 101.
        assert_eq!(run(write_by(109, Value::Signed(101))), fires());
        // "should not trigger detection - same PID".
        assert_eq!(run(write_by(109, Value::Signed(109))), Ok(vec![]));
    }

    #[test]
    fn edge_cases() {
        assert_eq!(run(write_by(109, Value::Unsigned(109))), Ok(vec![]));
        // The host pid does not count: Tracee compares processId.
        let mut event = write_by(7, Value::Signed(7));
        event.context.host_pid = 4007;
        assert_eq!(run(event), Ok(vec![]));
        assert_eq!(run(write_by(0, Value::Signed(-1))), fires());
        for odd in [Value::None, Value::Text("101".into())] {
            assert!(run(write_by(109, odd)).unwrap_err().contains("pid"));
        }
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = ProcessVmWriteCodeInjection::metadata();
        assert_eq!(
            (metadata.id.as_str(), metadata.version.as_str()),
            ("TRC-1025", "1")
        );
        assert_eq!(
            metadata.name,
            "Code injection detected using process_vm_writev syscall"
        );
        assert_eq!(metadata.event_name, "process_vm_write_inject");
        assert_eq!(metadata.properties.technique, "Process Injection");
        assert_eq!(metadata.properties.external_id, "T1055");
    }

    #[test]
    fn selects_every_process_vm_writev_reading_only_pid() {
        assert_eq!(
            ProcessVmWriteCodeInjection::selected_events(),
            vec![EventSelector {
                name: PROCESS_VM_WRITEV.into(),
                origin: OriginFilter::Any,
                filters: vec![],
                fields: vec!["pid".into()],
            }]
        );
    }
}
