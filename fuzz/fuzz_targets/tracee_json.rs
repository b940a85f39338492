//! Replay's parser on any line; a line it accepts must also give a valid
//! one-line finding through the writer's raw-line fast path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigbox::wit::{Finding, Metadata, Properties};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(event) = sigbox::source::tracee_json::parse_event(line) {
        let metadata = Metadata {
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
        };
        sigbox_fuzz::check_finding_lines(
            metadata,
            Finding { data: Vec::new() },
            &event,
            Some(line),
        );
    }
});
