//! Event fields by name: what a selector's filters test and what its
//! `fields` list projects into the sandbox (contract 0.2).
//!
//! One resolver serves both, so a name means the same thing in a filter and
//! in a projection, for live events (typed exec arguments) and replayed ones
//! (Tracee's name/value arguments) alike.

use super::bindings::v2::sigbox::signature::types::Value as GuestValue;
use crate::wit::{Event, Field, Payload, Value};

/// A field of an event, resolved from its name once at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventField {
    EventName,
    ProcessName,
    ExecutablePath,
    HostName,
    ContainerId,
    Pathname,
    Cmdpath,
    Argv,
    ArgvTruncated,
    InterpreterPathname,
    PrevComm,
    Dev,
    Inode,
    Ctime,
    InodeMode,
    StdinType,
    StdinPath,
    Pwd,
    InvokedFromKernel,
    /// Any other argument, by its name in the event.
    Argument(String),
}

impl EventField {
    /// Resolves a field name (see `event-selector.fields` in the WIT). The
    /// 0.1 filter spellings `prev-comm` and `interpreter-pathname` resolve
    /// to the same fields as Tracee's `prev_comm` and `interpreter_pathname`.
    pub fn parse(name: &str) -> Self {
        match name {
            "event-name" => Self::EventName,
            "process-name" => Self::ProcessName,
            "executable-path" => Self::ExecutablePath,
            "host-name" => Self::HostName,
            "container-id" => Self::ContainerId,
            "pathname" => Self::Pathname,
            "cmdpath" => Self::Cmdpath,
            "argv" => Self::Argv,
            "argv_truncated" => Self::ArgvTruncated,
            "interpreter_pathname" | "interpreter-pathname" => Self::InterpreterPathname,
            "prev_comm" | "prev-comm" => Self::PrevComm,
            "dev" => Self::Dev,
            "inode" => Self::Inode,
            "ctime" => Self::Ctime,
            "inode_mode" => Self::InodeMode,
            "stdin_type" => Self::StdinType,
            "stdin_path" => Self::StdinPath,
            "pwd" => Self::Pwd,
            "invoked_from_kernel" => Self::InvokedFromKernel,
            other => Self::Argument(other.to_owned()),
        }
    }

    /// The argument's name in Tracee's events, for typed exec arguments
    /// looked up in a name/value payload.
    fn tracee_name(&self) -> Option<&str> {
        Some(match self {
            Self::Pathname => "pathname",
            Self::Cmdpath => "cmdpath",
            Self::Argv => "argv",
            Self::ArgvTruncated => "argv_truncated",
            Self::InterpreterPathname => "interpreter_pathname",
            Self::PrevComm => "prev_comm",
            Self::Dev => "dev",
            Self::Inode => "inode",
            Self::Ctime => "ctime",
            Self::InodeMode => "inode_mode",
            Self::StdinType => "stdin_type",
            Self::StdinPath => "stdin_path",
            Self::Pwd => "pwd",
            Self::InvokedFromKernel => "invoked_from_kernel",
            Self::Argument(name) => name,
            Self::EventName
            | Self::ProcessName
            | Self::ExecutablePath
            | Self::HostName
            | Self::ContainerId => return None,
        })
    }

