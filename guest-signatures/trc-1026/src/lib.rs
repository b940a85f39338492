//! TRC-1026 "Rcd modification detected": Tracee's signature of the same id
//! (v0.24.1, `signatures/golang/rcd_modification.go`).
//!
//! A finding (with no data) is reported for any of Tracee's three branches:
//! - `sched_process_exec`: the basename of the executed file's `pathname`
//!   (Go's `path.Base`) is exactly `update-rc.d`;
//! - `security_file_open`: `flags` open for writing (`O_WRONLY` or `O_RDWR`,
//!   Tracee's `IsFileWrite`) an rc path (see [`is_rcd_path`]);
//! - `security_inode_rename`: `new_path` is an rc path.
//!
//! An event without a string `pathname` (or `new_path`), or an open without
//! an integer `flags`, is an error, never a finding, as in Tracee.

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, Properties, Signature, is_file_write,
    path_base,
};

/// The command that installs and removes System-V init script links.
const RCD_COMMAND: &str = "update-rc.d";

/// The rc files, matched exactly.
const RCD_FILES: [&str; 2] = ["/etc/rc.local", "/etc/init.d/rc.local"];

/// The rc directories, matched as prefixes (no trailing slash, as Tracee's).
const RCD_DIRS: [&str; 11] = [
    "/etc/rc1.d",
    "/etc/rc2.d",
    "/etc/rc3.d",
    "/etc/rc4.d",
    "/etc/rc5.d",
    "/etc/rc6.d",
    "/etc/rcs.d",
    "/etc/init.d",
    "/etc/rc.d/rc.local",
    "/etc/rc.d/init.d",
    "/etc/rc.d",
];

/// An event this signature selects.
const SCHED_PROCESS_EXEC: &str = "sched_process_exec";

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// An event this signature selects.
const SECURITY_INODE_RENAME: &str = "security_inode_rename";

/// The TRC-1026 signature. It keeps no state.
pub struct RcdModification;

/// Tracee's `checkFileOrDir`: an rc file, or a path under an rc directory.
fn is_rcd_path(path: &str) -> bool {
    RCD_FILES.contains(&path) || RCD_DIRS.iter().any(|dir| path.starts_with(dir))
}

