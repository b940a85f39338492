//! HOSTILE-METADATA-HANG: a test-only hostile signature whose
//! `get-metadata` never returns: the host's load budget must reject it.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The signature.
pub struct HostileMetadataHang;

impl Signature for HostileMetadataHang {
    fn metadata() -> Metadata {
        let mut spins: u64 = 0;
        while std::hint::black_box(true) {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        Metadata {
            id: "HOSTILE-METADATA-HANG".into(),
            version: "1".into(),
            name: "Hangs while loading (hostile test)".into(),
            event_name: "hostile_metadata_hang".into(),
            description: "Never returns its metadata. For sandbox tests.".into(),
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

sigbox_sdk::export_signature!(HostileMetadataHang);
