//! HOSTILE-LOOP: a test-only hostile signature that spins forever inside
//! `on_event`, for the host's CPU limit. It selects `sched_process_exec`.

use core::hint::black_box;
use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The signature. It keeps no state.
pub struct HostileLoop;

/// Never returns: counts forever (`black_box` keeps the loop from being
/// optimised away).
fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

impl Signature for HostileLoop {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-LOOP".into(),
            version: "1".into(),
            name: "Infinite loop (hostile test)".into(),
            event_name: "hostile_loop".into(),
            description: "Spins forever on every event. For sandbox tests.".into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(HostileLoop)
    }

    fn on_event(&mut self, _event: &Event) -> Result<Vec<Finding>, String> {
        spin()
    }
}

sigbox_sdk::export_signature!(HostileLoop);
