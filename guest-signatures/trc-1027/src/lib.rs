//! TRC-1027 "Scheduled tasks modification detected": Tracee's signature of the
//! same id (v0.24.1, `signatures/golang/scheduled_task_modification.go`), exec
//! branch only.
//!
//! On `sched_process_exec`, a finding (with no data) is reported when the
//! basename of the executed file's `pathname` (Go's `path.Base`) is exactly
//! one of `crontab`, `at`, `batch` or `launchd`. An exec event without a
//! string `pathname` is an error, never a finding, as in Tracee.
//!
//! Not served: Tracee's other two branches, a write-open (`security_file_open`)
//! or a rename onto (`security_inode_rename`) one of the cron files
//! (`/etc/crontab`, `/etc/anacrontab`, `/etc/cron.deny`, `/etc/cron.allow`) or
//! a path under the cron directories (`/etc/cron.d`, `/var/spool/cron/crontabs`,
//! ...). sigbox does not deliver those events yet, so this signature selects
//! only `sched_process_exec`.

use sigbox_sdk::{
    Event, EventSelector, Field, Finding, Metadata, Properties, Signature, path_base,
};

/// Commands that schedule tasks, in Tracee's order.
const CRON_COMMANDS: [&str; 4] = ["crontab", "at", "batch", "launchd"];

/// The event this signature selects.
const SCHED_PROCESS_EXEC: &str = "sched_process_exec";

/// The TRC-1027 signature. It keeps no state.
pub struct ScheduledTaskModification;

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

    /// Every exec, with no host-side filter: host filters are exact-match on
    /// the whole `pathname`, and the commands may be installed anywhere. Only
    /// `pathname` crosses into the sandbox.
    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new(SCHED_PROCESS_EXEC).reading(&["pathname"])]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(ScheduledTaskModification)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        if CRON_COMMANDS.contains(&path_base(event.text("pathname")?)) {
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
    use sigbox_sdk::{Instance, OriginFilter, TestEvent, Value, WireEvent};

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

    // Tracee v0.24.1, signatures/golang/scheduled_task_modification_test.go
    // (its sched_process_exec cases; the other two events are not served).
    #[test]
    fn tracee_v0_24_1_cases() {
        assert!(finds("/bin/crontab"));
        assert!(!finds("/bin/ls"));
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
        // A cron file is the file branch, not served; exec'ing it by name is
        // what counts here, and its basename is crontab.
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
    fn selects_every_exec_reading_only_pathname() {
        assert_eq!(
            ScheduledTaskModification::selected_events(),
            vec![EventSelector {
                name: "sched_process_exec".into(),
                origin: OriginFilter::Any,
                filters: vec![],
                fields: vec!["pathname".into()],
            }]
        );
    }
}
