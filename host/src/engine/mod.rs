//! The wasmtime runtime: loads signature components, keeps the running set
//! in step with the signatures directory, and dispatches events to them.

mod admit;
pub(crate) mod bindings;
mod cache;
mod catalog;
pub(crate) mod compiler;
pub(crate) mod contract;
pub(crate) mod epoch;
mod error;
mod finding_ids;
pub(crate) mod guest_output;
pub(crate) mod guest_values;
mod host_api;
mod host_state;
mod id_claims;
mod limits;
mod load_pool;
mod model;
pub(crate) mod module_file;
pub(crate) mod pull_refusal;
mod runtime;
mod scan_health;
mod selector;
mod set;
mod signature;
mod stop;
mod wasi;
mod watchdog;
mod watcher;

// What the binary, the benches and the fuzz crate use.
pub use compiler::{WORKER_COMMAND, run_worker};
pub use contract::ContractVersion;
pub use guest_values::{check_finding, check_metadata, finding_bytes};
pub use limits::Limits;
pub use model::{EventSelector, FieldFilter, Finding, Metadata, OriginFilter, Properties};
pub use runtime::{Runtime, RuntimeOptions};
pub use set::{Change, Detection, SignatureSet};
pub use signature::{LoadedSignature, MAX_BATCH, SignatureInfo};

pub(crate) use admit::admit;
pub(crate) use catalog::{Catalog, wasm_files};
pub(crate) use error::LoadError;
pub(crate) use limits::Policy;
pub(crate) use model::Signal;
pub(crate) use scan_health::ScanHealth;
pub(crate) use set::{
    Applied, Counters, CoverageChange, ErrorReport, Failure, Notice, SignatureStats,
    SignatureStatus, unix_ms,
};
pub(crate) use stop::StopSignal;
pub(crate) use watcher::{Startup, log_rejections, spawn as spawn_watcher};
