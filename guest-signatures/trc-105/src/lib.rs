//! TRC-105 "Fileless execution detected": Tracee's signature of the same id
//! (v0.24.1, `signatures/golang/fileless_execution.go`), ported with the same
//! semantics.
//!
//! On `sched_process_exec`, a finding (with no data) is reported when the
//! executed file's `pathname` is a memory path, as Tracee's
//! `parsers.IsMemoryPath` defines it: it starts with `memfd:`, `/run/shm/` or
//! `/dev/shm/` (case-sensitive prefixes; `/dev/shm` itself, without the
//! slash, is not one). An exec event without a string `pathname` is an error,
//! never a finding, as in Tracee.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// Prefixes of executables that live in memory, not on a filesystem:
/// memfd_create(2) files and the tmpfs shared-memory mounts.
const MEMORY_PATH_PREFIXES: [&str; 3] = ["memfd:", "/run/shm/", "/dev/shm/"];

/// The event this signature selects.
const SCHED_PROCESS_EXEC: &str = "sched_process_exec";

/// The TRC-105 signature. It keeps no state.
pub struct FilelessExecution;

/// Tracee's `parsers.IsMemoryPath`.
fn is_memory_path(pathname: &str) -> bool {
    MEMORY_PATH_PREFIXES
        .iter()
        .any(|prefix| pathname.starts_with(prefix))
}

impl Signature for FilelessExecution {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-105".into(),
            version: "1".into(),
            name: "Fileless execution detected".into(),
            event_name: "fileless_execution".into(),
            description: "Fileless execution was detected. Executing a process from memory \
                instead from a file in the filesystem may indicate that an adversary is \
                trying to avoid execution detection."
                .into(),
            tags: vec![],
            properties: Properties {
                severity: 3,
                category: "defense-evasion".into(),
                technique: "Reflective Code Loading".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--4933e63b-9b77-476e-ab29-761bc5b7d15a".into(),
                external_id: "T1620".into(),
                extra: vec![],
            },
        }
    }

    /// Every exec, with no host-side filter: host filters are exact-match
    /// and this is a prefix test. Only `pathname` crosses into the sandbox.
    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new(SCHED_PROCESS_EXEC).reading(&["pathname"])]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(FilelessExecution)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        if is_memory_path(event.text("pathname")?) {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

sigbox_sdk::export_signature!(FilelessExecution);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{Instance, OriginFilter, TestEvent, Value, WireEvent};

    fn exec_with(pathname: Value) -> TestEvent {
        TestEvent::new(SCHED_PROCESS_EXEC).with("pathname", pathname)
    }

    fn exec(pathname: &str) -> TestEvent {
        exec_with(Value::Text(pathname.into()))
    }

    fn run(event: &TestEvent) -> Result<Vec<Finding>, String> {
        FilelessExecution::new(&[])
            .unwrap()
            .on_event(&event.event())
    }

    fn finds(pathname: &str) -> bool {
        match run(&exec(pathname)) {
            Ok(findings) if findings.is_empty() => false,
            Ok(findings) => {
                assert_eq!(findings, vec![Finding { data: vec![] }]);
                true
            }
            Err(error) => panic!("unexpected error: {error}"),
        }
    }

    // Tracee v0.24.1, signatures/golang/fileless_execution_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        assert!(finds("memfd://something"));
        assert!(!finds("/bin/something"));
    }

    #[test]
    fn every_memory_prefix_matches() {
        assert!(finds("memfd:x"));
        assert!(finds("memfd:"));
        assert!(finds("/dev/shm/x"));
        assert!(finds("/dev/shm/dir/payload"));
        assert!(finds("/run/shm/x"));
    }

    #[test]
    fn near_misses_do_not_match() {
        // Prefixes, not substrings; the directory itself is not under it.
        assert!(!finds("/tmp/dev/shm/x"));
        assert!(!finds("/tmp/memfd:x"));
        assert!(!finds("/dev/shm"));
        assert!(!finds("/dev/shmx/y"));
        assert!(!finds("/run/shm"));
        assert!(!finds("MEMFD:x"));
        assert!(!finds("memfd"));
        assert!(!finds(""));
    }

    #[test]
    fn missing_or_non_string_pathname_is_an_error() {
        for value in [
            Value::None,
            Value::Signed(7),
            Value::TextList(vec!["memfd:x".into()]),
            Value::Json("\"memfd:x\"".into()),
        ] {
            let error = run(&exec_with(value)).expect_err("expected an error");
            assert!(error.contains("pathname"), "error should name it: {error}");
        }
    }

    #[test]
    fn runs_through_an_instance_like_the_host() {
        let instance = Instance::<FilelessExecution>::new();
        instance.init(&[]).unwrap();
        let wire = |path: Value, pid| WireEvent {
            selector: 0,
            context: sigbox_sdk::Context::with_pid(pid),
            fields: vec![path],
        };
        let outcomes = instance.on_events(&[
            wire(Value::Text("/usr/bin/ls".into()), 1),
            wire(Value::Text("memfd:x".into()), 2),
            wire(Value::None, 3),
            wire(Value::Text("/run/shm/x".into()), 4),
        ]);
        let positions: Vec<u32> = outcomes.iter().map(|o| o.event).collect();
        assert_eq!(positions, vec![1, 2, 3]);
        assert!(outcomes[0].findings.is_ok());
        assert!(outcomes[1].findings.is_err());
        assert!(outcomes[2].findings.is_ok());
    }

    #[test]
    fn metadata_is_exact() {
        let metadata = FilelessExecution::metadata();
        assert_eq!(metadata.id, "TRC-105");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "Fileless execution detected");
        assert_eq!(metadata.event_name, "fileless_execution");
        assert_eq!(
            metadata.description,
            // Verbatim from the Go source, on one line.
            "Fileless execution was detected. Executing a process from memory instead from a file in the filesystem may indicate that an adversary is trying to avoid execution detection."
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 3,
                category: "defense-evasion".into(),
                technique: "Reflective Code Loading".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--4933e63b-9b77-476e-ab29-761bc5b7d15a".into(),
                external_id: "T1620".into(),
                extra: vec![],
            }
        );
    }

    #[test]
    fn selects_every_exec_reading_only_pathname() {
        assert_eq!(
            FilelessExecution::selected_events(),
            vec![EventSelector {
                name: "sched_process_exec".into(),
                origin: OriginFilter::Any,
                filters: vec![],
                fields: vec!["pathname".into()],
            }]
        );
    }
}
