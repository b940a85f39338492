//! HOSTILE-SLEEP: a test-only hostile signature that tries to stall the host
//! by waiting: on every event it sleeps for an hour (through the monotonic
//! clock's pollable) and, with `mode = "never"` in its config, for
//! `Duration::MAX`, which an unguarded host would turn into a wait that never
//! ends. If the call ever returns it reports `woke=true`.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The signature.
pub struct HostileSleep {
    /// Sleep for `Duration::MAX` instead of an hour.
    never: bool,
}

impl Signature for HostileSleep {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-SLEEP".into(),
            version: "1".into(),
            name: "Sleeps (hostile test)".into(),
            event_name: "hostile_sleep".into(),
            description: "Sleeps on every event. For sandbox tests.".into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        let never = _config
            .iter()
            .any(|f| f.name == "mode" && f.value == Value::Text("never".into()));
        Ok(Self { never })
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let _ = event;
        let duration = if self.never {
            std::time::Duration::MAX
        } else {
            std::time::Duration::from_secs(3600)
        };
        std::thread::sleep(duration);
        Ok(vec![Finding {
            data: vec![Field {
                name: "woke".into(),
                value: Value::Boolean(true),
            }],
        }])
    }
}

sigbox_sdk::export_signature!(HostileSleep);
