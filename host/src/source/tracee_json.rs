//! Parsing Tracee's `--output json` event lines (`trace.Event`) into the
//! host's events: the context, and each argument into its kind's slot with
//! the type the event table gives it (see `event::table`).
//!
//! Only the fields the event models are read; everything else on the line
//! is ignored here and kept by the caller (the raw line goes along with the
//! event so findings can copy Tracee's full context).

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value as Json;

use super::tracee_index;
use crate::event::{ArgType, ContainerInfo, Context, Event, Field, Kind, Origin, PodInfo, Value};

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
struct TraceeEvent<'a> {
    #[serde(default)]
    timestamp: u64,
    #[serde(default)]
    thread_start_time: u64,
    #[serde(default)]
    process_entity_id: u32,
    #[serde(default)]
    parent_entity_id: u32,
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
    #[serde(default, borrow)]
    host_name: Cow<'a, str>,
    #[serde(default)]
    container_id: String,
    #[serde(default)]
    container: Option<Container>,
    #[serde(default)]
    kubernetes: Option<Kubernetes>,
    #[serde(default, borrow)]
    event_name: Option<Cow<'a, str>>,
    #[serde(default)]
    return_value: i64,
    #[serde(default)]
    context_flags: Option<ContextFlags>,
    #[serde(default, borrow)]
    args: Option<Vec<Argument<'a>>>,
}

#[derive(Deserialize)]
struct Executable {
    #[serde(default)]
    path: String,
}

/// Tracee's `trace.Container`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Container {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    image_digest: String,
}

/// Tracee's `trace.Kubernetes`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Kubernetes {
    #[serde(default)]
    pod_name: String,
    #[serde(default)]
    pod_namespace: String,
    #[serde(default, rename = "podUID")]
    pod_uid: String,
    #[serde(default)]
    pod_sandbox: bool,
}

impl Container {
    /// The runtime's part with the pod's, when the line carries any.
    fn info(self, pod: Option<Kubernetes>) -> Option<Arc<ContainerInfo>> {
        let pod = pod.unwrap_or_default();
        let info = ContainerInfo {
            name: self.name,
            image: self.image,
            image_digest: self.image_digest,
            pod: PodInfo {
                name: pod.pod_name,
                namespace: pod.pod_namespace,
                uid: pod.pod_uid,
                sandbox: pod.pod_sandbox,
            },
        };
        (info != ContainerInfo::default()).then(|| Arc::new(info))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContextFlags {
    #[serde(default)]
    container_started: Option<bool>,
}

#[derive(Deserialize)]
struct Argument<'a> {
    /// Borrowed from the line: only an unknown argument keeps its name.
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default)]
    value: Json,
}

/// Parses one line of Tracee JSON output into an event.
///
/// # Errors
/// The line is not JSON, a known field has the wrong type, or `eventName` is
/// missing or empty.
pub fn parse_event(line: &str) -> Result<Event, ParseError> {
    // The line's one scan, when sure; serde_json otherwise (and for the
    // reason of a refused line).
    parse(line, from_tape(line))
}

/// `parse_event` with serde_json alone: what the tape must agree with (and
/// the bench's figure for replay before the tape).
pub(crate) fn parse_event_with_serde(line: &str) -> Result<Event, ParseError> {
    parse(line, None)
}

