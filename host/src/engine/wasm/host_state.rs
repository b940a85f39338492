//! Per-signature host state: what a guest's imports can reach.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
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
    pub(crate) limiter: Limiter,
    /// Tells a busy call from a starved one at its deadline.
    pub(crate) watchdog: super::watchdog::Watchdog,
    /// The events of the batch being evaluated, for `read-field` and
    /// `ancestors`; empty between calls.
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
            limiter: Limiter::new(limits),
            watchdog: super::watchdog::Watchdog::default(),
            batch: Vec::new(),
        }
    }
}

/// A store's resource limits, and how much linear memory it holds: the
/// signature's state, shown per signature in `sigbox status` and the
/// metrics. Growth is the only way memory changes (wasm never shrinks it),
/// so counting what the limits allow is exact.
pub(crate) struct Limiter {
    limits: StoreLimits,
    memory_bytes: u64,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            limits: store_limits(limits),
            memory_bytes: 0,
        }
    }

    /// New limits for the memory already held (a policy change).
    pub(crate) fn set_limits(&mut self, limits: &Limits) {
        self.limits = store_limits(limits);
    }

    /// Bytes of linear memory the store's instances hold.
    pub(crate) fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory_bytes += desired.saturating_sub(current) as u64;
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// The store limits for `limits`.
fn store_limits(limits: &Limits) -> StoreLimits {
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
