//! HOSTILE-PANIC: a test-only hostile signature that panics inside `on_event`
//! (with `panic = "abort"`, the panic message goes to stderr and the module
//! traps). It selects `sched_process_exec`.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The signature. It keeps no state.
pub struct HostilePanic;

/// The panic message for an event with host pid `pid`.
pub fn message(pid: u32) -> String {
    format!("HOSTILE-PANIC: deliberate panic on the event of pid {pid}")
}

impl Signature for HostilePanic {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-PANIC".into(),
            version: "1".into(),
            name: "Panics (hostile test)".into(),
            event_name: "hostile_panic".into(),
            description: "Panics on every event. For sandbox tests.".into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(HostilePanic)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        panic!("{}", message(event.host_pid))
    }
}

sigbox_sdk::export_signature!(HostilePanic);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_the_pid() {
        assert_eq!(
            message(12),
            "HOSTILE-PANIC: deliberate panic on the event of pid 12"
        );
    }
}
