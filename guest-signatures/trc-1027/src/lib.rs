//! TRC-1027 "Scheduled tasks modification detected": Tracee's signature of the
//! same id (v0.24.1, `signatures/golang/scheduled_task_modification.go`).
//!
//! A finding (with no data) is reported for any of Tracee's three branches:
//! - `sched_process_exec`: the basename of the executed file's `pathname`
//!   (Go's `path.Base`) is exactly one of `crontab`, `at`, `batch` or
//!   `launchd`;
//! - `security_file_open`: `flags` open for writing (`O_WRONLY` or `O_RDWR`,
//!   Tracee's `IsFileWrite`) a cron path (see [`is_cron_path`]);
//! - `security_inode_rename`: `new_path` is a cron path.
//!
//! An event without a string `pathname` (or `new_path`), or an open without
//! an integer `flags`, is an error, never a finding, as in Tracee.

use sigbox_sdk::{
    Access, Event, EventSelector, Field, Finding, Metadata, Properties, Signature, is_file_write,
    path_base,
};

/// Commands that schedule tasks, in Tracee's order.
const CRON_COMMANDS: [&str; 4] = ["crontab", "at", "batch", "launchd"];

/// The cron files, matched exactly.
const CRON_FILES: [&str; 4] = [
    "/etc/crontab",
    "/etc/anacrontab",
    "/etc/cron.deny",
    "/etc/cron.allow",
];

/// The cron directories, matched as prefixes (no trailing slash, so
/// `/etc/cron.daily.bak` matches too). `var/spool/anacron` lacks its leading
/// slash in Tracee, so it matches only relative paths; kept as Tracee has it.
const CRON_DIRS: [&str; 7] = [
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
    "/etc/cron.d",
    "/var/spool/cron/crontabs",
    "var/spool/anacron",
];

/// An event this signature selects.
const SCHED_PROCESS_EXEC: &str = "sched_process_exec";

/// An event this signature selects.
const SECURITY_FILE_OPEN: &str = "security_file_open";

/// An event this signature selects.
const SECURITY_INODE_RENAME: &str = "security_inode_rename";

/// The TRC-1027 signature. It keeps no state.
pub struct ScheduledTaskModification;

/// Tracee's `checkFileOrDir`: a cron file, or a path under a cron directory.
fn is_cron_path(path: &str) -> bool {
    CRON_FILES.contains(&path) || CRON_DIRS.iter().any(|dir| path.starts_with(dir))
}

