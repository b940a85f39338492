//! Where findings go: JSON lines in Tracee's finding format, or readable text.

pub(crate) mod coverage;
pub(crate) mod fanout;
pub(crate) mod file;
mod live_finding;
mod raw_members;
pub(crate) mod syslog;
pub(crate) mod tracee_json;
pub(crate) mod webhook;

// What the command line uses.
pub use file::FileOptions;
pub use syslog::DEV_LOG;
pub use webhook::WebhookOptions;

use std::io::{self, Write};

use crate::engine::Detection;
use crate::event::{Event, Value};

/// How findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// One Tracee-format finding per line.
    #[default]
    Json,
    /// One readable line per finding.
    Text,
}

/// The finding outputs besides stdout (`sigbox run`).
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    /// A JSON-lines file with rotation (`--output-file`).
    pub file: Option<file::FileOptions>,
    /// An HTTP endpoint (`--webhook`).
    pub webhook: Option<webhook::WebhookOptions>,
    /// A syslog socket (`--syslog`, `--syslog-socket`).
    pub syslog: Option<std::path::PathBuf>,
}

impl OutputOptions {
    /// stdout plus every configured output, each with its counters
    /// (returned, for metrics). `reopen` set makes the file output reopen
    /// its file before its next record (SIGUSR1).
    ///
    /// # Errors
    /// An output cannot be opened or started (the message names it).
    pub(crate) fn open<W: Write>(
        &self,
        stdout: W,
        reopen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> anyhow::Result<(
        fanout::Fanout<W>,
        Vec<std::sync::Arc<crate::telemetry::OutputCounters>>,
    )> {
        use crate::telemetry::OutputCounters;
        let stdout_counters = OutputCounters::new("stdout");
        let mut counters = vec![stdout_counters.clone()];
        let mut outputs: Vec<Box<dyn fanout::LineOutput>> = Vec::new();
        if let Some(options) = &self.file {
            let c = OutputCounters::new("file");
            outputs.push(Box::new(file::RotatingFile::open(
                options.clone(),
                reopen,
                c.clone(),
            )?));
            counters.push(c);
        }
        if let Some(options) = &self.webhook {
            let c = OutputCounters::new("webhook");
            outputs.push(Box::new(webhook::Webhook::start(
                options.clone(),
                c.clone(),
            )?));
            counters.push(c);
        }
        if let Some(path) = &self.syslog {
            let c = OutputCounters::new("syslog");
            outputs.push(Box::new(syslog::Syslog::connect(path.clone(), c.clone())?));
            counters.push(c);
        }
        Ok((
            fanout::Fanout::new(stdout, stdout_counters, outputs),
            counters,
        ))
    }
}

/// Writes findings to a stream (normally stdout).
pub struct FindingWriter<W: Write> {
    out: W,
    format: OutputFormat,
    /// Flush after every finding (live use), rather than when the buffer fills.
    flush_each: bool,
    /// Each signature's `metadata` object, serialised once (by file digest:
    /// a new version is a new entry).
    metadata: std::collections::HashMap<String, String>,
    /// The line being built: each record reaches `out` in one `write_all`,
    /// so a pipe never sees half a line (lines under `PIPE_BUF` are atomic)
    /// and the fan-out behind it gets whole lines instead of serde's pieces.
    line: Vec<u8>,
}

/// Serialised metadata objects kept at most (one per loaded version; the
/// cache starts over past this, so hot swaps cannot grow it without bound).
const MAX_CACHED_METADATA: usize = 1024;

impl<W: Write> FindingWriter<W> {
    /// A writer in `format`; `flush_each` makes every finding visible at once.
    pub fn new(out: W, format: OutputFormat, flush_each: bool) -> Self {
        Self {
            out,
            format,
            flush_each,
            metadata: std::collections::HashMap::new(),
            line: Vec::new(),
        }
    }

