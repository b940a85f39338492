//! TRC-1010 "Cgroups release agent file modification":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/cgroup_release_agent_modification.go`).
//!
//! In a container, one finding (no data) when a file named `release_agent`
//! (the basename, Go's `path.Base`) is opened for writing (`security_file_open`
//! with `O_WRONLY` or `O_RDWR` in `flags`) or is the target of a rename
//! (`new_path` of `security_inode_rename`). As in Tracee, `flags` is read
//! first and `pathname` only for a write, so a read-open without `pathname`
//! is no error; a missing or mistyped argument that is read is an error.

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, OriginFilter, Properties, Signature,
    is_file_write, path_base,
};

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// An event this signature selects.
const SECURITY_INODE_RENAME: &str = "security_inode_rename";

/// The cgroup v1 file naming the program the kernel runs when a cgroup empties.
const RELEASE_AGENT: &str = "release_agent";

/// The TRC-1010 signature. It keeps no state.
pub struct CgroupReleaseAgentModification;

/// Tracee's condition on the written or renamed-onto path.
fn is_release_agent(path: &str) -> bool {
    path_base(path) == RELEASE_AGENT
}

/// One finding when `matched`: Tracee's carries no data (`Data: nil`).
fn findings_if(matched: bool) -> Vec<Finding> {
    if matched {
        vec![Finding { data: vec![] }]
    } else {
        vec![]
    }
}

impl Signature for CgroupReleaseAgentModification {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1010".into(),
            version: "1".into(),
            name: "Cgroups release agent file modification".into(),
            event_name: "cgroup_release_agent".into(),
            // Verbatim from the Go source.
            description: "An attempt to modify Cgroup release agent file was detected. Cgroups are a Linux kernel feature which limits the resource usage of a set of processes. Adversaries may use this feature for container escaping.".into(),
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

    /// Write-opens and renames in containers onto a file named
    /// `release_agent`, or onto a path with an empty basename: Go's
    /// `path.Base` ignores trailing slashes (`…/release_agent/` counts in
    /// Tracee), the contract's basename does not. The guest checks Tracee's
    /// whole condition again.
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_FILE_OPEN)
                .origin(OriginFilter::Container)
                .reading(&["flags", "pathname"])
                .access_mode("flags", Access::Write)
                .basename_in("pathname", &[RELEASE_AGENT, ""]),
            EventSelector::new(SECURITY_INODE_RENAME)
                .origin(OriginFilter::Container)
                .reading(&["new_path"])
                .basename_in("new_path", &[RELEASE_AGENT, ""]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(CgroupReleaseAgentModification)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let matched = match event.name() {
            SECURITY_FILE_OPEN => {
                is_file_write(event.int("flags")?) && is_release_agent(event.text("pathname")?)
            }
            SECURITY_INODE_RENAME => is_release_agent(event.text("new_path")?),
            _ => false,
        };
        Ok(findings_if(matched))
    }
}

sigbox_sdk::export_signature!(CgroupReleaseAgentModification);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, OriginFilter, Test, TestEvent, Value};

    /// What TRC-1010 must make of an event.
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

    fn rename(old_path: Value, new_path: Value) -> TestEvent {
        TestEvent::new(SECURITY_INODE_RENAME)
            .with("old_path", old_path)
            .with("new_path", new_path)
    }

    fn check(case: &str, event: TestEvent, expected: Expect) {
        let outcome = CgroupReleaseAgentModification::new(&[])
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

    // Tracee v0.24.1, signatures/golang/cgroup_release_agent_modification_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        check(
            "should trigger detection - security_file_open",
            open(text("/tmp/cgrp/release_agent"), flags(O_WRONLY)),
            Fires,
        );
        check(
            "should trigger detection - security_inode_rename",
            rename(text("/tmp/staged"), text("/tmp/cgrp/release_agent")),
            Fires,
        );
        check(
            "should not trigger detection - security_file_open wrong open flags",
            open(text("/tmp/cgrp/release_agent"), flags(O_RDONLY)),
            Silent,
        );
        check(
            "should not trigger detection - security_file_open wrong path",
            open(text("/tmp/something"), flags(O_WRONLY)),
            Silent,
        );
        check(
            "should not trigger detection - security_inode_rename wrong path",
            rename(text("/tmp/staged"), text("/tmp/something")),
            Silent,
        );
    }

    #[test]
    fn edge_cases() {
        check(
            "read-write open",
            open(text("/sys/fs/cgroup/rdma/release_agent"), flags(O_RDWR)),
            Fires,
        );
        check(
            "a rename away from release_agent",
            rename(text("/sys/fs/cgroup/release_agent"), text("/tmp/x")),
            Silent,
        );
        check(
            "a longer name",
            rename(
                text("/tmp/staged"),
                text("/sys/fs/cgroup/release_agent.old"),
            ),
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
            open(text("/sys/fs/cgroup/release_agent"), Value::None),
            ErrorNaming("flags"),
        );
        check(
            "no new_path",
            rename(text("/tmp/staged"), Value::None),
            ErrorNaming("new_path"),
        );
        check(
            "new_path is a list",
            rename(
                text("/tmp/staged"),
                Value::TextList(vec!["/sys/fs/cgroup/release_agent".into()]),
            ),
            ErrorNaming("new_path"),
        );
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = CgroupReleaseAgentModification::metadata();
        assert_eq!(metadata.id, "TRC-1010");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "Cgroups release agent file modification");
        assert_eq!(metadata.event_name, "cgroup_release_agent");
        assert!(
            metadata
                .description
                .starts_with("An attempt to modify Cgroup release agen")
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
            CgroupReleaseAgentModification::selected_events(),
            vec![
                EventSelector {
                    name: SECURITY_FILE_OPEN.into(),
                    origin: OriginFilter::Container,
                    filters: vec![
                        FieldFilter {
                            field: "flags".into(),
                            test: Test::AccessMode(Access::Write),
                        },
                        FieldFilter {
                            field: "pathname".into(),
                            test: Test::BasenameIn(vec!["release_agent".into(), String::new()]),
                        },
                    ],
                    fields: vec!["flags".into(), "pathname".into()],
                },
                EventSelector {
                    name: SECURITY_INODE_RENAME.into(),
                    origin: OriginFilter::Container,
                    filters: vec![FieldFilter {
                        field: "new_path".into(),
                        test: Test::BasenameIn(vec!["release_agent".into(), String::new()]),
                    }],
                    fields: vec!["new_path".into()],
                }
            ]
        );
    }
}
