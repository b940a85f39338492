//! Test vectors: Tracee-format events and what a signature must make of
//! each, checked through the real host and sandbox (`sigbox test`).
//!
//! A vector file is JSON Lines. Each non-blank line is one case:
//!
//! ```json
//! {"case": "nginx spawns bash", "event": {"eventName": "sched_process_exec", ...},
//!  "expect": {"findings": [{}]}}
//! ```
//!
//! - `case`: a name for the report (default: `line N`);
//! - `event`: one event as `tracee --output json` prints it (any subset of
//!   its keys; missing ones are zero or empty);
//! - `ancestors` (optional; Tracee JSON has no ancestry): the process's
//!   ancestors as the live source attaches them, nearest first, each
//!   `{"processName": NAME, "executablePath": PATH}`, optionally with
//!   `pid`, `hostPid`, `entityId`, `uid`, `startNs`, `exitNs` and
//!   `containerId` (what the host call `ancestors` returns; left out: zero
//!   or empty);
//! - `detector` (for a pack, required): the id of the pack's detector the
//!   case tests; the event reaches it alone, as the host would deliver it;
//! - `expect`, one of:
//!   - `"none"`: no finding and no error (also when no selector of the
//!     signature accepts the event: the host never delivers it);
//!   - `{"findings": [DATA, ...]}`: exactly these findings, in order, each
//!     given as its data (`{}` for a finding without data; values as in the
//!     finding's JSON);
//!   - `"error"`, or `{"error": "TEXT"}`: the signature returns an error
//!     (containing TEXT).
//!
//! A trap or a limit hit never matches: it is a bug, whatever was expected.
//! Lines starting with `//` are comments.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

use crate::engine::Finding;
use crate::engine::LoadedSignature;
use crate::event::{Ancestor, Event};
use crate::sink::tracee_json::value_json;
use crate::source::tracee_json::parse_event;

/// One case of a vector file.
#[derive(Debug)]
pub struct Case {
    /// Its name.
    pub name: String,
    /// The file and line it comes from, e.g. `vectors/x.jsonl:3`.
    pub place: String,
    /// The event.
    pub event: Arc<Event>,
    /// What the signature must make of it.
    pub expect: Expected,
    /// For a pack: the id of the detector the case tests.
    pub detector: Option<String>,
}

/// What a case expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// No finding, no error.
    Nothing,
    /// Exactly these findings' data, in order.
    Findings(Vec<Map<String, Json>>),
    /// An error, containing the text if given.
    Error(Option<String>),
}

/// What the signature made of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// No selector accepted the event, or it gave no finding.
    Nothing,
    /// These findings' data.
    Findings(Vec<Map<String, Json>>),
    /// The signature returned this error.
    Error(String),
    /// A trap or limit hit (never expected).
    Fault(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    case: Option<String>,
    event: Json,
    #[serde(default)]
    ancestors: Vec<RawAncestor>,
    detector: Option<String>,
    expect: RawExpect,
}

/// One ancestor of a case's event; every key may be left out (zero or
/// empty), as the host call `ancestors` returns them.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct RawAncestor {
    process_name: String,
    executable_path: String,
    pid: u32,
    host_pid: u32,
    entity_id: u32,
    uid: u32,
    start_ns: u64,
    exit_ns: u64,
    container_id: String,
}

