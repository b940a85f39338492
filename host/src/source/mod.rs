//! Event sources: Tracee JSON replay and the live eBPF collector.

pub mod bpf;
pub mod replay;
pub mod tracee_json;