fn parse<'a>(line: &'a str, indexed: Option<TraceeEvent<'a>>) -> Result<Event, ParseError> {
    // serde would also accept a JSON array as a struct; Tracee events are objects.
    if !line.trim_start().starts_with('{') {
        serde_json::from_str::<serde_json::Map<String, Json>>(line)?;
        return Err(ParseError::NotAnEvent("not a JSON object"));
    }
    let raw = match indexed {
        Some(raw) => raw,
        None => serde_json::from_str(line)?,
    };
    let name = raw
        .event_name
        .filter(|n| !n.is_empty())
        .ok_or(ParseError::NotAnEvent("missing eventName"))?;
    let (mut container_id, container) = match raw.container {
        Some(mut c) => (std::mem::take(&mut c.id), c.info(raw.kubernetes)),
        None => (String::new(), None),
    };
    if !raw.container_id.is_empty() {
        container_id = raw.container_id;
    }
    // Tracee's `Event.Origin()`: a started container wins, even without an
    // id; a container id without it is a starting container. A line that
    // does not say (older captures) counts as a started container.
    let started = raw.context_flags.and_then(|flags| flags.container_started);
    let origin = match (started, container_id.is_empty()) {
        (Some(true), _) => Origin::Container,
        (_, true) => Origin::Host,
        (Some(false), false) => Origin::ContainerInit,
        (None, false) => Origin::Container,
    };
    let context = Context {
        timestamp_ns: raw.timestamp,
        thread_start_ns: raw.thread_start_time,
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
        host_name: shared_host_name(&raw.host_name),
        container_id,
        origin,
        return_value: raw.return_value,
        process_entity_id: raw.process_entity_id,
        parent_entity_id: raw.parent_entity_id,
        // Tracee JSON carries no ancestry.
        ancestors: std::sync::Arc::new([]),
        container,
    };
    let mut event = Event::named(context, &name);
    let def = event.kind().map(Kind::def);
    for arg in raw.args.unwrap_or_default() {
        match def.and_then(|def| def.slot(&arg.name).map(|slot| (def, slot))) {
            Some((def, slot)) => event.args[slot] = typed_value(def.arg(slot).ty, arg.value),
            None => event
                .extra
                .push(Field::new(arg.name, json_to_value(arg.value))),
        }
    }
    Ok(event)
}

/// The host name as an `Arc` shared with the thread's previous events: a
/// capture names one host (or a few), and an `Arc` per event cost an
/// allocation and a copy.
fn shared_host_name(name: &str) -> Arc<str> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<Arc<str>>> = const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some(shared) if **shared == *name => shared.clone(),
        _ => last.insert(Arc::from(name)).clone(),
    })
}

/// The line's fields off its tape, as serde would have read them; `None`
/// when the tape is not sure (see `tracee_index`).
fn from_tape(line: &str) -> Option<TraceeEvent<'_>> {
    tracee_index::with_fields(line, |tape, fields| {
        let text = |index: Option<usize>| match index {
            Some(index) => tape.text(index).map(Cow::into_owned),
            None => Some(String::new()),
        };
        let args = match fields.args {
            Some(args) => {
                let mut list = Vec::new();
                for (name, value) in tape.args(args) {
                    list.push(Argument {
                        name: tape.text(name)?,
                        value: match value {
                            Some(value) => tape.json(value)?,
                            None => Json::Null,
                        },
                    });
                }
                Some(list)
            }
            None => None,
        };
        let container = match fields.container {
            Some([id, name, image, image_digest]) => Some(Container {
                id: text(id)?,
                name: text(name)?,
                image: text(image)?,
                image_digest: text(image_digest)?,
            }),
            None => None,
        };
        let kubernetes = match fields.kubernetes {
            Some(([pod_name, pod_namespace, pod_uid], pod_sandbox)) => Some(Kubernetes {
                pod_name: text(pod_name)?,
                pod_namespace: text(pod_namespace)?,
                pod_uid: text(pod_uid)?,
                pod_sandbox,
            }),
            None => None,
        };
        Some(TraceeEvent {
            timestamp: fields.timestamp,
            thread_start_time: fields.thread_start_time,
            process_entity_id: fields.process_entity_id,
            parent_entity_id: fields.parent_entity_id,
            process_id: fields.process_id,
            thread_id: fields.thread_id,
            parent_process_id: fields.parent_process_id,
            host_process_id: fields.host_process_id,
            host_thread_id: fields.host_thread_id,
            host_parent_process_id: fields.host_parent_process_id,
            user_id: fields.user_id,
            mount_namespace: fields.mount_namespace,
            pid_namespace: fields.pid_namespace,
            cgroup_id: fields.cgroup_id,
            process_name: text(fields.process_name)?,
            executable: match fields.executable {
                Some(path) => Some(Executable { path: text(path)? }),
                None => None,
            },
            host_name: match fields.host_name {
                Some(index) => tape.text(index)?,
                None => Cow::Borrowed(""),
            },
            container_id: text(fields.container_id)?,
            container,
            kubernetes,
            event_name: match fields.event_name {
                Some(name) => Some(tape.text(name)?),
                None => None,
            },
            return_value: fields.return_value,
            context_flags: fields
                .context_flags
                .map(|container_started| ContextFlags { container_started }),
            args,
        })
    })
}

