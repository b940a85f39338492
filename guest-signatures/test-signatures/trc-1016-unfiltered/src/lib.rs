//! TEST-TRC-1016-UNFILTERED: TRC-1016's logic without host-side filters, so
//! every exec enters the sandbox: a stand-in for the many detections that
//! cannot be expressed as name lists (`make bench`, "100 signatures").

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

const SHELL_NAMES: [&str; 8] = ["ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash"];
const WEB_SERVER_NAMES: [&str; 7] = [
    "nginx",
    "httpd",
    "httpd-foregroun",
    "http-nio",
    "lighttpd",
    "apache",
    "apache2",
];

/// The signature. It keeps no state.
pub struct Unfiltered;

impl Signature for Unfiltered {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-TRC-1016-UNFILTERED".into(),
            version: "1".into(),
            name: "Web server spawned a shell, unfiltered (test only)".into(),
            event_name: "illegitimate_shell".into(),
            description: "TRC-1016 without host-side filters. For benchmarks.".into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new("sched_process_exec").reading(&["prev_comm", "process-name"])]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let prev_comm = event.text("prev_comm")?;
        if WEB_SERVER_NAMES.contains(&prev_comm)
            && SHELL_NAMES.contains(&event.text("process-name")?)
        {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

sigbox_sdk::export_signature!(Unfiltered);
