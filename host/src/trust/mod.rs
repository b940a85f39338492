//! Who built a signature module, and whether this node trusts them for the
//! ids it claims: Ed25519 signatures embedded in the module (the WebAssembly
//! tool-conventions format, through `wasmsign2`) and a trust policy.
//!
//! This is the verification half; `sigbox run`/`replay` do not enforce it
//! yet (issue 15).

pub mod keys;
pub mod policy;

pub use policy::{TrustError, TrustPolicy};
