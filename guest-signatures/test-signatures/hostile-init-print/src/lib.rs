//! HOSTILE-INIT-PRINT: a test-only signature that prints to stdout and
//! stderr while loading (`init`) and on every event, then reports
//! `printed=true`. Printing must never harm the host.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The signature.
pub struct HostileInitPrint;

impl Signature for HostileInitPrint {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-INIT-PRINT".into(),
            version: "1".into(),
            name: "Prints (hostile test)".into(),
            event_name: "hostile_init_print".into(),
            description: "Prints in init and on every event. For sandbox tests.".into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        println!("HOSTILE-INIT-PRINT: hello from init on stdout");
        eprintln!("HOSTILE-INIT-PRINT: hello from init on stderr");
        Ok(Self)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let _ = event;
        println!("HOSTILE-INIT-PRINT: event of pid {}", event.host_pid);
        eprintln!("HOSTILE-INIT-PRINT: event of pid {}", event.host_pid);
        Ok(vec![Finding {
            data: vec![Field {
                name: "printed".into(),
                value: Value::Boolean(true),
            }],
        }])
    }
}

sigbox_sdk::export_signature!(HostileInitPrint);
