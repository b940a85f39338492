//! The raw file record: `#[repr(C)]` twin of `struct file_event` in
//! `bpf/file_event.h`, and its parsing into a plain [`FileActivity`].
//!
//! Same layout rules as the exec record (see [`super::record`]): clang
//! `_Static_assert`s the `FILE_EVENT_FIELD`/`FILE_EVENT_SIZE` lines, build.rs
//! turns them into the constants the layout test compares with `offset_of!`.
//! The header is followed by two sections, `path_len` then `path2_len` bytes:
//! `pathname` and `syscall_pathname` for an open, `old_path` and `new_path`
//! for a rename.

use crate::event::Kind;

/// Generated from `bpf/file_event.h` by build.rs: layout numbers and the
/// `#define FILE_*` constants (kinds, flag bits, drop counter indexes).
#[allow(
    dead_code,
    reason = "generated from every #define in the C header; Rust needs only some"
)]
pub(crate) mod c {
    include!(concat!(env!("OUT_DIR"), "/file_event_layout.rs"));
}

/// One file record's fixed-size header, exactly as the eBPF program writes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FileRecord {
    /// Time of the event, ns since boot (`CLOCK_BOOTTIME`).
    pub ts_boot_ns: u64,
    /// cgroup v2 id.
    pub cgroup_id: u64,
    /// The thread's start (`task->start_boottime`), ns since boot.
    pub start_boot_ns: u64,
    /// Open: inode number of the file.
    pub inode: u64,
    /// Open: the file's inode change time, ns since the epoch.
    pub ctime_ns: u64,
    /// Thread group id, host pid namespace.
    pub pid: u32,
    /// Thread id, host pid namespace.
    pub tid: u32,
    /// The real parent's thread group id.
    pub ppid: u32,
    /// Thread group id in the task's own pid namespace.
    pub ns_pid: u32,
    /// Thread id in the task's own pid namespace.
    pub ns_tid: u32,
    /// The parent's thread group id there; 0 if not in it.
    pub ns_ppid: u32,
    /// Real uid (init user namespace).
    pub uid: u32,
    /// Real gid (init user namespace).
    pub gid: u32,
    /// Mount namespace inode number.
    pub mnt_ns: u32,
    /// Pid namespace inode number.
    pub pid_ns: u32,
    /// Open: the file's device, kernel encoding (`major << 20 | minor`).
    pub dev: u32,
    /// Open: `file->f_flags`.
    pub open_flags: i32,
    /// `FILE_KIND_*`.
    pub kind: u16,
    /// `FILE_FLAG_*` bits.
    pub record_flags: u16,
    /// Length of the first tail section.
    pub path_len: u16,
    /// Length of the second tail section.
    pub path2_len: u16,
    /// The task's comm, NUL-padded.
    pub comm: [u8; 16],
}

/// Size of the fixed header.
pub(crate) const FILE_RECORD_SIZE: usize = size_of::<FileRecord>();

// Fails the build (not only the tests) when the sizes disagree.
const _: () = assert!(FILE_RECORD_SIZE == c::C_FILE_EVENT_SIZE);

impl FileRecord {
    /// Reads the header from the start of `bytes`; `None` if `bytes` is shorter.
    pub(crate) fn read(bytes: &[u8]) -> Option<Self> {
        let header = bytes.get(..FILE_RECORD_SIZE)?;
        // SAFETY: `header` holds FILE_RECORD_SIZE bytes; FileRecord is
        // repr(C) and made of integers and byte arrays, so every bit pattern
        // is a valid value; read_unaligned needs no alignment.
        Some(unsafe { header.as_ptr().cast::<Self>().read_unaligned() })
    }

    /// True when every bit of `flag` is set in `record_flags`.
    pub(crate) fn has(&self, flag: u32) -> bool {
        u32::from(self.record_flags) & flag == flag
    }

    /// The record as the bytes the kernel would send (tests, fuzz seeds).
    #[cfg_attr(not(test), allow(dead_code, reason = "tests and fuzz seeds"))]
    pub(crate) fn to_bytes(self) -> Vec<u8> {
        // SAFETY: FileRecord is repr(C) without padding bytes (asserted by
        // the layout test), so all FILE_RECORD_SIZE bytes are initialized.
        unsafe { std::slice::from_raw_parts((&raw const self).cast::<u8>(), FILE_RECORD_SIZE) }
            .to_vec()
    }
}