    /// The field's value in `event` when it is a string (what filters test).
    pub fn text<'e>(&self, event: &'e Event) -> Option<&'e str> {
        match self.context_text(event) {
            Some(text) => Some(text),
            None => match &event.payload {
                Payload::Exec(exec) => match self {
                    Self::Pathname => Some(&exec.pathname),
                    Self::Cmdpath => Some(&exec.cmdpath),
                    Self::InterpreterPathname => Some(&exec.interpreter_pathname),
                    Self::PrevComm => exec.prev_comm.as_deref(),
                    Self::StdinPath => Some(&exec.stdin_path),
                    Self::Pwd => Some(&exec.pwd),
                    Self::Argument(name) => argument_text(&exec.extra, name),
                    _ => None,
                },
                Payload::Generic(args) => argument_text(args, self.tracee_name()?),
            },
        }
    }

    fn context_text<'e>(&self, event: &'e Event) -> Option<&'e str> {
        match self {
            Self::EventName => Some(&event.name),
            Self::ProcessName => Some(&event.process_name),
            Self::ExecutablePath => Some(&event.executable_path),
            Self::HostName => Some(&event.host_name),
            Self::ContainerId => Some(&event.container_id),
            _ => None,
        }
    }

    /// The field's value in `event`, as the guest receives it: `none` when
    /// the event lacks it.
    pub fn value(&self, event: &Event) -> GuestValue {
        if let Some(text) = self.context_text(event) {
            return GuestValue::Text(text.to_owned());
        }
        let exec = match &event.payload {
            Payload::Exec(exec) => exec,
            Payload::Generic(args) => {
                return self
                    .tracee_name()
                    .and_then(|name| argument(args, name))
                    .map_or(GuestValue::None, to_guest);
            }
        };
        let text = |s: &String| GuestValue::Text(s.clone());
        match self {
            Self::Pathname => text(&exec.pathname),
            Self::Cmdpath => text(&exec.cmdpath),
            Self::Argv => GuestValue::TextList(exec.argv.clone()),
            Self::ArgvTruncated => GuestValue::Boolean(exec.argv_truncated),
            Self::InterpreterPathname => text(&exec.interpreter_pathname),
            Self::PrevComm => exec
                .prev_comm
                .as_ref()
                .map_or(GuestValue::None, |s| GuestValue::Text(s.clone())),
            Self::Dev => GuestValue::Unsigned(exec.dev.into()),
            Self::Inode => GuestValue::Unsigned(exec.inode),
            Self::Ctime => GuestValue::Unsigned(exec.ctime),
            Self::InodeMode => GuestValue::Unsigned(exec.inode_mode.into()),
            Self::StdinType => GuestValue::Unsigned(exec.stdin_type.into()),
            Self::StdinPath => text(&exec.stdin_path),
            Self::Pwd => text(&exec.pwd),
            Self::InvokedFromKernel => GuestValue::Boolean(exec.invoked_from_kernel),
            Self::Argument(name) => argument(&exec.extra, name).map_or(GuestValue::None, to_guest),
            Self::EventName
            | Self::ProcessName
            | Self::ExecutablePath
            | Self::HostName
            | Self::ContainerId => unreachable!("context fields return above"),
        }
    }
}

fn argument<'e>(fields: &'e [Field], name: &str) -> Option<&'e Value> {
    fields.iter().find(|f| f.name == name).map(|f| &f.value)
}

fn argument_text<'e>(fields: &'e [Field], name: &str) -> Option<&'e str> {
    match argument(fields, name)? {
        Value::Text(text) => Some(text),
        _ => None,
    }
}

/// A host value as the 0.2 guest receives it.
pub fn to_guest(value: &Value) -> GuestValue {
    match value {
        Value::None => GuestValue::None,
        Value::Boolean(b) => GuestValue::Boolean(*b),
        Value::Signed(n) => GuestValue::Signed(*n),
        Value::Unsigned(n) => GuestValue::Unsigned(*n),
        Value::Float(f) => GuestValue::Float(*f),
        Value::Text(s) => GuestValue::Text(s.clone()),
        Value::TextList(l) => GuestValue::TextList(l.clone()),
        Value::Json(s) => GuestValue::Json(s.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::tracee_json::parse_event;

    const EXEC: &str = r#"{"timestamp":1,"processName":"bash","hostName":"h","eventName":"sched_process_exec","args":[{"name":"pathname","type":"const char*","value":"/usr/bin/bash"},{"name":"argv","type":"const char**","value":["bash","-c","id"]},{"name":"prev_comm","type":"const char*","value":"nginx"},{"name":"inode","type":"unsigned long","value":77},{"name":"weird","type":"int","value":5}]}"#;

    #[test]
    fn typed_exec_fields_by_tracee_and_0_1_names() {
        let event = parse_event(EXEC).unwrap();
        for name in ["prev_comm", "prev-comm"] {
            assert_eq!(EventField::parse(name).text(&event), Some("nginx"));
        }
        assert_eq!(
            EventField::parse("argv").value(&event),
            GuestValue::TextList(vec!["bash".into(), "-c".into(), "id".into()])
        );
        assert_eq!(
            EventField::parse("inode").value(&event),
            GuestValue::Unsigned(77)
        );
        assert_eq!(
            EventField::parse("process-name").value(&event),
            GuestValue::Text("bash".into())
        );
        assert_eq!(
            EventField::parse("event-name").text(&event),
            Some("sched_process_exec")
        );
        assert_eq!(
            EventField::parse("weird").value(&event),
            GuestValue::Signed(5)
        );
        assert_eq!(EventField::parse("absent").value(&event), GuestValue::None);
    }

    #[test]
    fn generic_events_are_looked_up_by_argument_name() {
        let line = r#"{"eventName":"openat","args":[{"name":"pathname","type":"const char*","value":"/etc/shadow"},{"name":"flags","type":"int","value":0}]}"#;
        let event = parse_event(line).unwrap();
        assert_eq!(EventField::Pathname.text(&event), Some("/etc/shadow"));
        assert_eq!(
            EventField::parse("flags").value(&event),
            GuestValue::Signed(0)
        );
        assert_eq!(EventField::PrevComm.value(&event), GuestValue::None);
    }
}
