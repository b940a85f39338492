//! Replay's fast path for events no loaded signature selects: read the
//! event name off the line, and check that the line is one
//! [`parse_event`](super::tracee_json::parse_event) would accept, without
//! building the event (no strings copied, no values typed).
//!
//! The check accepts only lines the parser accepts, with the same event
//! name: the same fields with the same types (borrowed instead of owned),
//! duplicate fields refused alike, argument values read through the same
//! `deserialize_any` as `serde_json::Value` (so the same nesting limit and
//! number range). Whatever it refuses goes to the parser, which reports it
//! exactly as before.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;

use super::tracee_index;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// The event name a Tracee line gives, read without parsing it: the first
/// `"eventName":"…"` with no escape in the name. Only a guess (the text
/// could sit inside another object): [`checked_name`] confirms it.
pub(crate) fn sniff_event_name(line: &str) -> Option<&str> {
    const KEY: &[u8] = br#""eventName":""#;
    // Built once: `str::find` built its searcher on every line.
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(KEY));
    let start = FINDER.find(line.as_bytes())? + KEY.len();
    let len = memchr::memchr2(b'"', b'\\', &line.as_bytes()[start..])?;
    let name = line.get(start..start + len)?;
    (line.as_bytes()[start + len] == b'"' && !name.is_empty()).then_some(name)
}

/// The event name of `line` when `parse_event` would accept it; `None`
/// when it might not (the caller then parses it to learn why).
pub(crate) fn checked_name(line: &str) -> Option<Cow<'_, str>> {
    if !line.trim_start().starts_with('{') {
        return None;
    }
    // The line's one scan, when sure; the serde check otherwise.
    let indexed = tracee_index::with_fields(line, |tape, fields| tape.text(fields.event_name?));
    if let Some(name) = indexed {
        return (!name.is_empty()).then_some(name);
    }
    checked_name_with_serde(line)
}

/// `checked_name` with serde_json alone: what the tape must agree with (and
/// the bench's figure for replay before the tape).
pub(crate) fn checked_name_with_serde(line: &str) -> Option<Cow<'_, str>> {
    if !line.trim_start().starts_with('{') {
        return None;
    }
    let shape: Shape<'_> = serde_json::from_str(line).ok()?;
    shape.event_name.filter(|name| !name.is_empty())
}

/// `TraceeEvent` of `tracee_json`, field for field, borrowing its strings.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // Read only to check their types.
struct Shape<'a> {
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
    #[serde(default, borrow)]
    process_name: Cow<'a, str>,
    #[serde(default, borrow)]
    executable: Option<PathShape<'a>>,
    #[serde(default, borrow)]
    host_name: Cow<'a, str>,
    #[serde(default, borrow)]
    container_id: Cow<'a, str>,
    #[serde(default, borrow)]
    container: Option<ContainerShape<'a>>,
    #[serde(default, borrow)]
    event_name: Option<Cow<'a, str>>,
    #[serde(default)]
    return_value: i64,
    #[serde(default)]
    context_flags: Option<FlagsShape>,
    #[serde(default)]
    args: Option<ArgsShape>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct PathShape<'a> {
    #[serde(default, borrow)]
    path: Cow<'a, str>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct ContainerShape<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct FlagsShape {
    #[serde(default)]
    container_started: Option<bool>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct ArgShape<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default)]
    value: AnyValue,
}

/// The argument list, checked element by element and never collected.
struct ArgsShape;

impl<'de> Deserialize<'de> for ArgsShape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Args;
        impl<'de> Visitor<'de> for Args {
            type Value = ArgsShape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ArgsShape, A::Error> {
                while seq.next_element::<ArgShape<'de>>()?.is_some() {}
                Ok(ArgsShape)
            }
        }
        deserializer.deserialize_seq(Args)
    }
}

/// Any JSON value, accepted exactly as `serde_json::Value` accepts it
/// (through `deserialize_any`), and dropped.
#[derive(Default)]
struct AnyValue;

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AnyValueVisitor)
    }
}

struct AnyValueVisitor;

