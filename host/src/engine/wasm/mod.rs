//! wasmtime and the sandbox every signature runs in: the shared engine and
//! its compile cache and worker, CPU and memory limits, the WASI and host
//! imports a guest gets, and the contract's bindings and conversions.

pub(crate) mod bindings;
pub(super) mod cache;
pub(crate) mod compiler;
pub(crate) mod contract;
pub(crate) mod epoch;
pub(crate) mod guest_output;
pub(crate) mod guest_values;
pub(super) mod host_api;
pub(super) mod host_state;
pub(super) mod limits;
pub(crate) mod model;
pub(crate) mod projected;
pub(super) mod runtime;
pub(super) mod wasi;
pub(super) mod watchdog;