impl RawAncestor {
    fn ancestor(self) -> Ancestor {
        Ancestor {
            pid: self.pid,
            host_pid: self.host_pid,
            entity_id: self.entity_id,
            process_name: self.process_name.into(),
            executable_path: self.executable_path.into(),
            uid: self.uid,
            start_ns: self.start_ns,
            exit_ns: self.exit_ns,
            container_id: self.container_id.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawExpect {
    Word(String),
    Findings { findings: Vec<Map<String, Json>> },
    Error { error: String },
}

/// Reads the cases of a vector file.
///
/// # Errors
/// The file cannot be read, or a line is not a valid case; the message
/// names the file and line and what is wrong.
pub fn read_file(path: &Path) -> anyhow::Result<Vec<Case>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read vector file {}: {e}", path.display()))?;
    parse(&text, &path.display().to_string())
}

/// Parses the text of a vector file named `file` (for messages).
///
/// # Errors
/// As [`read_file`].
pub fn parse(text: &str, file: &str) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("//") {
            continue;
        }
        let place = format!("{file}:{}", index + 1);
        let raw: RawCase = serde_json::from_str(trimmed).map_err(|e| {
            anyhow::anyhow!(
                "{place}: not a test case ({e}); a case is {{\"case\": NAME, \"event\": \
                 TRACEE_EVENT, [\"ancestors\": [{{\"processName\": NAME}}, ...],] \"expect\": \"none\" | \"error\" | {{\"error\": TEXT}} | \
                 {{\"findings\": [DATA, ...]}}}}"
            )
        })?;
        let mut event = parse_event(&raw.event.to_string())
            .map_err(|e| anyhow::anyhow!("{place}: the event is not a Tracee event: {e}"))?;
        event.context.ancestors = raw
            .ancestors
            .into_iter()
            .map(RawAncestor::ancestor)
            .collect();
        let expect = match raw.expect {
            RawExpect::Word(word) if word == "none" => Expected::Nothing,
            RawExpect::Word(word) if word == "error" => Expected::Error(None),
            RawExpect::Word(word) => anyhow::bail!(
                "{place}: expect must be \"none\", \"error\", {{\"error\": TEXT}} or \
                 {{\"findings\": [...]}}, not \"{word}\""
            ),
            RawExpect::Findings { findings } => Expected::Findings(findings),
            RawExpect::Error { error } => Expected::Error(Some(error)),
        };
        cases.push(Case {
            name: raw.case.unwrap_or_else(|| format!("line {}", index + 1)),
            place,
            event: Arc::new(event),
            expect,
            detector: raw.detector,
        });
    }
    Ok(cases)
}

/// Runs one event through `signature` as the host would deliver it: only
/// if one of its selectors accepts the event, to the first that does.
pub fn evaluate(signature: &mut LoadedSignature, case: &Case) -> Outcome {
    let event = &case.event;
    if !signature.members().is_empty() {
        return evaluate_detector(signature, case);
    }
    if let Some(detector) = &case.detector {
        return Outcome::Fault(format!(
            "the case names detector {detector}, but the module is a signature, not a pack"
        ));
    }
    let Some(selector) = signature.selector_for(event) else {
        return Outcome::Nothing;
    };
    match signature.on_events(&[(event, selector)]) {
        Err(fault) => Outcome::Fault(crate::error_chain(&fault)),
        Ok(outcomes) => match outcomes.into_iter().next() {
            None => Outcome::Nothing,
            Some((_, Ok(findings))) => Outcome::Findings(findings.iter().map(data).collect()),
            Some((_, Err(error))) => Outcome::Error(error.to_string()),
        },
    }
}

/// Runs a case's event through the pack detector it names, alone, as the
/// host would deliver it: only if one of its selectors accepts the event.
fn evaluate_detector(pack: &mut LoadedSignature, case: &Case) -> Outcome {
    let ids = || {
        let ids: Vec<&str> = pack
            .members()
            .iter()
            .map(|m| m.info.metadata.id.as_str())
            .collect();
        ids.join(", ")
    };
    let Some(id) = &case.detector else {
        return Outcome::Fault(format!(
            "the module is a pack: name the detector the case tests (\"detector\": one of {})",
            ids()
        ));
    };
    let Some(index) = pack
        .members()
        .iter()
        .position(|m| &m.info.metadata.id == id)
    else {
        return Outcome::Fault(format!("the pack has no detector {id} (it has {})", ids()));
    };
    let Some(selector) = pack.members()[index].selector_for(&case.event) else {
        return Outcome::Nothing;
    };
    match pack.on_detector_event(index, &case.event, selector) {
        Err(fault) => Outcome::Fault(crate::error_chain(&fault)),
        Ok(outcomes) => match outcomes.into_iter().next() {
            None => Outcome::Nothing,
            Some((_, _, Ok(findings))) => Outcome::Findings(findings.iter().map(data).collect()),
            Some((_, _, Err(error))) => Outcome::Error(error.to_string()),
        },
    }
}

/// A finding's data as a JSON object.
fn data(finding: &Finding) -> Map<String, Json> {
    finding
        .data
        .iter()
        .map(|f| (f.name.clone(), value_json(&f.value)))
        .collect()
}

/// Whether `outcome` meets `expected`.
pub fn matches(expected: &Expected, outcome: &Outcome) -> bool {
    match (expected, outcome) {
        (Expected::Nothing, Outcome::Nothing) => true,
        (Expected::Findings(want), Outcome::Findings(got)) => want == got,
        (Expected::Findings(want), Outcome::Nothing) => want.is_empty(),
        (Expected::Error(None), Outcome::Error(_)) => true,
        (Expected::Error(Some(text)), Outcome::Error(error)) => error.contains(text.as_str()),
        _ => false,
    }
}

