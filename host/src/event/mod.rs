//! What sigbox's events are in Tracee's terms: ids, names and argument types,
//! in one table every reader and writer of Tracee JSON takes them from.

pub mod tracee;
