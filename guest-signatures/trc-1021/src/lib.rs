//! TRC-1021 "Kcore memory file read":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/proc_kcore_read.go`).
//!
//! On `security_file_open` in a container, one finding (no data) when
//! `pathname` ends with `/proc/kcore` and `flags` open it for reading (Tracee's
//! `IsFileRead`). An event without a string `pathname` or an integer `flags`
//! is an error, as in Tracee.

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, OriginFilter, Properties, Signature,
    is_file_read,
};

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// The kernel's physical memory as an ELF core file.
const KCORE_PATH: &str = "/proc/kcore";

/// The TRC-1021 signature. It keeps no state.
pub struct ProcKcoreRead;

/// Tracee's condition: a path ending with `/proc/kcore`, opened for reading.
fn is_kcore_read(pathname: &str, flags: i64) -> bool {
    pathname.ends_with(KCORE_PATH) && is_file_read(flags)
}

/// One finding when `matched`: Tracee's carries no data (`Data: nil`).
fn findings_if(matched: bool) -> Vec<Finding> {
    if matched {
        vec![Finding { data: vec![] }]
    } else {
        vec![]
    }
}

impl Signature for ProcKcoreRead {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1021".into(),
            version: "1".into(),
            name: "Kcore memory file read".into(),
            event_name: "proc_kcore_read".into(),
            // Verbatim from the Go source.
            description: "An attempt to read /proc/kcore file was detected. KCore provides a full dump of the physical memory of the system in the core file format. Adversaries may read this file to get all of the host memory and use this information for container escape.".into(),
            tags: vec![],
            properties: Properties {
                severity: 2,
                category: "privilege-escalation".into(),
                technique: "Escape to Host".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--4a5b7ade-8bb5-4853-84ed-23f262002665".into(),
                external_id: "T1611".into(),
                extra: vec![],
            },
        }
    }

    /// Read-opens in containers of a path ending with `/proc/kcore` (whose
    /// basename is then `kcore`: the kernel tests that, the host the suffix too).
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_FILE_OPEN)
                .origin(OriginFilter::Container)
                .reading(&["pathname", "flags"])
                .access_mode("flags", Access::Read)
                .basename_in("pathname", &["kcore"])
                .suffix("pathname", &[KCORE_PATH]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(ProcKcoreRead)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let pathname = event.text("pathname")?;
        let flags = event.int("flags")?;
        Ok(findings_if(is_kcore_read(pathname, flags)))
    }
}

sigbox_sdk::export_signature!(ProcKcoreRead);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, OriginFilter, Test, TestEvent, Value};

    /// What TRC-1021 must make of an event.
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
        let outcome = ProcKcoreRead::new(&[]).unwrap().on_event(&event.event());
        match (&expected, &outcome) {
            (Fires, Ok(findings)) => {
                assert_eq!(findings, &vec![Finding { data: vec![] }], "{case}")
            }
            (Silent, Ok(findings)) => assert!(findings.is_empty(), "{case}: {findings:?}"),
            (ErrorNaming(field), Err(error)) => assert!(error.contains(field), "{case}: {error}"),
            _ => panic!("{case}: expected {expected:?}, got {outcome:?}"),
        }
    }

    // Tracee v0.24.1, signatures/golang/proc_kcore_read_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        check(
            "should trigger detection",
            open(text("/proc/kcore"), flags(O_RDONLY)),
            Fires,
        );
        check(
            "should not trigger detection - wrong open flags",
            open(text("/proc/kcore"), flags(O_WRONLY)),
            Silent,
        );
        check(
            "should not trigger detection - wrong path",
            open(text("/proc/something"), flags(O_RDONLY)),
            Silent,
        );
    }

    #[test]
    fn edge_cases() {
        check(
            "a host /proc mounted elsewhere",
            open(text("/host/proc/kcore"), flags(O_RDONLY | O_CLOEXEC)),
            Fires,
        );
        check(
            "read-write open",
            open(text("/proc/kcore"), flags(O_RDWR)),
            Fires,
        );
        check(
            "a longer name",
            open(text("/proc/kcore2"), flags(O_RDONLY)),
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
            open(text("/proc/kcore"), Value::None),
            ErrorNaming("flags"),
        );
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = ProcKcoreRead::metadata();
        assert_eq!(metadata.id, "TRC-1021");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "Kcore memory file read");
        assert_eq!(metadata.event_name, "proc_kcore_read");
        assert!(
            metadata
                .description
                .starts_with("An attempt to read /proc/kcore file was ")
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 2,
                category: "privilege-escalation".into(),
                technique: "Escape to Host".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--4a5b7ade-8bb5-4853-84ed-23f262002665".into(),
                external_id: "T1611".into(),
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
            ProcKcoreRead::selected_events(),
            vec![EventSelector {
                name: "security_file_open".into(),
                origin: OriginFilter::Container,
                filters: vec![
                    filter("flags", Test::AccessMode(Access::Read)),
                    filter("pathname", Test::BasenameIn(vec!["kcore".into()])),
                    filter("pathname", Test::Suffix(vec!["/proc/kcore".into()]))
                ],
                fields: vec!["pathname".into(), "flags".into()],
            },]
        );
    }
}
