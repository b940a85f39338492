//! TRC-1016 "Web server spawned a shell": Tracee's signature of the same id,
//! ported from its Go source with the same semantics.
//!
//! On `sched_process_exec`, a finding (with no data) is reported when the
//! process's name before the exec (`prev_comm`) is a known web server and its
//! name after the exec is a known shell. Both comparisons are exact and
//! case-sensitive; comms are at most 15 bytes, hence `httpd-foregroun`. An exec
//! event without a string `prev_comm` is an error, never a finding.

use sigbox_sdk::{
    Event, EventSelector, Field, FieldFilter, Finding, Metadata, OriginFilter, Properties,
    Signature,
};

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

/// `prev-comm` is a web server and `process-name` a shell.
fn selector_filters() -> Vec<FieldFilter> {
    let list = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
    vec![
        FieldFilter {
            field: "prev-comm".into(),
            any_of: list(&WEB_SERVER_NAMES),
        },
        FieldFilter {
            field: "process-name".into(),
            any_of: list(&SHELL_NAMES),
        },
    ]
}

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
    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector {
            name: SCHED_PROCESS_EXEC.into(),
            origin: OriginFilter::Any,
            filters: selector_filters(),
        }]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(IllegitimateShell)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        if event.name != SCHED_PROCESS_EXEC {
            return Ok(vec![]);
        }
        let prev_comm = event.string_arg("prev_comm")?;
        if WEB_SERVER_NAMES.contains(&prev_comm)
            && SHELL_NAMES.contains(&event.process_name.as_str())
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
    use sigbox_sdk::{ExecArgs, Instance, Origin, Payload, Value};

    fn event(name: &str, process_name: &str, payload: Payload) -> Event {
        Event {
            timestamp_ns: 1_700_000_000_000_000_000,
            name: name.into(),
            origin: Origin::Host,
            pid: 42,
            tid: 42,
            ppid: 1,
            host_pid: 42,
            host_tid: 42,
            host_ppid: 1,
            uid: 33,
            mount_ns: 4026531841,
            pid_ns: 4026531836,
            cgroup_id: 1,
            process_name: process_name.into(),
            executable_path: format!("/bin/{process_name}"),
            host_name: "web-1".into(),
            container_id: String::new(),
            return_value: 0,
            payload,
        }
    }

    fn exec_args(prev_comm: Option<&str>) -> ExecArgs {
        ExecArgs {
            pathname: "/usr/bin/dash".into(),
            cmdpath: "/bin/sh".into(),
            argv: vec!["sh".into(), "-c".into(), "id".into()],
            argv_truncated: false,
            interpreter_pathname: String::new(),
            prev_comm: prev_comm.map(Into::into),
            dev: 2049,
            inode: 1234,
            ctime: 0,
            inode_mode: 0o100755,
            stdin_type: 0o010000,
            stdin_path: String::new(),
            invoked_from_kernel: false,
            pwd: "/var/www".into(),
            extra: vec![],
        }
    }

    /// A `sched_process_exec` with a typed payload: `prev_comm` → `process_name`.
    fn exec(prev_comm: &str, process_name: &str) -> Event {
        event(
            SCHED_PROCESS_EXEC,
            process_name,
            Payload::Exec(exec_args(Some(prev_comm))),
        )
    }

    /// A `sched_process_exec` from replay: Tracee's name/value arguments.
    fn generic_exec(process_name: &str, args: Vec<Field>) -> Event {
        event(SCHED_PROCESS_EXEC, process_name, Payload::Generic(args))
    }

    fn field(name: &str, value: Value) -> Field {
        Field {
            name: name.into(),
            value,
        }
    }

    fn run(event: &Event) -> Result<Vec<Finding>, String> {
        IllegitimateShell::new(&[]).unwrap().on_event(event)
    }

    fn finds(event: &Event) -> bool {
        match run(event) {
            Ok(findings) if findings.is_empty() => false,
            Ok(findings) => {
                assert_eq!(findings, vec![Finding { data: vec![] }]);
                true
            }
            Err(error) => panic!("unexpected error: {error}"),
        }
    }

    fn assert_prev_comm_error(event: &Event) {
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
    fn generic_payload_with_string_prev_comm() {
        let args = vec![
            field("pathname", Value::Text("/usr/bin/bash".into())),
            field("prev_comm", Value::Text("nginx".into())),
        ];
        assert!(finds(&generic_exec("bash", args)));
        let args = vec![field("prev_comm", Value::Text("cron".into()))];
        assert!(!finds(&generic_exec("bash", args)));
    }

    #[test]
    fn missing_prev_comm_is_an_error() {
        let typed = event(SCHED_PROCESS_EXEC, "bash", Payload::Exec(exec_args(None)));
        assert_prev_comm_error(&typed);
        let generic = generic_exec(
            "bash",
            vec![field("pathname", Value::Text("/usr/bin/bash".into()))],
        );
        assert_prev_comm_error(&generic);
        assert_prev_comm_error(&generic_exec("bash", vec![]));
    }

    #[test]
    fn non_string_prev_comm_is_an_error() {
        for value in [
            Value::None,
            Value::Signed(7),
            Value::TextList(vec!["nginx".into()]),
            Value::Json("\"nginx\"".into()),
        ] {
            let ev = generic_exec("bash", vec![field("prev_comm", value)]);
            assert_prev_comm_error(&ev);
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
    fn other_events_are_ignored() {
        // Even without prev_comm, and even with web-server/shell names.
        for name in ["execve", "sched_process_fork", "security_bprm_check", ""] {
            let ev = event(name, "bash", Payload::Generic(vec![]));
            assert_eq!(run(&ev), Ok(vec![]), "{name}");
            let ev = event(name, "bash", Payload::Exec(exec_args(Some("nginx"))));
            assert_eq!(run(&ev), Ok(vec![]), "{name}");
        }
    }

    #[test]
    fn runs_through_an_instance_like_the_host() {
        let instance = Instance::<IllegitimateShell>::new();
        assert!(instance.on_event(&exec("nginx", "bash")).is_err());
        instance.init(&[]).unwrap();
        assert_eq!(instance.on_event(&exec("nginx", "bash")).unwrap().len(), 1);
        assert_eq!(instance.on_event(&exec("nginx", "cat")), Ok(vec![]));
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
    fn selects_sched_process_exec_from_anywhere() {
        assert_eq!(
            IllegitimateShell::selected_events(),
            vec![EventSelector {
                name: "sched_process_exec".into(),
                origin: OriginFilter::Any,
                filters: vec![
                    FieldFilter {
                        field: "prev-comm".into(),
                        any_of: WEB_SERVER_NAMES.iter().map(|n| n.to_string()).collect(),
                    },
                    FieldFilter {
                        field: "process-name".into(),
                        any_of: SHELL_NAMES.iter().map(|n| n.to_string()).collect(),
                    },
                ],
            }]
        );
    }

    #[test]
    fn config_is_ignored() {
        let config = [field("anything", Value::Boolean(true))];
        assert!(IllegitimateShell::new(&config).is_ok());
    }
}
