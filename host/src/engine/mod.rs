//! The wasmtime runtime: loads signature components, keeps the running set
//! in step with the signatures directory, and dispatches events to them.

mod admit;
pub mod bindings;
mod cache;
mod catalog;
pub mod compiler;
pub mod contract;
pub mod epoch;
mod error;
mod finding_ids;
pub mod guest_output;
pub mod guest_values;
mod host_api;
mod host_state;
mod id_claims;
mod limits;
mod load_pool;
mod model;
pub mod module_file;
pub mod pull_refusal;
mod runtime;
mod scan_health;
mod selector;
mod set;
mod signature;
mod stop;
mod wasi;
mod watchdog;
mod watcher;

pub use admit::admit;
pub use catalog::{Catalog, Scan, is_signature_file, wasm_files};
pub use error::{BoxError, EvalError, LoadError};
pub use host_state::HostState;
pub use limits::{Limits, Policy};
pub use model::{EventSelector, FieldFilter, Finding, Metadata, OriginFilter, Properties, Signal};
pub use runtime::{Runtime, RuntimeOptions};
pub use scan_health::ScanHealth;
pub use set::{
    Applied, Change, Counters, CoverageChange, Detection, ErrorReport, Failure, Notice,
    SignatureSet, SignatureStats, SignatureStatus, unix_ms,
};
pub use signature::{EventOutcome, LoadedSignature, MAX_BATCH, SignatureInfo, Unstarted};
pub use stop::StopSignal;
pub use watcher::{Startup, log_rejections, spawn as spawn_watcher};
