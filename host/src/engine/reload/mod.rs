//! Keeping the running set in step with the signatures directory: scans of
//! the directory (which files run, which id claims win), the threads that
//! load modules, the watcher that applies changes, and the checks a module
//! passes before it runs.

pub(super) mod admit;
pub(super) mod catalog;
pub(super) mod id_claims;
pub(super) mod load_pool;
pub(crate) mod pull_refusal;
pub(super) mod scan_health;
pub(super) mod watcher;
