//! TEST-BENCH-OPEN: a test-only signature for the file-events benchmark
//! (`host/benches/file_events.rs`). It selects opens of one exact path,
//! [`WATCHED`], so the kernel drops every other open, and like Tracee's
//! write-open signatures (TRC-1031) it reads `flags` and fires only on a
//! write. The benchmark opens the path read-only: each open reaches this one
//! guest and costs a call, but writes no finding.

use sigbox_sdk::{
    Event, EventSelector, Field, Finding, Metadata, Properties, Signature, is_file_write,
};

/// The only file whose opens it selects.
pub const WATCHED: &str = "/tmp/sigbox-bench-open/watched";

/// The signature. It keeps no state.
pub struct BenchOpen;

/// One finding for a write-open, none otherwise.
fn findings_for(flags: i64) -> Vec<Finding> {
    if is_file_write(flags) {
        vec![Finding { data: vec![] }]
    } else {
        vec![]
    }
}

impl Signature for BenchOpen {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-BENCH-OPEN".into(),
            version: "1".into(),
            name: "Write-opens of the benchmark's watched file (test only)".into(),
            event_name: "bench_open".into(),
            description: "Reports write-opens of one path. For benchmarks.".into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![
            EventSelector::new("security_file_open")
                .reading(&["flags"])
                .filter("pathname", &[WATCHED]),
        ]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(BenchOpen)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        Ok(findings_for(event.int("flags")?))
    }
}

sigbox_sdk::export_signature!(BenchOpen);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_write_open_fires() {
        assert!(findings_for(0o0).is_empty(), "O_RDONLY");
        assert_eq!(findings_for(0o1).len(), 1, "O_WRONLY");
        assert_eq!(findings_for(0o2).len(), 1, "O_RDWR");
    }
}
