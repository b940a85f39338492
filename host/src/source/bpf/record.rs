//! The raw exec record: `#[repr(C)]` twin of `struct exec_event` in
//! `bpf/exec_event.h`.
//!
//! Layout rules, shared with the C side:
//! - fixed-width fields only, each naturally aligned, no implicit padding
//!   (the C struct has an explicit `_pad`), size a multiple of 8;
//! - `char[16]` in C is `[u8; 16]` here: bytes, NUL-padded, not necessarily
//!   UTF-8;
//! - the header is followed by a tail of sections (filename, interp, argv,
//!   pathname, pwd, stdin_path, loader, env), each `<name>_len` bytes, in
//!   that order (see [`super::decode`]).
//!
//! The offsets and size are checked twice against the same numbers: clang
//! `_Static_assert`s the `EXEC_EVENT_FIELD`/`EXEC_EVENT_SIZE` lines of the
//! header, and build.rs turns those lines into the constants the test below
//! compares with `offset_of!`. Change the struct in both places and update
//! those lines, or the build or the test fails.

/// Generated from `bpf/exec_event.h` by build.rs: layout numbers and the
/// `#define EXEC_*` constants (flag bits, capacities).
#[allow(
    dead_code,
    reason = "generated from every #define in the C header; Rust needs only some, and which ones \
              changes with the code (so `expect` would be fragile)"
)]
pub(crate) mod c {
    include!(concat!(env!("OUT_DIR"), "/exec_event_layout.rs"));
}

/// One exec record's fixed-size header, exactly as the eBPF program writes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ExecRecord {
    /// Time of the exec, in ns since boot (`CLOCK_BOOTTIME`).
    pub ts_boot_ns: u64,
    /// cgroup v2 id.
    pub cgroup_id: u64,
    /// Inode number of the file run.
    pub inode: u64,
    /// Inode change time of the file run, ns since the epoch.
    pub ctime_ns: u64,
    /// Inode number of fd 0 (names pipes and sockets).
    pub stdin_inode: u64,
    /// Inode number of the ELF loader; valid with `EXEC_FLAG_LOADER`.
    pub loader_inode: u64,
    /// The loader's inode change time, ns since the epoch.
    pub loader_ctime_ns: u64,
    /// Thread group id (the process id), host pid namespace.
    pub pid: u32,
    /// Thread id after the exec (equal to `pid`).
    pub tid: u32,
    /// Id of the thread that called exec.
    pub old_tid: u32,
    /// The real parent's thread group id; 0 if none.
    pub ppid: u32,
    /// Thread group id in the task's own pid namespace.
    pub ns_pid: u32,
    /// Thread id in the task's own pid namespace.
    pub ns_tid: u32,
    /// The parent's thread group id in the task's pid namespace; 0 if not in it.
    pub ns_ppid: u32,
    /// Real uid (init user namespace).
    pub uid: u32,
    /// Real gid (init user namespace).
    pub gid: u32,
    /// Mount namespace inode number.
    pub mnt_ns: u32,
    /// The real parent's mount namespace inode number; 0 if unknown.
    pub parent_mnt_ns: u32,
    /// Pid namespace inode number.
    pub pid_ns: u32,
    /// Device of the file run, kernel encoding (`major << 20 | minor`).
    pub dev: u32,
    /// Device of the loader, kernel encoding.
    pub loader_dev: u32,
    /// `i_mode` of the file run.
    pub inode_mode: u16,
    /// `i_mode & S_IFMT` of fd 0.
    pub stdin_mode: u16,
    /// `EXEC_FLAG_*` bits (see [`c`]).
    pub flags: u16,
    /// Length of the filename section of the tail.
    pub filename_len: u16,
    /// Length of the interpreter section of the tail; 0 when it is the filename.
    pub interp_len: u16,
    /// Length of the argv section of the tail.
    pub argv_len: u16,
    /// Length of the resolved path of the file run.
    pub pathname_len: u16,
    /// Length of the working directory's path.
    pub pwd_len: u16,
    /// Length of fd 0's path.
    pub stdin_path_len: u16,
    /// Length of the loader's path.
    pub loader_len: u16,
    /// Length of the environment section (NUL-separated).
    pub env_len: u16,
    /// Explicit padding, zero.
    pub _pad: u16,
    /// comm after the exec, NUL-padded.
    pub comm: [u8; 16],
    /// comm before the exec, NUL-padded; valid when `EXEC_FLAG_PREV_COMM` is set.
    pub prev_comm: [u8; 16],
    /// The thread's start (`task->start_boottime`), ns since boot.
    pub start_boot_ns: u64,
}

/// Size of the fixed header.
pub(crate) const RECORD_SIZE: usize = size_of::<ExecRecord>();

// Fails the build (not only the tests) when the sizes disagree.
const _: () = assert!(RECORD_SIZE == c::C_EXEC_EVENT_SIZE);

impl ExecRecord {
    /// Reads the header from the start of `bytes`; `None` if `bytes` is shorter.
    pub(crate) fn read(bytes: &[u8]) -> Option<Self> {
        let header = bytes.get(..RECORD_SIZE)?;
        // SAFETY: `header` holds RECORD_SIZE bytes, ExecRecord is repr(C) and
        // made of integers and byte arrays, so every bit pattern is a valid
        // value; read_unaligned does not need the slice to be aligned.
        Some(unsafe { header.as_ptr().cast::<Self>().read_unaligned() })
    }

