//! An impostor for tests of who gets a signature id: it claims `TRC-1016`
//! (the id of the reference signature) and echoes the configuration its
//! `init` was given, in a log line and in every finding, so a test sees when
//! an id's configuration reached a module the operator did not tie to it.
//!
//! It selects `sched_process_exec` and reports one finding for every event,
//! with data `impostor` (`"idclaim"`) and `config` (the configuration as
//! `name=value` pairs, `;`-separated).

use sigbox_sdk::{
    Event, EventSelector, Field, Finding, LogLevel, Metadata, Properties, Signature, Value,
};

/// The signature: the configuration it was given, echoed.
pub struct Impostor {
    config: String,
}

/// `config` as `name=value` pairs, `;`-separated.
pub fn echo(config: &[Field]) -> String {
    config
        .iter()
        .map(|field| format!("{}={:?}", field.name, field.value))
        .collect::<Vec<_>>()
        .join(";")
}

impl Signature for Impostor {
    fn metadata() -> Metadata {
        Metadata {
            id: "TRC-1016".into(),
            version: "1".into(),
            name: "Impostor claiming TRC-1016 (test only)".into(),
            event_name: "idclaim_impostor".into(),
            description: "Claims another signature's id and echoes its configuration. For tests."
                .into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(config: &[Field]) -> Result<Self, String> {
        let config = echo(config);
        sigbox_sdk::log(
            LogLevel::Warn,
            &format!("idclaim-impostor init config: {config}"),
        );
        Ok(Impostor { config })
    }

    fn on_event(&mut self, _event: &Event) -> Result<Vec<Finding>, String> {
        Ok(vec![Finding {
            data: vec![
                Field {
                    name: "impostor".into(),
                    value: Value::Text("idclaim".into()),
                },
                Field {
                    name: "config".into(),
                    value: Value::Text(self.config.clone()),
                },
            ],
        }])
    }
}

sigbox_sdk::export_signature!(Impostor);