impl Signature for RcdModification {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1026".into(),
            version: "1".into(),
            name: "Rcd modification detected".into(),
            event_name: "rcd_modification".into(),
            description: "The rcd files were modified. rcd files are scripts executed on boot \
                and runlevel switch. Those scripts are responsible for service control in \
                runlevel switch. Adversaries may add or modify rcd files in order to persist a \
                reboot, thus maintaining malicious execution on the affected host."
                .into(),
            tags: vec![],
            properties: Properties {
                severity: 2,
                category: "persistence".into(),
                technique: "RC Scripts".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--dca670cf-eeec-438f-8185-fd959d9ef211".into(),
                external_id: "T1037.004".into(),
                extra: vec![],
            },
        }
    }

    /// Execs of a file named `update-rc.d` (or with an empty basename: Go's
    /// `path.Base` ignores trailing slashes, the contract's basename does not);
    /// write-opens and renames onto an rc file (exactly) or under an rc
    /// directory: two selectors per file event, as a filter is either exact or a
    /// prefix. Any origin; the guest checks Tracee's whole condition again.
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SCHED_PROCESS_EXEC)
                .reading(&["pathname"])
                .basename_in("pathname", &[RCD_COMMAND, ""]),
            EventSelector::new(SECURITY_FILE_OPEN)
                .reading(&["pathname", "flags"])
                .access_mode("flags", Access::Write)
                .filter("pathname", &RCD_FILES),
            EventSelector::new(SECURITY_FILE_OPEN)
                .reading(&["pathname", "flags"])
                .access_mode("flags", Access::Write)
                .prefix("pathname", &RCD_DIRS),
            EventSelector::new(SECURITY_INODE_RENAME)
                .reading(&["new_path"])
                .filter("new_path", &RCD_FILES),
            EventSelector::new(SECURITY_INODE_RENAME)
                .reading(&["new_path"])
                .prefix("new_path", &RCD_DIRS),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(RcdModification)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let matched = match event.name() {
            SCHED_PROCESS_EXEC => path_base(event.text("pathname")?) == RCD_COMMAND,
            // Tracee reads pathname, then flags.
            SECURITY_FILE_OPEN => {
                let pathname = event.text("pathname")?;
                is_file_write(event.int("flags")?) && is_rcd_path(pathname)
            }
            SECURITY_INODE_RENAME => is_rcd_path(event.text("new_path")?),
            _ => false,
        };
        if matched {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

sigbox_sdk::export_signature!(RcdModification);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, Instance, OriginFilter, Test, TestEvent, Value, WireEvent};

    fn exec_with(pathname: Value) -> TestEvent {
        TestEvent::new(SCHED_PROCESS_EXEC).with("pathname", pathname)
    }

    fn run(event: &TestEvent) -> Result<Vec<Finding>, String> {
        RcdModification::new(&[]).unwrap().on_event(&event.event())
    }

    fn finds(pathname: &str) -> bool {
        match run(&exec_with(Value::Text(pathname.into()))) {
            Ok(findings) if findings.is_empty() => false,
            Ok(findings) => {
                assert_eq!(findings, vec![Finding { data: vec![] }]);
                true
            }
            Err(error) => panic!("unexpected error: {error}"),
        }
    }

    fn open(pathname: Value, flags: Value) -> TestEvent {
        TestEvent::new(SECURITY_FILE_OPEN)
            .with("pathname", pathname)
            .with("flags", flags)
    }

    fn rename(new_path: Value) -> TestEvent {
        TestEvent::new(SECURITY_INODE_RENAME).with("new_path", new_path)
    }

    fn text(value: &str) -> Value {
        Value::Text(value.into())
    }

    const O_RDONLY: Value = Value::Signed(0);
    const O_WRONLY: Value = Value::Signed(1);
    const O_RDWR: Value = Value::Signed(2);

    /// Whether the file event fires; panics on an error.
    fn fires(event: TestEvent) -> bool {
        let findings = run(&event).unwrap_or_else(|error| panic!("unexpected error: {error}"));
        assert!(findings.is_empty() || findings == vec![Finding { data: vec![] }]);
        !findings.is_empty()
    }

    // Tracee v0.24.1, signatures/golang/rcd_modification_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        assert!(fires(open(text("/etc/rc.local"), O_WRONLY)));
        assert!(fires(open(text("/etc/rc1.d/job"), O_WRONLY)));
        assert!(fires(rename(text("/etc/rc.local"))));
        assert!(fires(rename(text("/etc/rc1.d/job"))));
        assert!(finds("/bin/update-rc.d"));
        assert!(!fires(open(text("/etc/something"), O_WRONLY)));
        assert!(!fires(open(text("/etc/rc.local"), O_RDONLY)));
        assert!(!fires(rename(text("/etc/something"))));
        assert!(!finds("/bin/ls"));
    }

    #[test]
    fn every_rc_file_and_directory_counts_when_written_or_renamed_onto() {
        for file in RCD_FILES {
            assert!(fires(open(text(file), O_RDWR)), "{file}");
            assert!(fires(rename(text(file))), "{file}");
        }
        for dir in RCD_DIRS {
            let script = format!("{dir}/S01evil");
            assert!(fires(open(text(&script), O_WRONLY)), "{script}");
            assert!(fires(rename(text(&script))), "{script}");
            assert!(!fires(open(text(&script), O_RDONLY)), "{script}");
        }
        assert!(!fires(rename(text("/etc/rc.local.bak"))));
        assert!(!fires(rename(text("/host/etc/rc.local"))));
        // Prefixes without a slash, as Tracee's.
        assert!(fires(rename(text("/etc/init.d.old/x"))));
        assert!(!fires(open(text("/etc/rc.local"), Value::Signed(3))));
    }

    #[test]
    fn file_events_without_their_arguments_are_errors_naming_them() {
        for (event, field) in [
            (open(Value::None, O_WRONLY), "pathname"),
            (open(text("/etc/rc.local"), Value::None), "flags"),
            (open(text("/etc/rc.local"), text("O_WRONLY")), "flags"),
            (rename(Value::None), "new_path"),
            (rename(Value::Signed(1)), "new_path"),
        ] {
            let error = run(&event).expect_err(field);
            assert!(error.contains(field), "{error}");
        }
    }

    #[test]
    fn the_command_matches_from_any_directory() {
        assert!(finds("/usr/sbin/update-rc.d"));
        assert!(finds("/tmp/x/update-rc.d"));
        assert!(finds("update-rc.d"));
        // path.Base ignores trailing slashes.
        assert!(finds("/usr/sbin/update-rc.d/"));
    }

    #[test]
    fn near_misses_do_not_match() {
        assert!(!finds("/usr/sbin/update-rc.dx"));
        assert!(!finds("/usr/sbin/xupdate-rc.d"));
        assert!(!finds("/usr/sbin/Update-rc.d"));
        assert!(!finds("/usr/sbin/update-rc"));
        assert!(!finds("/usr/sbin/update-rc.d/x"));
        assert!(!finds("/etc/rc.local"));
        assert!(!finds("/"));
        assert!(!finds(""));
    }

    #[test]
    fn missing_or_non_string_pathname_is_an_error() {
        for value in [
            Value::None,
            Value::Signed(7),
            Value::TextList(vec!["/usr/sbin/update-rc.d".into()]),
            Value::Json("\"/usr/sbin/update-rc.d\"".into()),
        ] {
            let error = run(&exec_with(value)).expect_err("expected an error");
            assert!(error.contains("pathname"), "error should name it: {error}");
        }
    }

    #[test]
    fn runs_through_an_instance_like_the_host() {
        let instance = Instance::<RcdModification>::new();
        instance.init(&[]).unwrap();
        let wire = |path: Value, pid| WireEvent {
            selector: 0,
            context: sigbox_sdk::Context::with_pid(pid),
            fields: vec![path],
        };
        let outcomes = instance.on_events(&[
            wire(Value::Text("/usr/sbin/update-rc.d".into()), 1),
            wire(Value::Text("/usr/bin/ls".into()), 2),
            wire(Value::None, 3),
        ]);
        let positions: Vec<u32> = outcomes.iter().map(|o| o.event).collect();
        assert_eq!(positions, vec![0, 2]);
        assert_eq!(outcomes[0].findings, Ok(vec![Finding { data: vec![] }]));
        assert!(outcomes[1].findings.is_err());
    }

    #[test]
    fn metadata_is_exact() {
        let metadata = RcdModification::metadata();
        assert_eq!(metadata.id, "TRC-1026");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "Rcd modification detected");
        assert_eq!(metadata.event_name, "rcd_modification");
        assert_eq!(
            metadata.description,
            // Verbatim from the Go source, on one line.
            "The rcd files were modified. rcd files are scripts executed on boot and runlevel switch. Those scripts are responsible for service control in runlevel switch. Adversaries may add or modify rcd files in order to persist a reboot, thus maintaining malicious execution on the affected host."
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 2,
                category: "persistence".into(),
                technique: "RC Scripts".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--dca670cf-eeec-438f-8185-fd959d9ef211".into(),
                external_id: "T1037.004".into(),
                extra: vec![],
            }
        );
    }

    #[test]
    fn selects_every_exec_open_and_rename_reading_only_the_paths_and_flags() {
        let filter = |field: &str, test: Test| FieldFilter {
            field: field.into(),
            test,
        };
        assert_eq!(
            RcdModification::selected_events(),
            vec![
                EventSelector {
                    name: "sched_process_exec".into(),
                    origin: OriginFilter::Any,
                    filters: vec![filter(
                        "pathname",
                        Test::BasenameIn(vec!["update-rc.d".into(), String::new()])
                    )],
                    fields: vec!["pathname".into()],
                },
                EventSelector {
                    name: "security_file_open".into(),
                    origin: OriginFilter::Any,
                    filters: vec![
                        filter("flags", Test::AccessMode(Access::Write)),
                        filter(
                            "pathname",
                            Test::Equals(vec![
                                "/etc/rc.local".into(),
                                "/etc/init.d/rc.local".into()
                            ])
                        )
                    ],
                    fields: vec!["pathname".into(), "flags".into()],
                },
                EventSelector {
                    name: "security_file_open".into(),
                    origin: OriginFilter::Any,
                    filters: vec![
                        filter("flags", Test::AccessMode(Access::Write)),
                        filter(
                            "pathname",
                            Test::Prefix(vec![
                                "/etc/rc1.d".into(),
                                "/etc/rc2.d".into(),
                                "/etc/rc3.d".into(),
                                "/etc/rc4.d".into(),
                                "/etc/rc5.d".into(),
                                "/etc/rc6.d".into(),
                                "/etc/rcs.d".into(),
                                "/etc/init.d".into(),
                                "/etc/rc.d/rc.local".into(),
                                "/etc/rc.d/init.d".into(),
                                "/etc/rc.d".into()
                            ])
                        )
                    ],
                    fields: vec!["pathname".into(), "flags".into()],
                },
                EventSelector {
                    name: "security_inode_rename".into(),
                    origin: OriginFilter::Any,
                    filters: vec![filter(
                        "new_path",
                        Test::Equals(vec!["/etc/rc.local".into(), "/etc/init.d/rc.local".into()])
                    )],
                    fields: vec!["new_path".into()],
                },
                EventSelector {
                    name: "security_inode_rename".into(),
                    origin: OriginFilter::Any,
                    filters: vec![filter(
                        "new_path",
                        Test::Prefix(vec![
                            "/etc/rc1.d".into(),
                            "/etc/rc2.d".into(),
                            "/etc/rc3.d".into(),
                            "/etc/rc4.d".into(),
                            "/etc/rc5.d".into(),
                            "/etc/rc6.d".into(),
                            "/etc/rcs.d".into(),
                            "/etc/init.d".into(),
                            "/etc/rc.d/rc.local".into(),
                            "/etc/rc.d/init.d".into(),
                            "/etc/rc.d".into()
                        ])
                    )],
                    fields: vec!["new_path".into()],
                },
            ]
        );
    }
}
