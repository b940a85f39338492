//! TEST-EXEC-ECHO: a test-only signature reporting one finding for every
//! `sched_process_exec` event, so tests can see each exec the host delivers.
//!
//! The finding's data: `pid` (the host pid, unsigned), `comm` (the process
//! name after the exec), `prev_comm` (the name before it; omitted when the
//! event does not carry it as a string) and `pathname` (the executed path; the
//! event's `executable_path` when the payload has no string `pathname`).
//! Other event names (which it does not select) give no finding.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The event this signature selects.
const SCHED_PROCESS_EXEC: &str = "sched_process_exec";

/// The signature. It keeps no state.
pub struct ExecEcho;

fn field(name: &str, value: Value) -> Field {
    Field {
        name: name.into(),
        value,
    }
}

/// The finding's data for one exec event.
pub fn echo(event: &Event) -> Vec<Field> {
    let mut data = vec![
        field("pid", Value::Unsigned(event.host_pid.into())),
        field(
            "comm",
            Value::Text(event.text("process-name").unwrap_or_default().into()),
        ),
    ];
    if let Ok(prev_comm) = event.text("prev_comm") {
        data.push(field("prev_comm", Value::Text(prev_comm.into())));
    }
    let pathname = event
        .text("pathname")
        .or_else(|_| event.text("executable-path"))
        .unwrap_or_default();
    data.push(field("pathname", Value::Text(pathname.into())));
    data
}

/// The fields [`echo`] reads.
const FIELDS: [&str; 4] = ["process-name", "prev_comm", "pathname", "executable-path"];

impl Signature for ExecEcho {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-EXEC-ECHO".into(),
            version: "1".into(),
            name: "Echo every exec (test only)".into(),
            event_name: "exec_echo".into(),
            description: "Reports every sched_process_exec event it receives. For tests.".into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new(SCHED_PROCESS_EXEC).reading(&FIELDS)]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(ExecEcho)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        Ok(vec![Finding { data: echo(event) }])
    }
}

sigbox_sdk::export_signature!(ExecEcho);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::TestEvent;

    fn exec(prev_comm: Value, pathname: Value) -> TestEvent {
        let mut event = TestEvent::new(SCHED_PROCESS_EXEC)
            .text("process-name", "true")
            .with("prev_comm", prev_comm)
            .with("pathname", pathname)
            .text("executable-path", "/usr/bin/true");
        event.context.host_pid = 77;
        event
    }

    fn data(event: &TestEvent) -> Vec<Field> {
        let findings = ExecEcho::new(&[])
            .unwrap()
            .on_event(&event.event())
            .unwrap();
        assert_eq!(findings.len(), 1);
        findings.into_iter().next().unwrap().data
    }

    #[test]
    fn echoes_pid_comm_prev_comm_and_pathname() {
        let event = exec(
            Value::Text("bash".into()),
            Value::Text("/usr/bin/true".into()),
        );
        assert_eq!(
            data(&event),
            vec![
                field("pid", Value::Unsigned(77)),
                field("comm", Value::Text("true".into())),
                field("prev_comm", Value::Text("bash".into())),
                field("pathname", Value::Text("/usr/bin/true".into())),
            ]
        );
    }

    #[test]
    fn omits_a_missing_prev_comm_and_falls_back_to_executable_path() {
        let event = exec(Value::None, Value::None);
        assert_eq!(
            data(&event),
            vec![
                field("pid", Value::Unsigned(77)),
                field("comm", Value::Text("true".into())),
                field("pathname", Value::Text("/usr/bin/true".into())),
            ]
        );
    }

    #[test]
    fn declares_what_it_reads() {
        assert_eq!(
            ExecEcho::selected_events()[0].fields,
            FIELDS.map(String::from).to_vec()
        );
    }
}
