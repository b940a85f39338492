//! HOSTILE-UNREACHABLE: a test-only hostile signature that executes the wasm
//! `unreachable` instruction (a trap) inside `on_event`. It selects
//! `sched_process_exec`. Natively (never in tests) it panics instead.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The signature. It keeps no state.
pub struct HostileUnreachable;

/// Traps with `unreachable`.
#[cfg(target_arch = "wasm32")]
fn trap() -> ! {
    core::arch::wasm32::unreachable()
}

/// The native stand-in for the trap.
#[cfg(not(target_arch = "wasm32"))]
fn trap() -> ! {
    panic!("the wasm unreachable instruction (native stand-in)")
}

impl Signature for HostileUnreachable {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-UNREACHABLE".into(),
            version: "1".into(),
            name: "Executes unreachable (hostile test)".into(),
            event_name: "hostile_unreachable".into(),
            description:
                "Executes the wasm unreachable instruction on every event. For sandbox tests."
                    .into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(HostileUnreachable)
    }

    fn on_event(&mut self, _event: &Event) -> Result<Vec<Finding>, String> {
        trap()
    }
}

sigbox_sdk::export_signature!(HostileUnreachable);
