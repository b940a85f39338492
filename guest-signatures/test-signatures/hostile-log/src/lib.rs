//! HOSTILE-LOG: a test-only hostile signature that floods every output it has,
//! for the host's log rate limiting and its handling of stdout/stderr. It
//! selects `sched_process_exec`.
//!
//! On each event it calls `sigbox_sdk::log` [`LOG_CALLS`] times with a
//! [`LOG_MESSAGE_BYTES`]-byte message, then prints [`PRINT_LINES`] lines to
//! stdout (`println!`) and as many to stderr (`eprintln!`), and returns no
//! finding.

use sigbox_sdk::{Event, EventSelector, Field, Finding, LogLevel, Metadata, Properties, Signature};

/// `log` calls per event.
pub const LOG_CALLS: usize = 100_000;
/// The size of each logged message, in bytes.
pub const LOG_MESSAGE_BYTES: usize = 1024;
/// Lines printed to stdout, and again to stderr, per event.
pub const PRINT_LINES: usize = 10_000;

/// The signature. It keeps no state.
pub struct HostileLog;

/// Message `i`: its number, then padding to exactly `bytes` bytes (ASCII).
pub fn message(i: usize, bytes: usize) -> String {
    let mut message = format!("HOSTILE-LOG message {i} ");
    let pad = bytes.saturating_sub(message.len());
    message.extend(std::iter::repeat_n('.', pad));
    message.truncate(bytes);
    message
}

impl Signature for HostileLog {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-LOG".into(),
            version: "1".into(),
            name: "Log flood (hostile test)".into(),
            event_name: "hostile_log".into(),
            description: "Floods the log, stdout and stderr on every event. For sandbox tests."
                .into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(HostileLog)
    }

    fn on_event(&mut self, _event: &Event) -> Result<Vec<Finding>, String> {
        for i in 0..LOG_CALLS {
            sigbox_sdk::log(LogLevel::Warn, &message(i, LOG_MESSAGE_BYTES));
        }
        for i in 0..PRINT_LINES {
            println!("HOSTILE-LOG stdout line {i}");
            eprintln!("HOSTILE-LOG stderr line {i}");
        }
        Ok(vec![])
    }
}

sigbox_sdk::export_signature!(HostileLog);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_the_exact_size() {
        for i in [0, 7, 99_999] {
            let m = message(i, LOG_MESSAGE_BYTES);
            assert_eq!(m.len(), 1024);
            assert!(m.starts_with(&format!("HOSTILE-LOG message {i} ")));
        }
        assert_eq!(message(12345, 5), "HOSTI");
    }
}
