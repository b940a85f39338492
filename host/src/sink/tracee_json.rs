//! Findings (and events) in Tracee's JSON format, so tools that consume
//! `tracee --output json` consume sigbox's output unchanged.

use std::borrow::Cow;
use std::io::Write as _;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json, json};

use crate::engine::{Detection, Metadata};
use crate::event::{
    ContainerInfo, Context, Event, Field, Origin, PodInfo, Value, entity_id, untyped_tracee_type,
};

/// Renders a detection as a Tracee finding: the triggering event's context,
/// the signature's event name and id, one argument per data key plus
/// `detectedFrom`, and Tracee-style metadata.
///
/// `raw` is the triggering event's original Tracee JSON when it came from
/// replay: its context is copied as it is, including fields sigbox does not
/// model (container image, Kubernetes, entity ids). Without it the context is
/// built from the event.
pub(crate) fn finding_json(detection: &Detection<'_>, event: &Event, raw: Option<&str>) -> Json {
    let mut context = raw
        .and_then(|line| serde_json::from_str::<Map<String, Json>>(line).ok())
        .unwrap_or_else(|| event_json(event));
    let trigger_args = context.remove("args").unwrap_or_else(|| event_args(event));
    let trigger_id = context
        .get("eventId")
        .and_then(|id| match id {
            Json::String(s) => s.parse::<i64>().ok(),
            other => other.as_i64(),
        })
        .unwrap_or_else(|| event.id());

    let metadata = &detection.signature.metadata;
    let mut args: Vec<Json> = detection.finding.data.iter().map(data_arg).collect();
    args.push(json!({
        "name": "detectedFrom",
        "type": "unknown",
        "value": {
            "id": trigger_id,
            "name": event.name(),
            "args": trigger_args,
            "returnValue": event.context.return_value,
        },
    }));
    context.insert("eventId".into(), json!(detection.event_id.to_string()));
    context.insert("eventName".into(), json!(metadata.event_name));
    context.insert("argsNum".into(), json!(args.len()));
    context.insert("returnValue".into(), json!(0));
    context.insert("args".into(), Json::Array(args));
    context.insert("metadata".into(), metadata_json(metadata));
    Json::Object(context)
}

/// Appends the finding for `detection` to `out` as one JSON line, like
/// [`finding_json`] (`metadata_object` is [`metadata_json`] of its
/// signature, serialised once by the caller), copying the raw line's values verbatim instead of
/// parsing them into a tree and serialising them again: the line is scanned
/// once, top-level keys are kept in their order, the finding's own keys
/// (`eventId`, `eventName`, `argsNum`, `returnValue`, `args`, `metadata`)
/// replace the event's in place or are appended.
///
/// Returns `Ok(false)` (having written nothing) when `raw` is not a JSON
/// object or holds control characters (whitespace such as tabs, which must
/// not reach a one-line output); the caller then uses [`finding_json`].
///
/// # Errors
/// Serialising failed.
pub(crate) fn write_finding_from_raw(
    out: &mut Vec<u8>,
    detection: &Detection<'_>,
    metadata_object: &str,
    event: &Event,
    raw: &str,
) -> std::io::Result<bool> {
    if has_control(raw.as_bytes()) {
        return Ok(false);
    }
    // The parser accepted the line (replay passes no other): split it
    // without a second parse; serde_json decides whatever the split refuses.
    let context = match super::raw_members::split(raw) {
        Some(members) => Members(members),
        None => match serde_json::from_str::<Members<'_>>(raw) {
            Ok(members) => members,
            Err(_) => return Ok(false),
        },
    };
    out.reserve(raw.len() + 1024);
    write_members(out, detection, metadata_object, event, &context)?;
    Ok(true)
}

/// The raw-line writer against its reference, for the fuzz target: when
/// [`write_finding_from_raw`] writes `line`'s finding, it is byte for byte
/// what the same writer makes of the members serde_json reads (owned keys,
/// the path before the split), and the same JSON as [`finding_json`]'s
/// tree. Panics on a difference.
pub(crate) fn raw_writer_agrees(detection: &Detection<'_>, event: &Event, line: &str) {
    let metadata = metadata_json(&detection.signature.metadata).to_string();
    let mut fast = Vec::new();
    if !write_finding_from_raw(&mut fast, detection, &metadata, event, line).expect("writes") {
        return;
    }
    let by_serde: indexmap::IndexMap<String, &RawValue> =
        serde_json::from_str(line).expect("a line the writer took is an object");
    let members = Members(
        by_serde
            .into_iter()
            .map(|(key, value)| (Cow::Owned(key), value.get()))
            .collect(),
    );
    let mut reference = Vec::new();
    write_members(&mut reference, detection, &metadata, event, &members).expect("writes");
    assert_eq!(
        String::from_utf8_lossy(&fast),
        String::from_utf8_lossy(&reference),
        "{line:?}"
    );
    let fast: Json = serde_json::from_slice(&fast).expect("valid JSON");
    assert_eq!(fast, finding_json(detection, event, Some(line)), "{line:?}");
}

