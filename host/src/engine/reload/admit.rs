//! The check `sigbox run` makes before a module runs, for the commands that
//! only check (`sigbox verify`, `sigbox pull`): trust, then loading.

use std::path::Path;

use crate::engine::signature::error::LoadError;
use crate::engine::signature::loaded::LoadedSignature;
use crate::engine::wasm::limits::Policy;
use crate::engine::wasm::runtime::Runtime;
use crate::trust::Admission;

/// Loads `bytes` (read from `module`, with its detached signature if it has
/// one) if `admission` admits them, under default limits: the check `sigbox
/// run` makes, for `sigbox verify` and `sigbox pull`.
///
/// # Errors
/// [`LoadError::Untrusted`], or why the module does not load.
pub fn admit(
    runtime: &Runtime,
    admission: &Admission,
    module: &Path,
    bytes: &[u8],
    detached: Option<&[u8]>,
) -> Result<LoadedSignature, LoadError> {
    let admitted = admission
        .verify(bytes, detached)
        .map_err(|reason| LoadError::Untrusted {
            path: module.to_owned(),
            reason,
        })?;
    let policy = Policy::uniform(runtime.limits().clone());
    LoadedSignature::admitted(runtime, module, bytes, &policy, &admitted)
}
