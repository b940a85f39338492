//! The fuzz targets' bodies, and what they share: building the host's WIT
//! values from fuzzer bytes, and the properties every finding line must have.
//!
//! The host crate's unit tests include this file too (`host/src/fuzz_replay.rs`)
//! and feed every saved input through [`targets`], so `make test` catches a
//! fixed crash coming back without the instrumented build.

use arbitrary::{Result, Unstructured};
use sigbox::engine::ContractVersion;
use sigbox::engine::{
    Access, EventSelector, FieldFilter, FilterTest, Finding, Metadata, OriginFilter, Properties,
};
use sigbox::engine::{Detection, SignatureInfo};
use sigbox::event::{Event, Field, Value};
use sigbox::sink::{FindingWriter, OutputFormat};

/// Any string.
pub fn text(u: &mut Unstructured<'_>) -> Result<String> {
    u.arbitrary()
}

/// Any value of the contract's `value` variant.
pub fn value(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=7)? {
        0 => Value::None,
        1 => Value::Boolean(u.arbitrary()?),
        2 => Value::Signed(u.arbitrary()?),
        3 => Value::Unsigned(u.arbitrary()?),
        4 => Value::Float(u.arbitrary()?),
        5 => Value::Text(text(u)?),
        6 => Value::TextList(list(u, text)?),
        _ => Value::Json(text(u)?),
    })
}

