//! The raw network/process/mount record: `#[repr(C)]` twin of
//! `struct sys_event` in `bpf/sys_event.h`, and its parsing into a plain
//! [`SysActivity`] with Tracee v0.24.1's argument types.
//!
//! Same layout rules as the file record (see [`super::file_record`]). The
//! header is followed by three sections, `str_len[0..3]` bytes: a mount's
//! `dev_name`, `path` and `type`, a module's `version`, `src_version` and
//! `pathname` (empty for the other kinds); a module's name is in `addr`.

use super::sockaddr::tracee_sockaddr;
use crate::event::Kind;

/// Generated from `bpf/sys_event.h` by build.rs: layout numbers and the
/// `#define SYS_*` constants (kinds, flag bits).
#[allow(
    dead_code,
    reason = "generated from every #define in the C header; Rust needs only some"
)]
pub(crate) mod c {
    include!(concat!(env!("OUT_DIR"), "/sys_event_layout.rs"));
}

/// Bytes of `addr` (`SYS_ADDR_BYTES`).
const ADDR_BYTES: usize = c::SYS_ADDR_BYTES as usize;

/// One record's fixed-size header, exactly as the eBPF program writes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SysRecord {
    /// Time of the event, ns since boot (`CLOCK_BOOTTIME`).
    pub ts_boot_ns: u64,
    /// cgroup v2 id.
    pub cgroup_id: u64,
    /// The thread's start (`task->start_boottime`), ns since boot.
    pub start_boot_ns: u64,
    /// The numeric arguments in Tracee's order (see the C header).
    pub args: [u64; 6],
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
    /// `SYS_KIND_*`.
    pub kind: u16,
    /// `SYS_FLAG_*` bits.
    pub record_flags: u16,
    /// Lengths of the three tail sections.
    pub str_len: [u16; 3],
    /// Bytes of `addr` in use.
    pub addr_len: u16,
    /// The task's comm, NUL-padded.
    pub comm: [u8; 16],
    /// `remote_addr`: a `struct sockaddr` as the kernel holds it.
    pub addr: [u8; ADDR_BYTES],
    /// Zero.
    pub _pad: u32,
}

impl Default for SysRecord {
    fn default() -> Self {
        // SAFETY: integers and byte arrays only: all zero is a valid value.
        unsafe { std::mem::zeroed() }
    }
}

/// Size of the fixed header.
pub(crate) const SYS_RECORD_SIZE: usize = size_of::<SysRecord>();

// Fails the build (not only the tests) when the sizes disagree.
const _: () = assert!(SYS_RECORD_SIZE == c::C_SYS_EVENT_SIZE);

impl SysRecord {
    /// Reads the header from the start of `bytes`; `None` if `bytes` is shorter.
    fn read(bytes: &[u8]) -> Option<Self> {
        let header = bytes.get(..SYS_RECORD_SIZE)?;
        // SAFETY: `header` holds SYS_RECORD_SIZE bytes; SysRecord is repr(C)
        // and made of integers and byte arrays, so every bit pattern is a
        // valid value; read_unaligned needs no alignment.
        Some(unsafe { header.as_ptr().cast::<Self>().read_unaligned() })
    }

    /// The record as the bytes the kernel would send (tests).
    #[cfg(test)]
    pub(crate) fn to_bytes(self) -> Vec<u8> {
        // SAFETY: repr(C) without padding bytes (asserted by the layout
        // test), so all SYS_RECORD_SIZE bytes are initialized.
        unsafe { std::slice::from_raw_parts((&raw const self).cast::<u8>(), SYS_RECORD_SIZE) }
            .to_vec()
    }

    fn remote_addr(&self) -> String {
        tracee_sockaddr(&self.addr[..usize::from(self.addr_len).min(ADDR_BYTES)])
    }

    /// Argument `index` as Tracee's `int32` (the kernel's `int`).
    fn int32(&self, index: usize) -> i32 {
        self.args[index] as u32 as i32
    }
}

/// A record that does not have the shape the C side promises.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SysRecordError {
    /// Shorter than the fixed header.
    #[error("sys record of {len} bytes is shorter than the {SYS_RECORD_SIZE}-byte header")]
    Short {
        /// The record's length.
        len: usize,
    },
    /// The tail's length differs from the sum of the section lengths.
    #[error("sys record tail is {actual} bytes but its header announces {announced}")]
    TailLength {
        /// The sum of `str_len`.
        announced: usize,
        /// Bytes after the header.
        actual: usize,
    },
    /// A kind this host does not know.
    #[error("sys record of unknown kind {kind}")]
    Kind {
        /// The `kind` field.
        kind: u16,
    },
}

