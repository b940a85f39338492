//! Per-signature host state: what a guest's imports can reach.

use wasmtime::StoreLimits;
use wasmtime::StoreLimitsBuilder;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limits::Limits;

/// The state behind one signature's store.
pub struct HostState {
    /// The signature id (or file name until the id is known), for log lines.
    pub(crate) log_tag: String,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) store_limits: StoreLimits,
}

impl HostState {
    /// State for a new instance. WASI is empty: `WasiCtxBuilder::new()` gives no
    /// preopened directories, no environment, no arguments, no network access
    /// (sockets are denied unless `inherit_network` is called), empty stdin and
    /// discarded stdout/stderr.
    pub fn new(log_tag: String, limits: &Limits) -> Self {
        Self {
            log_tag,
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            store_limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(8)
                .tables(8)
                .memories(4)
                .trap_on_grow_failure(true)
                .build(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