impl Signature for ScheduledTaskModification {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1027".into(),
            version: "1".into(),
            name: "Scheduled tasks modification detected".into(),
            event_name: "scheduled_task_mod".into(),
            description: "The task scheduling functionality or files were modified. Crontab \
                schedules task execution or enables task execution at boot time. Adversaries \
                may add or modify scheduled tasks in order to persist a reboot, thus \
                maintaining malicious execution on the affected host."
                .into(),
            tags: vec![],
            properties: Properties {
                severity: 2,
                category: "persistence".into(),
                technique: "Cron".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--2acf44aa-542f-4366-b4eb-55ef5747759c".into(),
                external_id: "T1053.003".into(),
                extra: vec![],
            },
        }
    }

    /// Execs of a file named like a cron command (or with an empty basename:
    /// Go's `path.Base` ignores trailing slashes, the contract's basename does
    /// not); write-opens and renames onto a cron file (exactly) or under a cron
    /// directory: two selectors per file event, as a filter is either exact or a
    /// prefix. Any origin; the guest checks Tracee's whole condition again.
    fn selected_events() -> Vec<EventSelector> {
        let command_names: Vec<&str> = CRON_COMMANDS.iter().copied().chain([""]).collect();
        vec![
            EventSelector::new(SCHED_PROCESS_EXEC)
                .reading(&["pathname"])
                .basename_in("pathname", &command_names),
            EventSelector::new(SECURITY_FILE_OPEN)
                .reading(&["pathname", "flags"])
                .access_mode("flags", Access::Write)
                .filter("pathname", &CRON_FILES),
            EventSelector::new(SECURITY_FILE_OPEN)
                .reading(&["pathname", "flags"])
                .access_mode("flags", Access::Write)
                .prefix("pathname", &CRON_DIRS),
            EventSelector::new(SECURITY_INODE_RENAME)
                .reading(&["new_path"])
                .filter("new_path", &CRON_FILES),
            EventSelector::new(SECURITY_INODE_RENAME)
                .reading(&["new_path"])
                .prefix("new_path", &CRON_DIRS),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(ScheduledTaskModification)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let matched = match event.name() {
            SCHED_PROCESS_EXEC => CRON_COMMANDS.contains(&path_base(event.text("pathname")?)),
            // Tracee reads pathname, then flags.
            SECURITY_FILE_OPEN => {
                let pathname = event.text("pathname")?;
                is_file_write(event.int("flags")?) && is_cron_path(pathname)
            }
            SECURITY_INODE_RENAME => is_cron_path(event.text("new_path")?),
            _ => false,
        };
        if matched {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

sigbox_sdk::export_signature!(ScheduledTaskModification);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, Instance, OriginFilter, Test, TestEvent, Value, WireEvent};

    fn exec_with(pathname: Value) -> TestEvent {
        TestEvent::new(SCHED_PROCESS_EXEC).with("pathname", pathname)
    }

    fn run(event: &TestEvent) -> Result<Vec<Finding>, String> {
        ScheduledTaskModification::new(&[])
            .unwrap()
            .on_event(&event.event())
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
    /// O_WRONLY|O_CREAT|O_TRUNC, as `>` in a shell opens.
    const O_WRONLY_CREAT_TRUNC: Value = Value::Signed(0o1101);

    /// Whether the file event fires; panics on an error.
    fn fires(event: TestEvent) -> bool {
        let findings = run(&event).unwrap_or_else(|error| panic!("unexpected error: {error}"));
        assert!(findings.is_empty() || findings == vec![Finding { data: vec![] }]);
        !findings.is_empty()
    }

    // Tracee v0.24.1, signatures/golang/scheduled_task_modification_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        assert!(fires(open(text("/etc/crontab"), O_WRONLY)));
        assert!(fires(open(text("/etc/cron.d/job"), O_WRONLY)));
        assert!(fires(rename(text("/etc/crontab"))));
        assert!(fires(rename(text("/etc/cron.d/job"))));
        assert!(finds("/bin/crontab"));
        assert!(!fires(open(text("/var/lib/some_file"), O_WRONLY)));
        assert!(!fires(open(text("/etc/crontab"), O_RDONLY)));
        assert!(!fires(rename(text("/var/lib/some_file"))));
        assert!(!finds("/bin/ls"));
    }

    #[test]
    fn every_cron_file_and_directory_counts_when_written_or_renamed_onto() {
        for file in CRON_FILES {
            assert!(fires(open(text(file), O_RDWR)), "{file}");
            assert!(fires(rename(text(file))), "{file}");
        }
        assert!(!fires(rename(text("/etc/crontab.x"))));
        // `/etc/cron.d` is a prefix of `/etc/cron.deny`: anything starting
        // `/etc/cron.d` counts, as in Tracee.
        assert!(fires(rename(text("/etc/cron.deny.x"))));
        for dir in CRON_DIRS {
            let job = format!("{dir}/job");
            assert!(fires(open(text(&job), O_WRONLY_CREAT_TRUNC)), "{job}");
            assert!(fires(rename(text(&job))), "{job}");
            assert!(!fires(open(text(&job), O_RDONLY)), "{job}");
        }
        // Prefixes without a slash, as Tracee's.
        assert!(fires(rename(text("/etc/cron.daily.bak"))));
        // Tracee's relative anacron entry never matches an absolute path.
        assert!(!fires(rename(text("/var/spool/anacron/cron.daily"))));
        assert!(!fires(rename(text("/host/etc/crontab"))));
        // Access mode 3 is neither read nor write.
        assert!(!fires(open(text("/etc/crontab"), Value::Signed(3))));
    }

    #[test]
    fn file_events_without_their_arguments_are_errors_naming_them() {
        for (event, field) in [
            (open(Value::None, O_WRONLY), "pathname"),
            (open(Value::Signed(1), O_WRONLY), "pathname"),
            (open(text("/etc/crontab"), Value::None), "flags"),
            (open(text("/etc/crontab"), text("O_WRONLY")), "flags"),
            (rename(Value::None), "new_path"),
        ] {
            let error = run(&event).expect_err(field);
            assert!(error.contains(field), "{error}");
        }
    }

    #[test]
    fn every_command_matches_from_any_directory() {
        for command in CRON_COMMANDS {
            assert!(finds(&format!("/usr/bin/{command}")), "{command}");
            assert!(finds(&format!("/tmp/x/{command}")), "{command}");
            assert!(finds(command), "{command}");
        }
        // path.Base ignores trailing slashes.
        assert!(finds("/usr/bin/crontab/"));
    }

    #[test]
    fn near_misses_do_not_match() {
        assert!(!finds("/usr/bin/crontabx"));
        assert!(!finds("/usr/bin/xcrontab"));
        assert!(!finds("/usr/bin/Crontab"));
        assert!(!finds("/usr/bin/atd"));
        assert!(!finds("/usr/sbin/cron"));
        assert!(!finds("/usr/bin/batch.sh"));
        assert!(!finds("/usr/bin/crontab/x"));
        // Exec'ing a cron file by name counts: its basename is crontab.
        assert!(finds("/etc/crontab"));
        assert!(!finds("/etc/cron.d/job"));
        assert!(!finds("/"));
        assert!(!finds(""));
    }

    #[test]
    fn missing_or_non_string_pathname_is_an_error() {
        for value in [
            Value::None,
            Value::Signed(7),
            Value::TextList(vec!["/usr/bin/crontab".into()]),
            Value::Json("\"/usr/bin/crontab\"".into()),
        ] {
            let error = run(&exec_with(value)).expect_err("expected an error");
            assert!(error.contains("pathname"), "error should name it: {error}");
        }
    }

    #[test]
    fn runs_through_an_instance_like_the_host() {
        let instance = Instance::<ScheduledTaskModification>::new();
        instance.init(&[]).unwrap();
        let wire = |path: Value, pid| WireEvent {
            selector: 0,
            context: sigbox_sdk::Context::with_pid(pid),
            fields: vec![path],
        };
        let outcomes = instance.on_events(&[
            wire(Value::Text("/usr/bin/ls".into()), 1),
            wire(Value::Text("/usr/bin/at".into()), 2),
            wire(Value::Signed(3), 3),
            wire(Value::Text("/usr/bin/batch".into()), 4),
        ]);
        let positions: Vec<u32> = outcomes.iter().map(|o| o.event).collect();
        assert_eq!(positions, vec![1, 2, 3]);
        assert_eq!(outcomes[0].findings, Ok(vec![Finding { data: vec![] }]));
        assert!(outcomes[1].findings.is_err());
        assert_eq!(outcomes[2].findings, Ok(vec![Finding { data: vec![] }]));
    }

    #[test]
    fn metadata_is_exact() {
        let metadata = ScheduledTaskModification::metadata();
        assert_eq!(metadata.id, "TRC-1027");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "Scheduled tasks modification detected");
        assert_eq!(metadata.event_name, "scheduled_task_mod");
        assert_eq!(
            metadata.description,
            // Verbatim from the Go source, on one line.
            "The task scheduling functionality or files were modified. Crontab schedules task execution or enables task execution at boot time. Adversaries may add or modify scheduled tasks in order to persist a reboot, thus maintaining malicious execution on the affected host."
        );
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 2,
                category: "persistence".into(),
                technique: "Cron".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--2acf44aa-542f-4366-b4eb-55ef5747759c".into(),
                external_id: "T1053.003".into(),
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
            ScheduledTaskModification::selected_events(),
            vec![
                EventSelector {
                    name: "sched_process_exec".into(),
                    origin: OriginFilter::Any,
                    filters: vec![filter(
                        "pathname",
                        Test::BasenameIn(vec![
                            "crontab".into(),
                            "at".into(),
                            "batch".into(),
                            "launchd".into(),
                            String::new()
                        ])
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
                                "/etc/crontab".into(),
                                "/etc/anacrontab".into(),
                                "/etc/cron.deny".into(),
                                "/etc/cron.allow".into()
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
                                "/etc/cron.hourly".into(),
                                "/etc/cron.daily".into(),
                                "/etc/cron.weekly".into(),
                                "/etc/cron.monthly".into(),
                                "/etc/cron.d".into(),
                                "/var/spool/cron/crontabs".into(),
                                "var/spool/anacron".into()
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
                        Test::Equals(vec![
                            "/etc/crontab".into(),
                            "/etc/anacrontab".into(),
                            "/etc/cron.deny".into(),
                            "/etc/cron.allow".into()
                        ])
                    )],
                    fields: vec!["new_path".into()],
                },
                EventSelector {
                    name: "security_inode_rename".into(),
                    origin: OriginFilter::Any,
                    filters: vec![filter(
                        "new_path",
                        Test::Prefix(vec![
                            "/etc/cron.hourly".into(),
                            "/etc/cron.daily".into(),
                            "/etc/cron.weekly".into(),
                            "/etc/cron.monthly".into(),
                            "/etc/cron.d".into(),
                            "/var/spool/cron/crontabs".into(),
                            "var/spool/anacron".into()
                        ])
                    )],
                    fields: vec!["new_path".into()],
                },
            ]
        );
    }
}
