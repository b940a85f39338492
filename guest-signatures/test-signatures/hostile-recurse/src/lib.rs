//! HOSTILE-RECURSE: a test-only hostile signature that recurses without bound
//! inside `on_event`, overflowing the stack. It selects `sched_process_exec`.
//! Each frame keeps a buffer in memory and uses the callee's result after the
//! call (no tail call), behind `black_box`, so it is not turned into a loop.

use core::hint::black_box;
use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The signature. It keeps no state.
pub struct HostileRecurse;

/// Recurses until the stack overflows: the stop condition never holds (but the
/// compiler cannot know that).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth as u8; 64];
    black_box(&mut frame);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    let below = recurse(black_box(depth + 1));
    black_box(below).wrapping_add(u64::from(frame[depth as usize % 64]))
}

impl Signature for HostileRecurse {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-RECURSE".into(),
            version: "1".into(),
            name: "Unbounded recursion (hostile test)".into(),
            event_name: "hostile_recurse".into(),
            description: "Recurses until the stack overflows on every event. For sandbox tests."
                .into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(HostileRecurse)
    }

    fn on_event(&mut self, _event: &Event) -> Result<Vec<Finding>, String> {
        let depth = recurse(0);
        Err(format!("recursion unexpectedly returned {depth}"))
    }
}

sigbox_sdk::export_signature!(HostileRecurse);
