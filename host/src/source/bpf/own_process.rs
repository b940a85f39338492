//! The daemon's own process, whose file records are skipped: reading
//! `/proc/<pid>/cgroup` to classify an event is itself an open, so a
//! daemon that saw its own opens would feed itself one event per event and
//! never drain its ring buffer (Tracee also leaves its own process out:
//! "Don't monitor self", `match_scope_filters`).

use std::os::unix::fs::MetadataExt;

use super::file_record::FileRecord;

/// This process as the kernel's records name it: its pid in its own pid
/// namespace and that namespace's inode number (the host pid is not
/// known inside a container).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OwnProcess {
    ns_pid: u32,
    pid_ns: u32,
}

impl OwnProcess {
    /// No process (no record has pid namespace 0): for tests of the
    /// collector that make the file events themselves.
    #[cfg(test)]
    pub(crate) const NOBODY: Self = Self {
        ns_pid: 0,
        pid_ns: 0,
    };

    /// The calling process. Without `/proc/self/ns/pid` the namespace is 0,
    /// which no record has: nothing is skipped.
    pub(crate) fn current() -> Self {
        let pid_ns = std::fs::metadata("/proc/self/ns/pid")
            .ok()
            .and_then(|m| u32::try_from(m.ino()).ok())
            .unwrap_or(0);
        Self {
            ns_pid: std::process::id(),
            pid_ns,
        }
    }

    /// Whether this process (any of its threads) made `record`.
    pub(crate) fn made(&self, record: &FileRecord) -> bool {
        record.ns_pid == self.ns_pid && record.pid_ns == self.pid_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ns_pid: u32, pid_ns: u32) -> FileRecord {
        FileRecord {
            ns_pid,
            pid_ns,
            ..FileRecord::default()
        }
    }

    #[test]
    fn only_this_process_in_this_pid_namespace_is_itself() {
        let own = OwnProcess::current();
        assert_ne!(own.pid_ns, 0, "/proc/self/ns/pid is readable here");
        assert!(own.made(&record(std::process::id(), own.pid_ns)));
        // The same pid in another namespace (a container's) is another process.
        assert!(!own.made(&record(std::process::id(), own.pid_ns + 1)));
        assert!(!own.made(&record(std::process::id() + 1, own.pid_ns)));
        assert!(!OwnProcess::NOBODY.made(&record(std::process::id(), own.pid_ns)));
    }
}
