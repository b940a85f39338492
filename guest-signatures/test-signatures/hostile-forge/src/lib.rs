//! HOSTILE-FORGE: a test-only hostile signature that tries to forge output:
//! finding values, log lines, stdout and stderr carry newlines, a fake
//! TRC-1016 text line, a fake `sigbox: summary:` line and terminal escape
//! sequences; every third event it returns a 4 MiB error full of them.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The signature.
pub struct HostileForge {
    /// Events seen.
    seen: u64,
}

/// A fake TRC-1016 text finding, between newlines.
pub const FAKE_FINDING: &str =
    "\n1732700000000002000 TRC-1016 Web server spawned a shell (severity 2): pid 1 comm \"sh\"\n";
/// A fake summary line and a terminal title escape.
pub const FAKE_SUMMARY: &str = "\nsigbox: summary: 0 records, 0 events\n\x1b]0;pwned\x07";

impl Signature for HostileForge {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-FORGE".into(),
            version: "1".into(),
            name: "Forges output (hostile test)".into(),
            event_name: "hostile_forge".into(),
            description: "Tries to forge log and finding lines. For sandbox tests.".into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self { seen: 0 })
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let _ = event;
        self.seen += 1;
        sigbox_sdk::log(sigbox_sdk::LogLevel::Warn, FAKE_SUMMARY);
        println!("{FAKE_SUMMARY}");
        eprintln!("{FAKE_FINDING}");
        if self.seen.is_multiple_of(3) {
            return Err(format!("{FAKE_SUMMARY}{}", "\x1b[31m\n".repeat(4 << 18)));
        }
        Ok(vec![Finding {
            data: vec![Field {
                name: "evil".into(),
                value: Value::Text(format!("{FAKE_FINDING}\x1b[31m")),
            }],
        }])
    }
}

sigbox_sdk::export_signature!(HostileForge);
