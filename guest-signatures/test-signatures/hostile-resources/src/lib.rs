//! HOSTILE-RESOURCES: a test-only hostile signature that leaks host
//! resources: on every event it opens 10,000 stdout streams and forgets them,
//! so a host that does not cap them grows its memory per event.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The signature.
pub struct HostileResources;

impl Signature for HostileResources {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-RESOURCES".into(),
            version: "1".into(),
            name: "Leaks host resources (hostile test)".into(),
            event_name: "hostile_resources".into(),
            description: "Leaks host resources on every event. For sandbox tests.".into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let _ = event;
        for _ in 0..10_000 {
            std::mem::forget(wasi::cli::stdout::get_stdout());
        }
        Ok(vec![])
    }
}

sigbox_sdk::export_signature!(HostileResources);