impl Expected {
    /// As JSON, the way a vector file says it.
    pub fn to_json(&self) -> Json {
        match self {
            Self::Nothing => json!("none"),
            Self::Findings(findings) => json!({ "findings": findings }),
            Self::Error(None) => json!("error"),
            Self::Error(Some(text)) => json!({ "error": text }),
        }
    }
}

impl Outcome {
    /// As JSON, in the vector file's terms (what `expect` would have to say).
    pub fn to_json(&self) -> Json {
        match self {
            Self::Nothing => json!("none"),
            Self::Findings(findings) => json!({ "findings": findings }),
            Self::Error(error) => json!({ "error": error }),
            Self::Fault(fault) => json!({ "fault": fault }),
        }
    }
}

/// The report for one failing case: what was expected, what came.
pub struct Mismatch<'a> {
    /// The case.
    pub case: &'a Case,
    /// What the signature made of it.
    pub outcome: &'a Outcome,
}

impl fmt::Display for Mismatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "FAIL {} ({})", self.case.name, self.case.place)?;
        writeln!(f, "  - expected: {}", self.case.expect.to_json())?;
        write!(f, "  + got:      {}", self.outcome.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"eventName":"sched_process_exec","processName":"bash","args":[{"name":"prev_comm","type":"const char*","value":"nginx"}]}"#;

    fn one(expect: &str) -> anyhow::Result<Vec<Case>> {
        parse(
            &format!(r#"{{"case":"c","event":{EVENT},"expect":{expect}}}"#),
            "v.jsonl",
        )
    }

    #[test]
    fn every_expectation_form_parses() {
        let cases = [
            (r#""none""#, Expected::Nothing),
            (r#""error""#, Expected::Error(None)),
            (
                r#"{"error":"prev_comm"}"#,
                Expected::Error(Some("prev_comm".into())),
            ),
            (r#"{"findings":[{}]}"#, Expected::Findings(vec![Map::new()])),
        ];
        for (text, want) in cases {
            let parsed = one(text).unwrap();
            assert_eq!(parsed[0].expect, want, "{text}");
            assert_eq!(parsed[0].name, "c");
            assert_eq!(parsed[0].event.context.process_name, "bash");
        }
    }

    #[test]
    fn comments_and_blank_lines_are_skipped_and_places_are_lines() {
        let text = format!("// TRC-X\n\n{{\"event\":{EVENT},\"expect\":\"none\"}}\n");
        let cases = parse(&text, "v.jsonl").unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].place, "v.jsonl:3");
        assert_eq!(cases[0].name, "line 3");
    }

    #[test]
    fn bad_cases_name_the_line_and_the_problem() {
        let error = one(r#""maybe""#).unwrap_err().to_string();
        assert!(
            error.contains("v.jsonl:1") && error.contains("maybe"),
            "{error}"
        );
        let error = parse("{\"event\":{},\"expect\":\"none\"}", "v.jsonl")
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a Tracee event"), "{error}");
        let error = parse("{\"evnt\":{}}", "v.jsonl").unwrap_err().to_string();
        assert!(error.contains("v.jsonl:1: not a test case"), "{error}");
    }

    #[test]
    fn matching_rules() {
        let finding: Map<String, Json> = serde_json::from_str(r#"{"k":1}"#).unwrap();
        let found = Outcome::Findings(vec![finding.clone()]);
        assert!(matches(&Expected::Findings(vec![finding.clone()]), &found));
        assert!(!matches(&Expected::Findings(vec![Map::new()]), &found));
        assert!(!matches(&Expected::Nothing, &found));
        assert!(matches(&Expected::Findings(vec![]), &Outcome::Nothing));
        let error = Outcome::Error("no string prev_comm".into());
        assert!(matches(&Expected::Error(None), &error));
        assert!(matches(&Expected::Error(Some("prev_comm".into())), &error));
        assert!(!matches(&Expected::Error(Some("argv".into())), &error));
        assert!(!matches(&Expected::Nothing, &error));
        let fault = Outcome::Fault("trap".into());
        for expected in [Expected::Nothing, Expected::Error(None)] {
            assert!(!matches(&expected, &fault));
        }
    }
}
