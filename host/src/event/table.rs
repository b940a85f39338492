//! Tracee v0.24.1's definitions of the events sigbox knows
//! (`pkg/events/core.go`): per kind its id, name and arguments in Tracee's
//! order, each with its name, Tracee's type string and the host type its
//! value takes. This is the one table that parsing, filters, projections,
//! `read-field`, the writers, vectors and benches read; adding an event kind
//! is one entry here plus the source that fills it.

/// An event kind sigbox has Tracee's definition of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `sched_process_exec`.
    SchedProcessExec,
    /// `security_file_open`.
    SecurityFileOpen,
    /// `security_inode_rename`.
    SecurityInodeRename,
    /// `ptrace` (a syscall event).
    Ptrace,
    /// `process_vm_writev` (a syscall event).
    ProcessVmWritev,
    /// `security_socket_connect`.
    SecuritySocketConnect,
    /// `security_sb_mount`.
    SecuritySbMount,
    /// `socket_dup`.
    SocketDup,
    /// `module_load`.
    ModuleLoad,
}

impl Kind {
    /// Every kind, in id order.
    pub(crate) const ALL: [Kind; 9] = [
        Kind::Ptrace,
        Kind::ProcessVmWritev,
        Kind::SchedProcessExec,
        Kind::SecurityFileOpen,
        Kind::SecuritySocketConnect,
        Kind::SecuritySbMount,
        Kind::SocketDup,
        Kind::SecurityInodeRename,
        Kind::ModuleLoad,
    ];

    /// Its definition.
    pub fn def(self) -> &'static EventDef {
        match self {
            Self::SchedProcessExec => &SCHED_PROCESS_EXEC,
            Self::SecurityFileOpen => &SECURITY_FILE_OPEN,
            Self::SecurityInodeRename => &SECURITY_INODE_RENAME,
            Self::Ptrace => &PTRACE,
            Self::ProcessVmWritev => &PROCESS_VM_WRITEV,
            Self::SecuritySocketConnect => &SECURITY_SOCKET_CONNECT,
            Self::SecuritySbMount => &SECURITY_SB_MOUNT,
            Self::SocketDup => &SOCKET_DUP,
            Self::ModuleLoad => &MODULE_LOAD,
        }
    }

    /// The kind Tracee names `name`, if sigbox knows it.
    pub(crate) fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.def().name == name)
    }

    /// Its place in [`Kind::ALL`].
    pub(crate) fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|k| *k == self)
            .expect("every kind is listed")
    }

    /// Tracee's event name.
    pub(crate) fn name(self) -> &'static str {
        self.def().name
    }
}

/// One kind of event: Tracee's id and name, its arguments in Tracee's
/// order, then those sigbox adds.
#[derive(Debug)]
pub struct EventDef {
    /// Tracee's event id (`eventId`, a string in events and a number in a
    /// finding's `detectedFrom`).
    pub id: i64,
    /// Tracee's event name.
    pub name: &'static str,
    /// Tracee's arguments, in the order its definition lists them.
    pub args: &'static [ArgDef],
    /// Arguments sigbox adds (that a value was cut short), written after
    /// Tracee's and only when set.
    pub own: &'static [ArgDef],
}

impl EventDef {
    /// Argument slots an event of this kind holds: Tracee's, then sigbox's.
    pub(crate) fn slots(&self) -> usize {
        self.args.len() + self.own.len()
    }

    /// The slot of the argument named `name`.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.args
            .iter()
            .chain(self.own)
            .position(|arg| arg.name == name)
    }

    /// The argument in slot `index`.
    pub(crate) fn arg(&self, index: usize) -> &'static ArgDef {
        self.args
            .get(index)
            .unwrap_or_else(|| &self.own[index - self.args.len()])
    }
}

/// One argument of an event.
#[derive(Debug)]
pub struct ArgDef {
    /// Tracee's argument name.
    pub name: &'static str,
    /// Tracee's type string (`ArgMeta.Type`).
    pub tracee_type: &'static str,
    /// The host value it takes.
    pub ty: ArgType,
}

