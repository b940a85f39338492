//! HOSTILE-INIT-FAILS: a test-only hostile signature whose `init` fails with
//! "refusing to start: test", so it never loads. It selects
//! `sched_process_exec` (and would report nothing).

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The error `init` returns.
pub const INIT_ERROR: &str = "refusing to start: test";

/// The signature. It is never created.
pub struct HostileInitFails;

impl Signature for HostileInitFails {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-INIT-FAILS".into(),
            version: "1".into(),
            name: "Init fails (hostile test)".into(),
            event_name: "hostile_init_fails".into(),
            description: "Refuses to initialise. For sandbox tests.".into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Err(INIT_ERROR.into())
    }

    fn on_event(&mut self, _event: &Event) -> Result<Vec<Finding>, String> {
        Ok(vec![])
    }
}

sigbox_sdk::export_signature!(HostileInitFails);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_fails() {
        assert_eq!(
            HostileInitFails::new(&[]).err().as_deref(),
            Some("refusing to start: test")
        );
        let instance = sigbox_sdk::Instance::<HostileInitFails>::new();
        assert_eq!(instance.init(&[]), Err(INIT_ERROR.to_string()));
        assert_eq!(HostileInitFails::metadata().id, "HOSTILE-INIT-FAILS");
    }
}
