//! A process's ancestors, as the live source attaches them to each event:
//! nearest first (the parent is the first), at most [`MAX_ANCESTORS`] deep.
//! The chain is taken from the host's process tree when the event is read,
//! so an ancestor that exits afterwards is still in it; it is shared and
//! never changed afterwards, so copying an event's context copies a pointer.

use std::sync::Arc;

/// How many ancestors an event carries at most (`ancestor.1` to `ancestor.8`).
pub const MAX_ANCESTORS: usize = 8;

/// One ancestor of the process an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ancestor {
    /// Its process id in its own pid namespace (a container's); 0 when
    /// not known.
    pub pid: u32,
    /// Its process id on the host.
    pub host_pid: u32,
    /// Tracee's entity id of it (hash of pid and start time).
    pub entity_id: u32,
    /// Its `comm` (after its last exec).
    pub process_name: Arc<str>,
    /// The executable it runs; empty when not known.
    pub executable_path: Arc<str>,
    /// Its real user id (init user namespace).
    pub uid: u32,
    /// When it started, ns since the epoch.
    pub start_ns: u64,
    /// When it exited, ns since the epoch; 0 while it runs.
    pub exit_ns: u64,
    /// The container it ran in (from its cgroup); empty on the host.
    pub container_id: Arc<str>,
}

/// An event's ancestors, nearest first; empty when the source has none
/// (replay: Tracee JSON carries no ancestry).
pub type Ancestry = Arc<[Ancestor]>;