/// A decoded record: the task's context and the event's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SysActivity {
    /// The header (ids, namespaces, clocks, comm).
    pub record: SysRecord,
    /// The arguments.
    pub args: SysArgs,
}

/// The arguments of one event, in Tracee v0.24.1's order and types
/// (`pkg/events/core.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SysArgs {
    /// `security_socket_connect`.
    Connect {
        /// The descriptor connect(2) got.
        sockfd: i32,
        /// The socket's type (`SOCK_STREAM` 1, `SOCK_DGRAM` 2, `SOCK_SEQPACKET` 5).
        socket_type: i32,
        /// The address connected to, as Tracee's `SockAddr` JSON map.
        remote_addr: String,
    },
    /// `socket_dup`.
    SocketDup {
        /// The socket's descriptor.
        oldfd: i32,
        /// The new one.
        newfd: i32,
        /// The peer (inet) or the socket's own address (unix).
        remote_addr: String,
    },
    /// `ptrace`.
    Ptrace {
        /// `PTRACE_*` (`int64`).
        request: i64,
        /// The tracee.
        pid: i32,
        /// `trace.Pointer`.
        addr: u64,
        /// `trace.Pointer`.
        data: u64,
    },
    /// `process_vm_writev`.
    ProcessVmWritev {
        /// The target process.
        pid: i32,
        /// `trace.Pointer`.
        local_iov: u64,
        /// `uint64`.
        liovcnt: u64,
        /// `trace.Pointer`.
        remote_iov: u64,
        /// `uint64`.
        riovcnt: u64,
        /// `uint64`.
        flags: u64,
    },
    /// `security_sb_mount`.
    SbMount {
        /// The source as given (`""` when the syscall got none).
        dev_name: String,
        /// The mount point, absolute.
        path: String,
        /// The filesystem type as given.
        fs_type: String,
        /// `MS_*` flags.
        flags: u64,
        /// A string was cut to 4095 bytes (sigbox's own flag).
        truncated: bool,
    },
    /// `module_load`.
    ModuleLoad {
        /// The module's name.
        name: String,
        /// `MODULE_VERSION`, `""` without one.
        version: String,
        /// `srcversion`, `""` without one.
        src_version: String,
        /// The file `finit_module(2)` loaded from, walked as exec's
        /// `pathname`; `""` for `init_module(2)`.
        pathname: String,
        /// Its device in the kernel's encoding; 0 without a file.
        dev: u32,
        /// Its inode; 0 without a file.
        inode: u64,
        /// Its inode's ctime, ns; 0 without a file.
        ctime: u64,
    },
}

impl SysActivity {
    /// Parses one `sys_events` record.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, SysRecordError> {
        let record = SysRecord::read(bytes).ok_or(SysRecordError::Short { len: bytes.len() })?;
        let tail = &bytes[SYS_RECORD_SIZE..];
        let lens = record.str_len.map(usize::from);
        let announced: usize = lens.iter().sum();
        if announced != tail.len() {
            return Err(SysRecordError::TailLength {
                announced,
                actual: tail.len(),
            });
        }
        let (first, rest) = tail.split_at(lens[0]);
        let (second, third) = rest.split_at(lens[1]);
        let a = &record.args;
        let args = match u32::from(record.kind) {
            c::SYS_KIND_CONNECT => SysArgs::Connect {
                sockfd: record.int32(0),
                socket_type: record.int32(1),
                remote_addr: record.remote_addr(),
            },
            c::SYS_KIND_SOCKET_DUP => SysArgs::SocketDup {
                oldfd: record.int32(0),
                newfd: record.int32(1),
                remote_addr: record.remote_addr(),
            },
            c::SYS_KIND_PTRACE => SysArgs::Ptrace {
                request: a[0] as i64,
                pid: record.int32(1),
                addr: a[2],
                data: a[3],
            },
            c::SYS_KIND_PROCESS_VM_WRITEV => SysArgs::ProcessVmWritev {
                pid: record.int32(0),
                local_iov: a[1],
                liovcnt: a[2],
                remote_iov: a[3],
                riovcnt: a[4],
                flags: a[5],
            },
            c::SYS_KIND_SB_MOUNT => SysArgs::SbMount {
                dev_name: lossy(first),
                path: lossy(second),
                fs_type: lossy(third),
                flags: a[0],
                truncated: u32::from(record.record_flags) & c::SYS_FLAG_STR_TRUNCATED != 0,
            },
            c::SYS_KIND_MODULE_LOAD => SysArgs::ModuleLoad {
                name: lossy(&record.addr[..usize::from(record.addr_len).min(ADDR_BYTES)]),
                version: lossy(first),
                src_version: lossy(second),
                pathname: lossy(third),
                dev: a[0] as u32,
                inode: a[1],
                ctime: a[2],
            },
            _ => return Err(SysRecordError::Kind { kind: record.kind }),
        };
        Ok(Self { record, args })
    }

    /// The event's kind.
    pub(crate) fn kind(&self) -> Kind {
        kind_of(&self.args)
    }
}

