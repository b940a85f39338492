//! TEST-EXEC-ARGS: a test-only signature that reads `pathname` and `argv`
//! as Tracee's signatures do (`GetStringArgumentByName` and friends): a
//! missing argument is its error, naming it; present ones, even empty, give
//! a finding echoing them (`pathname` and `argc`).

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The signature. It keeps no state.
pub struct ExecArgs;

impl Signature for ExecArgs {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-EXEC-ARGS".into(),
            version: "1".into(),
            name: "Echo pathname and argv (test only)".into(),
            event_name: "exec_args".into(),
            description: "Reports pathname and argv of every exec; errors when one is missing."
                .into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new("sched_process_exec").reading(&["pathname", "argv"])]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let pathname = event.text("pathname")?;
        let argv = event.texts("argv")?;
        Ok(vec![Finding {
            data: vec![
                Field {
                    name: "pathname".into(),
                    value: Value::Text(pathname.into()),
                },
                Field {
                    name: "argc".into(),
                    value: Value::Unsigned(argv.len() as u64),
                },
            ],
        }])
    }
}

sigbox_sdk::export_signature!(ExecArgs);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::TestEvent;

    #[test]
    fn a_missing_argument_is_an_error_naming_it() {
        let event = TestEvent::new("sched_process_exec")
            .text("pathname", "/bin/true")
            .with("argv", Value::None);
        let error = ExecArgs.on_event(&event.event()).unwrap_err();
        assert!(error.contains("argument argv is missing"), "{error}");
    }

    #[test]
    fn empty_arguments_are_values() {
        let event = TestEvent::new("sched_process_exec")
            .text("pathname", "")
            .with("argv", Value::TextList(vec![]));
        let findings = ExecArgs.on_event(&event.event()).unwrap();
        assert_eq!(findings[0].data[0].value, Value::Text(String::new()));
    }
}
