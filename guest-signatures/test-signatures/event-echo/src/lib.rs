//! TEST-EVENT-ECHO: a test-only signature reporting one finding for each
//! `security_socket_connect`, `socket_dup`, `ptrace`, `process_vm_writev`
//! and `security_sb_mount` of a process named [`COMM`], with the event's
//! arguments as the finding's data, so live tests can check what the
//! kernel side sends and see nothing of the machine's other processes.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The only process name whose events it selects (a test helper sets it).
pub const COMM: &str = "sbx-net-echo";

/// Each selected event with the arguments it reads (Tracee v0.24.1's).
const EVENTS: [(&str, &[&str]); 5] = [
    (
        "security_socket_connect",
        &["sockfd", "type", "remote_addr"],
    ),
    ("socket_dup", &["oldfd", "newfd", "remote_addr"]),
    ("ptrace", &["request", "pid", "addr", "data"]),
    (
        "process_vm_writev",
        &[
            "pid",
            "local_iov",
            "liovcnt",
            "remote_iov",
            "riovcnt",
            "flags",
        ],
    ),
    ("security_sb_mount", &["dev_name", "path", "type", "flags"]),
];

/// The signature. It keeps no state.
pub struct EventEcho;

/// The finding's data: every declared field of the event, by name.
pub fn echo(event: &Event) -> Vec<Field> {
    let fields = EVENTS
        .iter()
        .find(|(name, _)| *name == event.name())
        .map_or(&[][..], |(_, fields)| *fields);
    fields
        .iter()
        .filter_map(|name| {
            event.get(name).map(|value| Field {
                name: (*name).into(),
                value: value.clone(),
            })
        })
        .collect()
}

impl Signature for EventEcho {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-EVENT-ECHO".into(),
            version: "1".into(),
            name: "Echo network, process and mount events of one process name (test only)".into(),
            event_name: "event_echo".into(),
            description: "Reports the arguments of connect, socket dup, ptrace, \
                          process_vm_writev and mount events of one process name. For tests."
                .into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        EVENTS
            .iter()
            .map(|(name, fields)| {
                EventSelector::new(name)
                    .filter("process-name", &[COMM])
                    .reading(fields)
            })
            .collect()
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(EventEcho)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        Ok(vec![Finding { data: echo(event) }])
    }
}

sigbox_sdk::export_signature!(EventEcho);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{TestEvent, Value};

    #[test]
    fn a_ptrace_is_echoed_with_its_arguments() {
        let event = TestEvent::new("ptrace")
            .with("request", Value::Signed(5))
            .with("pid", Value::Signed(42));
        let data = echo(&event.event());
        let names: Vec<&str> = data.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["request", "pid"]);
    }

    #[test]
    fn every_selector_filters_on_the_process_name() {
        let selectors = EventEcho::selected_events();
        assert_eq!(selectors.len(), 5);
    }
}
