//! TRC-1011 "Core dumps configuration file modification detected":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/core_pattern_modification.go`).
//!
//! On `security_file_open` in a container, one finding (no data) when
//! `pathname` ends with `/proc/sys/kernel/core_pattern` and `flags` open it for
//! writing (Tracee's `IsFileWrite`). An event without a string `pathname` or
//! an integer `flags` is an error, as in Tracee.

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, OriginFilter, Properties, Signature,
    is_file_write,
};

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// The kernel's core dump setting; a `|program` there runs on the host.
const CORE_PATTERN: &str = "/proc/sys/kernel/core_pattern";

/// The TRC-1011 signature. It keeps no state.
pub struct CorePatternModification;

/// Tracee's condition: a path ending with the core_pattern file, opened for writing.
fn is_core_pattern_write(pathname: &str, flags: i64) -> bool {
    pathname.ends_with(CORE_PATTERN) && is_file_write(flags)
}

/// One finding when `matched`: Tracee's carries no data (`Data: nil`).
fn findings_if(matched: bool) -> Vec<Finding> {
    if matched {
        vec![Finding { data: vec![] }]
    } else {
        vec![]
    }
}

impl Signature for CorePatternModification {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1011".into(),
            version: "1".into(),
            name: "Core dumps configuration file modification detected".into(),
            event_name: "core_pattern_modification".into(),
            // Verbatim from the Go source.
            description: "Modification of the core dump configuration file (core_pattern) detected. Core dumps are usually written to disk when a program crashes. Certain modifications enable container escaping through the kernel core_pattern feature.".into(),
            tags: vec![],
            properties: Properties {
                severity: 3,
                category: "privilege-escalation".into(),
                technique: "Escape to Host".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--4a5b7ade-8bb5-4853-84ed-23f262002665".into(),
                external_id: "T1611".into(),
                extra: vec![],
            },
        }
    }

    /// Write-opens in containers of a path ending with the core_pattern file
    /// (whose basename is then `core_pattern`: the kernel tests that, the host
    /// the suffix too).
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_FILE_OPEN)
                .origin(OriginFilter::Container)
                .reading(&["pathname", "flags"])
                .access_mode("flags", Access::Write)
                .basename_in("pathname", &["core_pattern"])
                .suffix("pathname", &[CORE_PATTERN]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(CorePatternModification)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let pathname = event.text("pathname")?;
        let flags = event.int("flags")?;
        Ok(findings_if(is_core_pattern_write(pathname, flags)))
    }
}

sigbox_sdk::export_signature!(CorePatternModification);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, OriginFilter, Test, TestEvent, Value};

    /// What TRC-1011 must make of an event.
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
    const O_CREAT: i64 = 0o100;
    const O_TRUNC: i64 = 0o1000;

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
        let outcome = CorePatternModification::new(&[])
            .unwrap()
            .on_event(&event.event());
        match (&expected, &outcome) {
            (Fires, Ok(findings)) => {
                assert_eq!(findings, &vec![Finding { data: vec![] }], "{case}")
            }
            (Silent, Ok(findings)) => assert!(findings.is_empty(), "{case}: {findings:?}"),
            (ErrorNaming(field), Err(error)) => assert!(error.contains(field), "{case}: {error}"),
            _ => panic!("{case}: expected {expected:?}, got {outcome:?}"),
        }
    }

    // Tracee v0.24.1, signatures/golang/core_pattern_modification_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        check(
            "should trigger detection",
            open(text("/proc/sys/kernel/core_pattern"), flags(O_WRONLY)),
            Fires,
        );
        check(
            "should not trigger detection - wrong open flags",
            open(text("/proc/sys/kernel/core_pattern"), flags(O_RDONLY)),
            Silent,
        );
        check(
            "should not trigger detection - wrong path",
            open(text("/sys/kernel/something"), flags(O_WRONLY)),
            Silent,
        );
    }

    #[test]
    fn edge_cases() {
        check(
            "a path ending with it (a host /proc mounted elsewhere)",
            open(
                text("/host/proc/sys/kernel/core_pattern"),
                flags(O_WRONLY | O_CREAT | O_TRUNC),
            ),
            Fires,
        );
        check(
            "read-write open",
            open(text("/proc/sys/kernel/core_pattern"), flags(O_RDWR)),
            Fires,
        );
        check(
            "a longer name",
            open(text("/proc/sys/kernel/core_pattern_x"), flags(O_WRONLY)),
            Silent,
        );
    }

    #[test]
    fn odd_input_is_an_error_naming_the_argument() {
        check(
            "no pathname",
            open(Value::None, flags(O_WRONLY)),
            ErrorNaming("pathname"),
        );
        check(
            "no flags",
            open(text("/proc/sys/kernel/core_pattern"), Value::None),
            ErrorNaming("flags"),
        );
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = CorePatternModification::metadata();
        assert_eq!(metadata.id, "TRC-1011");
        assert_eq!(metadata.version, "1");
        assert_eq!(
            metadata.name,
            "Core dumps configuration file modification detected"
        );
        assert_eq!(metadata.event_name, "core_pattern_modification");
        assert!(
            metadata
                .description
                .starts_with("Modification of the core dump configurat")
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 3,
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
            CorePatternModification::selected_events(),
            vec![EventSelector {
                name: "security_file_open".into(),
                origin: OriginFilter::Container,
                filters: vec![
                    filter("flags", Test::AccessMode(Access::Write)),
                    filter("pathname", Test::BasenameIn(vec!["core_pattern".into()])),
                    filter(
                        "pathname",
                        Test::Suffix(vec!["/proc/sys/kernel/core_pattern".into()])
                    )
                ],
                fields: vec!["pathname".into(), "flags".into()],
            },]
        );
    }
}
