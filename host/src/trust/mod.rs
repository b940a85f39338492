//! Who built a signature module, and whether this node trusts them for the
//! ids it claims: Ed25519 signatures embedded in the module (the WebAssembly
//! tool-conventions format, through `wasmsign2`) or beside it in `NAME.wasm.sig`,
//! checked against a trust policy before the module is compiled.

pub(crate) mod admission;
pub(crate) mod fingerprint;
pub(crate) mod keys;
pub(crate) mod policy;
pub(crate) mod shape;
mod signatures;

pub use admission::TrustMode;
pub use policy::POLICY_HELP;

pub(crate) use admission::{Admission, Admitted, Gate};
pub(crate) use policy::{TrustError, TrustPolicy};

/// Where a module's detached signature is kept: beside it, `NAME.wasm.sig`.
pub(crate) fn detached_signature_path(module: &std::path::Path) -> std::path::PathBuf {
    let mut name = module.as_os_str().to_owned();
    name.push(".sig");
    std::path::PathBuf::from(name)
}

/// The largest detached signature file read (a signature set is a few
/// hundred bytes per signer).
pub(crate) const MAX_DETACHED_SIGNATURE_BYTES: u64 = 64 * 1024;

#[cfg(test)]
mod tests;
