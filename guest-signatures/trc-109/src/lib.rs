//! TRC-109 "ASLR inspection detected":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/aslr_inspection.go`).
//!
//! On `security_file_open` from any origin, one finding (no data) when
//! `pathname` is exactly `/proc/sys/kernel/randomize_va_space` and `flags` open
//! it for reading (`O_RDONLY` or `O_RDWR`, Tracee's `IsFileRead`). The exact
//! path is also a host-side filter, so other opens never enter the sandbox; an
//! event lacking `pathname` still does, and is an error (as is one without an
//! integer `flags`), as in Tracee. (An open of another path without `flags` is
//! thus no error here, where Tracee's would be.)

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, Properties, Signature, is_file_read,
};

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// The file holding the kernel's ASLR setting.
const ASLR_PATH: &str = "/proc/sys/kernel/randomize_va_space";

/// The TRC-109 signature. It keeps no state.
pub struct AslrInspection;

/// Tracee's condition: the ASLR setting opened for reading.
fn is_aslr_read(pathname: &str, flags: i64) -> bool {
    pathname == ASLR_PATH && is_file_read(flags)
}

/// One finding when `matched`: Tracee's carries no data (`Data: nil`).
fn findings_if(matched: bool) -> Vec<Finding> {
    if matched {
        vec![Finding { data: vec![] }]
    } else {
        vec![]
    }
}

impl Signature for AslrInspection {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-109".into(),
            version: "1".into(),
            name: "ASLR inspection detected".into(),
            event_name: "aslr_inspection".into(),
            // Verbatim from the Go source.
            description: "The ASLR (address space layout randomization) configuration was inspected. ASLR is used by Linux to prevent memory vulnerabilities. An adversary may want to inspect and change the ASLR configuration in order to avoid detection.".into(),
            tags: vec![],
            properties: Properties {
                severity: 0,
                category: "privilege-escalation".into(),
                technique: "Exploitation for Privilege Escalation".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--b21c3b2d-02e6-45b1-980b-e69051040839".into(),
                external_id: "T1068".into(),
                extra: vec![],
            },
        }
    }

    /// Read-opens of the ASLR file (exactly), from any origin.
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_FILE_OPEN)
                .reading(&["pathname", "flags"])
                .access_mode("flags", Access::Read)
                .filter("pathname", &[ASLR_PATH]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(AslrInspection)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let pathname = event.text("pathname")?;
        let flags = event.int("flags")?;
        Ok(findings_if(is_aslr_read(pathname, flags)))
    }
}

sigbox_sdk::export_signature!(AslrInspection);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, OriginFilter, Test, TestEvent, Value};

    /// What TRC-109 must make of an event.
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
    const O_ACCMODE: i64 = 0o3;
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
        let outcome = AslrInspection::new(&[]).unwrap().on_event(&event.event());
        match (&expected, &outcome) {
            (Fires, Ok(findings)) => {
                assert_eq!(findings, &vec![Finding { data: vec![] }], "{case}")
            }
            (Silent, Ok(findings)) => assert!(findings.is_empty(), "{case}: {findings:?}"),
            (ErrorNaming(field), Err(error)) => assert!(error.contains(field), "{case}: {error}"),
            _ => panic!("{case}: expected {expected:?}, got {outcome:?}"),
        }
    }

    // Tracee v0.24.1, signatures/golang/aslr_inspection_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        check(
            "should trigger detection",
            open(text("/proc/sys/kernel/randomize_va_space"), flags(O_RDONLY)),
            Fires,
        );
        check(
            "should not trigger detection - wrong open flags",
            open(text("/proc/sys/kernel/randomize_va_space"), flags(O_WRONLY)),
            Silent,
        );
        check(
            "should not trigger detection - wrong path",
            open(text("/proc/sys/kernel/yo"), flags(O_RDONLY)),
            Silent,
        );
    }

    #[test]
    fn edge_cases() {
        check(
            "read-write open",
            open(text("/proc/sys/kernel/randomize_va_space"), flags(O_RDWR)),
            Fires,
        );
        check(
            "O_RDONLY|O_CLOEXEC",
            open(
                text("/proc/sys/kernel/randomize_va_space"),
                flags(O_RDONLY | O_CLOEXEC),
            ),
            Fires,
        );
        check(
            "access mode 3",
            open(
                text("/proc/sys/kernel/randomize_va_space"),
                flags(O_ACCMODE),
            ),
            Silent,
        );
        check(
            "the path must be exact",
            open(
                text("/host/proc/sys/kernel/randomize_va_space"),
                flags(O_RDONLY),
            ),
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
            open(text("/proc/sys/kernel/randomize_va_space"), Value::None),
            ErrorNaming("flags"),
        );
        check(
            "flags as text",
            open(
                text("/proc/sys/kernel/randomize_va_space"),
                text("O_RDONLY"),
            ),
            ErrorNaming("flags"),
        );
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = AslrInspection::metadata();
        assert_eq!(metadata.id, "TRC-109");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "ASLR inspection detected");
        assert_eq!(metadata.event_name, "aslr_inspection");
        assert!(
            metadata
                .description
                .starts_with("The ASLR (address space layout randomiza")
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 0,
                category: "privilege-escalation".into(),
                technique: "Exploitation for Privilege Escalation".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--b21c3b2d-02e6-45b1-980b-e69051040839".into(),
                external_id: "T1068".into(),
                extra: vec![],
            }
        );
    }

    #[test]
    fn selects_tracees_events_reading_only_what_it_uses() {
        assert_eq!(
            AslrInspection::selected_events(),
            vec![EventSelector {
                name: SECURITY_FILE_OPEN.into(),
                origin: OriginFilter::Any,
                filters: vec![
                    FieldFilter {
                        field: "flags".into(),
                        test: Test::AccessMode(Access::Read),
                    },
                    FieldFilter {
                        field: "pathname".into(),
                        test: Test::Equals(vec!["/proc/sys/kernel/randomize_va_space".into()]),
                    },
                ],
                fields: vec!["pathname".into(), "flags".into()],
            }]
        );
    }
}
