//! TRC-1016 "Web server spawned a shell": Tracee's signature of the same id,
//! ported from its Go source with the same semantics.
//!
//! On `sched_process_exec`, a finding (with no data) is reported when the
//! process's name before the exec (`prev_comm`) is a known web server and its
//! name after the exec is a known shell. Both comparisons are exact and
//! case-sensitive; comms are at most 15 bytes, hence `httpd-foregroun`. An exec
//! event without a string `prev_comm` is an error, never a finding.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// Shell programs (process names after the exec).
const SHELL_NAMES: [&str; 8] = ["ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash"];

/// Web-server programs (process names before the exec).
const WEB_SERVER_NAMES: [&str; 7] = [
    "nginx",
    "httpd",
    "httpd-foregroun",
    "http-nio",
    "lighttpd",
    "apache",
    "apache2",
];

/// The event this signature selects.
const SCHED_PROCESS_EXEC: &str = "sched_process_exec";

/// The TRC-1016 signature. It keeps no state.
pub struct IllegitimateShell;

impl Signature for IllegitimateShell {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1016".into(),
            version: "1".into(),
            name: "Web server spawned a shell".into(),
            event_name: "illegitimate_shell".into(),
            description: "A web-server program on your server spawned a shell program. \
                Shell is the linux command-line program, web servers usually don't run \
                shell programs, so this alert might indicate an adversary is exploiting \
                a web server program to gain command execution on the server."
                .into(),
            tags: vec![],
            properties: Properties {
                severity: 2,
                category: "initial-access".into(),
                technique: "Exploit Public-Facing Application".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--3f886f2a-874f-4333-b794-aa6075009b1c".into(),
                external_id: "T1190".into(),
                extra: vec![],
            },
        }
    }

    /// Host-side filters carry the same two lists, so the host skips the
    /// vast majority of execs without calling into the sandbox. `on_event`
    /// still checks both: the filters let through events without a string
    /// `prev_comm`, which this signature reports as errors, as Tracee does.
    /// The two fields it reads are the only ones that cross into the sandbox.
    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SCHED_PROCESS_EXEC)
                .reading(&["prev_comm", "process-name"])
                .filter("prev_comm", &WEB_SERVER_NAMES)
                .filter("process-name", &SHELL_NAMES),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(IllegitimateShell)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let prev_comm = event.text("prev_comm")?;
        if WEB_SERVER_NAMES.contains(&prev_comm)
            && SHELL_NAMES.contains(&event.text("process-name")?)
        {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

sigbox_sdk::export_signature!(IllegitimateShell);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{FieldFilter, Instance, OriginFilter, Test, TestEvent, Value, WireEvent};

    /// A `sched_process_exec` as the host sends it: the two declared fields.
    fn exec_with(prev_comm: Value, process_name: &str) -> TestEvent {
        TestEvent::new(SCHED_PROCESS_EXEC)
            .with("prev_comm", prev_comm)
            .text("process-name", process_name)
    }

    fn exec(prev_comm: &str, process_name: &str) -> TestEvent {
        exec_with(Value::Text(prev_comm.into()), process_name)
    }

    fn field(name: &str, value: Value) -> Field {
        Field {
            name: name.into(),
            value,
        }
    }

    fn run(event: &TestEvent) -> Result<Vec<Finding>, String> {
        IllegitimateShell::new(&[])
            .unwrap()
            .on_event(&event.event())
    }

    fn finds(event: &TestEvent) -> bool {
        match run(event) {
            Ok(findings) if findings.is_empty() => false,
            Ok(findings) => {
                assert_eq!(findings, vec![Finding { data: vec![] }]);
                true
            }
            Err(error) => panic!("unexpected error: {error}"),
        }
    }

    fn assert_prev_comm_error(event: &TestEvent) {
        let error = run(event).expect_err("expected an error");
        assert!(
            error.contains("prev_comm"),
            "error should name prev_comm: {error}"
        );
    }

    // Tracee v0.24.1, signatures/golang/illegitimate_shell_test.go.
    #[test]
    fn tracee_v0_24_1_cases() {
        assert!(finds(&exec("apache2", "dash")));
        assert!(!finds(&exec("apache2", "ls")));
        assert!(!finds(&exec("bash", "dash")));
    }

    // Tracee main, detectors/illegitimate_shell_test.go.
    #[test]
    fn tracee_main_cases() {
        assert!(finds(&exec("nginx", "bash")));
        assert!(finds(&exec("apache2", "sh")));
        assert!(finds(&exec("httpd", "zsh")));
        assert!(!finds(&exec("sshd", "bash")));
        assert!(!finds(&exec("nginx", "cat")));
        assert!(!finds(&exec("bash", "ls")));
    }

    #[test]
    fn every_web_server_and_shell_pair_matches() {
        for server in WEB_SERVER_NAMES {
            for shell in SHELL_NAMES {
                assert!(finds(&exec(server, shell)), "{server} -> {shell}");
            }
        }
    }

    #[test]
    fn missing_or_non_string_prev_comm_is_an_error() {
        for value in [
            Value::None,
            Value::Signed(7),
            Value::TextList(vec!["nginx".into()]),
            Value::Json("\"nginx\"".into()),
        ] {
            assert_prev_comm_error(&exec_with(value, "bash"));
        }
    }

    #[test]
    fn comm_is_truncated_to_15_bytes() {
        assert!(finds(&exec("httpd-foregroun", "sh")));
        assert!(!finds(&exec("httpd-foreground", "sh")));
    }

    #[test]
    fn matching_is_case_sensitive_and_exact() {
        assert!(!finds(&exec("NGINX", "bash")));
        assert!(!finds(&exec("nginx", "Bash")));
        assert!(!finds(&exec("nginx ", "bash")));
        assert!(!finds(&exec("nginx", "bash2")));
        assert!(!finds(&exec("", "")));
    }

    #[test]
    fn runs_through_an_instance_like_the_host() {
        let instance = Instance::<IllegitimateShell>::new();
        let wire = |prev: &str, name: &str, pid| WireEvent {
            selector: 0,
            context: sigbox_sdk::Context::with_pid(pid),
            fields: vec![Value::Text(prev.into()), Value::Text(name.into())],
        };
        let batch = [
            wire("nginx", "bash", 1),
            wire("nginx", "cat", 2),
            wire("httpd", "sh", 3),
        ];
        assert!(
            instance
                .on_events(&batch)
                .iter()
                .all(|o| o.findings.is_err())
        );
        instance.init(&[]).unwrap();
        let outcomes = instance.on_events(&batch);
        let found: Vec<u32> = outcomes.iter().map(|o| o.event).collect();
        assert_eq!(found, vec![0, 2]);
        assert_eq!(
            instance.on_signal(sigbox_sdk::Signal::SourceComplete),
            Ok(())
        );
    }

    #[test]
    fn metadata_is_exact() {
        let metadata = IllegitimateShell::metadata();
        assert_eq!(metadata.id, "TRC-1016");
        assert_eq!(metadata.version, "1");
        assert_eq!(metadata.name, "Web server spawned a shell");
        assert_eq!(metadata.event_name, "illegitimate_shell");
        assert_eq!(
            metadata.description,
            // Verbatim from the seed, on one line.
            "A web-server program on your server spawned a shell program. Shell is the linux command-line program, web servers usually don't run shell programs, so this alert might indicate an adversary is exploiting a web server program to gain command execution on the server."
        );
        assert!(metadata.description.is_ascii());
        assert!(metadata.tags.is_empty());
        assert_eq!(
            metadata.properties,
            Properties {
                severity: 2,
                category: "initial-access".into(),
                technique: "Exploit Public-Facing Application".into(),
                kubernetes_technique: String::new(),
                mitre_id: "attack-pattern--3f886f2a-874f-4333-b794-aa6075009b1c".into(),
                external_id: "T1190".into(),
                extra: vec![],
            }
        );
    }

    #[test]
    fn selects_sched_process_exec_from_anywhere_reading_two_fields() {
        assert_eq!(
            IllegitimateShell::selected_events(),
            vec![EventSelector {
                name: "sched_process_exec".into(),
                origin: OriginFilter::Any,
                filters: vec![
                    FieldFilter {
                        field: "prev_comm".into(),
                        test: Test::Equals(
                            WEB_SERVER_NAMES.iter().map(|n| n.to_string()).collect()
                        ),
                    },
                    FieldFilter {
                        field: "process-name".into(),
                        test: Test::Equals(SHELL_NAMES.iter().map(|n| n.to_string()).collect()),
                    },
                ],
                fields: vec!["prev_comm".into(), "process-name".into()],
            }]
        );
    }

    #[test]
    fn config_is_ignored() {
        let config = [field("anything", Value::Boolean(true))];
        assert!(IllegitimateShell::new(&config).is_ok());
    }
}