    /// True when every bit of `flag` is set.
    pub(crate) fn has(&self, flag: u32) -> bool {
        u32::from(self.flags) & flag == flag
    }

    /// The record as the bytes the kernel would send (for tests and fuzz
    /// seeds).
    pub(crate) fn to_bytes(self) -> Vec<u8> {
        // SAFETY: ExecRecord is repr(C) without padding bytes (asserted by
        // the layout test), so all RECORD_SIZE bytes are initialized.
        unsafe { std::slice::from_raw_parts((&raw const self).cast::<u8>(), RECORD_SIZE) }.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;

    #[test]
    fn layout_matches_c_header() {
        let rust = [
            ("ts_boot_ns", offset_of!(ExecRecord, ts_boot_ns)),
            ("cgroup_id", offset_of!(ExecRecord, cgroup_id)),
            ("inode", offset_of!(ExecRecord, inode)),
            ("ctime_ns", offset_of!(ExecRecord, ctime_ns)),
            ("stdin_inode", offset_of!(ExecRecord, stdin_inode)),
            ("loader_inode", offset_of!(ExecRecord, loader_inode)),
            ("loader_ctime_ns", offset_of!(ExecRecord, loader_ctime_ns)),
            ("pid", offset_of!(ExecRecord, pid)),
            ("tid", offset_of!(ExecRecord, tid)),
            ("old_tid", offset_of!(ExecRecord, old_tid)),
            ("ppid", offset_of!(ExecRecord, ppid)),
            ("ns_pid", offset_of!(ExecRecord, ns_pid)),
            ("ns_tid", offset_of!(ExecRecord, ns_tid)),
            ("ns_ppid", offset_of!(ExecRecord, ns_ppid)),
            ("uid", offset_of!(ExecRecord, uid)),
            ("gid", offset_of!(ExecRecord, gid)),
            ("mnt_ns", offset_of!(ExecRecord, mnt_ns)),
            ("parent_mnt_ns", offset_of!(ExecRecord, parent_mnt_ns)),
            ("pid_ns", offset_of!(ExecRecord, pid_ns)),
            ("dev", offset_of!(ExecRecord, dev)),
            ("loader_dev", offset_of!(ExecRecord, loader_dev)),
            ("inode_mode", offset_of!(ExecRecord, inode_mode)),
            ("stdin_mode", offset_of!(ExecRecord, stdin_mode)),
            ("flags", offset_of!(ExecRecord, flags)),
            ("filename_len", offset_of!(ExecRecord, filename_len)),
            ("interp_len", offset_of!(ExecRecord, interp_len)),
            ("argv_len", offset_of!(ExecRecord, argv_len)),
            ("pathname_len", offset_of!(ExecRecord, pathname_len)),
            ("pwd_len", offset_of!(ExecRecord, pwd_len)),
            ("stdin_path_len", offset_of!(ExecRecord, stdin_path_len)),
            ("loader_len", offset_of!(ExecRecord, loader_len)),
            ("env_len", offset_of!(ExecRecord, env_len)),
            ("_pad", offset_of!(ExecRecord, _pad)),
            ("comm", offset_of!(ExecRecord, comm)),
            ("prev_comm", offset_of!(ExecRecord, prev_comm)),
            ("start_boot_ns", offset_of!(ExecRecord, start_boot_ns)),
        ];
        assert_eq!(RECORD_SIZE, c::C_EXEC_EVENT_SIZE, "size of ExecRecord");
        assert_eq!(
            rust.map(|(name, _)| name).as_slice(),
            c::C_EXEC_EVENT_FIELDS
                .iter()
                .map(|&(name, _)| name)
                .collect::<Vec<_>>(),
            "ExecRecord fields (names and order) differ from struct exec_event"
        );
        for ((name, offset), &(_, c_offset)) in rust.iter().zip(c::C_EXEC_EVENT_FIELDS) {
            assert_eq!(*offset, c_offset, "offset of {name}");
        }
        // No implicit padding: the field sizes add up to the struct size.
        let field_bytes = 8 * 8 + 14 * 4 + 12 * 2 + 2 * 16;
        assert_eq!(field_bytes, RECORD_SIZE);
    }

    #[test]
    fn read_round_trips_and_rejects_short_input() {
        let record = ExecRecord {
            ts_boot_ns: 1,
            pid: 2,
            flags: c::EXEC_FLAG_PREV_COMM as u16,
            comm: *b"true\0\0\0\0\0\0\0\0\0\0\0\0",
            ..ExecRecord::default()
        };
        let bytes = record.to_bytes();
        assert_eq!(ExecRecord::read(&bytes), Some(record));
        assert!(ExecRecord::read(&bytes[..RECORD_SIZE - 1]).is_none());
        assert!(record.has(c::EXEC_FLAG_PREV_COMM));
        assert!(!record.has(c::EXEC_FLAG_ARGV_TRUNCATED));
    }
}