/// A file record that does not have the shape the C side promises.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum FileRecordError {
    /// Shorter than the fixed header.
    #[error("file record of {len} bytes is shorter than the {FILE_RECORD_SIZE}-byte header")]
    Short {
        /// The record's length.
        len: usize,
    },
    /// The tail's length differs from the sum of the section lengths.
    #[error("file record tail is {actual} bytes but its header announces {announced}")]
    TailLength {
        /// `path_len + path2_len`.
        announced: usize,
        /// Bytes after the header.
        actual: usize,
    },
    /// A kind this host does not know.
    #[error("file record of unknown kind {kind}")]
    Kind {
        /// The `kind` field.
        kind: u16,
    },
}

/// A decoded file record: the task's context and the event's arguments,
/// with Tracee's names and types, before it becomes a host event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileActivity {
    /// The header (ids, namespaces, clocks, comm).
    pub record: FileRecord,
    /// The arguments.
    pub args: FileArgs,
}

/// The arguments of one file event, in Tracee v0.24.1's order and types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileArgs {
    /// `security_file_open`.
    Open {
        /// The file opened, resolved across mounts to the task's mount
        /// namespace root (as exec's `pathname`).
        pathname: String,
        /// `file->f_flags` (`int32`).
        flags: i32,
        /// The file's device, kernel encoding (`uint32`).
        dev: u32,
        /// The file's inode number (`uint64`).
        inode: u64,
        /// Its inode change time, ns since the epoch (`uint64`).
        ctime: u64,
        /// The path the open (or exec) syscall was given; empty otherwise.
        syscall_pathname: String,
        /// The walk lost leading components (sigbox's own flag).
        pathname_truncated: bool,
    },
    /// `security_inode_rename`: dentry paths, walked `d_parent` only (up to
    /// 20 components), so relative to the file's filesystem root, as Tracee.
    Rename {
        /// The path before the rename.
        old_path: String,
        /// The path after it.
        new_path: String,
    },
}

impl FileActivity {
    /// Parses one `file_events` record.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, FileRecordError> {
        let record = FileRecord::read(bytes).ok_or(FileRecordError::Short { len: bytes.len() })?;
        let tail = &bytes[FILE_RECORD_SIZE..];
        let (first, second) = (usize::from(record.path_len), usize::from(record.path2_len));
        if first + second != tail.len() {
            return Err(FileRecordError::TailLength {
                announced: first + second,
                actual: tail.len(),
            });
        }
        let (path, path2) = tail.split_at(first);
        let args = match u32::from(record.kind) {
            c::FILE_KIND_OPEN => FileArgs::Open {
                pathname: lossy(path),
                flags: record.open_flags,
                dev: record.dev,
                inode: record.inode,
                ctime: record.ctime_ns,
                syscall_pathname: lossy(path2),
                pathname_truncated: record.has(c::FILE_FLAG_PATH_TRUNCATED),
            },
            c::FILE_KIND_RENAME => FileArgs::Rename {
                old_path: lossy(path),
                new_path: lossy(path2),
            },
            _ => return Err(FileRecordError::Kind { kind: record.kind }),
        };
        Ok(Self { record, args })
    }

    /// The event's kind.
    pub(crate) fn kind(&self) -> Kind {
        match self.args {
            FileArgs::Open { .. } => Kind::SecurityFileOpen,
            FileArgs::Rename { .. } => Kind::SecurityInodeRename,
        }
    }
}

/// Tracee's name of the open event.
pub(crate) const OPEN_EVENT: &str = "security_file_open";
/// Tracee's name of the rename event.
pub(crate) const RENAME_EVENT: &str = "security_inode_rename";