/// An argument's JSON value as the type the event table gives it. A value
/// of another type is kept as it was given (a signature reading it then
/// sees the odd type, as Tracee's would), never dropped.
fn typed_value(ty: ArgType, json: Json) -> Value {
    let typed = match (ty, &json) {
        (ArgType::Text, Json::String(_)) => None,
        // Go writes a nil slice as `null`: the list is empty, not missing.
        (ArgType::TextList, Json::Null) => Some(Value::TextList(Vec::new())),
        (ArgType::Boolean | ArgType::Flag, Json::Number(n)) => match n.as_u64() {
            Some(n @ (0 | 1)) => Some(Value::Boolean(n == 1)),
            _ => None,
        },
        (ArgType::OpenFlags, Json::String(text)) => {
            crate::event::open_flags::parse(text).map(Value::Signed)
        }
        (ArgType::Int32 | ArgType::OpenFlags, Json::Number(n)) => n
            .as_i64()
            .filter(|n| i32::try_from(*n).is_ok())
            .map(Value::Signed),
        (ArgType::Int64, Json::Number(n)) => n.as_i64().map(Value::Signed),
        // parse-arguments prints a pointer in hex.
        (ArgType::Pointer, Json::String(text)) => text
            .strip_prefix("0x")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .map(Value::Unsigned),
        (ty, Json::Number(n)) => ty
            .unsigned_max()
            .and_then(|max| n.as_u64().filter(|n| *n <= max))
            .map(Value::Unsigned),
        _ => None,
    };
    typed.unwrap_or_else(|| json_to_value(json))
}