/// Whether `bytes` holds a control character (below 0x20): whole blocks
/// without an early exit, so the compiler makes it a vector loop.
fn has_control(bytes: &[u8]) -> bool {
    bytes
        .chunks(64)
        .any(|block| block.iter().fold(false, |found, &b| found | (b < 0x20)))
}

/// `eventId`'s value (as written in the raw line) as an integer: the
/// number, or the number in the string, as serde_json reads it. Digits
/// alone (or a string without escapes) are read here; anything else by
/// serde_json.
fn event_id_of(value: &str) -> Option<i64> {
    // JSON has no leading zeros: "0", or a number starting 1 to 9.
    let digits = |text: &str| {
        (text == "0" || text.starts_with(|c: char| c != '0'))
            && !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
    };
    if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"'))
        && !inner.contains('\\')
    {
        return inner.parse::<i64>().ok();
    }
    if digits(value)
        && let Ok(id) = value.parse::<i64>()
    {
        return Some(id);
    }
    match serde_json::from_str::<Json>(value).ok()? {
        Json::String(s) => s.parse::<i64>().ok(),
        other => other.as_i64(),
    }
}

/// A raw line's top-level members in their order: keys borrowed from the
/// line (copied only when escaped), values as written. A repeated key keeps
/// its first place and takes its last value, as an `IndexMap` does.
struct Members<'a>(Vec<(Cow<'a, str>, &'a str)>);

