//! The wasmtime runtime: loads signature components and dispatches events to them.

pub mod bindings;
mod error;
mod host_api;
mod host_state;
mod limits;
mod runtime;
mod set;
mod signature;

pub use error::{BoxError, EvalError, LoadError};
pub use host_state::HostState;
pub use limits::Limits;
pub use runtime::Runtime;
pub use set::{
    Detection, Failure, SignatureSet, SignatureStats, SignatureStatus, is_signature_file,
    wasm_files,
};
pub use signature::{LoadedSignature, SignatureInfo};