fn kind_of(args: &SysArgs) -> Kind {
    match args {
        SysArgs::Connect { .. } => Kind::SecuritySocketConnect,
        SysArgs::SocketDup { .. } => Kind::SocketDup,
        SysArgs::Ptrace { .. } => Kind::Ptrace,
        SysArgs::ProcessVmWritev { .. } => Kind::ProcessVmWritev,
        SysArgs::SbMount { .. } => Kind::SecuritySbMount,
        SysArgs::ModuleLoad { .. } => Kind::ModuleLoad,
    }
}

/// The kinds the sys programs send, with their `SYS_KIND_*` index.
pub(crate) const SYS_KINDS: [(Kind, u32); 6] = [
    (Kind::SecuritySocketConnect, c::SYS_KIND_CONNECT),
    (Kind::SocketDup, c::SYS_KIND_SOCKET_DUP),
    (Kind::Ptrace, c::SYS_KIND_PTRACE),
    (Kind::ProcessVmWritev, c::SYS_KIND_PROCESS_VM_WRITEV),
    (Kind::SecuritySbMount, c::SYS_KIND_SB_MOUNT),
    (Kind::ModuleLoad, c::SYS_KIND_MODULE_LOAD),
];

/// Bytes → `String`; invalid UTF-8 becomes U+FFFD.
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
            ("ts_boot_ns", offset_of!(SysRecord, ts_boot_ns)),
            ("cgroup_id", offset_of!(SysRecord, cgroup_id)),
            ("start_boot_ns", offset_of!(SysRecord, start_boot_ns)),
            ("args", offset_of!(SysRecord, args)),
            ("pid", offset_of!(SysRecord, pid)),
            ("tid", offset_of!(SysRecord, tid)),
            ("ppid", offset_of!(SysRecord, ppid)),
            ("ns_pid", offset_of!(SysRecord, ns_pid)),
            ("ns_tid", offset_of!(SysRecord, ns_tid)),
            ("ns_ppid", offset_of!(SysRecord, ns_ppid)),
            ("uid", offset_of!(SysRecord, uid)),
            ("gid", offset_of!(SysRecord, gid)),
            ("mnt_ns", offset_of!(SysRecord, mnt_ns)),
            ("pid_ns", offset_of!(SysRecord, pid_ns)),
            ("kind", offset_of!(SysRecord, kind)),
            ("record_flags", offset_of!(SysRecord, record_flags)),
            ("str_len", offset_of!(SysRecord, str_len)),
            ("addr_len", offset_of!(SysRecord, addr_len)),
            ("comm", offset_of!(SysRecord, comm)),
            ("addr", offset_of!(SysRecord, addr)),
            ("_pad", offset_of!(SysRecord, _pad)),
        ];
        assert_eq!(
            rust.map(|(name, _)| name).as_slice(),
            c::C_SYS_EVENT_FIELDS
                .iter()
                .map(|&(name, _)| name)
                .collect::<Vec<_>>(),
            "SysRecord fields (names and order) differ from struct sys_event"
        );
        for ((name, offset), &(_, c_offset)) in rust.iter().zip(c::C_SYS_EVENT_FIELDS) {
            assert_eq!(*offset, c_offset, "offset of {name}");
        }
        // No implicit padding: the field sizes add up to the struct size.
        assert_eq!(
            9 * 8 + 10 * 4 + 6 * 2 + 16 + ADDR_BYTES + 4,
            SYS_RECORD_SIZE
        );
    }

    fn record(kind: u32, args: [u64; 6], addr: &[u8], strings: [&[u8]; 3]) -> Vec<u8> {
        let mut header = SysRecord {
            pid: 7,
            kind: kind as u16,
            args,
            addr_len: addr.len() as u16,
            str_len: strings.map(|s| s.len() as u16),
            comm: *b"nc\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            ..SysRecord::default()
        };
        header.addr[..addr.len()].copy_from_slice(addr);
        let mut bytes = header.to_bytes();
        for s in strings {
            bytes.extend_from_slice(s);
        }
        bytes
    }

    #[test]
    fn a_connect_gives_fd_type_and_tracee_sockaddr() {
        let mut addr = 2u16.to_le_bytes().to_vec();
        addr.extend_from_slice(&8080u16.to_be_bytes());
        addr.extend_from_slice(&[127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        let parsed = SysActivity::parse(&record(
            c::SYS_KIND_CONNECT,
            [3, 1, 0, 0, 0, 0],
            &addr,
            [b""; 3],
        ))
        .unwrap();
        assert_eq!(parsed.kind(), Kind::SecuritySocketConnect);
        assert_eq!(
            parsed.args,
            SysArgs::Connect {
                sockfd: 3,
                socket_type: 1,
                remote_addr: r#"{"sa_family":"AF_INET","sin_addr":"127.0.0.1","sin_port":"8080"}"#
                    .into(),
            }
        );
    }

    #[test]
    fn numeric_arguments_keep_tracee_widths() {
        // pid -1 as the kernel's int, request as a signed long.
        let ptrace = SysActivity::parse(&record(
            c::SYS_KIND_PTRACE,
            [4, 0xffff_ffff, 0x7ffd_0000, u64::MAX, 0, 0],
            &[],
            [b""; 3],
        ))
        .unwrap();
        assert_eq!(
            ptrace.args,
            SysArgs::Ptrace {
                request: 4,
                pid: -1,
                addr: 0x7ffd_0000,
                data: u64::MAX,
            }
        );
        let writev = SysActivity::parse(&record(
            c::SYS_KIND_PROCESS_VM_WRITEV,
            [42, 1, 2, 3, 4, 0],
            &[],
            [b""; 3],
        ))
        .unwrap();
        assert_eq!(writev.kind(), Kind::ProcessVmWritev);
        assert!(matches!(
            writev.args,
            SysArgs::ProcessVmWritev {
                pid: 42,
                local_iov: 1,
                liovcnt: 2,
                remote_iov: 3,
                riovcnt: 4,
                flags: 0
            }
        ));
    }

    #[test]
    fn a_mount_gives_its_three_strings() {
        let parsed = SysActivity::parse(&record(
            c::SYS_KIND_SB_MOUNT,
            [0x8000, 0, 0, 0, 0, 0],
            &[],
            [b"none", b"/tmp/x", b"tmpfs"],
        ))
        .unwrap();
        assert_eq!(
            parsed.args,
            SysArgs::SbMount {
                dev_name: "none".into(),
                path: "/tmp/x".into(),
                fs_type: "tmpfs".into(),
                flags: 0x8000,
                truncated: false,
            }
        );
    }

    #[test]
    fn a_module_load_gives_its_name_strings_and_file() {
        let parsed = SysActivity::parse(&record(
            c::SYS_KIND_MODULE_LOAD,
            [0x0080_0001, 1234, 1_700_000_000_000_000_001, 0, 0, 0],
            b"dummy",
            [b"1.0", b"ABCDEF0123", b"/lib/modules/dummy.ko"],
        ))
        .unwrap();
        assert_eq!(parsed.kind(), Kind::ModuleLoad);
        assert_eq!(
            parsed.args,
            SysArgs::ModuleLoad {
                name: "dummy".into(),
                version: "1.0".into(),
                src_version: "ABCDEF0123".into(),
                pathname: "/lib/modules/dummy.ko".into(),
                dev: 0x0080_0001,
                inode: 1234,
                ctime: 1_700_000_000_000_000_001,
            }
        );
    }

    #[test]
    fn malformed_records_are_rejected() {
        assert_eq!(
            SysActivity::parse(&[0; 10]),
            Err(SysRecordError::Short { len: 10 })
        );
        let mut bytes = record(c::SYS_KIND_SB_MOUNT, [0; 6], &[], [b"a", b"", b""]);
        bytes.push(b'!');
        assert_eq!(
            SysActivity::parse(&bytes),
            Err(SysRecordError::TailLength {
                announced: 1,
                actual: 2
            })
        );
        assert_eq!(
            SysActivity::parse(&record(9, [0; 6], &[], [b""; 3])),
            Err(SysRecordError::Kind { kind: 9 })
        );
    }
}
