//! TRC-1028 "Sudoers file modification detected":
//! Tracee's signature of the same id (v0.24.1, `signatures/golang/sudoers_modification.go`).
//!
//! From any origin, one finding (no data) when a sudoers file is opened
//! for writing (`security_file_open` with `O_WRONLY` or `O_RDWR` in `flags`,
//! then its `pathname`) or renamed onto (`new_path` of
//! `security_inode_rename`): `/etc/sudoers` or `/private/etc/sudoers`
//! exactly, or a path under `/etc/sudoers.d/` or `/private/etc/sudoers.d/`.
//! As in Tracee, `flags` is read first and `pathname` only for a write; a
//! missing or mistyped argument that is read is an error.

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, Properties, Signature, is_file_write,
};

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// An event this signature selects.
const SECURITY_INODE_RENAME: &str = "security_inode_rename";

/// The sudoers files (Linux, macOS).
const SUDOERS_FILES: [&str; 2] = ["/etc/sudoers", "/private/etc/sudoers"];

/// The directories whose files sudo includes.
const SUDOERS_DIRS: [&str; 2] = ["/etc/sudoers.d/", "/private/etc/sudoers.d/"];

/// The TRC-1028 signature. It keeps no state.
pub struct SudoersModification;

/// Tracee's condition on the written or renamed-onto path.
fn is_sudoers_path(path: &str) -> bool {
    SUDOERS_FILES.contains(&path) || SUDOERS_DIRS.iter().any(|dir| path.starts_with(dir))
}

/// One finding when `matched`: Tracee's carries no data (`Data: nil`).
fn findings_if(matched: bool) -> Vec<Finding> {
    if matched {
        vec![Finding { data: vec![] }]
    } else {
        vec![]
    }
}

impl Signature for SudoersModification {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1028".into(),
            version: "1".into(),
            name: "Sudoers file modification detected".into(),
            event_name: "sudoers_modification".into(),
            // Verbatim from the Go source.
            description: "The sudoers file was modified. The sudoers file is a configuration file which controls the permissions and options of the sudo feature. Adversaries may alter the sudoers file to elevate privileges, execute commands as other users or spawn processes with higher privileges.".into(),
            tags: vec![],
            properties: Properties {
                severity: 2,
                category: "privilege-escalation".into(),
                technique: "Sudo and Sudo Caching".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--1365fe3b-0f50-455d-b4da-266ce31c23b0".into(),
                external_id: "T1548.003".into(),
                extra: vec![],
            },
        }
    }

    /// Write-opens and renames onto the sudoers files (exactly) or under their
    /// directories, any origin: two selectors per event, as a filter is either
    /// exact or a prefix.
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SECURITY_FILE_OPEN)
                .reading(&["flags", "pathname"])
                .access_mode("flags", Access::Write)
                .filter("pathname", &SUDOERS_FILES),
            EventSelector::new(SECURITY_FILE_OPEN)
                .reading(&["flags", "pathname"])
                .access_mode("flags", Access::Write)
                .prefix("pathname", &SUDOERS_DIRS),
            EventSelector::new(SECURITY_INODE_RENAME)
                .reading(&["new_path"])
                .filter("new_path", &SUDOERS_FILES),
            EventSelector::new(SECURITY_INODE_RENAME)
                .reading(&["new_path"])
                .prefix("new_path", &SUDOERS_DIRS),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(SudoersModification)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let matched = match event.name() {
            SECURITY_FILE_OPEN => {
                is_file_write(event.int("flags")?) && is_sudoers_path(event.text("pathname")?)
            }
            SECURITY_INODE_RENAME => is_sudoers_path(event.text("new_path")?),
            _ => false,
        };
        Ok(findings_if(matched))
    }
}

