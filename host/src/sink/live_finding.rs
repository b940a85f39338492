//! A live event's finding written straight out as Tracee JSON: the same
//! bytes as serialising [`finding_json`](super::tracee_json::finding_json)
//! of an event without a raw line, without building that tree first.
//!
//! The tree (some sixty maps, keys and strings per finding, hashed into
//! ordered maps) was the largest median stage of exec → finding: 40 µs of
//! a finding's 42 µs on a warm loop, ~75 µs on a worker just woken
//! (BENCHMARKS.md, issue 31 item 4). Keys are constants written as they
//! are; every value goes through serde_json, so escaping and number
//! formatting are serde_json's, as before. A unit test holds the two
//! writers to the same bytes.

use std::io;

use serde::Serialize;

use super::tracee_json::{container_members, in_pod_sandbox, pod_text_members, value_json};
use crate::engine::Detection;
use crate::event::{Context, Event, Origin, Value, entity_id, untyped_tracee_type};

/// Appends the finding for `detection` on `event` to `out` as one JSON
/// line; `metadata_object` is the signature's serialised
/// [`metadata_json`](super::tracee_json::metadata_json).
///
/// # Errors
/// Serialising failed (a value serde_json refuses).
pub(crate) fn write(
    out: &mut Vec<u8>,
    detection: &Detection<'_>,
    metadata_object: &str,
    event: &Event,
) -> io::Result<()> {
    let c = &event.context;
    let mut o = Object::open(out);
    o.value("timestamp", &c.timestamp_ns)?;
    o.value("threadStartTime", &c.thread_start_ns)?;
    o.value("processorId", &0)?;
    o.value("processId", &c.pid)?;
    o.value("cgroupId", &c.cgroup_id)?;
    o.value("threadId", &c.tid)?;
    o.value("parentProcessId", &c.ppid)?;
    o.value("hostProcessId", &c.host_pid)?;
    o.value("hostThreadId", &c.host_tid)?;
    o.value("hostParentProcessId", &c.host_ppid)?;
    o.value("userId", &c.uid)?;
    o.value("mountNamespace", &c.mount_ns)?;
    o.value("pidNamespace", &c.pid_ns)?;
    o.value("processName", &c.process_name)?;
    o.key("executable");
    let mut executable = Object::open(o.out);
    executable.value("path", &c.executable_path)?;
    executable.close();
    o.value("hostName", &*c.host_name)?;
    o.value("containerId", &c.container_id)?;
    o.key("container");
    container(o.out, c)?;
    o.key("kubernetes");
    kubernetes(o.out, c)?;
    // The finding's own id, name, argument count and return value take
    // the event's places.
    o.value("eventId", &detection.event_id.to_string())?;
    o.value("eventName", &detection.signature.metadata.event_name)?;
    o.raw("matchedPolicies", "[]");
    o.value("argsNum", &(detection.finding.data.len() + 1))?;
    o.value("returnValue", &0)?;
    o.value("syscall", "")?;
    o.raw("stackAddresses", "null");
    o.key("contextFlags");
    let mut flags = Object::open(o.out);
    flags.value("containerStarted", &(c.origin == Origin::Container))?;
    flags.value("isCompat", &false)?;
    flags.close();
    o.value("threadEntityId", &entity_id(c.host_tid, c.thread_start_ns))?;
    o.value("processEntityId", &c.process_entity_id)?;
    o.value("parentEntityId", &c.parent_entity_id)?;
    o.key("args");
    o.out.push(b'[');
    for field in &detection.finding.data {
        arg(
            o.out,
            &field.name,
            untyped_tracee_type(&field.value),
            &field.value,
        )?;
        o.out.push(b',');
    }
    let mut detected_from = Object::open(o.out);
    detected_from.value("name", "detectedFrom")?;
    detected_from.value("type", "unknown")?;
    detected_from.key("value");
    let mut trigger = Object::open(detected_from.out);
    trigger.value("id", &event.id())?;
    trigger.value("name", event.name())?;
    trigger.key("args");
    trigger.out.push(b'[');
    for (i, (name, tracee_type, value)) in event.tracee_args().enumerate() {
        if i > 0 {
            trigger.out.push(b',');
        }
        arg(trigger.out, name, tracee_type, value)?;
    }
    trigger.out.push(b']');
    trigger.value("returnValue", &c.return_value)?;
    trigger.close();
    detected_from.close();
    o.out.push(b']');
    o.raw("metadata", metadata_object);
    o.close();
    out.push(b'\n');
    Ok(())
}

