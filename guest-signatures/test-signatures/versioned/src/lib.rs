//! TEST-VERSIONED: a test-only signature whose version is a build input, for
//! testing how the host handles two versions of one signature.
//!
//! The version is `SIGBOX_SIGNATURE_VERSION` at build time, `1` when unset or
//! empty (`build.sh` builds each version listed under
//! `[package.metadata.sigbox] versions` to
//! `target/signatures-test/versioned-v<version>.wasm`).
//!
//! It selects `sched_process_exec` and reports one finding for every event it
//! receives, whatever its name, with data `version` (text) and `seq` (the
//! event's `pid`, unsigned). Version `2` also adds `parity`: `odd` or `even`
//! for the pid.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The version this build was made as.
pub fn version() -> &'static str {
    option_env!("SIGBOX_SIGNATURE_VERSION")
        .filter(|version| !version.is_empty())
        .unwrap_or("1")
}

/// The signature. It keeps no state.
pub struct Versioned;

fn field(name: &str, value: Value) -> Field {
    Field {
        name: name.into(),
        value,
    }
}

/// The finding version `version` reports for an event with pid `pid`.
pub fn finding(version: &str, pid: u32) -> Finding {
    let mut data = vec![
        field("version", Value::Text(version.into())),
        field("seq", Value::Unsigned(pid.into())),
    ];
    if version == "2" {
        let parity = if pid.is_multiple_of(2) { "even" } else { "odd" };
        data.push(field("parity", Value::Text(parity.into())));
    }
    Finding { data }
}

impl Signature for Versioned {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-VERSIONED".into(),
            version: version().into(),
            name: "Versioned echo (test only)".into(),
            event_name: "versioned".into(),
            description: "Reports every event it receives with its build-time version. \
                For tests."
                .into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Versioned)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        Ok(vec![finding(version(), event.pid)])
    }
}

sigbox_sdk::export_signature!(Versioned);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_reports_version_and_seq() {
        assert_eq!(
            finding("1", 7),
            Finding {
                data: vec![
                    field("version", Value::Text("1".into())),
                    field("seq", Value::Unsigned(7)),
                ]
            }
        );
    }

    #[test]
    fn version_2_adds_parity() {
        assert_eq!(
            finding("2", 7).data,
            vec![
                field("version", Value::Text("2".into())),
                field("seq", Value::Unsigned(7)),
                field("parity", Value::Text("odd".into())),
            ]
        );
        assert_eq!(
            finding("2", 10).data[2],
            field("parity", Value::Text("even".into()))
        );
        assert_eq!(finding("3", 10).data.len(), 2);
    }

    #[test]
    fn metadata_version_is_the_build_version() {
        let expected = match option_env!("SIGBOX_SIGNATURE_VERSION") {
            Some(v) if !v.is_empty() => v,
            _ => "1",
        };
        assert_eq!(version(), expected);
        assert_eq!(Versioned::metadata().version, expected);
        assert_eq!(Versioned::metadata().id, "TEST-VERSIONED");
        assert_eq!(Versioned::selected_events()[0].name, "sched_process_exec");
    }

    #[test]
    fn every_event_gets_a_finding() {
        let mut signature = Versioned::new(&[]).unwrap();
        let mut event = sigbox_sdk::TestEvent::new("anything");
        event.context.pid = 3;
        let event = event.event();
        assert_eq!(signature.on_event(&event), Ok(vec![finding(version(), 3)]));
    }
}