impl<'de> Visitor<'de> for AnyValueVisitor {
    type Value = AnyValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }
    fn visit_i64<E>(self, _: i64) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }
    fn visit_u64<E>(self, _: u64) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }
    fn visit_f64<E>(self, _: f64) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }
    fn visit_str<E>(self, _: &str) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }
    fn visit_unit<E>(self) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }
    fn visit_none<E>(self) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<AnyValue, D::Error> {
        AnyValue::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyValue, A::Error> {
        while seq.next_element::<AnyValue>()?.is_some() {}
        Ok(AnyValue)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyValue, A::Error> {
        while map.next_entry::<de::IgnoredAny, AnyValue>()?.is_some() {}
        Ok(AnyValue)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tracee_json::parse_event;
    use super::*;

    /// The check's promise: it accepts only what the parser accepts, and
    /// names the event as the parser does.
    fn agrees_with_parser(line: &str) {
        let parsed = parse_event(line);
        match checked_name(line) {
            Some(name) => {
                let event = parsed.unwrap_or_else(|e| panic!("check accepted {line}: {e}"));
                assert_eq!(event.name(), name, "{line}");
            }
            None => assert!(parsed.is_err(), "check refused a good line: {line}"),
        }
    }

    #[test]
    fn every_fixture_line_is_named_and_accepted_as_the_parser_does() {
        let (mut lines, mut events) = (0, 0);
        for line in super::super::TRACEE_FIXTURES.iter().flat_map(|f| f.lines()) {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            lines += 1;
            agrees_with_parser(line);
            // The fixtures' malformed lines are for the parser to refuse.
            if let Ok(event) = parse_event(line) {
                events += 1;
                assert_eq!(sniff_event_name(line), Some(event.name()), "{line}");
            }
        }
        assert!(lines > 90 && events > 85, "{lines} lines, {events} events");
    }

    #[test]
    fn refuses_what_the_parser_refuses() {
        let deep = format!(
            r#"{{"eventName":"close","args":[{{"name":"x","value":{}1{}}}]}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        for line in [
            "not json",
            "[1,2]",
            "  ",
            r#"{"processId":1}"#,
            r#"{"eventName":""}"#,
            r#"{"eventName":"x","processId":"one"}"#,
            r#"{"eventName":"x","processId":-1}"#,
            r#"{"eventName":"x","processId":1,"processId":2}"#,
            r#"{"eventName":"x","processName":5}"#,
            r#"{"eventName":"x","executable":{"path":1}}"#,
            r#"{"eventName":"x","container":[]}"#,
            r#"{"eventName":"x","contextFlags":{"containerStarted":1}}"#,
            r#"{"eventName":"x","args":{}}"#,
            r#"{"eventName":"x","args":[{"value":1}]}"#,
            r#"{"eventName":"x","args":[{"name":1,"value":1}]}"#,
            r#"{"eventName":"x","args":[{"name":"a","value":1E500}]}"#,
            r#"{"eventName":"x","args":[{"name":"a","value":[1,}]}"#,
            r#"{"eventName":"x","args":[{"name":"a","value":{"k":1,}}]}"#,
            r#"{"eventName":"x"} trailing"#,
            &deep,
        ] {
            agrees_with_parser(line);
        }
        for line in [
            r#"{"eventName":"x","args":null,"executable":null,"container":null}"#,
            r#"{"eventName":"x","args":[{"name":"a"},{"name":"b","value":{"k":[1,-2.5,null,true]}}]}"#,
            r#"{"eventName":"x\u0041","processName":"a\"b"}"#,
            r#"{"unknown":{"eventName":"y"},"eventName":"x"}"#,
        ] {
            assert!(checked_name(line).is_some(), "{line}");
            agrees_with_parser(line);
        }
    }

    #[test]
    fn the_sniffed_name_is_a_guess_the_check_corrects() {
        let line = r#"{"unknown":{"eventName":"y"},"eventName":"x"}"#;
        assert_eq!(sniff_event_name(line), Some("y"));
        assert_eq!(checked_name(line).as_deref(), Some("x"));
        assert_eq!(sniff_event_name(r#"{"eventName":"a\"b"}"#), None);
        assert_eq!(sniff_event_name(r#"{"eventName":""}"#), None);
        assert_eq!(sniff_event_name(r#"{"eventName": "x"}"#), None);
        assert_eq!(
            sniff_event_name(r#"{"eventName":"close","args":[]}"#),
            Some("close")
        );
    }
}