/// A JSON object being written: keys are this module's constants, which
/// need no escaping.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn value(&mut self, key: &str, value: &(impl Serialize + ?Sized)) -> io::Result<()> {
        self.key(key);
        serde_json::to_writer(&mut *self.out, value).map_err(io::Error::from)
    }

    /// `json` as it is (already serialised).
    fn raw(&mut self, key: &str, json: &str) {
        self.key(key);
        self.out.extend_from_slice(json.as_bytes());
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// `{"name": …, "type": …, "value": …}`, as Tracee writes an argument
/// (also a replayed finding's data).
pub(super) fn arg(
    out: &mut Vec<u8>,
    name: &str,
    tracee_type: &str,
    value: &Value,
) -> io::Result<()> {
    let mut o = Object::open(out);
    o.value("name", name)?;
    o.value("type", tracee_type)?;
    match value {
        Value::None => o.raw("value", "null"),
        Value::Boolean(b) => o.value("value", b)?,
        Value::Signed(i) => o.value("value", i)?,
        Value::Unsigned(u) => o.value("value", u)?,
        // serde_json writes a non-finite float as null, as the tree did.
        Value::Float(f) => o.value("value", f)?,
        Value::Text(s) => o.value("value", s)?,
        Value::TextList(list) => o.value("value", list)?,
        // Parsed and written again, as the tree did (rare: objects).
        Value::Json(_) => o.value("value", &value_json(value))?,
    }
    o.close();
    Ok(())
}

/// Tracee's `container` object: the id, name, image and digest known.
fn container(out: &mut Vec<u8>, c: &Context) -> io::Result<()> {
    let mut o = Object::open(out);
    for (key, value) in container_members(c) {
        o.value(key, value)?;
    }
    o.close();
    Ok(())
}

/// Tracee's `kubernetes` object: the pod's name, namespace and uid known,
/// and whether it is the pod's sandbox.
fn kubernetes(out: &mut Vec<u8>, c: &Context) -> io::Result<()> {
    let mut o = Object::open(out);
    for (key, value) in pod_text_members(c) {
        o.value(key, value)?;
    }
    if in_pod_sandbox(c) {
        o.raw("podSandbox", "true");
    }
    o.close();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Finding;
    use crate::event::{ContainerInfo, Field, PodInfo};
    use crate::sink::tracee_json::{finding_json, metadata_json, tests::info};
    use std::sync::Arc;

    /// What the tree writer writes for the same finding.
    fn through_the_tree(detection: &Detection<'_>, event: &Event) -> String {
        let mut line = serde_json::to_string(&finding_json(detection, event, None)).unwrap();
        line.push('\n');
        line
    }

    fn direct(detection: &Detection<'_>, event: &Event) -> String {
        let metadata = metadata_json(&detection.signature.metadata).to_string();
        let mut out = Vec::new();
        write(&mut out, detection, &metadata, event).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn data() -> Vec<Field> {
        let field = |name: &str, value| Field {
            name: name.into(),
            value,
        };
        vec![
            field("none", Value::None),
            field("flag", Value::Boolean(true)),
            field("signed", Value::Signed(-3)),
            field("unsigned", Value::Unsigned(u64::MAX)),
            field("float", Value::Float(1.5)),
            field("nan", Value::Float(f64::NAN)),
            field("text", Value::Text("quote \" tab \t é \u{1}".into())),
            field("list", Value::TextList(vec!["a".into(), "b\\c".into()])),
            field("object", Value::Json(r#"{"k":[1,{"x":null}]}"#.into())),
            field("not json", Value::Json("{oops".into())),
        ]
    }

    #[test]
    fn live_findings_are_the_bytes_the_tree_wrote() {
        let mut info = info();
        let host = crate::fuzzing::ring_record(&crate::fuzzing::sample_ring_record()).unwrap();
        let mut container = host.clone();
        container.context.origin = Origin::Container;
        container.context.container_id = "abc123".into();
        let mut pod = container.clone();
        pod.context.origin = Origin::ContainerInit;
        pod.context.container = Some(Arc::new(ContainerInfo {
            name: "web".into(),
            image: "nginx:1".into(),
            image_digest: String::new(),
            pod: PodInfo {
                name: "p".into(),
                namespace: "ns \"x\"".into(),
                uid: String::new(),
                sandbox: true,
            },
        }));
        let mut odd = host.clone();
        odd.context.process_name = "nul \u{0} and ☃".into();
        odd.context.return_value = -13;
        for with_tags in [false, true] {
            if with_tags {
                info.metadata.tags = vec!["t1".into(), "t\"2".into()];
            }
            for data in [Vec::new(), data()] {
                let detection = Detection {
                    signature: &info,
                    event_id: 6001,
                    finding: Finding { data },
                };
                for event in [&host, &container, &pod, &odd] {
                    assert_eq!(
                        direct(&detection, event),
                        through_the_tree(&detection, event)
                    );
                }
            }
        }
    }
}
