//! Event sources: Tracee JSON replay and the live eBPF collector.

pub(crate) mod bpf;
mod line_pool;
pub(crate) mod replay;
pub(crate) mod tracee_check;
pub(crate) mod tracee_json;

// What the benches and the fuzz crate use.
pub use bpf::{ExecCollector, check_privileges};
pub use replay::replay;
pub use tracee_json::parse_event;
