//! The process tree's kernel records: `#[repr(C)]` twin of `struct
//! task_event` in `bpf/task_event.h` (layout rules as in [`super::record`]),
//! and how they feed the [`ProcessTree`]. They share the exec ring buffer,
//! so forks, execs and exits reach the tree in the kernel's order; a record
//! of exactly [`TASK_RECORD_SIZE`] bytes is one of these (an exec record is
//! longer than its header, which is longer).

use super::decode::{Decoder, comm_str};
use crate::source::process_tree::ProcessTree;

/// Generated from `bpf/task_event.h` by build.rs.
#[allow(
    dead_code,
    reason = "generated from every #define in the C header; Rust needs only some"
)]
pub(crate) mod c {
    include!(concat!(env!("OUT_DIR"), "/task_event_layout.rs"));
}

/// One fork or exit record, exactly as the eBPF program writes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TaskRecord {
    /// When, ns since boot.
    pub ts_boot_ns: u64,
    /// The process's start, ns since boot.
    pub start_boot_ns: u64,
    /// Its real parent's start, ns since boot.
    pub parent_start_boot_ns: u64,
    /// `TASK_KIND_*`.
    pub kind: u32,
    /// Thread group id, host pid namespace.
    pub pid: u32,
    /// The real parent's thread group id.
    pub ppid: u32,
    /// Real uid.
    pub uid: u32,
    /// comm, NUL-padded (a forked child's is its parent's).
    pub comm: [u8; 16],
    /// Thread group id in the process's own pid namespace.
    pub ns_pid: u32,
    /// 0.
    pub reserved: u32,
}

/// Size of a task record.
pub(crate) const TASK_RECORD_SIZE: usize = size_of::<TaskRecord>();

const _: () = assert!(TASK_RECORD_SIZE == c::C_TASK_EVENT_SIZE);
// Exec records are told apart by length: they must never be this short.
const _: () = assert!(TASK_RECORD_SIZE < super::record::RECORD_SIZE);

impl TaskRecord {
    /// The record in `bytes`, when it is exactly one.
    pub(crate) fn read(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != TASK_RECORD_SIZE {
            return None;
        }
        // SAFETY: `bytes` holds TASK_RECORD_SIZE bytes, TaskRecord is
        // repr(C) of integers and a byte array (every bit pattern valid);
        // read_unaligned needs no alignment.
        Some(unsafe { bytes.as_ptr().cast::<Self>().read_unaligned() })
    }

    /// Applies the record to `tree`, times converted by `decoder`. Returns
    /// false for an unknown kind.
    pub(crate) fn apply(&self, tree: &mut ProcessTree, decoder: &Decoder) -> bool {
        let start = decoder.epoch_ns(self.start_boot_ns);
        match self.kind {
            c::TASK_KIND_FORK => {
                tree.fork(
                    self.pid,
                    start,
                    self.ppid,
                    decoder.epoch_ns(self.parent_start_boot_ns),
                    &comm_str(&self.comm),
                );
                tree.identify(self.pid, start, self.ns_pid, self.uid);
            }
            c::TASK_KIND_EXIT => tree.exit(self.pid, start, decoder.epoch_ns(self.ts_boot_ns)),
            _ => return false,
        }
        true
    }

    /// The record as the kernel would send it (tests).
    #[cfg(test)]
    pub(crate) fn to_bytes(self) -> Vec<u8> {
        // SAFETY: repr(C) without padding (the layout test checks the
        // fields add up to the size), so every byte is initialized.
        unsafe { std::slice::from_raw_parts((&raw const self).cast::<u8>(), TASK_RECORD_SIZE) }
            .to_vec()
    }
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;

    #[test]
    fn layout_matches_the_c_struct() {
        let rust = [
            ("ts_boot_ns", offset_of!(TaskRecord, ts_boot_ns)),
            ("start_boot_ns", offset_of!(TaskRecord, start_boot_ns)),
            (
                "parent_start_boot_ns",
                offset_of!(TaskRecord, parent_start_boot_ns),
            ),
            ("kind", offset_of!(TaskRecord, kind)),
            ("pid", offset_of!(TaskRecord, pid)),
            ("ppid", offset_of!(TaskRecord, ppid)),
            ("uid", offset_of!(TaskRecord, uid)),
            ("comm", offset_of!(TaskRecord, comm)),
            ("ns_pid", offset_of!(TaskRecord, ns_pid)),
            ("reserved", offset_of!(TaskRecord, reserved)),
        ];
        assert_eq!(rust.as_slice(), c::C_TASK_EVENT_FIELDS);
        assert_eq!(3 * 8 + 4 * 4 + 16 + 2 * 4, TASK_RECORD_SIZE, "no padding");
    }

    #[test]
    fn records_feed_the_tree_and_other_lengths_are_not_records() {
        let decoder = Decoder::with_parts(
            1_000,
            "h".into(),
            super::super::containers::Containers::new(),
        );
        let mut tree = ProcessTree::new(16);
        let record = |kind, pid, ppid, comm: &[u8]| {
            let mut name = [0u8; 16];
            name[..comm.len()].copy_from_slice(comm);
            TaskRecord {
                ts_boot_ns: 9_000,
                start_boot_ns: u64::from(pid),
                parent_start_boot_ns: u64::from(ppid),
                kind,
                pid,
                ppid,
                uid: 0,
                comm: name,
                ns_pid: pid,
                reserved: 0,
            }
            .to_bytes()
        };
        for bytes in [
            record(c::TASK_KIND_FORK, 10, 1, b"nginx"),
            record(c::TASK_KIND_FORK, 11, 10, b"nginx"),
            record(c::TASK_KIND_EXIT, 10, 1, b"nginx"),
        ] {
            assert!(TaskRecord::read(&bytes).unwrap().apply(&mut tree, &decoder));
        }
        assert!(
            !TaskRecord::read(&record(7, 12, 1, b"x"))
                .unwrap()
                .apply(&mut tree, &decoder)
        );
        let mut context = crate::event::Context {
            host_pid: 11,
            host_ppid: 1,
            ..Default::default()
        };
        tree.enrich(&mut context);
        assert_eq!(&*context.ancestors[0].process_name, "nginx");
        assert_eq!(context.ancestors[0].exit_ns, 10_000);
        let bytes = record(c::TASK_KIND_FORK, 10, 1, b"nginx");
        assert!(TaskRecord::read(&bytes[..TASK_RECORD_SIZE - 1]).is_none());
        assert!(TaskRecord::read(&[bytes.clone(), vec![0]].concat()).is_none());
    }
}