sigbox_sdk::export_signature!(SudoersModification);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, OriginFilter, Test, TestEvent, Value};

    /// What TRC-1028 must make of an event.
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

    fn rename(old_path: Value, new_path: Value) -> TestEvent {
        TestEvent::new(SECURITY_INODE_RENAME)
            .with("old_path", old_path)
            .with("new_path", new_path)
    }

    fn check(case: &str, event: TestEvent, expected: Expect) {
        let outcome = SudoersModification::new(&[])
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

    // Tracee v0.24.1, signatures/golang/sudoers_modification_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        check(
            "should trigger detection - security_file_open file",
            open(text("/etc/sudoers"), flags(O_WRONLY)),
            Fires,
        );
        check(
            "should trigger detection - security_file_open dir",
            open(text("/etc/sudoers.d/amnon"), flags(O_WRONLY)),
            Fires,
        );
        check(
            "should trigger detection - security_inode_rename file",
            rename(text("/tmp/staged"), text("/etc/sudoers")),
            Fires,
        );
        check(
            "should trigger detection - security_inode_rename dir",
            rename(text("/tmp/staged"), text("/etc/sudoers.d/amnon")),
            Fires,
        );
        check(
            "should not trigger detection - security_file_open wrong open flags",
            open(text("/etc/sudoers"), flags(O_RDONLY)),
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
            "visudo's rename of sudoers.tmp onto sudoers",
            rename(text("/etc/sudoers.tmp"), text("/etc/sudoers")),
            Fires,
        );
        check(
            "visudo's temporary file itself",
            open(
                text("/etc/sudoers.tmp"),
                flags(O_WRONLY | O_CREAT | O_TRUNC),
            ),
            Silent,
        );
        check(
            "macOS paths",
            open(text("/private/etc/sudoers.d/x"), flags(O_RDWR)),
            Fires,
        );
        check(
            "the directory needs its slash",
            rename(text("/tmp/staged"), text("/etc/sudoers.d")),
            Silent,
        );
        check(
            "a path ending with /etc/sudoers elsewhere",
            rename(text("/tmp/staged"), text("/host/etc/sudoers")),
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
            open(text("/etc/sudoers"), Value::None),
            ErrorNaming("flags"),
        );
        check(
            "no new_path",
            rename(text("/tmp/staged"), Value::None),
            ErrorNaming("new_path"),
        );
    }

    #[test]
    fn metadata_is_tracees() {
        let metadata = SudoersModification::metadata();
        assert_eq!(metadata.id, "TRC-1028");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "Sudoers file modification detected");
        assert_eq!(metadata.event_name, "sudoers_modification");
        assert!(
            metadata
                .description
                .starts_with("The sudoers file was modified. The sudoe")
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 2,
                category: "privilege-escalation".into(),
                technique: "Sudo and Sudo Caching".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--1365fe3b-0f50-455d-b4da-266ce31c23b0".into(),
                external_id: "T1548.003".into(),
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
            SudoersModification::selected_events(),
            vec![
                EventSelector {
                    name: "security_file_open".into(),
                    origin: OriginFilter::Any,
                    filters: vec![
                        filter("flags", Test::AccessMode(Access::Write)),
                        filter(
                            "pathname",
                            Test::Equals(vec![
                                "/etc/sudoers".into(),
                                "/private/etc/sudoers".into()
                            ])
                        )
                    ],
                    fields: vec!["flags".into(), "pathname".into()],
                },
                EventSelector {
                    name: "security_file_open".into(),
                    origin: OriginFilter::Any,
                    filters: vec![
                        filter("flags", Test::AccessMode(Access::Write)),
                        filter(
                            "pathname",
                            Test::Prefix(vec![
                                "/etc/sudoers.d/".into(),
                                "/private/etc/sudoers.d/".into()
                            ])
                        )
                    ],
                    fields: vec!["flags".into(), "pathname".into()],
                },
                EventSelector {
                    name: "security_inode_rename".into(),
                    origin: OriginFilter::Any,
                    filters: vec![filter(
                        "new_path",
                        Test::Equals(vec!["/etc/sudoers".into(), "/private/etc/sudoers".into()])
                    )],
                    fields: vec!["new_path".into()],
                },
                EventSelector {
                    name: "security_inode_rename".into(),
                    origin: OriginFilter::Any,
                    filters: vec![filter(
                        "new_path",
                        Test::Prefix(vec![
                            "/etc/sudoers.d/".into(),
                            "/private/etc/sudoers.d/".into()
                        ])
                    )],
                    fields: vec!["new_path".into()],
                },
            ]
        );
    }
}
