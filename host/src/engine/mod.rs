//! The wasmtime runtime: loads signature components, keeps the running set
//! in step with the signatures directory, and dispatches events to them.
//!
//! - `wasm/`: wasmtime and the sandbox (engine, compile cache, limits, host
//!   imports, the contract's bindings and conversions);
//! - `signature/`: one signature (module file, loading, selectors, errors);
//! - `set/`: the running set and the dispatch of events to it;
//! - `reload/`: the signatures directory, scanned and watched, and the
//!   checks before a module runs.

mod reload;
mod set;
mod signature;
mod wasm;

// Modules the rest of the crate names by path (the contract's, only the
// live source's tests of the 0.1 record).
pub(crate) use reload::pull_refusal;
pub(crate) use wasm::model;
#[cfg(test)]
pub(crate) use wasm::{bindings, contract};

// What the binary, the benches and the fuzz crate use.
pub use set::signature_set::{Change, Detection, SignatureSet};
pub use signature::loaded::{LoadedSignature, MAX_BATCH, SignatureInfo};
pub use wasm::compiler::{WORKER_COMMAND, run_worker};
pub use wasm::contract::ContractVersion;
pub use wasm::guest_values::{check_finding, check_metadata, finding_bytes};
pub use wasm::limits::Limits;
pub use wasm::model::{
    Access, EventSelector, FieldFilter, FilterTest, Finding, Metadata, OriginFilter, Properties,
};
pub use wasm::runtime::{Runtime, RuntimeOptions};

pub(crate) use reload::admit::admit;
pub(crate) use reload::catalog::{Catalog, wasm_files};
pub(crate) use reload::scan_health::ScanHealth;
pub(crate) use reload::watcher::{Startup, log_rejections, spawn as spawn_watcher};
pub(crate) use set::signature_set::{
    Applied, Counters, CoverageChange, ErrorReport, Failure, Notice, SignatureStats,
    SignatureStatus, statuses_of, unix_ms,
};
pub(crate) use set::stop::StopSignal;
pub(crate) use signature::error::LoadError;
pub(crate) use signature::selector::Selector;
pub(crate) use wasm::limits::Policy;
pub(crate) use wasm::model::Signal;