impl<'a> Members<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// A key, borrowed when the line holds it unescaped.
        #[derive(Deserialize)]
        struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members: Vec<(Cow<'de, str>, &'de str)> = Vec::with_capacity(32);
                while let Some(Key(key)) = map.next_key()? {
                    let value = map.next_value::<&'de RawValue>()?.get();
                    match members.iter_mut().find(|(k, _)| *k == key) {
                        Some(member) => member.1 = value,
                        None => members.push((key, value)),
                    }
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// The finding for `detection` from its event's raw `context`, appended to
/// `out` (see [`write_finding_from_raw`]).
fn write_members(
    out: &mut Vec<u8>,
    detection: &Detection<'_>,
    metadata_object: &str,
    event: &Event,
    context: &Members<'_>,
) -> std::io::Result<()> {
    let trigger_id = context
        .get("eventId")
        .and_then(event_id_of)
        .unwrap_or_else(|| event.id());
    let metadata = &detection.signature.metadata;
    let args_num = detection.finding.data.len() + 1;
    let write_args = |out: &mut Vec<u8>| -> std::io::Result<()> {
        out.write_all(b"[")?;
        for field in &detection.finding.data {
            // Written straight out, as the live writer does (the same bytes
            // as serialising `data_arg`'s tree).
            super::live_finding::arg(
                out,
                &field.name,
                untyped_tracee_type(&field.value),
                &field.value,
            )?;
            out.write_all(b",")?;
        }
        out.write_all(br#"{"name":"detectedFrom","type":"unknown","value":{"id":"#)?;
        write!(out, "{trigger_id}")?;
        out.write_all(br#","name":"#)?;
        serde_json::to_writer(&mut *out, event.name())?;
        out.write_all(br#","args":"#)?;
        match context.get("args") {
            Some(args) => out.write_all(args.as_bytes())?,
            None => serde_json::to_writer(&mut *out, &event_args(event))?,
        }
        write!(out, r#","returnValue":{}}}}}]"#, event.context.return_value)
    };
    let own = |key: &str, out: &mut Vec<u8>| -> std::io::Result<bool> {
        match key {
            "eventId" => serde_json::to_writer(&mut *out, &detection.event_id.to_string())?,
            "eventName" => serde_json::to_writer(&mut *out, &metadata.event_name)?,
            "argsNum" => write!(out, "{args_num}")?,
            "returnValue" => out.write_all(b"0")?,
            "args" => write_args(out)?,
            "metadata" => out.write_all(metadata_object.as_bytes())?,
            _ => return Ok(false),
        }
        Ok(true)
    };
    // Appended to `out` (the caller's line buffer) in place: nothing is
    // written before this point, so `Ok(false)` still means nothing written.
    let start = out.len();
    out.push(b'{');
    // The finding's own keys the event had (bit i: FINDING_KEYS[i]).
    let mut had = 0u8;
    for (index, (key, value)) in context.0.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        match key {
            // Borrowed: the line held it unescaped, with no control
            // characters, so serde_json would write it as it is.
            Cow::Borrowed(key) => {
                out.push(b'"');
                out.extend_from_slice(key.as_bytes());
                out.push(b'"');
            }
            Cow::Owned(key) => serde_json::to_writer(&mut *out, key)?,
        }
        out.push(b':');
        if own(key, out)? {
            had |= FINDING_KEYS
                .iter()
                .position(|k| k == key)
                .map_or(0, |i| 1 << i);
        } else {
            out.extend_from_slice(value.as_bytes());
        }
    }
    for (index, key) in FINDING_KEYS.into_iter().enumerate() {
        if had & (1 << index) == 0 {
            if out.len() > start + 1 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, key)?;
            out.push(b':');
            own(key, out)?;
        }
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// The keys a finding sets on top of its event's context.
const FINDING_KEYS: [&str; 6] = [
    "eventId",
    "eventName",
    "argsNum",
    "returnValue",
    "args",
    "metadata",
];

/// Tracee's `metadata` object: capitalised keys, properties plus
/// `signatureID` and `signatureName`.
pub(crate) fn metadata_json(metadata: &Metadata) -> Json {
    let p = &metadata.properties;
    let mut properties = Map::new();
    properties.insert("Severity".into(), json!(p.severity));
    properties.insert("Category".into(), json!(p.category));
    properties.insert("Technique".into(), json!(p.technique));
    properties.insert("Kubernetes_Technique".into(), json!(p.kubernetes_technique));
    properties.insert("id".into(), json!(p.mitre_id));
    properties.insert("external_id".into(), json!(p.external_id));
    for extra in &p.extra {
        properties.insert(extra.name.clone(), value_json(&extra.value));
    }
    properties.insert("signatureID".into(), json!(metadata.id));
    properties.insert("signatureName".into(), json!(metadata.name));
    // Go marshals an empty tag slice as null; so does Tracee.
    let tags = if metadata.tags.is_empty() {
        Json::Null
    } else {
        json!(metadata.tags)
    };
    json!({
        "Version": metadata.version,
        "Description": metadata.description,
        "Tags": tags,
        "Properties": properties,
    })
}

/// A finding's data entry, typed as Tracee types a finding's data.
fn data_arg(field: &Field) -> Json {
    arg_json(&field.name, untyped_tracee_type(&field.value), &field.value)
}

fn arg_json(name: &str, tracee_type: &str, value: &Value) -> Json {
    json!({"name": name, "type": tracee_type, "value": value_json(value)})
}

/// Tracee's `container` object: its fields are `omitempty`, so a host
/// event's is `{}` and a container whose runtime was not asked (or not yet
/// answered) has only its id.
fn container_json(c: &Context) -> Json {
    let container = container_members(c)
        .map(|(key, value)| (key.to_owned(), Json::String(value.to_owned())))
        .collect();
    Json::Object(container)
}

/// The members of Tracee's `container` object, `omitempty`: the id, name,
/// image and digest known (none on the host). Shared by both writers.
pub(super) fn container_members(c: &Context) -> impl Iterator<Item = (&'static str, &str)> {
    let on_host = c.origin == Origin::Host;
    let info = c.container.as_deref();
    let runtime = |pick: fn(&ContainerInfo) -> &str| info.map_or("", pick);
    [
        ("id", c.container_id.as_str()),
        ("name", runtime(|i| &i.name)),
        ("image", runtime(|i| &i.image)),
        ("imageDigest", runtime(|i| &i.image_digest)),
    ]
    .into_iter()
    .filter(move |(_, value)| !on_host && !value.is_empty())
}

/// Tracee's `kubernetes` object, also `omitempty`: `{}` outside a pod.
fn kubernetes_json(c: &Context) -> Json {
    let mut kubernetes: Map<String, Json> = pod_text_members(c)
        .map(|(key, value)| (key.to_owned(), Json::String(value.to_owned())))
        .collect();
    if in_pod_sandbox(c) {
        kubernetes.insert("podSandbox".into(), Json::Bool(true));
    }
    Json::Object(kubernetes)
}

/// The pod's name, namespace and uid, those known (Tracee's `omitempty`).
/// Shared by both writers.
pub(super) fn pod_text_members(c: &Context) -> impl Iterator<Item = (&'static str, &str)> {
    let pod = c.container.as_deref().map(|i| &i.pod);
    let text = |pick: fn(&PodInfo) -> &str| pod.map_or("", pick);
    [
        ("podName", text(|p| &p.name)),
        ("podNamespace", text(|p| &p.namespace)),
        ("podUID", text(|p| &p.uid)),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
}

/// Whether the event's container is its pod's sandbox (`podSandbox`, only
/// written when true).
pub(super) fn in_pod_sandbox(c: &Context) -> bool {
    c.container.as_deref().is_some_and(|i| i.pod.sandbox)
}

/// An event as a Tracee `trace.Event` object.
pub(crate) fn event_json(event: &Event) -> Map<String, Json> {
    let c = &event.context;
    let args = event_args(event);
    let json = json!({
        "timestamp": c.timestamp_ns,
        "threadStartTime": c.thread_start_ns,
        "processorId": 0,
        "processId": c.pid,
        "cgroupId": c.cgroup_id,
        "threadId": c.tid,
        "parentProcessId": c.ppid,
        "hostProcessId": c.host_pid,
        "hostThreadId": c.host_tid,
        "hostParentProcessId": c.host_ppid,
        "userId": c.uid,
        "mountNamespace": c.mount_ns,
        "pidNamespace": c.pid_ns,
        "processName": c.process_name,
        "executable": {"path": c.executable_path},
        "hostName": &*c.host_name,
        "containerId": c.container_id,
        "container": container_json(c),
        "kubernetes": kubernetes_json(c),
        "eventId": event.id().to_string(),
        "eventName": event.name(),
        "matchedPolicies": [],
        "argsNum": args.as_array().map_or(0, Vec::len),
        "returnValue": c.return_value,
        "syscall": "",
        "stackAddresses": null,
        "contextFlags": {
            "containerStarted": c.origin == Origin::Container,
            "isCompat": false,
        },
        "threadEntityId": entity_id(c.host_tid, c.thread_start_ns),
        "processEntityId": c.process_entity_id,
        "parentEntityId": c.parent_entity_id,
        "args": args,
    });
    match json {
        Json::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

/// The event's arguments as Tracee's `[{name, type, value}]` list, in
/// Tracee's order with Tracee's types (see [`Event::tracee_args`]).
fn event_args(event: &Event) -> Json {
    Json::Array(
        event
            .tracee_args()
            .map(|(name, tracee_type, value)| arg_json(name, tracee_type, value))
            .collect(),
    )
}

/// A value as JSON (`json` values are embedded as parsed JSON).
pub(crate) fn value_json(value: &Value) -> Json {
    match value {
        Value::None => Json::Null,
        Value::Boolean(b) => json!(b),
        Value::Signed(i) => json!(i),
        Value::Unsigned(u) => json!(u),
        Value::Float(f) => json!(f),
        Value::Text(s) => json!(s),
        Value::TextList(list) => json!(list),
        Value::Json(text) => serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::engine::Properties;
    use crate::engine::{SignatureInfo, contract::ContractVersion};
    use crate::event::Kind;
    use crate::source::tracee_json::parse_event;

    /// TRC-1016's description, as the sink's tests use it.
    pub(crate) fn info() -> SignatureInfo {
        SignatureInfo {
            path: "/x/trc-1016.wasm".into(),
            sha256: "00".repeat(32),
            metadata: Metadata {
                id: "TRC-1016".into(),
                version: "1".into(),
                name: "Web server spawned a shell".into(),
                event_name: "illegitimate_shell".into(),
                description: "A \"quoted\" description.".into(),
                tags: vec![],
                properties: Properties {
                    severity: 2,
                    category: "initial-access".into(),
                    technique: String::new(),
                    kubernetes_technique: String::new(),
                    mitre_id: String::new(),
                    external_id: "T1190".into(),
                    extra: vec![],
                },
            },
            selected_events: vec![],
            contract: ContractVersion::V0_2,
            signed_by: vec![],
            event_id: 6024,
        }
    }

    /// The one-pass writer gives the same finding (as JSON) as the tree
    /// built by `finding_json`, for every fixture line and odd shapes.
    #[test]
    fn raw_writer_matches_the_tree_writer() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let mut lines: Vec<String> = ["trc-1016-cases.jsonl", "sample-events.jsonl"]
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(root.join(f))
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.push(r#"{"eventName":"sched_process_exec","eventId":715,"processName":"sh\u0000\"é","args":[]}"#.into());
        lines.push(r#"{"eventName":"openat","processName":"x"}"#.into());
        let info = info();
        let metadata = metadata_json(&info.metadata).to_string();
        let mut checked = 0;
        for line in &lines {
            let Ok(event) = parse_event(line) else {
                continue;
            };
            for data in [
                vec![],
                vec![Field {
                    name: "k".into(),
                    value: Value::TextList(vec!["a\nb".into()]),
                }],
            ] {
                let detection = Detection {
                    signature: &info,
                    event_id: 6001,
                    finding: crate::engine::Finding { data },
                };
                let mut out = Vec::new();
                assert!(
                    write_finding_from_raw(&mut out, &detection, &metadata, &event, line).unwrap()
                );
                assert_eq!(out.iter().filter(|&&b| b < 0x20).count(), 1, "one newline");
                let fast: Json = serde_json::from_slice(&out).unwrap();
                assert_eq!(fast, finding_json(&detection, &event, Some(line)), "{line}");
                checked += 1;
            }
        }
        assert!(checked > 20);
    }

    /// `eventId` read by hand as serde_json reads it: numbers, numbers in
    /// strings, and what is neither.
    #[test]
    fn event_ids_read_as_serde_json_reads_them() {
        let by_serde = |value: &str| match serde_json::from_str::<Json>(value).ok()? {
            Json::String(s) => s.parse::<i64>().ok(),
            other => other.as_i64(),
        };
        for value in [
            "0",
            "715",
            r#""715""#,
            r#""+7""#,
            r#""-7""#,
            "-7",
            "1.5",
            "1e3",
            r#""7\u0030""#,
            "9223372036854775807",
            "9223372036854775808",
            r#""9223372036854775808""#,
            r#""""#,
            r#""x""#,
            "null",
            "true",
            "[1]",
            "007",
            r#""007""#,
            "",
        ] {
            assert_eq!(event_id_of(value), by_serde(value), "{value}");
        }
    }

    /// Tracee's `container` object: `omitempty` fields, so the host's is
    /// `{}` and an unresolved container's has only its id.
    #[test]
    fn live_events_write_the_containers_name_and_image_as_tracee() {
        let mut context = crate::event::Context {
            container_id: "c1".into(),
            origin: Origin::Container,
            ..crate::event::Context::default()
        };
        let container = |context: &crate::event::Context| {
            let event = Event::named(context.clone(), "sched_process_exec");
            event_json(&event)["container"].clone()
        };
        assert_eq!(container(&context), json!({"id": "c1"}));
        context.container = Some(std::sync::Arc::new(ContainerInfo {
            name: "web".into(),
            image: "localhost/web:1".into(),
            image_digest: String::new(),
            pod: crate::event::PodInfo {
                name: "web-7d9f".into(),
                uid: "1c2d".into(),
                ..crate::event::PodInfo::default()
            },
        }));
        assert_eq!(
            container(&context),
            json!({"id": "c1", "name": "web", "image": "localhost/web:1"})
        );
        let event = Event::named(context.clone(), "sched_process_exec");
        assert_eq!(
            event_json(&event)["kubernetes"],
            json!({"podName": "web-7d9f", "podUID": "1c2d"}),
            "omitempty, as Tracee"
        );
        context.origin = Origin::Host;
        context.container_id.clear();
        assert_eq!(container(&context), json!({}));
    }

    /// The borrowed member scan writes byte for byte what the `IndexMap` of
    /// owned keys it replaced wrote, on every fixture line and on repeated
    /// and escaped keys.
    #[test]
    fn borrowed_members_write_what_the_index_map_wrote() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let mut lines: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
            .flat_map(|path| {
                let text = std::fs::read_to_string(path).unwrap();
                text.lines().map(str::to_owned).collect::<Vec<_>>()
            })
            .collect();
        assert!(lines.len() > 90, "{}", lines.len());
        lines.extend([
            r#"{"eventName":"x","processId":1,"processName":"a","process\u0049d":2,"args":[],"eventId":"5","eventId":"7"}"#.into(),
            r#"{"metadata":1,"eventName":"x","args":[{"name":"a","value":1}],"args":[]}"#.into(),
        ]);
        let info = info();
        let metadata = metadata_json(&info.metadata).to_string();
        let mut written = 0;
        for line in &lines {
            // The fixtures' malformed lines never reach a writer.
            let Ok(event) = parse_event(line) else {
                continue;
            };
            let detection = Detection {
                signature: &info,
                event_id: 6001,
                finding: crate::engine::Finding {
                    data: vec![Field::new("k", Value::Text("v".into()))],
                },
            };
            let before: indexmap::IndexMap<String, &RawValue> = serde_json::from_str(line).unwrap();
            let before = Members(
                before
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k), v.get()))
                    .collect(),
            );
            let mut old = Vec::new();
            write_members(&mut old, &detection, &metadata, &event, &before).unwrap();
            let mut new = Vec::new();
            assert!(write_finding_from_raw(&mut new, &detection, &metadata, &event, line).unwrap());
            assert_eq!(
                String::from_utf8(new).unwrap(),
                String::from_utf8(old).unwrap()
            );
            written += 1;
        }
        assert!(written > 85, "{written}");
    }

    /// A live exec event is written with Tracee v0.24.1's id and, for each
    /// argument, the table's name, type and order; no `gid`.
    #[test]
    fn live_exec_events_are_written_from_the_table() {
        let mut event = crate::fuzzing::ring_record(&crate::fuzzing::sample_ring_record()).unwrap();
        event.context.thread_start_ns = 7;
        let json = event_json(&event);
        assert_eq!(json["eventId"], "715");
        assert_eq!(json["eventName"], "sched_process_exec");
        assert_eq!(json["threadStartTime"], 7);
        let args = json["args"].as_array().unwrap();
        let exec = Kind::SchedProcessExec.def();
        let exec_arg = |name| exec.args.iter().find(|a| a.name == name);
        let tracee_order: Vec<&str> = exec.args.iter().map(|a| a.name).collect();
        let mut last = 0;
        for arg in args {
            let name = arg["name"].as_str().unwrap();
            assert_ne!(name, "gid");
            let Some(def) = exec_arg(name) else {
                continue;
            };
            assert_eq!(arg["type"], def.tracee_type, "{name}");
            let position = tracee_order.iter().position(|&n| n == name).unwrap();
            assert!(position >= last, "{name} is out of Tracee's order");
            last = position;
        }
        let arg = |name: &str| args.iter().find(|a| a["name"] == name).unwrap();
        assert!(arg("invoked_from_kernel")["value"].is_boolean());
        assert!(arg("stdin_type")["value"].is_u64());
        assert!(arg("dev")["value"].is_u64());
        assert!(arg("argv")["value"].is_array());
        for name in [
            "cmdpath",
            "pathname",
            "dev",
            "inode",
            "ctime",
            "inode_mode",
            "argv",
        ] {
            assert_eq!(arg(name)["type"], exec_arg(name).unwrap().tracee_type);
        }
    }

    /// The id in `detectedFrom` is the table's (a number, as Tracee's
    /// `detectedFrom` map holds the event's int id), for live events too.
    #[test]
    fn detected_from_uses_the_table_id() {
        let mut event = crate::fuzzing::ring_record(&crate::fuzzing::sample_ring_record()).unwrap();
        event.context.thread_start_ns = 9;
        let info = info();
        let detection = Detection {
            signature: &info,
            event_id: 6000,
            finding: crate::engine::Finding { data: vec![] },
        };
        let finding = finding_json(&detection, &event, None);
        let from = &finding["args"][0]["value"];
        assert_eq!(from["id"], 715);
        assert_eq!(from["name"], "sched_process_exec");
        assert_eq!(finding["threadStartTime"], 9);
    }

    #[test]
    fn lines_with_control_characters_fall_back() {
        let line = "{\"eventName\":\"x\",\t\"processName\":\"y\"}";
        let event = parse_event(line).unwrap();
        let info = info();
        let metadata = metadata_json(&info.metadata).to_string();
        let detection = Detection {
            signature: &info,
            event_id: 6000,
            finding: crate::engine::Finding { data: vec![] },
        };
        let mut out = Vec::new();
        assert!(!write_finding_from_raw(&mut out, &detection, &metadata, &event, line).unwrap());
        assert!(out.is_empty());
    }
}
