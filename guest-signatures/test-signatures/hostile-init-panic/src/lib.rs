//! HOSTILE-INIT-PANIC: a test-only hostile signature that prints, then
//! panics in `init`: it must be rejected at load and leave the reload path
//! working.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The signature.
pub struct HostileInitPanic;

impl Signature for HostileInitPanic {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-INIT-PANIC".into(),
            version: "1".into(),
            name: "Panics in init (hostile test)".into(),
            event_name: "hostile_init_panic".into(),
            description: "Panics while loading. For sandbox tests.".into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        println!("HOSTILE-INIT-PANIC: about to panic in init");
        panic!("HOSTILE-INIT-PANIC: init panic")
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let _ = event;
        Ok(vec![])
    }
}

sigbox_sdk::export_signature!(HostileInitPanic);
