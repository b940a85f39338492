//! Coverage records: a signature quarantined or back, an update rejected,
//! events lost in the kernel. They are written to the findings stream in
//! the shape of a Tracee finding, so whatever reads findings also sees when
//! detection coverage changed, not only the log.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value as Json, json};

use crate::engine::{CoverageChange, Notice};
use crate::event::{Context, Event};

/// The pseudo-signature that reports coverage changes.
pub const COVERAGE_ID: &str = "SIGBOX-COVERAGE";
/// The event id coverage records carry: the last of Tracee's signature
/// block, which `engine::finding_ids` never gives a signature.
const COVERAGE_EVENT_ID: &str = "6999";
/// Tracee's "high" severity.
const SEVERITY_HIGH: u8 = 3;

/// One coverage record: its event name, what it says, and its arguments.
#[derive(Debug, Clone)]
pub struct CoverageRecord {
    /// e.g. `sigbox_signature_quarantined`.
    pub event_name: &'static str,
    /// One sentence for `metadata.Description`.
    pub description: &'static str,
    /// Name/value arguments.
    pub args: Vec<(&'static str, Json)>,
}

impl CoverageRecord {
    /// The record for a signature's coverage change.
    pub fn from_notice(notice: &Notice) -> Self {
        let info = &notice.signature.info;
        let stats = notice.signature.counters.snapshot();
        let mut args = vec![
            ("signatureID", json!(info.metadata.id)),
            ("signatureVersion", json!(info.metadata.version)),
            ("sha256", json!(info.sha256)),
            ("file", json!(info.path.to_string_lossy())),
        ];
        let (event_name, description) = match &notice.change {
            CoverageChange::Quarantined { reason, cooldown } => {
                args.push(("reason", json!(reason)));
                args.push(("cooldownSeconds", json!(cooldown.as_secs())));
                args.push((
                    "quarantinedUntil",
                    json!(crate::utc_time(stats.quarantined_until_ms)),
                ));
                (
                    "sigbox_signature_quarantined",
                    "A signature faulted too often and is disabled until its cool-down ends: \
                     events it selects are not evaluated meanwhile.",
                )
            }
            CoverageChange::Reenabled { restart_error } => {
                if let Some(error) = restart_error {
                    args.push(("restartError", json!(error)));
                }
                (
                    "sigbox_signature_reenabled",
                    "A quarantined signature's cool-down ended; it evaluates events again.",
                )
            }
            CoverageChange::UpdateRejected {
                reason,
                file_sha256,
            } => {
                args.push(("reason", json!(reason)));
                if let Some(sha256) = file_sha256 {
                    args.push(("fileSha256", json!(sha256)));
                    args.push((
                        "fileState",
                        json!(crate::status::file_holds_rejected(sha256)),
                    ));
                }
                (
                    "sigbox_signature_update_rejected",
                    "A new version of a running signature was rejected; the previous \
                     version keeps running.",
                )
            }
        };
        args.extend([
            ("events", json!(stats.events)),
            ("findings", json!(stats.findings)),
            ("errors", json!(stats.errors)),
            ("traps", json!(stats.traps)),
            ("limitHits", json!(stats.limit_hits)),
            ("quarantines", json!(stats.quarantines)),
            ("missedEvents", json!(stats.missed_events)),
        ]);
        Self {
            event_name,
            description,
            args,
        }
    }

    /// The record for `event` events the kernel dropped (ring buffer full).
    pub fn events_lost(event: &str, lost: u64, total: u64) -> Self {
        Self {
            event_name: "sigbox_events_lost",
            description: "The kernel dropped events because the ring buffer was full: \
                          no signature saw them.",
            args: vec![
                ("lost", json!(lost)),
                ("lostSinceStart", json!(total)),
                ("event", json!(event)),
            ],
        }
    }

    /// A module in the signatures directory was rejected and does not run.
    pub fn module_rejected(path: &std::path::Path, reason: &str) -> Self {
        Self {
            event_name: "sigbox_module_rejected",
            description: "A signature module in the signatures directory was rejected (invalid, \
                          or refused by the trust policy) and does not run.",
            args: vec![
                ("file", json!(path.to_string_lossy())),
                ("reason", json!(reason)),
            ],
        }
    }

    /// A dispatch worker fell behind and its queue overflowed: `dropped`
    /// events (`total` since start) never reached the signatures it runs.
    pub fn events_dropped(signatures: &[String], dropped: u64, total: u64) -> Self {
        Self {
            event_name: "sigbox_events_dropped",
            description: "A dispatch worker fell behind and its queue was full: the signatures \
                          it runs did not see some events (raise --queue-events or --workers).",
            args: vec![
                ("signatures", json!(signatures)),
                ("dropped", json!(dropped)),
                ("droppedSinceStart", json!(total)),
            ],
        }
    }

    /// The record as a Tracee finding: sigbox's own process as the context.
    pub fn to_json(&self) -> Json {
        let mut finding: Map<String, Json> = super::tracee_json::event_json(&own_event());
        let args: Vec<Json> = self
            .args
            .iter()
            .map(|(name, value)| json!({"name": name, "type": "interface{}", "value": value}))
            .collect();
        finding.insert("eventId".into(), json!(COVERAGE_EVENT_ID));
        finding.insert("eventName".into(), json!(self.event_name));
        finding.insert("argsNum".into(), json!(args.len()));
        finding.insert("args".into(), Json::Array(args));
        finding.insert(
            "metadata".into(),
            json!({
                "Version": "1",
                "Description": self.description,
                "Tags": ["sigbox", "coverage"],
                "Properties": {
                    "Severity": SEVERITY_HIGH,
                    "Category": "defense-evasion",
                    "signatureID": COVERAGE_ID,
                    "signatureName": "Detection coverage changed",
                },
            }),
        );
        Json::Object(finding)
    }

    /// The record as one text line (control characters escaped).
    pub fn to_text(&self) -> String {
        let mut line = format!(
            "{} {COVERAGE_ID} {} (severity {SEVERITY_HIGH}):",
            now_ns(),
            self.event_name
        );
        for (name, value) in &self.args {
            line.push_str(&format!(" {name}={value}"));
        }
        line
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// sigbox itself as the event context of a coverage record.
fn own_event() -> Event {
    let pid = std::process::id();
    let context = Context {
        timestamp_ns: now_ns(),
        pid,
        tid: pid,
        host_pid: pid,
        host_tid: pid,
        process_name: "sigbox".into(),
        host_name: host_name().into(),
        ..Context::default()
    };
    Event::named(context, "sigbox")
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_events_record_is_a_tracee_finding() {
        let json = CoverageRecord::events_lost("security_file_open", 3, 10).to_json();
        assert_eq!(json["eventName"], "sigbox_events_lost");
        assert_eq!(json["metadata"]["Properties"]["signatureID"], COVERAGE_ID);
        assert_eq!(json["metadata"]["Properties"]["Severity"], 3);
        assert_eq!(json["args"][0]["name"], "lost");
        assert_eq!(json["args"][0]["value"], 3);
        assert_eq!(json["args"][2]["value"], "security_file_open");
        assert_eq!(json["processName"], "sigbox");
        assert_eq!(json["hostProcessId"], std::process::id());
    }

    #[test]
    fn text_lines_hold_one_line() {
        let record = CoverageRecord {
            event_name: "sigbox_signature_update_rejected",
            description: "",
            args: vec![("reason", json!("bad\nsigbox: summary: forged"))],
        };
        assert!(!record.to_text().contains('\n'));
    }
}