/// Converts a JSON value into a host value, by its JSON type alone.
pub(crate) fn json_to_value(json: Json) -> Value {
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
        // A list of strings moves its strings into the list, uncopied.
        Json::Array(items) if items.iter().all(Json::is_string) => Value::TextList(
            items
                .into_iter()
                .filter_map(|item| match item {
                    Json::String(text) => Some(text),
                    _ => None,
                })
                .collect(),
        ),
        array @ Json::Array(_) => Value::Json(array.to_string()),
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
        let c = &event.context;
        assert_eq!(event.kind(), Some(Kind::SchedProcessExec));
        assert_eq!(c.timestamp_ns, 1_700_000_000_123_456_789);
        assert_eq!(c.thread_start_ns, 1);
        assert_eq!((c.pid, c.tid, c.ppid), (42, 42, 41));
        assert_eq!((c.host_pid, c.host_ppid), (1042, 1041));
        assert_eq!((c.uid, c.cgroup_id), (33, 7));
        assert_eq!(c.mount_ns, 4_026_531_841);
        assert_eq!(c.process_name, "sh");
        assert_eq!(c.executable_path, "/bin/sh");
        assert_eq!(c.origin, Origin::Host);
        let text = |name| event.arg(name).and_then(Value::as_text);
        assert_eq!(text("pathname"), Some("/usr/bin/dash"));
        assert_eq!(
            event.arg("argv"),
            Some(&Value::TextList(vec![
                "sh".into(),
                "-c".into(),
                "id".into()
            ]))
        );
        assert_eq!(text("prev_comm"), Some("nginx"));
        assert_eq!(event.arg("inode"), Some(&Value::Unsigned(123)));
        assert_eq!(
            event.arg("env"),
            Some(&Value::TextList(vec![])),
            "Go writes a nil []string as null"
        );
        for missing in ["cmdpath", "interpreter_pathname", "dev", "pwd"] {
            assert_eq!(event.arg(missing), None, "{missing} is missing, not empty");
        }
        assert!(event.extra.is_empty());
    }

    /// A missing `pathname` or `argv` stays missing (Tracee's
    /// `GetStringArgumentByName` fails on it); an empty one stays empty.
    #[test]
    fn missing_and_empty_exec_arguments_differ() {
        use crate::event::fields::EventField;
        let missing = parse_event(r#"{"eventName":"sched_process_exec","args":[]}"#).unwrap();
        let empty = parse_event(
            r#"{"eventName":"sched_process_exec","args":[{"name":"pathname","value":""},{"name":"argv","value":[]}]}"#,
        )
        .unwrap();
        let field = |name| EventField::resolve("sched_process_exec", name);
        let (pathname, argv) = (field("pathname"), field("argv"));
        assert_eq!(pathname.value(&missing), Value::None);
        assert_eq!(argv.value(&missing), Value::None);
        assert_eq!(pathname.text(&missing), None);
        assert_eq!(pathname.value(&empty), Value::Text(String::new()));
        assert_eq!(argv.value(&empty), Value::TextList(vec![]));
        assert_eq!(pathname.text(&empty), Some(""));
    }

    /// Tracee's connect and ptrace lines: the sockaddr map stays the map
    /// Tracee wrote, pointers are read in either printed form.
    #[test]
    fn reads_sockaddr_maps_and_pointers_back() {
        use crate::sink::tracee_json::value_json;
        use serde_json::json;
        let connect = parse_event(
            r#"{"eventName":"security_socket_connect","args":[{"name":"sockfd","type":"int32","value":3},{"name":"type","type":"int32","value":1},{"name":"remote_addr","type":"SockAddr","value":{"sa_family":"AF_INET","sin_addr":"127.0.0.1","sin_port":"80"}}]}"#,
        )
        .unwrap();
        assert_eq!(connect.kind(), Some(Kind::SecuritySocketConnect));
        assert_eq!(connect.arg("sockfd"), Some(&Value::Signed(3)));
        assert_eq!(
            connect.arg("remote_addr"),
            Some(&Value::Json(
                r#"{"sa_family":"AF_INET","sin_addr":"127.0.0.1","sin_port":"80"}"#.into()
            ))
        );
        let written: Vec<Json> = connect
            .tracee_args()
            .map(|(name, ty, value)| json!({"name": name, "type": ty, "value": value_json(value)}))
            .collect();
        assert_eq!(
            written[2],
            json!({"name":"remote_addr","type":"SockAddr","value":{"sa_family":"AF_INET","sin_addr":"127.0.0.1","sin_port":"80"}})
        );
        let ptrace = parse_event(
            r#"{"eventName":"ptrace","args":[{"name":"request","value":4},{"name":"pid","value":77},{"name":"addr","value":"0x7ffd0010"},{"name":"data","value":16}]}"#,
        )
        .unwrap();
        assert_eq!(ptrace.id(), 101);
        assert_eq!(ptrace.arg("request"), Some(&Value::Signed(4)));
        assert_eq!(ptrace.arg("addr"), Some(&Value::Unsigned(0x7ffd_0010)));
        assert_eq!(ptrace.arg("data"), Some(&Value::Unsigned(16)));
    }

    #[test]
    fn a_value_of_another_type_is_kept_as_given() {
        let line = r#"{"eventName":"sched_process_exec","processName":"sh","args":[{"name":"prev_comm","type":"int","value":5},{"name":"dev","value":-1},{"name":"invoked_from_kernel","value":1}]}"#;
        let event = parse_event(line).unwrap();
        assert_eq!(event.arg("prev_comm"), Some(&Value::Signed(5)));
        assert_eq!(event.arg("dev"), Some(&Value::Signed(-1)));
        assert_eq!(
            event.arg("invoked_from_kernel"),
            Some(&Value::Boolean(true))
        );
    }

    #[test]
    fn file_events_take_their_table_types() {
        let line = r#"{"eventName":"security_file_open","args":[{"name":"pathname","type":"const char*","value":"/etc/shadow"},{"name":"flags","type":"int","value":65},{"name":"dev","value":259},{"name":"inode","value":9}]}"#;
        let event = parse_event(line).unwrap();
        assert_eq!(event.id(), 732);
        assert_eq!(event.arg("flags"), Some(&Value::Signed(65)));
        assert_eq!(event.arg("dev"), Some(&Value::Unsigned(259)));
        assert_eq!(event.arg("syscall_pathname"), None);
        let parsed = r#"{"eventName":"security_file_open","args":[{"name":"flags","type":"string","value":"O_WRONLY|O_CREAT|O_TRUNC"}]}"#;
        assert_eq!(
            parse_event(parsed).unwrap().arg("flags"),
            Some(&Value::Signed(0o1101)),
            "parse-arguments' form maps back to the raw flags"
        );
        let odd =
            r#"{"eventName":"security_file_open","args":[{"name":"flags","value":"O_BOGUS"}]}"#;
        assert_eq!(
            parse_event(odd).unwrap().arg("flags"),
            Some(&Value::Text("O_BOGUS".into())),
            "kept as given when it names no flag"
        );
    }

    #[test]
    fn other_events_get_generic_args() {
        let line = r#"{"eventName":"openat","containerId":"abc","args":[{"name":"flags","type":"int","value":-1},{"name":"pathname","type":"const char*","value":"/etc/passwd"},{"name":"obj","value":{"a":1}}]}"#;
        let event = parse_event(line).unwrap();
        assert_eq!(event.context.origin, Origin::Container);
        assert_eq!(event.context.container_id, "abc");
        assert_eq!(event.kind(), None);
        let args = &event.extra;
        assert!(matches!(args[0].value, Value::Signed(-1)));
        assert!(matches!(&args[1].value, Value::Text(s) if s == "/etc/passwd"));
        assert!(matches!(&args[2].value, Value::Json(s) if s == r#"{"a":1}"#));
    }

    #[test]
    fn a_started_container_is_one_even_without_an_id() {
        let line = r#"{"eventName":"x","containerId":"","contextFlags":{"containerStarted":true}}"#;
        assert_eq!(parse_event(line).unwrap().context.origin, Origin::Container);
        let host = r#"{"eventName":"x","containerId":"","contextFlags":{"isCompat":false}}"#;
        assert_eq!(parse_event(host).unwrap().context.origin, Origin::Host);
        let unsaid = r#"{"eventName":"x","containerId":"c1"}"#;
        assert_eq!(
            parse_event(unsaid).unwrap().context.origin,
            Origin::Container
        );
    }

    #[test]
    fn the_containers_name_and_image_are_kept() {
        let line = r#"{"eventName":"x","containerId":"c1","container":{"id":"c1","name":"web","image":"nginx:1.27","imageDigest":"nginx@sha256:ab"}}"#;
        let info = parse_event(line).unwrap().context.container.unwrap();
        assert_eq!(
            *info,
            ContainerInfo {
                name: "web".into(),
                image: "nginx:1.27".into(),
                image_digest: "nginx@sha256:ab".into(),
                pod: PodInfo::default(),
            }
        );
        let id_only = r#"{"eventName":"x","container":{"id":"c1"}}"#;
        assert_eq!(parse_event(id_only).unwrap().context.container, None);
    }

    #[test]
    fn the_pod_is_kept() {
        let line = r#"{"eventName":"x","containerId":"c1","container":{"id":"c1","name":"web"},"kubernetes":{"podName":"web-7d9f","podNamespace":"shop","podUID":"1c2d","podSandbox":true}}"#;
        let info = parse_event(line).unwrap().context.container.unwrap();
        assert_eq!(
            info.pod,
            PodInfo {
                name: "web-7d9f".into(),
                namespace: "shop".into(),
                uid: "1c2d".into(),
                sandbox: true,
            }
        );
        let pod_only = r#"{"eventName":"x","container":{"id":"c1"},"kubernetes":{"podName":"p"}}"#;
        let info = parse_event(pod_only).unwrap().context.container.unwrap();
        assert_eq!((info.name.as_str(), info.pod.name.as_str()), ("", "p"));
    }

    #[test]
    fn container_init_origin() {
        let line = r#"{"eventName":"x","container":{"id":"c1"},"contextFlags":{"containerStarted":false}}"#;
        let event = parse_event(line).unwrap();
        assert_eq!(event.context.container_id, "c1");
        assert_eq!(event.context.origin, Origin::ContainerInit);
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