/// Bytes → `String`; invalid UTF-8 becomes U+FFFD (the schema's rule for
/// byte strings).
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;

    #[test]
    fn layout_matches_c_header() {
        let rust = [
            ("ts_boot_ns", offset_of!(FileRecord, ts_boot_ns)),
            ("cgroup_id", offset_of!(FileRecord, cgroup_id)),
            ("start_boot_ns", offset_of!(FileRecord, start_boot_ns)),
            ("inode", offset_of!(FileRecord, inode)),
            ("ctime_ns", offset_of!(FileRecord, ctime_ns)),
            ("pid", offset_of!(FileRecord, pid)),
            ("tid", offset_of!(FileRecord, tid)),
            ("ppid", offset_of!(FileRecord, ppid)),
            ("ns_pid", offset_of!(FileRecord, ns_pid)),
            ("ns_tid", offset_of!(FileRecord, ns_tid)),
            ("ns_ppid", offset_of!(FileRecord, ns_ppid)),
            ("uid", offset_of!(FileRecord, uid)),
            ("gid", offset_of!(FileRecord, gid)),
            ("mnt_ns", offset_of!(FileRecord, mnt_ns)),
            ("pid_ns", offset_of!(FileRecord, pid_ns)),
            ("dev", offset_of!(FileRecord, dev)),
            ("open_flags", offset_of!(FileRecord, open_flags)),
            ("kind", offset_of!(FileRecord, kind)),
            ("record_flags", offset_of!(FileRecord, record_flags)),
            ("path_len", offset_of!(FileRecord, path_len)),
            ("path2_len", offset_of!(FileRecord, path2_len)),
            ("comm", offset_of!(FileRecord, comm)),
        ];
        assert_eq!(FILE_RECORD_SIZE, c::C_FILE_EVENT_SIZE);
        assert_eq!(
            rust.map(|(name, _)| name).as_slice(),
            c::C_FILE_EVENT_FIELDS
                .iter()
                .map(|&(name, _)| name)
                .collect::<Vec<_>>(),
            "FileRecord fields (names and order) differ from struct file_event"
        );
        for ((name, offset), &(_, c_offset)) in rust.iter().zip(c::C_FILE_EVENT_FIELDS) {
            assert_eq!(*offset, c_offset, "offset of {name}");
        }
        // No implicit padding: the field sizes add up to the struct size.
        assert_eq!(5 * 8 + 12 * 4 + 4 * 2 + 16, FILE_RECORD_SIZE);
    }

    fn record(kind: u32, path: &[u8], path2: &[u8]) -> Vec<u8> {
        let header = FileRecord {
            pid: 7,
            dev: 0x80_0001,
            inode: 42,
            ctime_ns: 1_700_000_000_123_456_789,
            open_flags: 0o100_0101,
            kind: kind as u16,
            path_len: path.len() as u16,
            path2_len: path2.len() as u16,
            comm: *b"cat\0\0\0\0\0\0\0\0\0\0\0\0\0",
            ..FileRecord::default()
        };
        let mut bytes = header.to_bytes();
        bytes.extend_from_slice(path);
        bytes.extend_from_slice(path2);
        bytes
    }

    #[test]
    fn an_open_record_gives_tracee_arguments() {
        let bytes = record(c::FILE_KIND_OPEN, b"/etc/passwd", b"passwd");
        let parsed = FileActivity::parse(&bytes).expect("parses");
        assert_eq!(parsed.kind(), Kind::SecurityFileOpen);
        assert_eq!(
            parsed.args,
            FileArgs::Open {
                pathname: "/etc/passwd".into(),
                flags: 0o100_0101,
                dev: 0x80_0001,
                inode: 42,
                ctime: 1_700_000_000_123_456_789,
                syscall_pathname: "passwd".into(),
                pathname_truncated: false,
            }
        );
        assert_eq!(parsed.record.pid, 7);
    }

    #[test]
    fn an_open_outside_an_open_syscall_has_an_empty_syscall_pathname() {
        let mut header = FileRecord::read(&record(c::FILE_KIND_OPEN, b"", b"")).unwrap();
        header.path_len = 4;
        header.record_flags = c::FILE_FLAG_PATH_TRUNCATED as u16;
        let mut bytes = header.to_bytes();
        bytes.extend_from_slice(b"/a/b");
        let FileArgs::Open {
            syscall_pathname,
            pathname_truncated,
            ..
        } = FileActivity::parse(&bytes).unwrap().args
        else {
            panic!("not an open");
        };
        assert_eq!(syscall_pathname, "");
        assert!(pathname_truncated);
    }

    #[test]
    fn a_rename_record_gives_both_paths() {
        let bytes = record(c::FILE_KIND_RENAME, b"/tmp/a", b"/tmp/\xffb");
        let parsed = FileActivity::parse(&bytes).unwrap();
        assert_eq!(parsed.kind(), Kind::SecurityInodeRename);
        assert_eq!(
            parsed.args,
            FileArgs::Rename {
                old_path: "/tmp/a".into(),
                new_path: "/tmp/\u{fffd}b".into(),
            }
        );
    }

    #[test]
    fn malformed_records_are_rejected() {
        assert_eq!(
            FileActivity::parse(&[0; 10]),
            Err(FileRecordError::Short { len: 10 })
        );
        let mut bytes = record(c::FILE_KIND_OPEN, b"/x", b"");
        bytes.push(b'!');
        assert_eq!(
            FileActivity::parse(&bytes),
            Err(FileRecordError::TailLength {
                announced: 2,
                actual: 3
            })
        );
        assert_eq!(
            FileActivity::parse(&record(9, b"", b"")),
            Err(FileRecordError::Kind { kind: 9 })
        );
    }
}
