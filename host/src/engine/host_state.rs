//! Per-signature host state: what a guest's imports can reach.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::guest_output::{GuestOutput, LogBudget};
use super::limits::Limits;
use crate::event::Event;

/// The state behind one signature's store.
pub struct HostState {
    /// Where the signature's log lines, stdout and stderr go.
    pub(crate) output: Arc<LogBudget>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) store_limits: StoreLimits,
    /// Tells a busy call from a starved one at its deadline.
    pub(crate) watchdog: super::watchdog::Watchdog,
    /// The events of the batch being evaluated, for `read-field`; empty
    /// between calls.
    pub(crate) batch: Vec<Arc<Event>>,
}

impl HostState {
    /// State for a new instance. WASI is empty (see [`super::wasi`]): no
    /// preopened directories, no environment, no arguments, no sockets, no
    /// name lookup, empty stdin, no clock to wait on; stdout and stderr are
    /// forwarded to the log through `output`'s budget.
    pub fn new(output: Arc<LogBudget>, limits: &Limits) -> Self {
        let wasi = super::wasi::context(
            GuestOutput::new(output.clone(), "stdout"),
            GuestOutput::new(output.clone(), "stderr"),
        );
        let mut table = ResourceTable::new();
        table.set_max_capacity(super::wasi::MAX_HOST_RESOURCES);
        Self {
            output,
            wasi,
            table,
            store_limits: store_limits(limits),
            watchdog: super::watchdog::Watchdog::default(),
            batch: Vec::new(),
        }
    }
}

/// The store limits for `limits`.
pub(crate) fn store_limits(limits: &Limits) -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size(limits.memory_bytes)
        // A Rust guest is one component with a handful of core instances,
        // tables and one memory; the bounds leave room for that and stop a
        // module that would create many.
        .instances(16)
        .tables(16)
        .memories(2)
        .table_elements(100_000)
        .trap_on_grow_failure(true)
        .build()
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
