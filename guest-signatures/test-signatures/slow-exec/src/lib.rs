//! TEST-SLOW-EXEC: a test-only signature that burns CPU on every exec
//! (without finding anything), so tests can make a dispatch worker fall
//! behind. The work per event is `spin` iterations (configuration, default
//! 20 million: tens of milliseconds), so run it with a CPU limit to match.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// Iterations per event unless configured.
const DEFAULT_SPIN: u64 = 20_000_000;

/// The signature: how much to spin per event.
pub struct SlowExec {
    spin: u64,
}

impl Signature for SlowExec {
    fn metadata() -> Metadata {
        Metadata {
            id: "TEST-SLOW-EXEC".into(),
            version: "1".into(),
            name: "Slow on every exec (test only)".into(),
            event_name: "slow_exec".into(),
            description: "Burns CPU on every exec and finds nothing. For tests.".into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new("sched_process_exec")]
    }

    fn new(config: &[Field]) -> Result<Self, String> {
        let spin = match config.iter().find(|f| f.name == "spin").map(|f| &f.value) {
            None => DEFAULT_SPIN,
            Some(Value::Signed(n)) if *n >= 0 => *n as u64,
            Some(Value::Unsigned(n)) => *n,
            Some(other) => return Err(format!("spin must be a count, not {other:?}")),
        };
        Ok(Self { spin })
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let mut x = u64::from(event.pid);
        for i in 0..self.spin {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        std::hint::black_box(x);
        Ok(vec![])
    }
}

sigbox_sdk::export_signature!(SlowExec);
