//! hostile-meta-newline: a test-only hostile signature whose metadata has
//! an id with a newline and a fake summary line. The host must reject it at load with an escaped, bounded error.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The signature.
pub struct HostileMeta;

impl Signature for HostileMeta {
    fn metadata() -> Metadata {
        Metadata {
            id: "EVIL\nsigbox: summary: forged".into(),
            version: "1".into(),
            name: "Bad metadata (hostile test)".into(),
            event_name: "hostile_meta".into(),
            description: "Bad metadata. For sandbox tests.".into(),
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
        Ok(vec![])
    }
}

sigbox_sdk::export_signature!(HostileMeta);