    /// Writes one finding for `event` (`raw` is its original JSON line, if
    /// any).
    ///
    /// # Errors
    /// Writing failed (for example a closed pipe).
    pub fn write(
        &mut self,
        detection: &Detection<'_>,
        event: &Event,
        raw: Option<&str>,
    ) -> io::Result<()> {
        self.line.clear();
        match self.format {
            OutputFormat::Json => {
                if self.metadata.len() >= MAX_CACHED_METADATA {
                    self.metadata.clear();
                }
                let signature = detection.signature;
                // A pack's detectors share its digest: keyed by their ids too.
                let key: std::borrow::Cow<'_, str> =
                    if signature.contract == crate::engine::ContractVersion::V0_3Pack {
                        format!("{}/{}", signature.sha256, signature.metadata.id).into()
                    } else {
                        signature.sha256.as_str().into()
                    };
                // Looked up before inserting: the key is copied only once per version.
                if !self.metadata.contains_key(key.as_ref()) {
                    let object = tracee_json::metadata_json(&signature.metadata).to_string();
                    self.metadata.insert(key.clone().into_owned(), object);
                }
                let metadata = &self.metadata[key.as_ref()];
                let written = match raw {
                    Some(raw) => tracee_json::write_finding_from_raw(
                        &mut self.line,
                        detection,
                        metadata,
                        event,
                        raw,
                    )?,
                    // A live event: straight from the event, no tree.
                    None => {
                        live_finding::write(&mut self.line, detection, metadata, event)?;
                        true
                    }
                };
                if !written {
                    let json = tracee_json::finding_json(detection, event, raw);
                    serde_json::to_writer(&mut self.line, &json)?;
                    self.line.push(b'\n');
                }
            }
            OutputFormat::Text => writeln!(self.line, "{}", text_line(detection, event))?,
        }
        self.out.write_all(&self.line)?;
        if self.flush_each {
            self.out.flush()?;
        }
        Ok(())
    }

    /// Writes a coverage record (a signature quarantined, back, or an
    /// update rejected; events lost) among the findings.
    ///
    /// # Errors
    /// Writing failed.
    pub(crate) fn write_coverage(&mut self, record: &coverage::CoverageRecord) -> io::Result<()> {
        self.line.clear();
        match self.format {
            OutputFormat::Json => {
                serde_json::to_writer(&mut self.line, &record.to_json())?;
                self.line.push(b'\n');
            }
            OutputFormat::Text => writeln!(self.line, "{}", record.to_text())?,
        }
        self.out.write_all(&self.line)?;
        // Coverage changes are rare and matter at once.
        self.out.flush()
    }

    /// Flushes buffered findings.
    ///
    /// # Errors
    /// Writing failed.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// `<time> <id> <name> (severity N): pid P comm C [prev_comm X] exe E [container C] [data]`
///
/// Strings from the event and the finding are quoted or JSON-encoded, so
/// none can start a new line or pose as another finding.
fn text_line(detection: &Detection<'_>, event: &Event) -> String {
    let metadata = &detection.signature.metadata;
    let mut line = format!(
        "{} {} {} (severity {}): pid {} comm {:?}",
        event.context.timestamp_ns,
        metadata.id,
        metadata.name,
        metadata.properties.severity,
        event.context.host_pid,
        event.context.process_name,
    );
    if let Some(def) = event.kind().map(crate::event::Kind::def) {
        if let Some(Value::Text(prev)) = event.arg("prev_comm") {
            line.push_str(&format!(" prev_comm {prev:?}"));
        }
        if def.slot("pathname").is_some() {
            let pathname = event.arg("pathname").and_then(Value::as_text);
            line.push_str(&format!(" pathname {:?}", pathname.unwrap_or("")));
        }
    }
    if !event.context.container_id.is_empty() {
        line.push_str(&format!(" container {:?}", event.context.container_id));
    }
    for field in &detection.finding.data {
        // A key of several words (Tracee's `IP address`) is quoted, so the
        // line still splits into key=value pairs.
        let value = tracee_json::value_json(&field.value);
        if field.name.contains(' ') {
            line.push_str(&format!(" {:?}={value}", field.name));
        } else {
            line.push_str(&format!(" {}={value}", field.name));
        }
    }
    // JSON leaves DEL and the C1 controls (U+0080..U+009F, among them the
    // one-character CSI) as they are, and a terminal may act on them: the
    // text line escapes every control character (found by fuzzing).
    crate::printable(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Finding;
    use crate::engine::SignatureInfo;
    use crate::event::{Field, Value};

    /// TRC-1016's description under another id and name.
    fn signature_info(id: &str, name: &str) -> SignatureInfo {
        let mut info = tracee_json::tests::info();
        info.metadata.id = id.into();
        info.metadata.name = name.into();
        info
    }

    /// A finding of one text-list field `v` holding `values`.
    fn text_list_detection<'a>(info: &'a SignatureInfo, values: &[&str]) -> Detection<'a> {
        Detection {
            signature: info,
            event_id: 6000,
            finding: Finding {
                data: vec![Field {
                    name: "v".into(),
                    value: Value::TextList(values.iter().map(|&v| v.into()).collect()),
                }],
            },
        }
    }

