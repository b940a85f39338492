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
        field("comm", Value::Text(event.process_name.clone())),
    ];
    if let Ok(prev_comm) = event.string_arg("prev_comm") {
        data.push(field("prev_comm", Value::Text(prev_comm.into())));
    }
    let pathname = event
        .string_arg("pathname")
        .unwrap_or(&event.executable_path);
    data.push(field("pathname", Value::Text(pathname.into())));
    data
}

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
        vec![EventSelector::any_origin(SCHED_PROCESS_EXEC)]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(ExecEcho)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        if event.name != SCHED_PROCESS_EXEC {
            return Ok(vec![]);
        }
        Ok(vec![Finding { data: echo(event) }])
    }
}

sigbox_sdk::export_signature!(ExecEcho);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::{ExecArgs, Origin, Payload};

    fn event(name: &str, payload: Payload) -> Event {
        Event {
            timestamp_ns: 1,
            name: name.into(),
            origin: Origin::Container,
            pid: 7,
            tid: 7,
            ppid: 1,
            host_pid: 4242,
            host_tid: 4242,
            host_ppid: 4000,
            uid: 0,
            mount_ns: 0,
            pid_ns: 0,
            cgroup_id: 0,
            process_name: "true".into(),
            executable_path: "/usr/bin/true".into(),
            host_name: "h".into(),
            container_id: "c".into(),
            return_value: 0,
            payload,
        }
    }

    fn exec_args(prev_comm: Option<&str>) -> ExecArgs {
        ExecArgs {
            pathname: "/bin/true".into(),
            cmdpath: "true".into(),
            argv: vec!["true".into()],
            argv_truncated: false,
            interpreter_pathname: String::new(),
            prev_comm: prev_comm.map(Into::into),
            dev: 0,
            inode: 0,
            ctime: 0,
            inode_mode: 0,
            stdin_type: 0,
            stdin_path: String::new(),
            invoked_from_kernel: false,
            pwd: String::new(),
            extra: vec![],
        }
    }

    fn run(event: &Event) -> Vec<Finding> {
        ExecEcho::new(&[]).unwrap().on_event(event).unwrap()
    }

    #[test]
    fn echoes_every_exec() {
        let ev = event(SCHED_PROCESS_EXEC, Payload::Exec(exec_args(Some("bash"))));
        assert_eq!(
            run(&ev),
            vec![Finding {
                data: vec![
                    field("pid", Value::Unsigned(4242)),
                    field("comm", Value::Text("true".into())),
                    field("prev_comm", Value::Text("bash".into())),
                    field("pathname", Value::Text("/bin/true".into())),
                ]
            }]
        );
    }

    #[test]
    fn unknown_prev_comm_is_omitted() {
        let ev = event(SCHED_PROCESS_EXEC, Payload::Exec(exec_args(None)));
        let data = &run(&ev)[0].data;
        let names: Vec<&str> = data.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["pid", "comm", "pathname"]);
    }

    #[test]
    fn generic_payload_without_pathname_uses_executable_path() {
        let ev = event(SCHED_PROCESS_EXEC, Payload::Generic(vec![]));
        assert_eq!(
            run(&ev)[0].data[2],
            field("pathname", Value::Text("/usr/bin/true".into()))
        );
    }

    #[test]
    fn other_events_give_nothing() {
        let ev = event("openat", Payload::Generic(vec![]));
        assert!(run(&ev).is_empty());
    }

    #[test]
    fn metadata_and_selection() {
        assert_eq!(ExecEcho::metadata().id, "TEST-EXEC-ECHO");
        assert_eq!(ExecEcho::metadata().event_name, "exec_echo");
        assert_eq!(
            ExecEcho::selected_events(),
            vec![EventSelector::any_origin(SCHED_PROCESS_EXEC)]
        );
    }
}
