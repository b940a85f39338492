//! Event fields by name: what a selector's filters test and what its
//! `fields` list projects into the sandbox (contract 0.2).
//!
//! One resolver serves both, so a name means the same thing in a filter and
//! in a projection, for live events (typed exec arguments) and replayed ones
//! (Tracee's name/value arguments) alike. Exec arguments are read through
//! Tracee's table (`event::tracee`), so an argument the event lacks is
//! `none`, never an empty value.

use super::bindings::v2::sigbox::signature::types::Value as GuestValue;
use crate::event::tracee::{self, ArgDef};
use crate::wit::{Event, Field, Payload, Value};

/// A field of an event, resolved from its name once at load.
#[derive(Debug, Clone)]
pub enum EventField {
    EventName,
    ProcessName,
    ExecutablePath,
    HostName,
    ContainerId,
    /// sigbox's own flag that `argv` was cut short.
    ArgvTruncated,
    /// An argument of Tracee's `sched_process_exec`.
    ExecArg(&'static ArgDef),
    /// Any other argument, by its name in the event.
    Argument(String),
}

impl PartialEq for EventField {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for EventField {}

impl EventField {
    /// Resolves a field name (see `event-selector.fields` in the WIT). The
    /// 0.1 filter spellings `prev-comm` and `interpreter-pathname` resolve
    /// to the same fields as Tracee's `prev_comm` and `interpreter_pathname`.
    pub fn parse(name: &str) -> Self {
        let name = match name {
            "event-name" => return Self::EventName,
            "process-name" => return Self::ProcessName,
            "executable-path" => return Self::ExecutablePath,
            "host-name" => return Self::HostName,
            "container-id" => return Self::ContainerId,
            "argv_truncated" => return Self::ArgvTruncated,
            "prev-comm" => "prev_comm",
            "interpreter-pathname" => "interpreter_pathname",
            other => other,
        };
        tracee::exec_arg(name).map_or_else(|| Self::Argument(name.to_owned()), Self::ExecArg)
    }

    /// The field's name: the context's WIT name, or the argument's Tracee name.
    fn name(&self) -> &str {
        match self {
            Self::EventName => "event-name",
            Self::ProcessName => "process-name",
            Self::ExecutablePath => "executable-path",
            Self::HostName => "host-name",
            Self::ContainerId => "container-id",
            Self::ArgvTruncated => "argv_truncated",
            Self::ExecArg(def) => def.name,
            Self::Argument(name) => name,
        }
    }

    /// The argument's name in Tracee's events; `None` for context fields.
    fn argument_name(&self) -> Option<&str> {
        match self {
            Self::ArgvTruncated | Self::ExecArg(_) | Self::Argument(_) => Some(self.name()),
            _ => None,
        }
    }

    /// The field's value in `event` when it is a string (what filters test).
    pub fn text<'e>(&self, event: &'e Event) -> Option<&'e str> {
        if let Some(text) = self.context_text(event) {
            return Some(text);
        }
        let name = self.argument_name()?;
        match &event.payload {
            Payload::Exec(exec) => match self {
                // `extra` wins: replay lists a typed argument there when the
                // event lacked it or gave another type.
                Self::ExecArg(def) if tracee::extra(&exec.extra, def.name).is_none() => {
                    match def.name {
                        "pathname" => Some(&exec.pathname),
                        "cmdpath" => Some(&exec.cmdpath),
                        "interpreter_pathname" => Some(&exec.interpreter_pathname),
                        "prev_comm" => exec.prev_comm.as_deref(),
                        "stdin_path" => Some(&exec.stdin_path),
                        "pwd" => Some(&exec.pwd),
                        _ => None,
                    }
                }
                _ => argument_text(&exec.extra, name),
            },
            Payload::Generic(args) => argument_text(args, name),
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
        let Some(name) = self.argument_name() else {
            return GuestValue::None;
        };
        match (&event.payload, self) {
            (Payload::Exec(exec), Self::ArgvTruncated) => GuestValue::Boolean(exec.argv_truncated),
            (Payload::Exec(exec), Self::ExecArg(def)) => {
                def.value(exec).map_or(GuestValue::None, into_guest)
            }
            (Payload::Exec(exec), _) => {
                argument(&exec.extra, name).map_or(GuestValue::None, to_guest)
            }
            (Payload::Generic(args), _) => argument(args, name).map_or(GuestValue::None, to_guest),
        }
    }
}

fn argument<'e>(fields: &'e [Field], name: &str) -> Option<&'e Value> {
    tracee::extra(fields, name)
}

fn argument_text<'e>(fields: &'e [Field], name: &str) -> Option<&'e str> {
    match argument(fields, name)? {
        Value::Text(text) => Some(text),
        _ => None,
    }
}

/// A host value as the 0.2 guest receives it, without copying it again.
fn into_guest(value: Value) -> GuestValue {
    match value {
        Value::None => GuestValue::None,
        Value::Boolean(b) => GuestValue::Boolean(b),
        Value::Signed(n) => GuestValue::Signed(n),
        Value::Unsigned(n) => GuestValue::Unsigned(n),
        Value::Float(f) => GuestValue::Float(f),
        Value::Text(s) => GuestValue::Text(s),
        Value::TextList(l) => GuestValue::TextList(l),
        Value::Json(s) => GuestValue::Json(s),
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
        assert_eq!(
            EventField::parse("pathname").text(&event),
            Some("/etc/shadow")
        );
        assert_eq!(
            EventField::parse("flags").value(&event),
            GuestValue::Signed(0)
        );
        assert_eq!(
            EventField::parse("prev_comm").value(&event),
            GuestValue::None
        );
    }
}
