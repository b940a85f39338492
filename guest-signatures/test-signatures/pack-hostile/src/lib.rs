//! A test pack of three detectors: PACK-FIND-1 and PACK-FIND-2 report every
//! exec of a program named `packmark` (each under its own id, the second
//! also reading `pwd`, so the pack's field table is a union), and
//! PACK-HOSTILE reports it too but traps (panics) on every exec of a
//! program named `packtrap`. Drives the pack tests: findings per detector,
//! a fault attributed to the hostile detector alone.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// Reports `packmark`; detector `N` of the pack.
pub struct Finder<const N: u8>;

/// Reports `packmark`, traps on `packtrap`.
pub struct Hostile;

fn metadata(id: &str) -> Metadata {
    Metadata {
        id: id.into(),
        version: "1".into(),
        name: format!("{id} (test pack)"),
        event_name: "pack_marker".into(),
        description: "Reports execs of packmark. For pack tests.".into(),
        tags: vec!["test".into()],
        properties: Properties::none(),
    }
}

/// A finding naming the detector that made it.
fn found(detector: &str) -> Vec<Finding> {
    vec![Finding {
        data: vec![Field {
            name: "detector".into(),
            value: Value::Text(detector.into()),
        }],
    }]
}

impl<const N: u8> Signature for Finder<N> {
    fn metadata() -> Metadata {
        metadata(&format!("PACK-FIND-{N}"))
    }

    fn selected_events() -> Vec<EventSelector> {
        let fields: &[&str] = if N == 2 {
            &["pwd", "process-name"]
        } else {
            &["process-name"]
        };
        vec![EventSelector::new("sched_process_exec").reading(fields)]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        if event.text("process-name")? != "packmark" {
            return Ok(vec![]);
        }
        if N == 2 {
            // Declared by this detector only: it is in the pack's table.
            event.get("pwd").ok_or("pwd was not sent")?;
        }
        Ok(found(&format!("PACK-FIND-{N}")))
    }
}

impl Signature for Hostile {
    fn metadata() -> Metadata {
        metadata("PACK-HOSTILE")
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new("sched_process_exec").reading(&["process-name"])]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        match event.text("process-name")? {
            "packtrap" => panic!("PACK-HOSTILE: trapping on pid {}", event.host_pid),
            "packmark" => Ok(found("PACK-HOSTILE")),
            _ => Ok(vec![]),
        }
    }
}

sigbox_pack::export_pack!(Finder<1>, Hostile, Finder<2>);
