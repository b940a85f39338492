//! Entry points for the fuzz targets in `fuzz/` (not an API): the parsers
//! of untrusted bytes that are otherwise private to their modules.

use std::path::Path;

use crate::engine::Policy;
use crate::event::Event;
use crate::source::bpf::fuzzing as ring;
use crate::trust::TrustPolicy;

/// Decodes one ring-buffer record (any bytes, any length) as the live
/// source does, with a fixed clock offset and host name and no container
/// lookups; `None` when the record is malformed (it is then counted and
/// skipped live).
pub fn ring_record(bytes: &[u8]) -> Option<Event> {
    ring::decode(bytes)
}

/// A well-formed ring-buffer record (a seed for the decoder's corpus).
pub fn sample_ring_record() -> Vec<u8> {
    ring::sample()
}

/// Parses a config file's text (`--config`).
///
/// # Errors
/// Invalid config.
pub fn config_text(text: &str) -> anyhow::Result<Policy> {
    crate::policy_file::parse(text, None, &crate::policy_file::LimitOverrides::default())
}

/// Parses a trust policy's text (key files resolve under a directory that
/// does not exist, so only the policy's own structure is exercised).
///
/// # Errors
/// Invalid policy.
pub fn trust_policy_text(text: &str) -> anyhow::Result<TrustPolicy> {
    TrustPolicy::parse(text, Path::new("/nonexistent/sigbox-fuzz/policy.toml"))
}

/// Replay's reading of a Tracee line (the one-scan tape, serde_json where
/// the tape is not sure) against serde_json alone: the same event or the
/// same refusal, and the check of an unselected line names the same event.
/// Panics on a difference.
pub fn tracee_tape_agrees(line: &str) {
    use crate::source::tracee_check::{checked_name, checked_name_with_serde};
    use crate::source::tracee_json::{parse_event, parse_event_with_serde};
    match (parse_event(line), parse_event_with_serde(line)) {
        (Ok(tape), Ok(serde)) => assert_eq!(tape, serde, "{line:?}"),
        (Err(tape), Err(serde)) => assert_eq!(
            crate::error_chain(&tape),
            crate::error_chain(&serde),
            "{line:?}"
        ),
        (tape, serde) => panic!("{line:?}: tape {tape:?}, serde_json {serde:?}"),
    }
    assert_eq!(
        checked_name(line),
        checked_name_with_serde(line),
        "{line:?}"
    );
}

/// The metadata of the signature the fuzz targets write findings for.
pub fn finding_metadata() -> crate::engine::Metadata {
    use crate::engine::{Metadata, Properties};
    Metadata {
        id: "FUZZ-1".into(),
        version: "1".into(),
        name: "fuzz".into(),
        event_name: "fuzz".into(),
        description: String::new(),
        tags: Vec::new(),
        properties: Properties {
            severity: 2,
            category: String::new(),
            technique: String::new(),
            kubernetes_technique: String::new(),
            mitre_id: String::new(),
            external_id: String::new(),
            extra: Vec::new(),
        },
    }
}

/// Replay's finding writer on a line the parser accepts (a finding with
/// data of every kind): the raw-line writer (member split, keys copied as
/// written) gives the same bytes as the same writer on serde_json's
/// reading of the line, and the same JSON as the finding's tree. Panics on
/// a difference.
pub fn raw_finding_agrees(line: &str) {
    use crate::engine::{ContractVersion, Detection, Finding, SignatureInfo};
    use crate::event::{Field, Value};
    let Ok(event) = crate::source::tracee_json::parse_event(line) else {
        return;
    };
    let info = SignatureInfo {
        path: "/fuzz/signature.wasm".into(),
        sha256: "00".repeat(32),
        metadata: finding_metadata(),
        selected_events: Vec::new(),
        contract: ContractVersion::V0_2,
        signed_by: Vec::new(),
        event_id: 6024,
    };
    let data = vec![
        Field::new("text", Value::Text("a\"\\\n\u{7f}é".into())),
        Field::new("list", Value::TextList(vec!["x".into(), String::new()])),
        Field::new("n", Value::Signed(-3)),
        Field::new("f", Value::Float(f64::NAN)),
        Field::new("json", Value::Json(r#"{"k":[1,2.5]}"#.into())),
    ];
    for data in [Vec::new(), data] {
        let detection = Detection {
            signature: &info,
            event_id: info.event_id,
            finding: Finding { data },
        };
        crate::sink::tracee_json::raw_writer_agrees(&detection, &event, line);
    }
}
