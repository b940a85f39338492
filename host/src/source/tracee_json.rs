//! Parsing Tracee's `--output json` event lines (`trace.Event`) into WIT events.
//!
//! Only the fields the WIT event models are read; everything else on the line
//! is ignored here and kept by the caller (the raw line goes along with the
//! event so findings can copy Tracee's full context).

use serde::Deserialize;
use serde_json::Value as Json;

use crate::wit::{Event, ExecArgs, Field, Origin, Payload, Value};

/// The event name whose arguments have a typed WIT payload.
pub const EXEC_EVENT: &str = "sched_process_exec";

/// Why a line could not be turned into an event.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, not an object, or a field of the wrong type.
    #[error("invalid event JSON")]
    Json(#[from] serde_json::Error),
    /// Valid JSON that is not a Tracee event.
    #[error("not a Tracee event: {0}")]
    NotAnEvent(&'static str),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TraceeEvent {
    #[serde(default)]
    timestamp: u64,
    #[serde(default)]
    process_id: u32,
    #[serde(default)]
    thread_id: u32,
    #[serde(default)]
    parent_process_id: u32,
    #[serde(default)]
    host_process_id: u32,
    #[serde(default)]
    host_thread_id: u32,
    #[serde(default)]
    host_parent_process_id: u32,
    #[serde(default)]
    user_id: u32,
    #[serde(default)]
    mount_namespace: u32,
    #[serde(default)]
    pid_namespace: u32,
    #[serde(default)]
    cgroup_id: u64,
    #[serde(default)]
    process_name: String,
    #[serde(default)]
    executable: Option<Executable>,
    #[serde(default)]
    host_name: String,
    #[serde(default)]
    container_id: String,
    #[serde(default)]
    container: Option<Container>,
    #[serde(default)]
    event_name: Option<String>,
    #[serde(default)]
    return_value: i64,
    #[serde(default)]
    context_flags: Option<ContextFlags>,
    #[serde(default)]
    args: Option<Vec<Argument>>,
}

#[derive(Deserialize)]
struct Executable {
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContextFlags {
    #[serde(default = "started_by_default")]
    container_started: bool,
}

fn started_by_default() -> bool {
    true
}

#[derive(Deserialize)]
struct Argument {
    name: String,
    #[serde(default)]
    value: Json,
}

/// Parses one line of Tracee JSON output into an event.
///
/// # Errors
/// The line is not JSON, a known field has the wrong type, or `eventName` is
/// missing or empty.
pub fn parse_event(line: &str) -> Result<Event, ParseError> {
    // serde would also accept a JSON array as a struct; Tracee events are objects.
    if !line.trim_start().starts_with('{') {
        serde_json::from_str::<serde_json::Map<String, Json>>(line)?;
        return Err(ParseError::NotAnEvent("not a JSON object"));
    }
    let raw: TraceeEvent = serde_json::from_str(line)?;
    let name = raw
        .event_name
        .filter(|n| !n.is_empty())
        .ok_or(ParseError::NotAnEvent("missing eventName"))?;
    let container_id = if raw.container_id.is_empty() {
        raw.container.map(|c| c.id).unwrap_or_default()
    } else {
        raw.container_id
    };
    let origin = match (&container_id, raw.context_flags) {
        (id, _) if id.is_empty() => Origin::Host,
        (_, Some(flags)) if !flags.container_started => Origin::ContainerInit,
        _ => Origin::Container,
    };
    let args = raw.args.unwrap_or_default();
    let payload = if name == EXEC_EVENT {
        Payload::Exec(exec_args(args))
    } else {
        Payload::Generic(args.into_iter().map(field).collect())
    };
    Ok(Event {
        timestamp_ns: raw.timestamp,
        name,
        origin,
        pid: raw.process_id,
        tid: raw.thread_id,
        ppid: raw.parent_process_id,
        host_pid: raw.host_process_id,
        host_tid: raw.host_thread_id,
        host_ppid: raw.host_parent_process_id,
        uid: raw.user_id,
        mount_ns: raw.mount_namespace,
        pid_ns: raw.pid_namespace,
        cgroup_id: raw.cgroup_id,
        process_name: raw.process_name,
        executable_path: raw.executable.map(|e| e.path).unwrap_or_default(),
        host_name: raw.host_name,
        container_id,
        return_value: raw.return_value,
        payload,
    })
}

/// The typed `sched_process_exec` arguments (`prev_comm` is optional in the
/// payload itself, `argv_truncated` is sigbox's own).
const TYPED_EXEC_ARGS: [&str; 12] = [
    "pathname",
    "cmdpath",
    "argv",
    "interpreter_pathname",
    "dev",
    "inode",
    "ctime",
    "inode_mode",
    "stdin_type",
    "stdin_path",
    "invoked_from_kernel",
    "pwd",
];

/// Maps `sched_process_exec` arguments onto the typed payload. An argument
/// whose value has an unexpected type is kept in `extra`, never dropped; a
/// typed argument the event lacks is listed in `extra` as `none`, so it
/// reaches a signature as missing (as in Tracee, where reading it is an
/// error), not as the typed field's empty value.
fn exec_args(args: Vec<Argument>) -> ExecArgs {
    let mut exec = ExecArgs {
        pathname: String::new(),
        cmdpath: String::new(),
        argv: Vec::new(),
        argv_truncated: false,
        interpreter_pathname: String::new(),
        prev_comm: None,
        dev: 0,
        inode: 0,
        ctime: 0,
        inode_mode: 0,
        stdin_type: 0,
        stdin_path: String::new(),
        invoked_from_kernel: false,
        pwd: String::new(),
        extra: Vec::new(),
    };
    let mut given = [false; TYPED_EXEC_ARGS.len()];
    for arg in args {
        if let Some(index) = TYPED_EXEC_ARGS.iter().position(|&n| n == arg.name) {
            given[index] = true;
        }
        let typed = match (arg.name.as_str(), &arg.value) {
            ("pathname", Json::String(s)) => set(&mut exec.pathname, s),
            ("cmdpath", Json::String(s)) => set(&mut exec.cmdpath, s),
            ("interpreter_pathname", Json::String(s)) => set(&mut exec.interpreter_pathname, s),
            ("stdin_path", Json::String(s)) => set(&mut exec.stdin_path, s),
            ("pwd", Json::String(s)) => set(&mut exec.pwd, s),
            ("prev_comm", Json::String(s)) => {
                exec.prev_comm = Some(s.clone());
                true
            }
            ("argv", Json::Array(items)) => match strings(items) {
                Some(argv) => {
                    exec.argv = argv;
                    true
                }
                None => false,
            },
            ("argv", Json::Null) => true,
            ("dev", v) => number(v).map(|n| exec.dev = n).is_some(),
            ("inode", v) => number(v).map(|n| exec.inode = n).is_some(),
            ("ctime", v) => number(v).map(|n| exec.ctime = n).is_some(),
            ("inode_mode", v) => number(v).map(|n| exec.inode_mode = n).is_some(),
            ("stdin_type", v) => number(v).map(|n| exec.stdin_type = n).is_some(),
            ("invoked_from_kernel", Json::Bool(b)) => {
                exec.invoked_from_kernel = *b;
                true
            }
            ("invoked_from_kernel", v) => number::<u8>(v)
                .map(|n| exec.invoked_from_kernel = n != 0)
                .is_some(),
            _ => false,
        };
        if !typed {
            exec.extra.push(field(arg));
        }
    }
    for (name, _) in TYPED_EXEC_ARGS
        .iter()
        .zip(given)
        .filter(|(_, given)| !given)
    {
        exec.extra.push(Field {
            name: (*name).to_owned(),
            value: Value::None,
        });
    }
    exec
}

fn set(target: &mut String, value: &str) -> bool {
    value.clone_into(target);
    true
}

fn number<T: TryFrom<u64>>(value: &Json) -> Option<T> {
    value.as_u64().and_then(|n| T::try_from(n).ok())
}

fn strings(items: &[Json]) -> Option<Vec<String>> {
    items
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect()
}

fn field(arg: Argument) -> Field {
    Field {
        name: arg.name,
        value: json_to_value(arg.value),
    }
}

/// Converts a JSON value into the WIT `value` variant.
pub fn json_to_value(json: Json) -> Value {
    match json {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Boolean(b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Signed(i)
            } else if let Some(u) = n.as_u64() {
                Value::Unsigned(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::Text(s),
        Json::Array(items) => match strings(&items) {
            Some(list) => Value::TextList(list),
            None => Value::Json(Json::Array(items).to_string()),
        },
        object @ Json::Object(_) => Value::Json(object.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXEC: &str = r#"{"timestamp":1700000000123456789,"threadStartTime":1,"processorId":1,"processId":42,"cgroupId":7,"threadId":42,"parentProcessId":41,"hostProcessId":1042,"hostThreadId":1042,"hostParentProcessId":1041,"userId":33,"mountNamespace":4026531841,"pidNamespace":4026531836,"processName":"sh","executable":{"path":"/bin/sh"},"hostName":"web-1","containerId":"","container":{},"kubernetes":{},"eventId":"715","eventName":"sched_process_exec","matchedPolicies":[""],"argsNum":3,"returnValue":0,"syscall":"execve","stackAddresses":null,"contextFlags":{"containerStarted":false,"isCompat":false},"args":[{"name":"pathname","type":"const char*","value":"/usr/bin/dash"},{"name":"argv","type":"const char**","value":["sh","-c","id"]},{"name":"prev_comm","type":"const char*","value":"nginx"},{"name":"inode","type":"unsigned long","value":123},{"name":"env","type":"const char**","value":null}]}"#;

    #[test]
    fn parses_exec_context_and_typed_args() {
        let event = parse_event(EXEC).unwrap();
        assert_eq!(event.name, "sched_process_exec");
        assert_eq!(event.timestamp_ns, 1_700_000_000_123_456_789);
        assert_eq!((event.pid, event.tid, event.ppid), (42, 42, 41));
        assert_eq!((event.host_pid, event.host_ppid), (1042, 1041));
        assert_eq!((event.uid, event.cgroup_id), (33, 7));
        assert_eq!(event.mount_ns, 4_026_531_841);
        assert_eq!(event.process_name, "sh");
        assert_eq!(event.executable_path, "/bin/sh");
        assert_eq!(event.origin, Origin::Host);
        let Payload::Exec(exec) = event.payload else {
            panic!("expected an exec payload");
        };
        assert_eq!(exec.pathname, "/usr/bin/dash");
        assert_eq!(exec.argv, ["sh", "-c", "id"]);
        assert_eq!(exec.prev_comm.as_deref(), Some("nginx"));
        assert_eq!(exec.inode, 123);
        assert_eq!(
            exec.extra[0].name, "env",
            "env has no typed field and is kept"
        );
        let missing: Vec<&str> = exec.extra[1..].iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            missing,
            [
                "cmdpath",
                "interpreter_pathname",
                "dev",
                "ctime",
                "inode_mode",
                "stdin_type",
                "stdin_path",
                "invoked_from_kernel",
                "pwd"
            ],
            "typed arguments the line lacks are listed as missing"
        );
        assert!(
            exec.extra[1..]
                .iter()
                .all(|f| matches!(f.value, Value::None))
        );
    }

    /// A missing `pathname` or `argv` stays missing (Tracee's
    /// `GetStringArgumentByName` fails on it); an empty one stays empty.
    #[test]
    fn missing_and_empty_exec_arguments_differ() {
        use crate::engine::bindings::v2::sigbox::signature::types::Value as GuestValue;
        use crate::engine::event_fields::EventField;
        let missing = parse_event(r#"{"eventName":"sched_process_exec","args":[]}"#).unwrap();
        let empty = parse_event(
            r#"{"eventName":"sched_process_exec","args":[{"name":"pathname","value":""},{"name":"argv","value":[]}]}"#,
        )
        .unwrap();
        let (pathname, argv) = (EventField::parse("pathname"), EventField::parse("argv"));
        assert_eq!(pathname.value(&missing), GuestValue::None);
        assert_eq!(argv.value(&missing), GuestValue::None);
        assert_eq!(pathname.text(&missing), None);
        assert_eq!(pathname.value(&empty), GuestValue::Text(String::new()));
        assert_eq!(argv.value(&empty), GuestValue::TextList(vec![]));
        assert_eq!(pathname.text(&empty), Some(""));
    }

    #[test]
    fn non_string_prev_comm_is_kept_untyped() {
        let line = r#"{"eventName":"sched_process_exec","processName":"sh","args":[{"name":"prev_comm","type":"int","value":5}]}"#;
        let Payload::Exec(exec) = parse_event(line).unwrap().payload else {
            panic!("expected an exec payload");
        };
        assert_eq!(exec.prev_comm, None);
        assert_eq!(exec.extra[0].name, "prev_comm");
        assert!(matches!(exec.extra[0].value, Value::Signed(5)));
    }

    #[test]
    fn other_events_get_generic_args() {
        let line = r#"{"eventName":"openat","containerId":"abc","args":[{"name":"flags","type":"int","value":-1},{"name":"pathname","type":"const char*","value":"/etc/passwd"},{"name":"obj","value":{"a":1}}]}"#;
        let event = parse_event(line).unwrap();
        assert_eq!(event.origin, Origin::Container);
        assert_eq!(event.container_id, "abc");
        let Payload::Generic(args) = event.payload else {
            panic!("expected a generic payload");
        };
        assert!(matches!(args[0].value, Value::Signed(-1)));
        assert!(matches!(&args[1].value, Value::Text(s) if s == "/etc/passwd"));
        assert!(matches!(&args[2].value, Value::Json(s) if s == r#"{"a":1}"#));
    }

    #[test]
    fn container_init_origin() {
        let line = r#"{"eventName":"x","container":{"id":"c1"},"contextFlags":{"containerStarted":false}}"#;
        let event = parse_event(line).unwrap();
        assert_eq!(event.container_id, "c1");
        assert_eq!(event.origin, Origin::ContainerInit);
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(matches!(parse_event("not json"), Err(ParseError::Json(_))));
        assert!(matches!(parse_event("[1,2]"), Err(ParseError::Json(_))));
        assert!(matches!(parse_event("  "), Err(ParseError::Json(_))));
        assert!(matches!(
            parse_event(r#"{"processId":1}"#),
            Err(ParseError::NotAnEvent(_))
        ));
        assert!(matches!(
            parse_event(r#"{"eventName":"x","processId":"one"}"#),
            Err(ParseError::Json(_))
        ));
    }
}
