//! A rival of a pack's detector, for tests of id claims: it claims
//! `PACK-FIND-2`, the id of `pack-hostile`'s third detector. A pack's
//! detector ids are never shared with another file, so the host must run
//! either the pack or this module, never both under one id.
//!
//! It selects `sched_process_exec` and reports one finding for every event,
//! with data `rival` (`"pack-find-2"`).

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The signature. It keeps no state.
pub struct PackRival;

impl Signature for PackRival {
    fn metadata() -> Metadata {
        Metadata {
            id: "PACK-FIND-2".into(),
            version: "1".into(),
            name: "Rival of a pack's detector (test only)".into(),
            event_name: "idclaim_pack_rival".into(),
            description: "Claims the id of a pack's detector. For tests.".into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(PackRival)
    }

    fn on_event(&mut self, _event: &Event) -> Result<Vec<Finding>, String> {
        Ok(vec![Finding {
            data: vec![Field {
                name: "rival".into(),
                value: Value::Text("pack-find-2".into()),
            }],
        }])
    }
}

sigbox_sdk::export_signature!(PackRival);