    /// A writer that keeps each `write` call apart.
    struct Calls(Vec<Vec<u8>>);

    impl Write for Calls {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Each finding leaves in one write of one whole line, in both formats,
    /// built from the event (live) or from its raw line (replay): a pipe
    /// never interleaves half-lines, and the fan-out behind stdout gets whole
    /// lines (the live soak found it rescanning serde's small pieces).
    #[test]
    fn each_finding_is_one_write_of_one_line() {
        let event = crate::fuzzing::ring_record(&crate::fuzzing::sample_ring_record()).unwrap();
        let info = signature_info("TRC-X", "n");
        let detection = text_list_detection(&info, &["a", "b"]);
        let raw = r#"{"timestamp":1,"eventName":"sched_process_exec","args":[]}"#;
        for format in [OutputFormat::Json, OutputFormat::Text] {
            for raw in [None, Some(raw)] {
                let mut writer = FindingWriter::new(Calls(Vec::new()), format, true);
                writer.write(&detection, &event, raw).unwrap();
                writer.write(&detection, &event, raw).unwrap();
                let calls = &writer.out.0;
                assert_eq!(calls.len(), 2, "{format:?} raw={raw:?}: {calls:?}");
                for call in calls {
                    let line = std::str::from_utf8(call).unwrap();
                    let body = line.strip_suffix('\n').unwrap();
                    assert!(!body.contains('\n') && body.contains("TRC-X"), "{body}");
                    if format == OutputFormat::Json {
                        let json: serde_json::Value = serde_json::from_str(body).unwrap();
                        assert_eq!(
                            json["metadata"]["Properties"]["signatureID"], "TRC-X",
                            "{body}"
                        );
                    }
                }
            }
        }
    }

    /// Tracee's keys of several words (TRC-101's `IP address`) are quoted in
    /// a text line; one-word keys are not.
    #[test]
    fn text_lines_quote_keys_of_several_words() {
        let event = crate::fuzzing::ring_record(&crate::fuzzing::sample_ring_record()).unwrap();
        let info = signature_info("TRC-101", "n");
        let mut detection = text_list_detection(&info, &[]);
        detection.finding.data = vec![
            Field {
                name: "IP address".into(),
                value: Value::Text("10.0.0.1".into()),
            },
            Field {
                name: "Port".into(),
                value: Value::Text("53".into()),
            },
        ];
        let mut out = Vec::new();
        FindingWriter::new(&mut out, OutputFormat::Text, false)
            .write(&detection, &event, None)
            .unwrap();
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.ends_with(" \"IP address\"=\"10.0.0.1\" Port=\"53\"\n"),
            "{line}"
        );
    }

    /// Regression (fuzz `guest_output`, `finding_writer`): DEL and C1
    /// controls in a finding value or the metadata never reach the text
    /// line raw.
    #[test]
    fn text_lines_escape_every_control_character() {
        let event = crate::fuzzing::ring_record(&crate::fuzzing::sample_ring_record()).unwrap();
        let info = signature_info("\u{8}", "n\u{9b}31m");
        let detection = text_list_detection(&info, &["a\u{7f}b\u{9b}[2J"]);
        let mut out = Vec::new();
        FindingWriter::new(&mut out, OutputFormat::Text, false)
            .write(&detection, &event, None)
            .unwrap();
        let line = String::from_utf8(out).unwrap();
        let body = line.strip_suffix('\n').unwrap();
        assert!(!body.chars().any(char::is_control), "{body:?}");
        assert!(body.contains(r"a\u{7f}b\u{9b}[2J"), "{body}");
    }
}
