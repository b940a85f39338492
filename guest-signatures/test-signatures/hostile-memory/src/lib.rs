//! HOSTILE-MEMORY: a test-only hostile signature that grows its memory without
//! bound inside `on_event`, for the host's memory limit. It selects
//! `sched_process_exec`. On each event it keeps allocating 1 MiB blocks, writes
//! every byte of each and keeps them all (in the signature's state, which lives
//! as long as the instance), until the allocation fails and the module aborts.

use core::hint::black_box;
use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

/// The size of each block it allocates.
pub const BLOCK_BYTES: usize = 1 << 20;

/// The signature: every block it has allocated.
pub struct HostileMemory {
    hoard: Vec<Vec<u8>>,
}

/// One block of `bytes` bytes, every one of them written (so the memory is
/// really used, not just reserved).
pub fn block(bytes: usize, seed: usize) -> Vec<u8> {
    let mut block = vec![0u8; bytes];
    for (i, byte) in block.iter_mut().enumerate() {
        *byte = (i ^ seed) as u8 | 1;
    }
    black_box(block)
}

impl Signature for HostileMemory {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-MEMORY".into(),
            version: "1".into(),
            name: "Unbounded memory growth (hostile test)".into(),
            event_name: "hostile_memory".into(),
            description: "Allocates memory without bound on every event. For sandbox tests.".into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(HostileMemory { hoard: Vec::new() })
    }

    fn on_event(&mut self, _event: &Event) -> Result<Vec<Finding>, String> {
        loop {
            let next = block(BLOCK_BYTES, self.hoard.len());
            self.hoard.push(next);
            black_box(&mut self.hoard);
        }
    }
}

sigbox_sdk::export_signature!(HostileMemory);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_fully_written() {
        let b = block(4096, 3);
        assert_eq!(b.len(), 4096);
        assert!(b.iter().all(|&byte| byte != 0));
        assert_eq!(BLOCK_BYTES, 1024 * 1024);
    }
}