/// Up to 8 items made by `item`.
pub fn list<T>(
    u: &mut Unstructured<'_>,
    item: impl Fn(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let n = u.int_in_range(0..=8)?;
    (0..n).map(|_| item(u)).collect()
}

pub fn field(u: &mut Unstructured<'_>) -> Result<Field> {
    Ok(Field {
        name: text(u)?,
        value: value(u)?,
    })
}

pub fn finding(u: &mut Unstructured<'_>) -> Result<Finding> {
    Ok(Finding {
        data: list(u, field)?,
    })
}

pub fn metadata(u: &mut Unstructured<'_>) -> Result<Metadata> {
    Ok(Metadata {
        id: text(u)?,
        version: text(u)?,
        name: text(u)?,
        event_name: text(u)?,
        description: text(u)?,
        tags: list(u, text)?,
        properties: Properties {
            severity: u.arbitrary()?,
            category: text(u)?,
            technique: text(u)?,
            kubernetes_technique: text(u)?,
            mitre_id: text(u)?,
            external_id: text(u)?,
            extra: list(u, field)?,
        },
    })
}

pub fn selector(u: &mut Unstructured<'_>) -> Result<EventSelector> {
    Ok(EventSelector {
        name: text(u)?,
        origin: match u.int_in_range(0..=3)? {
            0 => OriginFilter::Any,
            1 => OriginFilter::Host,
            2 => OriginFilter::Container,
            _ => OriginFilter::ContainerInit,
        },
        filters: list(u, |u| {
            let field = text(u)?;
            let test = match u.int_in_range(0..=5)? {
                0 => FilterTest::Equals(list(u, text)?),
                1 => FilterTest::Prefix(list(u, text)?),
                2 => FilterTest::Suffix(list(u, text)?),
                3 => FilterTest::BasenameIn(list(u, text)?),
                4 => FilterTest::AccessMode(Access::Read),
                _ => FilterTest::AccessMode(Access::Write),
            };
            Ok(FieldFilter { field, test })
        })?,
        fields: list(u, text)?,
    })
}

/// A live exec event whose strings (and sometimes whole payload) come from
/// the fuzzer.
pub fn event(u: &mut Unstructured<'_>) -> Result<Event> {
    static SAMPLE: std::sync::OnceLock<Event> = std::sync::OnceLock::new();
    let mut event = SAMPLE
        .get_or_init(|| {
            sigbox::fuzzing::ring_record(&sigbox::fuzzing::sample_ring_record())
                .expect("the sample record decodes")
        })
        .clone();
    if u.arbitrary()? {
        // Another event name, its arguments all by name.
        let context = std::mem::take(&mut event.context);
        event = Event::named(context, &text(u)?);
        event.extra = list(u, field)?;
    } else {
        for name in ["pathname", "cmdpath", "pwd", "stdin_path"] {
            event.set(name, Value::Text(text(u)?));
        }
        event.set("argv", Value::TextList(list(u, text)?));
        let prev_comm = if u.arbitrary()? {
            value(u)?
        } else {
            Value::None
        };
        event.set("prev_comm", prev_comm);
    }
    Ok(event)
}

/// Writes `finding` for `event` in both formats and checks what came out:
/// JSON is exactly one line of valid JSON; text is one line with no control
/// character.
pub fn check_finding_lines(metadata: Metadata, finding: Finding, event: &Event, raw: Option<&str>) {
    let info = SignatureInfo {
        path: "/fuzz/signature.wasm".into(),
        sha256: "00".repeat(32),
        metadata,
        selected_events: Vec::new(),
        contract: ContractVersion::V0_2,
        signed_by: Vec::new(),
        event_id: 6024,
    };
    for format in [OutputFormat::Json, OutputFormat::Text] {
        let mut out = Vec::new();
        let detection = Detection {
            signature: &info,
            event_id: info.event_id,
            finding: finding.clone(),
        };
        FindingWriter::new(&mut out, format, false)
            .write(&detection, event, raw)
            .expect("writing to memory");
        let line = std::str::from_utf8(&out).expect("UTF-8 output");
        let body = line.strip_suffix('\n').expect("ends with a newline");
        assert!(!body.contains('\n'), "more than one line: {line:?}");
        match format {
            // What sigbox builds itself must parse as values anywhere (no
            // number beyond f64). A replayed line's own fields pass through
            // as written, as in Tracee: those need only be valid JSON
            // (RFC 8259 sets no range on numbers).
            OutputFormat::Json if raw.is_none() => {
                serde_json::from_str::<serde_json::Value>(body)
                    .unwrap_or_else(|e| panic!("invalid JSON ({e}): {body}"));
            }
            OutputFormat::Json => {
                serde_json::from_str::<serde::de::IgnoredAny>(body)
                    .unwrap_or_else(|e| panic!("invalid JSON ({e}): {body}"));
            }
            OutputFormat::Text => assert!(
                !body.chars().any(char::is_control),
                "a control character in {body:?}"
            ),
        }
    }
}

/// One function per fuzz target, on the raw fuzzer input:
/// `fuzz_targets/NAME.rs` calls `targets::NAME`.
pub mod targets {
    use arbitrary::Unstructured;
    use sigbox::engine::Finding;
    use sigbox::engine::{check_finding, check_metadata, finding_bytes};

    /// A target's body: runs one input, panics on a failed property.
    pub type Body = fn(&[u8]);

    /// Every target by name, as `fuzz/run.sh` and the directories under
    /// `fuzz/regressions/` and `fuzz/seeds/` name them.
    pub const ALL: &[(&str, Body)] = &[
        ("tracee_json", tracee_json),
        ("ring_record", ring_record),
        ("config_file", config_file),
        ("trust_policy", trust_policy),
        ("guest_output", guest_output),
        ("finding_writer", finding_writer),
    ];

    /// Replay's parser on any line: its one-scan tape must read it as
    /// serde_json alone does, and a line it accepts must also give a valid
    /// one-line finding through the writer's raw-line fast path, the same
    /// as the writer's reference path.
    pub fn tracee_json(data: &[u8]) {
        let Ok(line) = std::str::from_utf8(data) else {
            return;
        };
        sigbox::fuzzing::tracee_tape_agrees(line);
        sigbox::fuzzing::raw_finding_agrees(line);
        if let Ok(event) = sigbox::source::parse_event(line) {
            let metadata = sigbox::fuzzing::finding_metadata();
            super::check_finding_lines(metadata, Finding { data: Vec::new() }, &event, Some(line));
        }
    }

    /// The ring-buffer record decoder on any bytes and length; a record it
    /// decodes must give a valid one-line finding.
    pub fn ring_record(data: &[u8]) {
        if let Some(event) = sigbox::fuzzing::ring_record(data) {
            let mut u = Unstructured::new(b"");
            let metadata = super::metadata(&mut u).expect("defaults");
            super::check_finding_lines(metadata, Finding { data: Vec::new() }, &event, None);
        }
    }

    /// The config file parser (`--config`) on any text.
    pub fn config_file(data: &[u8]) {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = sigbox::fuzzing::config_text(text);
        }
    }

    /// The trust policy parser (`--trust`) on any text.
    pub fn trust_policy(data: &[u8]) {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = sigbox::fuzzing::trust_policy_text(text);
        }
    }

    /// The host's checks of what a guest returns across the WIT boundary:
    /// any metadata and selectors, any findings; whatever the checks accept
    /// must then be written as valid one-line findings.
    pub fn guest_output(data: &[u8]) {
        let mut u = Unstructured::new(data);
        let Ok(metadata) = super::metadata(&mut u) else {
            return;
        };
        let Ok(selectors) = super::list(&mut u, super::selector) else {
            return;
        };
        let Ok(findings) = super::list(&mut u, super::finding) else {
            return;
        };
        let Ok(event) = super::event(&mut u) else {
            return;
        };
        if check_metadata(&metadata, &selectors).is_err() {
            return;
        }
        for finding in findings {
            let _ = finding_bytes(&finding);
            if check_finding(&finding).is_ok() {
                super::check_finding_lines(metadata.clone(), finding, &event, None);
            }
        }
    }

    /// The finding writer: any metadata, finding values and event strings
    /// give one valid JSON line and one text line without control characters.
    pub fn finding_writer(data: &[u8]) {
        let mut u = Unstructured::new(data);
        let (Ok(metadata), Ok(finding), Ok(event)) = (
            super::metadata(&mut u),
            super::finding(&mut u),
            super::event(&mut u),
        ) else {
            return;
        };
        super::check_finding_lines(metadata, finding, &event, None);
    }
}
