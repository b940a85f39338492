//! TRC-1029 "sched_debug CPU file was read":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/sched_debug_recon.go`).
//!
//! On `security_file_open` in a container, one finding (no data) when
//! `pathname` is exactly `/proc/sched_debug` or `/sys/kernel/debug/sched/debug`
//! and `flags` open it for reading (Tracee's `IsFileRead`). The exact paths are
//! also a host-side filter, so other opens never enter the sandbox; an event
//! lacking `pathname` still does, and is an error (as is one without an integer
//! `flags`), as in Tracee. (An open of another path without `flags` is thus no
//! error here, where Tracee's would be.)

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, OriginFilter, Properties, Signature,
    is_file_read,
};

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// The scheduler's debug files (before and after Linux 5.13).
const SCHED_DEBUG_PATHS: [&str; 2] = ["/proc/sched_debug", "/sys/kernel/debug/sched/debug"];

/// The TRC-1029 signature. It keeps no state.
pub struct SchedDebugRecon;

/// Tracee's condition: a sched_debug file opened for reading.
fn is_sched_debug_read(pathname: &str, flags: i64) -> bool {
    is_file_read(flags) && SCHED_DEBUG_PATHS.contains(&pathname)
}

/// One finding when `matched`: Tracee's carries no data (`Data: nil`).
fn findings_if(matched: bool) -> Vec<Finding> {
    if matched {
        vec![Finding { data: vec![] }]
    } else {
        vec![]
    }
}

impl Signature for SchedDebugRecon {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1029".into(),
            version: "1".into(),
            name: "sched_debug CPU file was read".into(),
            event_name: "sched_debug_recon".into(),
            // Verbatim from the Go source.
            description: "The sched_debug file was read. This file contains information about your CPU and processes. Adversaries may read this file in order to gather that information for their use.".into(),
            tags: vec![],
            properties: Properties {
                severity: 1,
                category: "discovery".into(),
                technique: "Container and Resource Discovery".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--0470e792-32f8-46b0-a351-652bc35e9336".into(),
                external_id: "T1613".into(),
                extra: vec![],
            },
        }
    }

    /// Read-opens of the sched_debug files (exactly) in containers.
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_FILE_OPEN)
                .origin(OriginFilter::Container)
                .reading(&["pathname", "flags"])
                .access_mode("flags", Access::Read)
                .filter("pathname", &SCHED_DEBUG_PATHS),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(SchedDebugRecon)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let pathname = event.text("pathname")?;
        let flags = event.int("flags")?;
        Ok(findings_if(is_sched_debug_read(pathname, flags)))
    }
}

sigbox_sdk::export_signature!(SchedDebugRecon);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, OriginFilter, Test, TestEvent, Value};

    /// What TRC-1029 must make of an event.
    #[derive(Debug)]
    enum Expect {
        Fires,
        Silent,
        ErrorNaming(&'static str),
    }
    use Expect::*;

    const O_RDONLY: i64 = 0o0;
    const O_WRONLY: i64 = 0o1;
    const O_RDWR: i64 = 0o2;
    const O_CLOEXEC: i64 = 0o2000000;

    fn flags(flags: i64) -> Value {
        Value::Signed(flags)
    }

    fn text(value: &str) -> Value {
        Value::Text(value.into())
    }

    fn open(pathname: Value, flags: Value) -> TestEvent {
        TestEvent::new(SECURITY_FILE_OPEN)
            .with("pathname", pathname)
            .with("flags", flags)
    }

    fn check(case: &str, event: TestEvent, expected: Expect) {
        let outcome = SchedDebugRecon::new(&[]).unwrap().on_event(&event.event());
        match (&expected, &outcome) {
            (Fires, Ok(findings)) => {
                assert_eq!(findings, &vec![Finding { data: vec![] }], "{case}")
            }
            (Silent, Ok(findings)) => assert!(findings.is_empty(), "{case}: {findings:?}"),
            (ErrorNaming(field), Err(error)) => assert!(error.contains(field), "{case}: {error}"),
            _ => panic!("{case}: expected {expected:?}, got {outcome:?}"),
        }
    }

    // Tracee v0.24.1, signatures/golang/sched_debug_recon_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        check(
            "should trigger detection",
            open(text("/proc/sched_debug"), flags(O_RDONLY)),
            Fires,
        );
        check(
            "should not trigger detection - wrong path",
            open(text("/proc/yo"), flags(O_RDONLY)),
            Silent,
        );
        check(
            "should not trigger detection - wrong open flags",
            open(text("/proc/sched_debug"), flags(O_WRONLY)),
            Silent,
        );
    }

    #[test]
    fn edge_cases() {
        check(
            "the debugfs file (Linux 5.13 on)",
            open(
                text("/sys/kernel/debug/sched/debug"),
                flags(O_RDONLY | O_CLOEXEC),
            ),
            Fires,
        );
        check(
            "read-write open",
            open(text("/proc/sched_debug"), flags(O_RDWR)),
            Fires,
        );
        check(
            "the path must be exact",
            open(text("/host/proc/sched_debug"), flags(O_RDONLY)),
            Silent,
        );
    }

    #[test]
    fn odd_input_is_an_error_naming_the_argument() {
        check(
            "no pathname",
            open(Value::None, flags(O_RDONLY)),
            ErrorNaming("pathname"),
        );
        check(
            "no flags",
            open(text("/proc/sched_debug"), Value::None),
            ErrorNaming("flags"),
        );
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = SchedDebugRecon::metadata();
        assert_eq!(metadata.id, "TRC-1029");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "sched_debug CPU file was read");
        assert_eq!(metadata.event_name, "sched_debug_recon");
        assert!(
            metadata
                .description
                .starts_with("The sched_debug file was read. This file")
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 1,
                category: "discovery".into(),
                technique: "Container and Resource Discovery".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--0470e792-32f8-46b0-a351-652bc35e9336".into(),
                external_id: "T1613".into(),
                extra: vec![],
            }
        );
    }

    #[test]
    fn selects_tracees_events_reading_only_what_it_uses() {
        let filter = |field: &str, test: Test| FieldFilter {
            field: field.into(),
            test,
        };
        assert_eq!(
            SchedDebugRecon::selected_events(),
            vec![EventSelector {
                name: "security_file_open".into(),
                origin: OriginFilter::Container,
                filters: vec![
                    filter("flags", Test::AccessMode(Access::Read)),
                    filter(
                        "pathname",
                        Test::Equals(vec![
                            "/proc/sched_debug".into(),
                            "/sys/kernel/debug/sched/debug".into()
                        ])
                    )
                ],
                fields: vec!["pathname".into(), "flags".into()],
            },]
        );
    }
}
