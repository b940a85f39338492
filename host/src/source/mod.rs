//! Event sources: Tracee JSON replay and the live eBPF collector.

pub(crate) mod bpf;
pub(crate) mod container_runtime;
mod json_tape;
mod line_pool;
pub mod process_tree;
pub(crate) mod replay;
pub(crate) mod tracee_check;
mod tracee_index;
pub(crate) mod tracee_json;

// What the benches and the fuzz crate use.
pub use bpf::{ExecCollector, check_privileges};
pub use container_runtime::{
    ContainerLookup, ContainerLookupOptions, DEFAULT_CONTAINER_CACHE, RuntimeApi, RuntimeSocketPath,
};
pub use replay::replay;
pub use tracee_json::parse_event;

/// Tracee v0.24.1 JSON lines the parser's and the check's tests read: the
/// packs' captures, the sample and TRC-1016's cases.
#[cfg(test)]
pub(crate) const TRACEE_FIXTURES: [&str; 5] = [
    include_str!("../../../tests/fixtures/exec-pack-cases.jsonl"),
    include_str!("../../../tests/fixtures/file-pack-cases.jsonl"),
    include_str!("../../../tests/fixtures/net-pack-cases.jsonl"),
    include_str!("../../../tests/fixtures/sample-events.jsonl"),
    include_str!("../../../tests/fixtures/trc-1016-cases.jsonl"),
];
