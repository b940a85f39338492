//! TRC-1031 "System request key configuration modification":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/system_request_key_config_modification.go`).
//!
//! On `security_file_open` in a container, one finding (no data) when
//! `flags` open the file for writing (Tracee's `IsFileWrite`) and `pathname` is
//! exactly `/proc/sys/kernel/sysrq` or `/proc/sysrq-trigger`. The exact paths
//! are also a host-side filter, so other opens never enter the sandbox. As in
//! Tracee, `flags` is read first (an error when missing or not an integer) and
//! `pathname` only for a write. (An open of another path without `flags` is
//! thus no error here, where Tracee's would be.)

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, OriginFilter, Properties, Signature,
    is_file_write,
};

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// The SysRq setting and trigger.
const SYSRQ_PATHS: [&str; 2] = ["/proc/sys/kernel/sysrq", "/proc/sysrq-trigger"];

/// The TRC-1031 signature. It keeps no state.
pub struct SystemRequestKeyConfigModification;

/// Tracee's condition on a write-open's path.
fn is_sysrq_path(pathname: &str) -> bool {
    SYSRQ_PATHS.contains(&pathname)
}

/// One finding when `matched`: Tracee's carries no data (`Data: nil`).
fn findings_if(matched: bool) -> Vec<Finding> {
    if matched {
        vec![Finding { data: vec![] }]
    } else {
        vec![]
    }
}

impl Signature for SystemRequestKeyConfigModification {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1031".into(),
            version: "1".into(),
            name: "System request key configuration modification".into(),
            event_name: "system_request_key_mod".into(),
            // Verbatim from the Go source.
            description: "An attempt to modify and activate the System Request Key configuration file was detected. The system request key allows immediate input to the kernel through simple key combinations. Adversaries may use this feature to immediately shut down or restart a system. With read access to kernel logs, host related information such as listing tasks and CPU registers may be disclosed and could be used for container escape.".into(),
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

    /// Write-opens of the SysRq files (exactly) in containers.
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_FILE_OPEN)
                .origin(OriginFilter::Container)
                .reading(&["flags", "pathname"])
                .access_mode("flags", Access::Write)
                .filter("pathname", &SYSRQ_PATHS),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(SystemRequestKeyConfigModification)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let matched = is_file_write(event.int("flags")?) && is_sysrq_path(event.text("pathname")?);
        Ok(findings_if(matched))
    }
}

sigbox_sdk::export_signature!(SystemRequestKeyConfigModification);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, OriginFilter, Test, TestEvent, Value};

    /// What TRC-1031 must make of an event.
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
        let outcome = SystemRequestKeyConfigModification::new(&[])
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

    // Tracee v0.24.1, signatures/golang/system_request_key_config_modification_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        check(
            "should trigger detection",
            open(text("/proc/sys/kernel/sysrq"), flags(O_WRONLY)),
            Fires,
        );
        check(
            "should not trigger detection - wrong open flags",
            open(text("/proc/sys/kernel/sysrq"), flags(O_RDONLY)),
            Silent,
        );
        check(
            "should not trigger detection - wrong path",
            open(text("/tmp/something"), flags(O_WRONLY)),
            Silent,
        );
    }

    #[test]
    fn edge_cases() {
        check(
            "the trigger file",
            open(
                text("/proc/sysrq-trigger"),
                flags(O_WRONLY | O_CREAT | O_TRUNC),
            ),
            Fires,
        );
        check(
            "read-write open",
            open(text("/proc/sys/kernel/sysrq"), flags(O_RDWR)),
            Fires,
        );
        check(
            "the path must be exact",
            open(text("/host/proc/sysrq-trigger"), flags(O_WRONLY)),
            Silent,
        );
        check(
            "a read-open never reads pathname",
            open(Value::None, flags(O_RDONLY)),
            Silent,
        );
    }

    #[test]
    fn odd_input_is_an_error_naming_the_argument() {
        check(
            "a write-open without pathname",
            open(Value::None, flags(O_WRONLY)),
            ErrorNaming("pathname"),
        );
        check(
            "no flags",
            open(text("/proc/sysrq-trigger"), Value::None),
            ErrorNaming("flags"),
        );
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = SystemRequestKeyConfigModification::metadata();
        assert_eq!(metadata.id, "TRC-1031");
        assert_eq!(metadata.version, "1");
        assert_eq!(
            metadata.name,
            "System request key configuration modification"
        );
        assert_eq!(metadata.event_name, "system_request_key_mod");
        assert!(
            metadata
                .description
                .starts_with("An attempt to modify and activate the Sy")
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
            SystemRequestKeyConfigModification::selected_events(),
            vec![EventSelector {
                name: "security_file_open".into(),
                origin: OriginFilter::Container,
                filters: vec![
                    filter("flags", Test::AccessMode(Access::Write)),
                    filter(
                        "pathname",
                        Test::Equals(vec![
                            "/proc/sys/kernel/sysrq".into(),
                            "/proc/sysrq-trigger".into()
                        ])
                    )
                ],
                fields: vec!["flags".into(), "pathname".into()],
            },]
        );
    }
}
