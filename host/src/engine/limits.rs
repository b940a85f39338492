//! Resource limits applied to every signature.

use std::time::Duration;

use super::runtime::EPOCH_TICK;

/// What one signature may consume. The defaults suit detections that look at
/// one event at a time and keep little state.
#[derive(Debug, Clone)]
pub struct Limits {
    /// CPU time one guest call may take before it traps.
    pub cpu_per_event: Duration,
    /// Linear memory one signature instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wasm call stack, in bytes.
    pub wasm_stack_bytes: usize,
    /// Findings one event may produce; more is treated as an error.
    pub findings_per_event: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu_per_event: Duration::from_millis(10),
            memory_bytes: 64 << 20,
            wasm_stack_bytes: 512 << 10,
            findings_per_event: 64,
        }
    }
}

impl Limits {
    /// The CPU limit as a number of epoch ticks (at least one).
    pub fn cpu_ticks(&self) -> u64 {
        let ticks = self.cpu_per_event.as_nanos() / EPOCH_TICK.as_nanos();
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}
