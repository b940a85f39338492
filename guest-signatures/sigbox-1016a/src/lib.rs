//! SIGBOX-1016A "Web server spawned a shell in its ancestry": TRC-1016
//! widened to the whole ancestry the host attaches to live events.
//!
//! On `sched_process_exec`, a finding is reported when the new program's
//! name is a shell (TRC-1016's list) and any of its ancestors (the parent
//! up to eight levels, exited ones included) is named as a web server
//! (TRC-1016's list): `nginx → sh -c → bash` and `nginx → python3 → sh`,
//! which TRC-1016 (the name before the exec only) misses. The finding's
//! `ancestors` lists the chain's names, nearest first.
//!
//! Both lists are host-side filters, so the sandbox only sees execs that
//! match; events without ancestry (replay) never match.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// Shell programs (TRC-1016's).
const SHELL_NAMES: [&str; 8] = ["ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash"];

/// Web-server programs (TRC-1016's).
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
/// The ancestors' names, nearest first (a host field).
const ANCESTOR_NAMES: &str = "ancestors.process-name";

/// The signature. It keeps no state.
pub struct AncestorShell;

impl Signature for AncestorShell {
    fn metadata() -> Metadata {
        Metadata {
            id: "SIGBOX-1016A".into(),
            version: "1".into(),
            name: "Web server spawned a shell in its ancestry".into(),
            event_name: "web_server_shell_in_ancestry".into(),
            description: "A shell program started with a web-server program among its \
                ancestors. Web servers usually don't run shells, directly or through an \
                interpreter, so this alert might indicate an adversary is exploiting a \
                web server program to gain command execution on the server."
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

    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new(SCHED_PROCESS_EXEC)
                .reading(&["process-name", ANCESTOR_NAMES])
                .filter("process-name", &SHELL_NAMES)
                .filter(ANCESTOR_NAMES, &WEB_SERVER_NAMES),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(AncestorShell)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let ancestors = event.texts(ANCESTOR_NAMES)?;
        let shell = SHELL_NAMES.contains(&event.text("process-name")?);
        let web_server = ancestors
            .iter()
            .any(|name| WEB_SERVER_NAMES.contains(&name.as_str()));
        if !(shell && web_server) {
            return Ok(vec![]);
        }
        Ok(vec![Finding {
            data: vec![Field {
                name: "ancestors".into(),
                value: Value::TextList(ancestors.to_vec()),
            }],
        }])
    }
}

sigbox_sdk::export_signature!(AncestorShell);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::TestEvent;

    fn exec(process_name: &str, ancestors: &[&str]) -> TestEvent {
        TestEvent::new(SCHED_PROCESS_EXEC)
            .text("process-name", process_name)
            .with(
                ANCESTOR_NAMES,
                Value::TextList(ancestors.iter().map(|a| a.to_string()).collect()),
            )
    }

    fn run(event: &TestEvent) -> Vec<Finding> {
        AncestorShell::new(&[])
            .unwrap()
            .on_event(&event.event())
            .expect("no error")
    }

    fn chain(names: &[&str]) -> Vec<Finding> {
        vec![Finding {
            data: vec![Field {
                name: "ancestors".into(),
                value: Value::TextList(names.iter().map(|n| n.to_string()).collect()),
            }],
        }]
    }

    #[test]
    fn a_web_server_anywhere_above_a_shell_is_found() {
        assert_eq!(
            run(&exec("bash", &["sh", "nginx", "systemd"])),
            chain(&["sh", "nginx", "systemd"])
        );
        assert_eq!(
            run(&exec("sh", &["python3", "nginx"])),
            chain(&["python3", "nginx"])
        );
        assert_eq!(run(&exec("dash", &["apache2"])), chain(&["apache2"]));
        let deep = ["sh", "a", "b", "c", "d", "e", "f", "httpd"];
        assert_eq!(run(&exec("zsh", &deep)), chain(&deep));
    }

    #[test]
    fn near_misses_are_silent() {
        assert!(run(&exec("bash", &["sshd", "systemd"])).is_empty());
        assert!(run(&exec("python3", &["nginx"])).is_empty(), "not a shell");
        assert!(run(&exec("bash", &[])).is_empty(), "no ancestry");
        assert!(run(&exec("bash", &["NGINX", "nginx2"])).is_empty());
    }

    #[test]
    fn a_missing_field_is_an_error() {
        let event = TestEvent::new(SCHED_PROCESS_EXEC).text("process-name", "bash");
        assert!(
            AncestorShell::new(&[])
                .unwrap()
                .on_event(&event.event())
                .is_err()
        );
    }

    #[test]
    fn selects_execs_of_shells_below_web_servers_on_the_host() {
        let selectors = AncestorShell::selected_events();
        assert_eq!(selectors.len(), 1);
        assert_eq!(selectors[0].name, SCHED_PROCESS_EXEC);
        assert_eq!(selectors[0].fields, ["process-name", ANCESTOR_NAMES]);
        assert_eq!(selectors[0].filters.len(), 2);
        assert_eq!(AncestorShell::metadata().id, "SIGBOX-1016A");
    }
}
