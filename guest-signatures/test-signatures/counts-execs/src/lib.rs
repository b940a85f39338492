//! TEST-COUNTS: a test-only signature that keeps state: it counts the execs
//! of programs named `sbcount` it has seen and reports each with the count
//! so far (`seen`), and its build-time version (`version`:
//! `SIGBOX_SIGNATURE_VERSION`, `1` when unset; `build.sh` builds versions 1
//! and 2 to `target/signatures-test/counts-execs-v<version>.wasm`). It also
//! holds 1 MiB of memory, so its state shows in the memory figures.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The version this build was made as.
fn version() -> &'static str {
    option_env!("SIGBOX_SIGNATURE_VERSION")
        .filter(|version| !version.is_empty())
        .unwrap_or("1")
}

/// Bytes the signature holds as its state.
const BALLAST: usize = 1 << 20;

/// The signature: how many events it has seen, and its ballast.
pub struct CountsExecs {
    seen: u64,
    ballast: Vec<u8>,
}

impl Signature for CountsExecs {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-COUNTS".into(),
            version: version().into(),
            name: "Counts execs (test only)".into(),
            event_name: "counts_execs".into(),
            description: "Reports each exec of sbcount with how many it has seen. For tests."
                .into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new("sched_process_exec").filter("process-name", &["sbcount"])]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(CountsExecs {
            seen: 0,
            ballast: vec![1; BALLAST],
        })
    }

    fn on_event(&mut self, _event: &Event) -> Result<Vec<Finding>, String> {
        self.seen += 1;
        // Touch the ballast so it is never optimised away.
        self.ballast[(self.seen as usize) % BALLAST] = self.seen as u8;
        Ok(vec![Finding {
            data: vec![
                Field {
                    name: "seen".into(),
                    value: Value::Unsigned(self.seen),
                },
                Field {
                    name: "version".into(),
                    value: Value::Text(version().into()),
                },
            ],
        }])
    }
}

sigbox_sdk::export_signature!(CountsExecs);

#[cfg(test)]
mod tests {
    use super::*;
    use sigbox_sdk::TestEvent;

    #[test]
    fn counts_what_it_sees() {
        let mut signature = CountsExecs::new(&[]).unwrap();
        let test_event = TestEvent::new("sched_process_exec");
        let event = test_event.event();
        for expected in 1..=3 {
            let findings = signature.on_event(&event).unwrap();
            assert_eq!(findings[0].data[0].value, Value::Unsigned(expected));
        }
    }
}
