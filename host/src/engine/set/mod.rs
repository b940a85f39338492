//! The running set of signatures: dispatching events to them, their
//! counters and quarantines, and the stop request that ends their calls.

pub(super) mod pack_slot;
pub(super) mod signature_set;
pub(super) mod stop;
