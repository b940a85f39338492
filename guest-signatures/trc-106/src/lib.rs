//! TRC-106 "Cgroups notify_on_release file modification":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/cgroup_notify_on_release_modification.go`).
//!
//! On `security_file_open` in a container, one finding (no data) when the
//! basename of `pathname` (Go's `path.Base`) is `notify_on_release` and `flags`
//! open it for writing (`O_WRONLY` or `O_RDWR`, Tracee's `IsFileWrite`). An
//! event without a string `pathname` or an integer `flags` is an error, as in
//! Tracee (which reads `pathname` first).

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, OriginFilter, Properties, Signature,
    is_file_write, path_base,
};

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// The cgroup v1 file whose `1` makes the kernel run `release_agent`.
const NOTIFY_ON_RELEASE: &str = "notify_on_release";

/// The TRC-106 signature. It keeps no state.
pub struct CgroupNotifyOnReleaseModification;

/// Tracee's condition: a file named `notify_on_release` opened for writing.
fn is_notify_on_release_write(pathname: &str, flags: i64) -> bool {
    path_base(pathname) == NOTIFY_ON_RELEASE && is_file_write(flags)
}

/// One finding when `matched`: Tracee's carries no data (`Data: nil`).
fn findings_if(matched: bool) -> Vec<Finding> {
    if matched {
        vec![Finding { data: vec![] }]
    } else {
        vec![]
    }
}

impl Signature for CgroupNotifyOnReleaseModification {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-106".into(),
            version: "1".into(),
            name: "Cgroups notify_on_release file modification".into(),
            event_name: "cgroup_notify_on_release".into(),
            // Verbatim from the Go source.
            description: "An attempt to modify Cgroup notify_on_release file was detected. Cgroups are a Linux kernel feature which limits the resource usage of a set of processes. Adversaries may use this feature for container escaping.".into(),
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

    /// Write-opens in containers of a file named `notify_on_release`, or
    /// of a path with an empty basename: Go's `path.Base` ignores trailing
    /// slashes (`…/notify_on_release/` counts in Tracee), the contract's
    /// basename does not. The guest checks Tracee's whole condition again.
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_FILE_OPEN)
                .origin(OriginFilter::Container)
                .reading(&["pathname", "flags"])
                .access_mode("flags", Access::Write)
                .basename_in("pathname", &[NOTIFY_ON_RELEASE, ""]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(CgroupNotifyOnReleaseModification)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let pathname = event.text("pathname")?;
        let flags = event.int("flags")?;
        Ok(findings_if(is_notify_on_release_write(pathname, flags)))
    }
}

sigbox_sdk::export_signature!(CgroupNotifyOnReleaseModification);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, OriginFilter, Test, TestEvent, Value};

    /// What TRC-106 must make of an event.
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
        let outcome = CgroupNotifyOnReleaseModification::new(&[])
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

    // Tracee v0.24.1, signatures/golang/cgroup_notify_on_release_modification_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        check(
            "should trigger detection",
            open(text("/tmp/cgrp/x/notify_on_release"), flags(O_WRONLY)),
            Fires,
        );
        check(
            "should not trigger detection - wrong open flags",
            open(text("/tmp/cgrp/x/notify_on_release"), flags(O_RDONLY)),
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
            "read-write open",
            open(
                text("/sys/fs/cgroup/memory/notify_on_release"),
                flags(O_RDWR),
            ),
            Fires,
        );
        check(
            "O_WRONLY|O_CREAT|O_TRUNC",
            open(
                text("/sys/fs/cgroup/notify_on_release"),
                flags(O_WRONLY | O_CREAT | O_TRUNC),
            ),
            Fires,
        );
        check(
            "access mode 3 is neither read nor write",
            open(text("/sys/fs/cgroup/notify_on_release"), flags(O_ACCMODE)),
            Silent,
        );
        check(
            "a bare file name",
            open(text("notify_on_release"), flags(O_WRONLY)),
            Fires,
        );
        check(
            "path.Base ignores a trailing slash",
            open(text("/sys/fs/cgroup/notify_on_release/"), flags(O_WRONLY)),
            Fires,
        );
        check(
            "a longer name",
            open(
                text("/sys/fs/cgroup/notify_on_release.bak"),
                flags(O_WRONLY),
            ),
            Silent,
        );
        check(
            "flags as an unsigned number",
            open(text("/sys/fs/cgroup/notify_on_release"), Value::Unsigned(1)),
            Fires,
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
            "pathname is a number",
            open(Value::Signed(7), flags(O_WRONLY)),
            ErrorNaming("pathname"),
        );
        check(
            "no flags",
            open(text("/sys/fs/cgroup/notify_on_release"), Value::None),
            ErrorNaming("flags"),
        );
        check(
            "flags as text (parsed arguments)",
            open(text("/sys/fs/cgroup/notify_on_release"), text("O_WRONLY")),
            ErrorNaming("flags"),
        );
        check(
            "flags above i64::MAX",
            open(
                text("/sys/fs/cgroup/notify_on_release"),
                Value::Unsigned(18446744073709551615),
            ),
            ErrorNaming("flags"),
        );
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = CgroupNotifyOnReleaseModification::metadata();
        assert_eq!(metadata.id, "TRC-106");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "Cgroups notify_on_release file modification");
        assert_eq!(metadata.event_name, "cgroup_notify_on_release");
        assert!(
            metadata
                .description
                .starts_with("An attempt to modify Cgroup notify_on_re")
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
        assert_eq!(
            CgroupNotifyOnReleaseModification::selected_events(),
            vec![EventSelector {
                name: SECURITY_FILE_OPEN.into(),
                origin: OriginFilter::Container,
                filters: vec![
                    FieldFilter {
                        field: "flags".into(),
                        test: Test::AccessMode(Access::Write),
                    },
                    FieldFilter {
                        field: "pathname".into(),
                        test: Test::BasenameIn(vec!["notify_on_release".into(), String::new()]),
                    },
                ],
                fields: vec!["pathname".into(), "flags".into()],
            }]
        );
    }
}
