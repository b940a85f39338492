//! TEST-READS-ALL: a test-only signature that declares every exec field and
//! reads each value on every event (no host-side filter), finding only execs
//! of `nc`. It measures the cost of the widest projection (`make bench`).

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// Every field a `sched_process_exec` event has (see `wit/signature.wit`).
pub const FIELDS: [&str; 19] = [
    "event-name",
    "process-name",
    "executable-path",
    "host-name",
    "container-id",
    "pathname",
    "cmdpath",
    "argv",
    "argv_truncated",
    "interpreter_pathname",
    "prev_comm",
    "dev",
    "inode",
    "ctime",
    "inode_mode",
    "stdin_type",
    "stdin_path",
    "pwd",
    "invoked_from_kernel",
];

/// The signature. It keeps no state.
pub struct ReadsAll;

impl Signature for ReadsAll {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-READS-ALL".into(),
            version: "1".into(),
            name: "Reads every exec field (test only)".into(),
            event_name: "reads_all".into(),
            description: "Reads every field of every exec; finds execs of nc. For benchmarks."
                .into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new("sched_process_exec").reading(&FIELDS)]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        // Touch every value so none is optimised away.
        let mut weight = 0usize;
        for field in FIELDS {
            weight += match event.get(field) {
                Some(Value::Text(s)) => s.len(),
                Some(Value::TextList(items)) => items.iter().map(String::len).sum(),
                Some(Value::Unsigned(n)) => *n as usize & 1,
                Some(_) => 1,
                None => return Err(format!("field {field} missing")),
            };
        }
        std::hint::black_box(weight);
        if event.text("process-name")? == "nc" {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

sigbox_sdk::export_signature!(ReadsAll);