/// The host value an argument takes (Tracee's decode type, widened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    /// `string`: [`super::Value::Text`].
    Text,
    /// `[]string`: [`super::Value::TextList`].
    TextList,
    /// `bool`: [`super::Value::Boolean`].
    Boolean,
    /// `int32`: [`super::Value::Signed`].
    Int32,
    /// `int32` `open(2)` flags: [`super::Value::Signed`]; Tracee's printed
    /// form (`O_WRONLY|O_CREAT`) is read back as the number.
    OpenFlags,
    /// `int64`: [`super::Value::Signed`].
    Int64,
    /// `trace.Pointer`: [`super::Value::Unsigned`]; Tracee's printed form
    /// (`0x7ffd...`) is read back as the number.
    Pointer,
    /// `SockAddr`: [`super::Value::Json`] holding Tracee's map of strings,
    /// e.g. `{"sa_family":"AF_INET","sin_addr":"127.0.0.1","sin_port":"80"}`.
    SockAddr,
    /// `uint16`: [`super::Value::Unsigned`].
    Uint16,
    /// `uint32`: [`super::Value::Unsigned`].
    Uint32,
    /// `uint64`: [`super::Value::Unsigned`].
    Uint64,
    /// sigbox's own flag that a value was cut short: reads `false` when the
    /// source did not set it.
    Flag,
}

impl ArgType {
    /// The largest unsigned value the type holds; `None` when not unsigned.
    pub(crate) fn unsigned_max(self) -> Option<u64> {
        match self {
            Self::Uint16 => Some(u16::MAX.into()),
            Self::Uint32 => Some(u32::MAX.into()),
            Self::Uint64 | Self::Pointer => Some(u64::MAX),
            _ => None,
        }
    }
}

const fn arg(name: &'static str, tracee_type: &'static str, ty: ArgType) -> ArgDef {
    ArgDef {
        name,
        tracee_type,
        ty,
    }
}

const fn flag(name: &'static str) -> ArgDef {
    arg(name, "bool", ArgType::Flag)
}

use ArgType::{Int32, Pointer, SockAddr, Text, TextList, Uint16, Uint32, Uint64};

/// Tracee's id of an event name; 0 for a name sigbox has no definition of.
#[cfg(test)]
fn event_id(name: &str) -> i64 {
    Kind::named(name).map_or(0, |kind| kind.def().id)
}

/// `sched_process_exec`. Ids: common events count up from 700
/// (`StartCommonID`) in core.go's enum; this is the 16th.
pub(crate) static SCHED_PROCESS_EXEC: EventDef = EventDef {
    id: 715,
    name: "sched_process_exec",
    args: &[
        arg("cmdpath", "string", Text),
        arg("pathname", "string", Text),
        arg("dev", "uint32", Uint32),
        arg("inode", "uint64", Uint64),
        arg("ctime", "uint64", Uint64),
        arg("inode_mode", "uint16", Uint16),
        arg("interpreter_pathname", "string", Text),
        arg("interpreter_dev", "uint32", Uint32),
        arg("interpreter_inode", "uint64", Uint64),
        arg("interpreter_ctime", "uint64", Uint64),
        arg("argv", "[]string", TextList),
        arg("interp", "string", Text),
        arg("stdin_type", "uint16", Uint16),
        arg("stdin_path", "string", Text),
        arg("invoked_from_kernel", "bool", ArgType::Boolean),
        arg("prev_comm", "string", Text),
        arg("env", "[]string", TextList),
        arg("pwd", "string", Text),
    ],
    own: &[
        flag("argv_truncated"),
        flag("env_truncated"),
        flag("pathname_truncated"),
    ],
};

/// `security_file_open` (the 33rd common event).
pub(crate) static SECURITY_FILE_OPEN: EventDef = EventDef {
    id: 732,
    name: "security_file_open",
    args: &[
        arg("pathname", "string", Text),
        arg("flags", "int32", ArgType::OpenFlags),
        arg("dev", "uint32", Uint32),
        arg("inode", "uint64", Uint64),
        arg("ctime", "uint64", Uint64),
        arg("syscall_pathname", "string", Text),
    ],
    own: &[flag("pathname_truncated")],
};

/// `security_inode_rename` (the 69th common event).
pub(crate) static SECURITY_INODE_RENAME: EventDef = EventDef {
    id: 768,
    name: "security_inode_rename",
    args: &[
        arg("old_path", "string", Text),
        arg("new_path", "string", Text),
    ],
    own: &[],
};

