//! HOSTILE-SHADOW: a test-only hostile signature whose metadata tries to
//! shadow a key the host writes into every finding (`signatureID`), to pass
//! its findings off as TRC-1016's. The host must reject it at load.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The signature.
pub struct HostileShadow;

impl Signature for HostileShadow {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-SHADOW".into(),
            version: "1".into(),
            name: "Shadows host keys (hostile test)".into(),
            event_name: "hostile_shadow".into(),
            description: "Claims another signature's id. For sandbox tests.".into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties {
                extra: vec![Field {
                    name: "signatureID".into(),
                    value: Value::Text("TRC-1016".into()),
                }],
                ..Properties::none()
            },
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
        Ok(vec![Finding {
            data: vec![Field {
                name: "shadow".into(),
                value: Value::Boolean(true),
            }],
        }])
    }
}

sigbox_sdk::export_signature!(HostileShadow);