/// `security_socket_connect` (the 37th common event).
pub(crate) static SECURITY_SOCKET_CONNECT: EventDef = EventDef {
    id: 736,
    name: "security_socket_connect",
    args: &[
        arg("sockfd", "int32", Int32),
        arg("type", "int32", Int32),
        arg("remote_addr", "SockAddr", SockAddr),
    ],
    own: &[],
};

/// `security_sb_mount` (the 41st common event).
pub(crate) static SECURITY_SB_MOUNT: EventDef = EventDef {
    id: 740,
    name: "security_sb_mount",
    args: &[
        arg("dev_name", "string", Text),
        arg("path", "string", Text),
        arg("type", "string", Text),
        arg("flags", "uint64", Uint64),
    ],
    own: &[flag("string_truncated")],
};

/// `socket_dup` (the 50th common event).
pub(crate) static SOCKET_DUP: EventDef = EventDef {
    id: 749,
    name: "socket_dup",
    args: &[
        arg("oldfd", "int32", Int32),
        arg("newfd", "int32", Int32),
        arg("remote_addr", "SockAddr", SockAddr),
    ],
    own: &[],
};

/// `module_load` (the 86th common event). The file fields are Tracee's
/// zero values unless the module came from `finit_module(2)`.
pub(crate) static MODULE_LOAD: EventDef = EventDef {
    id: 785,
    name: "module_load",
    args: &[
        arg("name", "string", Text),
        arg("version", "string", Text),
        arg("src_version", "string", Text),
        arg("pathname", "string", Text),
        arg("dev", "uint32", Uint32),
        arg("inode", "uint64", Uint64),
        arg("ctime", "uint64", Uint64),
    ],
    own: &[],
};

/// `ptrace`: a syscall event, its id the x86_64 syscall number
/// (`core_amd64.go`).
pub(crate) static PTRACE: EventDef = EventDef {
    id: 101,
    name: "ptrace",
    args: &[
        arg("request", "int64", ArgType::Int64),
        arg("pid", "int32", Int32),
        arg("addr", "trace.Pointer", Pointer),
        arg("data", "trace.Pointer", Pointer),
    ],
    own: &[],
};

/// `process_vm_writev`: a syscall event (x86_64 number 311).
pub(crate) static PROCESS_VM_WRITEV: EventDef = EventDef {
    id: 311,
    name: "process_vm_writev",
    args: &[
        arg("pid", "int32", Int32),
        arg("local_iov", "trace.Pointer", Pointer),
        arg("liovcnt", "uint64", Uint64),
        arg("remote_iov", "trace.Pointer", Pointer),
        arg("riovcnt", "uint64", Uint64),
        arg("flags", "uint64", Uint64),
    ],
    own: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids counted in core.go's `const` block of common events, from
    /// `NetPacketBase = 700`.
    #[test]
    fn ids_and_names_are_tracee_v0_24_1s() {
        assert_eq!(event_id("sched_process_exec"), 715);
        assert_eq!(event_id("security_file_open"), 732);
        assert_eq!(event_id("security_inode_rename"), 768);
        assert_eq!(event_id("security_socket_connect"), 736);
        assert_eq!(event_id("security_sb_mount"), 740);
        assert_eq!(event_id("socket_dup"), 749);
        assert_eq!(event_id("module_load"), 785);
        // Syscall events: the x86_64 syscall number (core_amd64.go).
        assert_eq!(event_id("ptrace"), 101);
        assert_eq!(event_id("process_vm_writev"), 311);
        assert_eq!(event_id("openat"), 0);
    }

    #[test]
    fn slots_cover_tracee_and_own_arguments_once() {
        for kind in Kind::ALL {
            let def = kind.def();
            assert_eq!(Kind::named(def.name), Some(kind));
            for index in 0..def.slots() {
                let arg = def.arg(index);
                assert_eq!(def.slot(arg.name), Some(index), "{}", arg.name);
            }
        }
        let exec = &SCHED_PROCESS_EXEC;
        assert_eq!(exec.args.len(), 18, "core.go lists 18 exec arguments");
        let most = Kind::ALL.iter().map(|k| k.def().slots()).max().unwrap();
        assert!(
            most <= crate::event::INLINE_SLOTS,
            "{most} slots are not all inline"
        );
        assert_eq!(exec.slot("argv_truncated"), Some(18));
    }
}
