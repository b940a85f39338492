//! The live exec source: loads `bpf/exec.bpf.c`, attaches it to the kernel's
//! exec tracepoints and turns its ring buffer records into [`Event`]s.
//!
//! Kernel side (see `bpf/README.md`): `tp_btf/sched_process_exec` sends one
//! record per successful exec; the comm before the exec comes from
//! `tp_btf/sched_prepare_exec` (kernel 6.10+) or, on older kernels, from the
//! `syscalls/sys_enter_execve{,at}` tracepoints. Needs kernel BTF (5.8+).
//!
//! File events (`security_file_open`, `security_inode_rename`) come from
//! fentry programs on the LSM hooks (or kprobes on them, or a `sys_exit`
//! fallback: `file_hook`), loaded at start but switched on (and, but for
//! kprobes, attached) only while a loaded signature selects them
//! ([`ExecCollector::select_for`]), through their own ring buffer.
//!
//! Network, process and mount events (`security_socket_connect`,
//! `socket_dup`, `ptrace`, `process_vm_writev`, `security_sb_mount`) come
//! from the raw syscall tracepoints, attached and switched on per kind
//! only while a loaded signature selects them (`sys_source`); `module_load`
//! from `tp_btf/module_load`, likewise, where the kernel has modules.
//!
//! Ids in the events are the host's (the process's own pid namespace view is
//! not computed): `pid == host_pid`, `tid == host_tid`, `ppid == host_ppid`.

mod containers;
mod decode;
mod file_event;
pub mod file_filters;
mod file_hook;
mod file_maps;
mod file_record;
#[doc(hidden)]
pub(crate) mod fuzzing;
mod own_process;
mod record;
mod sockaddr;
mod sys_event;
mod sys_record;
mod sys_source;
mod task_record;

use std::io;
use std::path::Path;

use aya::maps::{Array, IterableMap as _, MapData, MapError, PerCpuArray, RingBuf};
use aya::programs::fentry::FEntryLinkId;
use aya::programs::kprobe::KProbeLinkId;
use aya::programs::tp_btf::BtfTracePointLinkId;
use aya::programs::{BtfTracePoint, FEntry, KProbe, ProgramError, TracePoint};
use aya::{Btf, BtfError, Ebpf, EbpfError, EbpfLoader};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

pub(crate) use self::decode::container_id_from_cgroup;
use self::decode::{Decoder, RawExec};
use self::file_filters::KernelPlan;
pub use self::file_hook::FileHook;
pub use self::file_maps::FileDrops;
use self::file_maps::{FileControls, read_drops};
use self::file_record::{FileActivity, OPEN_EVENT, RENAME_EVENT};
use self::own_process::OwnProcess;
use self::sys_record::SysActivity;
use self::sys_source::{MAP_SYS_SCRATCH, SysSource, selected_kinds};
use self::task_record::TaskRecord;
use crate::engine::EventSelector;
use crate::error_chain;
use crate::event::Event;
use crate::source::process_tree::{DEFAULT_MAX_PROCESSES, ProcessTree, read_proc};

/// The compiled eBPF object (empty when built with `SIGBOX_BPF_STUB=1`).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/exec.bpf.o"));
/// The same without the ELF-loader lookup, for kernels before 5.17 (which
/// lack `bpf_find_vma`): there `interpreter_pathname` stays empty.
static OBJECT_COMPAT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/exec_compat.bpf.o"));
/// The first kernel with `bpf_find_vma`.
const FIND_VMA_KERNEL: aya::util::KernelVersion = aya::util::KernelVersion::new(5, 17, 0);

/// Which build of the object this kernel can load.
fn object_for_this_kernel() -> &'static [u8] {
    match aya::util::KernelVersion::current() {
        Ok(version) if version < FIND_VMA_KERNEL => {
            tracing::warn!(
                "kernel {version:?} predates 5.17 (bpf_find_vma): exec events will not name \
                 the ELF loader (interpreter_pathname)"
            );
            OBJECT_COMPAT
        }
        _ => OBJECT,
    }
}

/// Program names, as in `bpf/exec.bpf.c`.
const PROG_EXEC: &str = "sigbox_exec";
const PROG_PREPARE_EXEC: &str = "sigbox_prepare_exec";
const PROG_ENTER_EXECVE: &str = "sigbox_enter_execve";
const PROG_ENTER_EXECVEAT: &str = "sigbox_enter_execveat";
const PROG_FILE_OPEN: &str = "sigbox_file_open";
const PROG_INODE_RENAME: &str = "sigbox_inode_rename";
const PROG_FILE_SYSCALL_EXIT: &str = "sigbox_file_syscall_exit";
const PROG_TASK_FORK: &str = "sigbox_task_fork";
const PROG_TASK_EXIT: &str = "sigbox_task_exit";
const PROG_FILE_OPEN_KPROBE: &str = "sigbox_file_open_kprobe";
const PROG_INODE_RENAME_KPROBE: &str = "sigbox_inode_rename_kprobe";
/// The kernel functions the file programs hook (fentry or kprobe).
const FN_FILE_OPEN: &str = "security_file_open";
const FN_INODE_RENAME: &str = "security_inode_rename";
/// Map names, as in `bpf/exec.bpf.c` and `bpf/file.bpf.h`.
const MAP_EVENTS: &str = "exec_events";
const MAP_DROPS: &str = "exec_drops";
const MAP_SCRATCH: &str = "exec_scratch";
const MAP_FILE_EVENTS: &str = "file_events";
const MAP_FILE_SCRATCH: &str = "file_scratch";
const MAP_FILE_CONFIG: &str = "file_config";
const MAP_FILE_BASENAMES: &str = "file_basenames";
const MAP_FILE_SUFFIXES: &str = "file_name_suffixes";
const MAP_FILE_PATHS: &str = "file_paths";
const MAP_FILE_DROPS: &str = "file_drops";
/// `const volatile` in exec.bpf.c: read each exec's environment when 1.
const GLOBAL_COLLECT_ENV: &str = "collect_env";

/// Ring buffer size used by [`ExecCollector::start`]: 16 MiB, about 25,000
/// typical records or 1,000 of the largest (~16 KiB).
pub const DEFAULT_RING_BUFFER_BYTES: u32 = 16 << 20;

/// How the live source is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorOptions {
    /// Size of the ring buffer, in bytes: a power-of-two multiple of the page
    /// size (default [`DEFAULT_RING_BUFFER_BYTES`]).
    pub ring_buffer_bytes: u32,
    /// Read each exec's environment into the `env` argument, bounded like
    /// argv (as Tracee's `--output option:exec-env`). Off by default:
    /// environments carry secrets, and most signatures do not need them.
    pub collect_env: bool,
    /// Processes the process tree keeps at most (least recently used
    /// evicted first).
    pub process_tree_max: usize,
}

impl Default for CollectorOptions {
    fn default() -> Self {
        Self {
            ring_buffer_bytes: DEFAULT_RING_BUFFER_BYTES,
            collect_env: false,
            process_tree_max: DEFAULT_MAX_PROCESSES,
        }
    }
}

/// Records drained per [`ExecCollector::read_batch`] call at most, so one call
/// cannot hold the task forever under a sustained exec storm; the rest is
/// read by the next call, which does not wait.
const MAX_BATCH: usize = 4096;
/// File or network records read per turn at most: between two turns the
/// exec ring is read, so an exec waits behind at most this many records'
/// decoding (some 3 µs each) rather than a flood's whole backlog.
const OTHER_RECORDS_PER_TURN: usize = 32;
/// How many records of each ring are read at a stop: more than a full
/// ring of the smallest records holds.
const MAX_PENDING_AT_STOP: usize = 16 * MAX_BATCH;

/// Linux capability numbers (`<linux/capability.h>`).
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

const PROC_SELF_STATUS: &str = "/proc/self/status";
const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

/// Errors of the live exec source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BpfError {
    /// The process lacks the capabilities to load and attach the programs.
    #[error(
        "missing capabilities: {missing} (run as root, or grant CAP_BPF and CAP_PERFMON; \
         CAP_SYS_ADMIN also works)"
    )]
    MissingPrivileges {
        /// The missing capabilities, e.g. `CAP_BPF, CAP_PERFMON`.
        missing: String,
    },
    /// `/proc/self/status` could not be read.
    #[error("reading {path}")]
    ProcStatus {
        /// The file read.
        path: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `/proc/self/status` has no parsable `CapEff:` line.
    #[error("{path} has no CapEff line")]
    NoCapEff {
        /// The file read.
        path: &'static str,
    },
    /// [`ExecCollector::start`] was called outside a tokio runtime.
    #[error("the live exec source must be started inside a tokio runtime")]
    NoRuntime,
    /// This binary was built with `SIGBOX_BPF_STUB=1` and has no eBPF object.
    #[error("sigbox was built without its eBPF object (SIGBOX_BPF_STUB=1); rebuild with clang-19")]
    StubBuild,
    /// The requested ring buffer size is not usable.
    #[error("ring buffer size {bytes} is not a power-of-two multiple of the page size")]
    RingBufferSize {
        /// The size asked for.
        bytes: u32,
    },
    /// The number of possible CPUs could not be read.
    #[error("reading the possible CPUs from {path}")]
    Cpus {
        /// The file read.
        path: &'static str,
        /// The cause.
        #[source]
        error: io::Error,
    },
    /// Kernel BTF is missing or unreadable (needs `CONFIG_DEBUG_INFO_BTF`).
    #[error("reading kernel BTF from /sys/kernel/btf/vmlinux")]
    Btf(#[source] BtfError),
    /// The object could not be loaded: parsing, CO-RE relocation, map creation.
    #[error("loading the eBPF object")]
    Object(#[source] EbpfError),
    /// A program the loader expects is not in the object.
    #[error("eBPF program `{program}` is missing from the object")]
    ProgramMissing {
        /// The program name.
        program: &'static str,
    },
    /// The kernel rejected a program; the verifier log says why.
    #[error("eBPF program `{program}` was rejected by the kernel; verifier log:\n{verifier_log}")]
    Verifier {
        /// The program name.
        program: &'static str,
        /// The verifier's log.
        verifier_log: String,
        /// The `BPF_PROG_LOAD` error.
        #[source]
        source: io::Error,
    },
    /// Loading (other than verification) or attaching a program failed.
    #[error("eBPF program `{program}`: {action} failed")]
    Program {
        /// The program name.
        program: &'static str,
        /// `load` or `attach`.
        action: &'static str,
        /// The cause.
        #[source]
        source: ProgramError,
    },
    /// A map the loader expects is not in the object.
    #[error("eBPF map `{map}` is missing from the object")]
    MapMissing {
        /// The map name.
        map: &'static str,
    },
    /// A map could not be opened as the expected type.
    #[error("eBPF map `{map}`")]
    Map {
        /// The map name.
        map: &'static str,
        /// The cause.
        #[source]
        source: MapError,
    },
    /// tracefs is not mounted and mounting it failed.
    #[error("mounting tracefs at {path}")]
    Tracefs {
        /// The mount point.
        path: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Registering or polling the ring buffer's file descriptor failed.
    #[error("polling the eBPF ring buffer")]
    Poll(#[source] io::Error),
}

/// Checks that this process may load and attach the eBPF programs.
///
/// Reads the effective capabilities (`CapEff` in `/proc/self/status`):
/// either `CAP_SYS_ADMIN`, or both `CAP_BPF` and `CAP_PERFMON`, are needed.
/// Root normally has all of them.
///
/// # Errors
/// [`BpfError::MissingPrivileges`] names what is missing;
/// [`BpfError::ProcStatus`] or [`BpfError::NoCapEff`] if the capabilities
/// cannot be read.
pub fn check_privileges() -> Result<(), BpfError> {
    let status =
        std::fs::read_to_string(PROC_SELF_STATUS).map_err(|source| BpfError::ProcStatus {
            path: PROC_SELF_STATUS,
            source,
        })?;
    let cap_eff = parse_cap_eff(&status).ok_or(BpfError::NoCapEff {
        path: PROC_SELF_STATUS,
    })?;
    match missing_capabilities(cap_eff) {
        None => Ok(()),
        Some(missing) => Err(BpfError::MissingPrivileges { missing }),
    }
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// The capabilities missing from `cap_eff`, comma-separated; `None` if enough.
fn missing_capabilities(cap_eff: u64) -> Option<String> {
    let has = |cap: u32| cap_eff & (1 << cap) != 0;
    // CAP_SYS_ADMIN covers both (and is the only option before Linux 5.8).
    if has(CAP_SYS_ADMIN) {
        return None;
    }
    let missing: Vec<&str> = [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .into_iter()
        .filter(|&(cap, _)| !has(cap))
        .map(|(_, name)| name)
        .collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// Where the comm before an exec (`prev_comm`) comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrevCommSource {
    /// `tp_btf/sched_prepare_exec` (Linux 6.10+).
    SchedPrepareExec,
    /// The `syscalls/sys_enter_execve` and `sys_enter_execveat` tracepoints
    /// (older kernels; needs tracefs).
    SyscallTracepoints,
    /// Neither could be attached; events carry `prev_comm: None`.
    Unavailable,
}

/// The loaded and attached exec programs and the reader of their events.
///
/// Dropping it detaches the programs and frees the maps (the links and maps
/// are owned by the [`Ebpf`] inside).
pub struct ExecCollector {
    // Field order is drop order: stop polling the ring buffer before the
    // programs and maps go away.
    ring: AsyncFd<RingBuf<MapData>>,
    /// File events, when the fentry programs could be attached.
    files: Option<FileSource>,
    /// Network, process and mount events, when their programs attached.
    sys: Option<SysSource>,
    drops: Array<MapData, u64>,
    decoder: Decoder,
    /// Every process's parent, name and executable, for entity ids and
    /// ancestry.
    tree: ProcessTree,
    /// Whether the kernel feeds the tree forks and exits.
    tree_fed: bool,
    /// The daemon itself, whose file records are skipped.
    own_process: OwnProcess,
    prev_comm_source: PrevCommSource,
    bad_records: u64,
    /// Owns the programs (and their links) and the maps not taken out.
    ebpf: Ebpf,
}

impl ExecCollector {
    /// Every event this source can produce; [`ExecCollector::served_events`]
    /// says which this kernel allowed.
    pub const EVENTS: &'static [&'static str] = &[
        "sched_process_exec",
        OPEN_EVENT,
        RENAME_EVENT,
        "security_socket_connect",
        "socket_dup",
        "ptrace",
        "process_vm_writev",
        "security_sb_mount",
        "module_load",
    ];

    /// Loads and attaches the exec programs with the default options
    /// ([`CollectorOptions::default`]).
    ///
    /// Must be called inside a tokio runtime (the ring buffer is registered
    /// with its reactor). If no `prev_comm` source can be attached, the
    /// collector still starts, logs a warning and reports
    /// [`PrevCommSource::Unavailable`].
    ///
    /// # Errors
    /// Missing privileges or BTF, a program the verifier rejects (the error
    /// carries the verifier log), or an attach failure; each names the
    /// program or map involved.
    pub fn start() -> Result<Self, BpfError> {
        Self::start_with(&CollectorOptions::default())
    }

    /// Like [`ExecCollector::start`], with the given options.
    ///
    /// # Errors
    /// As [`ExecCollector::start`], and [`BpfError::RingBufferSize`].
    pub fn start_with(options: &CollectorOptions) -> Result<Self, BpfError> {
        Self::open(
            object_for_this_kernel(),
            options,
            true,
            FileHook::candidates_from_env(),
        )
    }

    /// Loads and attaches; `try_prepare_exec: false` skips straight to the
    /// syscall-tracepoint fallback for `prev_comm` (so tests can exercise it
    /// on new kernels); `file_hooks` are the file-event hooks to try, in
    /// order.
    fn open(
        object: &[u8],
        options: &CollectorOptions,
        try_prepare_exec: bool,
        file_hooks: &[FileHook],
    ) -> Result<Self, BpfError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BpfError::NoRuntime);
        }
        if object.is_empty() {
            return Err(BpfError::StubBuild);
        }
        let bytes = options.ring_buffer_bytes;
        let page = page_size();
        if !bytes.is_power_of_two() || u64::from(bytes) < page {
            return Err(BpfError::RingBufferSize { bytes });
        }
        check_privileges()?;
        raise_memlock_limit();

        // One scratch record per possible CPU (the program indexes it by CPU id).
        let cpus = aya::util::nr_cpus().map_err(|(path, error)| BpfError::Cpus { path, error })?;
        let collect_env = u32::from(options.collect_env);
        let btf = Btf::from_sys_fs().map_err(BpfError::Btf)?;
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .map_max_entries(MAP_EVENTS, bytes)
            .map_max_entries(MAP_SCRATCH, u32::try_from(cpus).unwrap_or(u32::MAX))
            .map_max_entries(MAP_FILE_SCRATCH, u32::try_from(cpus).unwrap_or(u32::MAX))
            .map_max_entries(MAP_SYS_SCRATCH, u32::try_from(cpus).unwrap_or(u32::MAX))
            .override_global(GLOBAL_COLLECT_ENV, &collect_env, true)
            .load(object)
            .map_err(BpfError::Object)?;

        // Stash first, so the very first exec records already find prev_comm.
        let prev_comm_source = attach_prev_comm(&mut ebpf, &btf, try_prepare_exec);
        let exec: &mut BtfTracePoint = program(&mut ebpf, PROG_EXEC)?;
        exec.load("sched_process_exec", &btf)
            .map_err(|e| load_error(PROG_EXEC, e))?;
        exec.attach().map_err(|e| attach_error(PROG_EXEC, e))?;
        // The tree's feed, then its seed: a process forked in between is
        // in both, and its fork record (read later) wins.
        let tree_fed = match attach_task_programs(&mut ebpf, &btf) {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(
                    "{}; the process tree learns only from /proc at start and from execs",
                    error_chain(&error)
                );
                false
            }
        };
        let decoder = Decoder::new();
        let mut tree = ProcessTree::new(options.process_tree_max);
        tree.seed(read_proc(Path::new("/proc"), |ns| decoder.epoch_ns(ns)));

        let ring = take_map(&mut ebpf, MAP_EVENTS, RingBuf::try_from)?;
        // SAFETY: the RingBuf owns its map's file descriptor (through
        // MapData's OwnedFd), so the fd stays open and unchanged for as long
        // as the AsyncFd owns the RingBuf.
        let ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|error| BpfError::Poll(error.into_parts().1))?;
        let drops = take_map(&mut ebpf, MAP_DROPS, Array::try_from)?;
        // Exec events do not depend on them: without any hook, no file events.
        let files = match FileSource::load(&mut ebpf, &btf, file_hooks) {
            Ok(files) => Some(files),
            Err(error) => {
                tracing::warn!(
                    "{}; no security_file_open or security_inode_rename events",
                    error_chain(&error)
                );
                None
            }
        };
        let sys = match SysSource::load(&mut ebpf, &btf) {
            Ok(sys) => Some(sys),
            Err(error) => {
                tracing::warn!(
                    "{}; no network, process or mount events",
                    error_chain(&error)
                );
                None
            }
        };
        tracing::info!(
            ring_buffer_bytes = bytes,
            collect_env = options.collect_env,
            ?prev_comm_source,
            process_tree_max = options.process_tree_max,
            process_tree_seeded = tree.len(),
            tree_fed,
            "exec collector attached"
        );
        Ok(Self {
            ring,
            files,
            sys,
            drops,
            decoder,
            tree,
            tree_fed,
            own_process: OwnProcess::current(),
            prev_comm_source,
            bad_records: 0,
            ebpf,
        })
    }

    /// Waits until records are available, then decodes some of them and
    /// appends the events to `out`: the exec ring's first (up to a few
    /// thousand: everything available, unless under a sustained storm),
    /// else up to [`OTHER_RECORDS_PER_TURN`] file or network records and
    /// what the exec ring holds by then. Returns how many were appended, at
    /// least one.
    ///
    /// Malformed records are logged, counted ([`ExecCollector::bad_records`])
    /// and skipped. Cancel-safe: no record is consumed before the wait ends.
    ///
    /// # Errors
    /// [`BpfError::Poll`] if the ring buffer cannot be polled.
    pub async fn read_batch(&mut self, out: &mut Vec<Event>) -> Result<usize, BpfError> {
        let start = out.len();
        let Self {
            ring,
            files,
            sys,
            decoder,
            tree,
            own_process,
            bad_records,
            ..
        } = self;
        loop {
            // Lets the runtime's driver collect readiness first. Under a
            // sustained backlog in one ring (more opens than the daemon
            // decodes), that ring stays ready, every wait completes at once
            // and the runtime never parks: without this, the exec ring's
            // wake-ups, signals and timers were not collected for minutes.
            tokio::task::yield_now().await;
            let file_ring = async {
                match files.as_mut() {
                    Some(files) => files.ring.readable_mut().await,
                    None => std::future::pending().await,
                }
            };
            let sys_ring = async {
                match sys.as_mut() {
                    Some(sys) => sys.ring.readable_mut().await,
                    None => std::future::pending().await,
                }
            };
            // Execs first: they are few, and someone waits for their
            // findings; a flood of opens waits a turn instead.
            tokio::select! {
                biased;
                guard = ring.readable_mut() => {
                    let mut guard = guard.map_err(BpfError::Poll)?;
                    drain_ready(&mut guard, MAX_BATCH, |item| {
                        take_record(item, decoder, tree, bad_records, out)
                    });
                }
                guard = file_ring => {
                    let mut guard = guard.map_err(BpfError::Poll)?;
                    let first = out.len();
                    drain_ready(&mut guard, OTHER_RECORDS_PER_TURN, |item| {
                        take_file_record(item, decoder, own_process, bad_records, out)
                    });
                    catch_up_and_enrich(ring.get_mut(), first, decoder, tree, bad_records, out);
                }
                guard = sys_ring => {
                    let mut guard = guard.map_err(BpfError::Poll)?;
                    let first = out.len();
                    drain_ready(&mut guard, OTHER_RECORDS_PER_TURN, |item| {
                        take_sys_record(item, decoder, bad_records, out)
                    });
                    catch_up_and_enrich(ring.get_mut(), first, decoder, tree, bad_records, out);
                }
            }
            if out.len() > start {
                return Ok(out.len() - start);
            }
        }
    }

    /// Reads the records the ring buffers hold now, without waiting: at
    /// shutdown, events that happened before the stop are still evaluated
    /// rather than lost uncounted. At most [`MAX_PENDING_AT_STOP`] per ring:
    /// a ring that a flood keeps filling would otherwise be read forever,
    /// and the stop never come (what is left was produced after the stop).
    pub fn read_pending(&mut self, out: &mut Vec<Event>) -> usize {
        let start = out.len();
        let Self {
            ring,
            decoder,
            tree,
            own_process,
            bad_records,
            ..
        } = self;
        drain_at_stop(ring.get_mut(), |item| {
            take_record(item, decoder, tree, bad_records, out)
        });
        let first_other = out.len();
        if let Some(files) = self.files.as_mut() {
            drain_at_stop(files.ring.get_mut(), |item| {
                take_file_record(item, decoder, own_process, bad_records, out)
            });
        }
        if let Some(sys) = self.sys.as_mut() {
            drain_at_stop(sys.ring.get_mut(), |item| {
                take_sys_record(item, decoder, bad_records, out)
            });
        }
        for event in &mut out[first_other..] {
            tree.enrich(&mut event.context);
        }
        out.len() - start
    }

    /// The events this collector produces on this kernel: exec always, the
    /// file events when their programs could be loaded, the network,
    /// process and mount events when theirs were.
    pub fn served_events(&self) -> Vec<&'static str> {
        let files = self.files.is_some();
        Self::EVENTS
            .iter()
            .copied()
            .filter(|&name| match name {
                "sched_process_exec" => true,
                OPEN_EVENT | RENAME_EVENT => files,
                "module_load" => self.sys.as_ref().is_some_and(SysSource::serves_module_load),
                _ => self.sys.is_some(),
            })
            .collect()
    }

    /// Switches the file events on or off, and sets their kernel filters,
    /// for what the loaded signatures' selectors can accept. Cheap when
    /// nothing changed; a failure is logged (the previous setting stays).
    pub fn select_for<'a>(&mut self, selectors: impl IntoIterator<Item = &'a EventSelector>) {
        let selectors: Vec<&EventSelector> = selectors.into_iter().collect();
        self.switch_sys_kinds(&selectors);
        let Self { files, ebpf, .. } = self;
        let Some(files) = files.as_mut() else {
            return;
        };
        let plan = KernelPlan::for_selectors(selectors);
        if *files.controls.installed() == plan {
            return;
        }
        match files.follow(ebpf, &plan) {
            Ok(()) => tracing::info!(
                open = plan.open.is_some(),
                rename = plan.rename,
                attached = files.links.is_some(),
                open_filter = ?plan.open,
                "kernel file events set for the loaded signatures"
            ),
            Err(error) => tracing::error!(
                "cannot set the kernel's file events: {}",
                error_chain(&error)
            ),
        }
    }

    /// Switches the network, process and mount kinds the selectors name on,
    /// the others off; a failure is logged (the previous setting stays).
    fn switch_sys_kinds(&mut self, selectors: &[&EventSelector]) {
        let Self { sys, ebpf, .. } = self;
        let Some(sys) = sys.as_mut() else {
            return;
        };
        let wanted = selected_kinds(selectors.iter().map(|s| s.name.as_str()));
        match sys.follow(ebpf, &wanted) {
            Ok(false) => {}
            Ok(true) => tracing::info!(
                switched_on = ?sys.switched_on().iter().map(|k| k.name()).collect::<Vec<_>>(),
                attached = sys.attached(),
                module_load_attached = sys.module_attached(),
                "kernel network, process and mount events set for the loaded signatures"
            ),
            Err(error) => tracing::error!(
                "cannot switch the kernel's network, process and mount events: {}",
                error_chain(&error)
            ),
        }
    }

    /// Whether the network, process and mount programs are attached now.
    pub fn sys_programs_attached(&self) -> bool {
        self.sys.as_ref().is_some_and(SysSource::attached)
    }

    /// Whether `module_load`'s program is attached now.
    pub fn module_program_attached(&self) -> bool {
        self.sys.as_ref().is_some_and(SysSource::module_attached)
    }

    /// The network, process and mount kinds switched on now.
    pub fn sys_kinds_on(&self) -> Vec<&'static str> {
        self.sys
            .as_ref()
            .map(|sys| sys.switched_on().into_iter().map(|k| k.name()).collect())
            .unwrap_or_default()
    }

    /// Whether the file programs are attached now.
    pub fn file_programs_attached(&self) -> bool {
        self.files.as_ref().is_some_and(|f| f.links.is_some())
    }

    /// Where file events come from (`None` without file events).
    pub fn file_hook(&self) -> Option<FileHook> {
        self.files.as_ref().map(|f| f.hook)
    }

    /// What the kernel side runs now (`None` without file events).
    pub fn file_plan(&self) -> Option<&KernelPlan> {
        self.files.as_ref().map(|f| f.controls.installed())
    }

    /// A reader of the kernel's file-event state for the metrics endpoint
    /// (another thread): which kinds are on, and the drop counters.
    ///
    /// # Errors
    /// A map's descriptor cannot be duplicated; `Ok(None)` without file events.
    pub fn file_state_reader(
        &self,
    ) -> Result<Option<impl Fn() -> KernelFileState + Send + Sync + 'static>, MapError> {
        let Some(files) = self.files.as_ref() else {
            return Ok(None);
        };
        let drops: PerCpuArray<MapData, u64> =
            PerCpuArray::try_from(aya::maps::Map::PerCpuArray(dup_map(files.drops.map())?))?;
        let config: Array<MapData, file_maps::FileConfig> =
            Array::try_from(aya::maps::Map::Array(dup_map(files.config_view.map())?))?;
        Ok(Some(move || {
            let now = config.get(&0, 0).unwrap_or_default();
            KernelFileState {
                open_enabled: now.open_enabled != 0,
                rename_enabled: now.rename_enabled != 0,
                drops: read_drops(&drops),
            }
        }))
    }

    /// A reader of every optional kernel event kind's state for the
    /// metrics endpoint (another thread): which kinds are switched on, and
    /// what the kernel dropped.
    ///
    /// # Errors
    /// A map's descriptor cannot be duplicated.
    pub fn kernel_state_reader(
        &self,
    ) -> Result<impl Fn() -> crate::telemetry::KernelFiles + Send + Sync + 'static, MapError> {
        let files = self.file_state_reader()?;
        let sys = self.sys.as_ref().map(SysSource::state_reader).transpose()?;
        Ok(move || {
            let mut state = files
                .as_ref()
                .map(|read| crate::telemetry::KernelFiles::from(read()))
                .unwrap_or_default();
            for (event, on, lost) in sys.as_ref().map(|read| read()).unwrap_or_default() {
                state.enabled.push((event, on));
                state.dropped.push((event, "ring_buffer_full", lost));
            }
            state
        })
    }

    /// File events the kernel side dropped, by reason, since start.
    pub fn file_drops(&self) -> FileDrops {
        self.files
            .as_ref()
            .map(|f| read_drops(&f.drops))
            .unwrap_or_default()
    }

    /// Events of each kind the kernel side dropped because a ring buffer
    /// was full, since start.
    pub fn ring_losses(&self) -> [(&'static str, u64); 3] {
        let files = self.file_drops();
        [
            (Self::EVENTS[0], self.kernel_drops()),
            (OPEN_EVENT, files.open_ring_full),
            (RENAME_EVENT, files.rename_ring_full),
        ]
    }

    /// Exec records the kernel side dropped because the ring buffer was
    /// full, since start. Returns 0 (and logs) if the counter cannot be read.
    pub fn kernel_drops(&self) -> u64 {
        self.drops.get(&0, 0).unwrap_or_else(|error| {
            tracing::warn!("reading eBPF map `{MAP_DROPS}`: {error}");
            0
        })
    }

    /// A second handle on the kernel's drop counter, for reading it from
    /// another thread (the metrics endpoint reads it at scrape time).
    ///
    /// # Errors
    /// The map's descriptor cannot be duplicated.
    pub fn drops_reader(&self) -> Result<impl Fn() -> u64 + Send + Sync + 'static, MapError> {
        use std::os::fd::AsFd;
        let fd = self
            .drops
            .map()
            .fd()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|io_error| {
                MapError::SyscallError(aya::sys::SyscallError {
                    call: "dup",
                    io_error,
                })
            })?;
        let drops: Array<MapData, u64> =
            Array::try_from(aya::maps::Map::Array(MapData::from_fd(fd)?))?;
        Ok(move || drops.get(&0, 0).unwrap_or(0))
    }

    /// A reader of the process tree's `(processes held, evictions)` for
    /// the metrics endpoint (another thread).
    pub fn process_tree_reader(&self) -> impl Fn() -> (u64, u64) + Send + Sync + 'static {
        self.tree.counts_reader()
    }

    /// Whether the kernel feeds the process tree forks and exits.
    pub fn process_tree_fed(&self) -> bool {
        self.tree_fed
    }

    /// Records skipped because they were malformed, since start.
    pub fn bad_records(&self) -> u64 {
        self.bad_records
    }

    /// Where `prev_comm` comes from on this kernel.
    pub fn prev_comm_source(&self) -> PrevCommSource {
        self.prev_comm_source
    }
}

/// The kernel's file-event state, as the metrics endpoint shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelFileState {
    /// `security_file_open` is switched on.
    pub open_enabled: bool,
    /// `security_inode_rename` is switched on.
    pub rename_enabled: bool,
    /// Events dropped in the kernel, by reason.
    pub drops: FileDrops,
}

impl From<KernelFileState> for crate::telemetry::KernelFiles {
    fn from(state: KernelFileState) -> Self {
        Self {
            enabled: vec![
                (OPEN_EVENT, state.open_enabled),
                (RENAME_EVENT, state.rename_enabled),
            ],
            dropped: state.drops.rows().to_vec(),
        }
    }
}

/// The file programs' ring buffer and maps.
struct FileSource {
    ring: AsyncFd<RingBuf<MapData>>,
    controls: FileControls,
    drops: PerCpuArray<MapData, u64>,
    /// A second handle on `file_config`, for the metrics reader.
    config_view: Array<MapData, file_maps::FileConfig>,
    hook: FileHook,
    /// Set while the programs are attached.
    links: Option<FileLinks>,
}

impl FileSource {
    /// Loads the file programs of the first of `hooks` the kernel accepts
    /// (see [`FileHook`]) and takes their maps. fentry and the syscall exit
    /// are attached only while a loaded signature selects a file event (see
    /// [`ExecCollector::select_for`]): loading needs the privileges the
    /// daemon drops, attaching and detaching them do not. Kprobes need them
    /// to attach too, so they are attached here, for good.
    fn load(ebpf: &mut Ebpf, btf: &Btf, hooks: &[FileHook]) -> Result<Self, BpfError> {
        let (hook, links) = file_hook::choose(hooks, |hook| match hook {
            FileHook::Fentry => load_fentry(ebpf, btf).map(|()| None),
            FileHook::Kprobe => load_and_attach_kprobes(ebpf).map(Some),
            FileHook::SyscallExit => {
                let prog: &mut BtfTracePoint = program(ebpf, PROG_FILE_SYSCALL_EXIT)?;
                prog.load("sys_exit", btf)
                    .map_err(|e| load_error(PROG_FILE_SYSCALL_EXIT, e))?;
                Ok(None)
            }
        })?;
        let ring = take_map(ebpf, MAP_FILE_EVENTS, RingBuf::try_from)?;
        // SAFETY: as for the exec ring: the RingBuf owns its fd for as long
        // as the AsyncFd owns the RingBuf.
        let ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|error| BpfError::Poll(error.into_parts().1))?;
        let config: Array<MapData, file_maps::FileConfig> =
            take_map(ebpf, MAP_FILE_CONFIG, Array::try_from)?;
        let config_view = Array::try_from(aya::maps::Map::Array(dup_map(config.map()).map_err(
            |source| BpfError::Map {
                map: MAP_FILE_CONFIG,
                source,
            },
        )?))
        .map_err(|source| BpfError::Map {
            map: MAP_FILE_CONFIG,
            source,
        })?;
        let controls = FileControls::new(
            config,
            take_map(ebpf, MAP_FILE_BASENAMES, aya::maps::HashMap::try_from)?,
            take_map(ebpf, MAP_FILE_SUFFIXES, aya::maps::HashMap::try_from)?,
            take_map(ebpf, MAP_FILE_PATHS, aya::maps::lpm_trie::LpmTrie::try_from)?,
        );
        let drops = take_map(ebpf, MAP_FILE_DROPS, PerCpuArray::try_from)?;
        Ok(Self {
            ring,
            controls,
            drops,
            config_view,
            hook,
            links,
        })
    }

    /// Attaches the programs (if they are not) when `plan` needs any file
    /// event, switches the events per `plan`, and detaches them when it
    /// needs none: an event no signature selects costs the kernel nothing.
    fn follow(&mut self, ebpf: &mut Ebpf, plan: &KernelPlan) -> Result<(), BpfError> {
        let needed = *plan != KernelPlan::OFF;
        if needed && self.links.is_none() {
            self.links = Some(attach_file_programs(ebpf, self.hook)?);
        }
        self.controls.apply(plan).map_err(|source| BpfError::Map {
            map: MAP_FILE_CONFIG,
            source,
        })?;
        if !needed
            && self.hook.attaches_on_demand()
            && let Some(links) = self.links.take()
        {
            detach_file_programs(ebpf, links);
        }
        Ok(())
    }
}

/// The links of the attached file programs.
enum FileLinks {
    Fentry(FEntryLinkId, FEntryLinkId),
    /// Attached at load and kept (never detached while the collector lives).
    Kprobe,
    SyscallExit(BtfTracePointLinkId),
}

fn attach_file_programs(ebpf: &mut Ebpf, hook: FileHook) -> Result<FileLinks, BpfError> {
    match hook {
        FileHook::Fentry => {
            let open = attach_fentry(ebpf, PROG_FILE_OPEN)?;
            match attach_fentry(ebpf, PROG_INODE_RENAME) {
                Ok(rename) => Ok(FileLinks::Fentry(open, rename)),
                Err(error) => {
                    detach_fentry(ebpf, PROG_FILE_OPEN, open);
                    Err(error)
                }
            }
        }
        FileHook::Kprobe => load_and_attach_kprobes(ebpf),
        FileHook::SyscallExit => {
            let prog: &mut BtfTracePoint = program(ebpf, PROG_FILE_SYSCALL_EXIT)?;
            let link = prog
                .attach()
                .map_err(|e| attach_error(PROG_FILE_SYSCALL_EXIT, e))?;
            Ok(FileLinks::SyscallExit(link))
        }
    }
}

/// Loads and attaches the kprobes on both functions (or neither: a refused
/// second attach detaches the first).
fn load_and_attach_kprobes(ebpf: &mut Ebpf) -> Result<FileLinks, BpfError> {
    let mut open_link = None;
    for (name, function) in [
        (PROG_FILE_OPEN_KPROBE, FN_FILE_OPEN),
        (PROG_INODE_RENAME_KPROBE, FN_INODE_RENAME),
    ] {
        let prog: &mut KProbe = program(ebpf, name)?;
        let attached = prog
            .load()
            .map_err(|e| load_error(name, e))
            .and_then(|()| prog.attach(function, 0).map_err(|e| attach_error(name, e)));
        match attached {
            Ok(link) if name == PROG_FILE_OPEN_KPROBE => open_link = Some(link),
            Ok(_) => {}
            Err(error) => {
                if let Some(link) = open_link.take() {
                    detach_kprobe(ebpf, PROG_FILE_OPEN_KPROBE, link);
                }
                return Err(error);
            }
        }
    }
    Ok(FileLinks::Kprobe)
}

fn detach_kprobe(ebpf: &mut Ebpf, name: &'static str, link: KProbeLinkId) {
    let detached = program::<KProbe>(ebpf, name)
        .and_then(|prog| prog.detach(link).map_err(|e| attach_error(name, e)));
    if let Err(error) = detached {
        tracing::warn!("detaching: {}", error_chain(&error));
    }
}

fn attach_fentry(ebpf: &mut Ebpf, name: &'static str) -> Result<FEntryLinkId, BpfError> {
    let prog: &mut FEntry = program(ebpf, name)?;
    prog.attach().map_err(|e| attach_error(name, e))
}

fn detach_fentry(ebpf: &mut Ebpf, name: &'static str, link: FEntryLinkId) {
    let detached = program::<FEntry>(ebpf, name)
        .and_then(|prog| prog.detach(link).map_err(|e| attach_error(name, e)));
    if let Err(error) = detached {
        tracing::warn!("detaching: {}", error_chain(&error));
    }
}

/// Detaches the file programs; a failure is logged (the map switches are
/// off already, so the programs send nothing).
fn detach_file_programs(ebpf: &mut Ebpf, links: FileLinks) {
    match links {
        FileLinks::Fentry(open, rename) => {
            detach_fentry(ebpf, PROG_FILE_OPEN, open);
            detach_fentry(ebpf, PROG_INODE_RENAME, rename);
        }
        // Kept: their programs own the links, and detach them on drop.
        FileLinks::Kprobe => {}
        FileLinks::SyscallExit(link) => {
            let detached =
                program::<BtfTracePoint>(ebpf, PROG_FILE_SYSCALL_EXIT).and_then(|prog| {
                    prog.detach(link)
                        .map_err(|e| attach_error(PROG_FILE_SYSCALL_EXIT, e))
                });
            if let Err(error) = detached {
                tracing::warn!("detaching: {}", error_chain(&error));
            }
        }
    }
}

/// Loads (verifies) the fentry programs without attaching them.
fn load_fentry(ebpf: &mut Ebpf, btf: &Btf) -> Result<(), BpfError> {
    for (name, function) in [
        (PROG_FILE_OPEN, FN_FILE_OPEN),
        (PROG_INODE_RENAME, FN_INODE_RENAME),
    ] {
        let prog: &mut FEntry = program(ebpf, name)?;
        prog.load(function, btf).map_err(|e| load_error(name, e))?;
    }
    Ok(())
}

/// A second handle on a map (its descriptor duplicated).
fn dup_map(map: &MapData) -> Result<MapData, MapError> {
    use std::os::fd::AsFd;
    let fd = map.fd().as_fd().try_clone_to_owned().map_err(|io_error| {
        MapError::SyscallError(aya::sys::SyscallError {
            call: "dup",
            io_error,
        })
    })?;
    MapData::from_fd(fd)
}

/// Reads up to `limit` records of a ready ring buffer; clears its
/// readiness only when it is empty (epoll is edge-triggered: clearing with
/// records left would wait for the next event to read them).
fn drain_ready(
    guard: &mut tokio::io::unix::AsyncFdReadyMutGuard<'_, RingBuf<MapData>>,
    limit: usize,
    mut take: impl FnMut(&[u8]),
) {
    let ring = guard.get_inner_mut();
    let mut drained = false;
    for _ in 0..limit {
        let Some(item) = ring.next() else {
            drained = true;
            break;
        };
        take(&item);
    }
    if drained {
        guard.clear_ready();
    }
}

/// Reads up to [`MAX_PENDING_AT_STOP`] records of `ring` without waiting.
fn drain_at_stop(ring: &mut RingBuf<MapData>, mut take: impl FnMut(&[u8])) {
    for _ in 0..MAX_PENDING_AT_STOP {
        let Some(item) = ring.next() else {
            return;
        };
        take(&item);
    }
}

/// Decodes one file record into `out` (none of the daemon's own), or counts
/// (and sometimes logs) it as bad.
fn take_file_record(
    item: &[u8],
    decoder: &mut Decoder,
    own_process: &OwnProcess,
    bad_records: &mut u64,
    out: &mut Vec<Event>,
) {
    match FileActivity::parse(item) {
        // Not even decoded: decoding may open /proc/<pid>/cgroup, another
        // record of our own.
        Ok(activity) if own_process.made(&activity.record) => {}
        Ok(activity) => out.push(decoder.decode_file(&activity)),
        Err(error) => {
            *bad_records += 1;
            if *bad_records <= 100 || bad_records.is_multiple_of(1000) {
                tracing::warn!("skipped file record ({bad_records} so far): {error}");
            }
        }
    }
}

/// Decodes one network/process/mount record into `out`, or counts (and
/// sometimes logs) it as bad.
fn take_sys_record(
    item: &[u8],
    decoder: &mut Decoder,
    bad_records: &mut u64,
    out: &mut Vec<Event>,
) {
    match SysActivity::parse(item) {
        Ok(activity) => out.push(decoder.decode_sys(&activity)),
        Err(error) => {
            *bad_records += 1;
            if *bad_records <= 100 || bad_records.is_multiple_of(1000) {
                tracing::warn!("skipped sys record ({bad_records} so far): {error}");
            }
        }
    }
}

/// Reads what the exec ring holds now (forks and exits among it, which
/// happened before the file or network records just read), then fills the
/// entity ids and ancestry of the events from `first` on that are not
/// execs (those were filled as they were read).
fn catch_up_and_enrich(
    exec_ring: &mut RingBuf<MapData>,
    first: usize,
    decoder: &mut Decoder,
    tree: &mut ProcessTree,
    bad_records: &mut u64,
    out: &mut Vec<Event>,
) {
    let others = first..out.len();
    // Fork and exit records do not wake the reader until 256 KiB of them
    // wait (bpf/task.bpf.h): read them all, then some.
    for _ in 0..MAX_PENDING_AT_STOP {
        let Some(item) = exec_ring.next() else {
            break;
        };
        take_record(&item, decoder, tree, bad_records, out);
    }
    for event in &mut out[others] {
        tree.enrich(&mut event.context);
    }
}

/// Applies a fork or exit record to the tree, or decodes an exec record
/// into `out` (its process's entry updated, its ancestry filled from the
/// tree as it is at that point of the ring); counts (and sometimes logs)
/// a malformed one as bad.
fn take_record(
    item: &[u8],
    decoder: &mut Decoder,
    tree: &mut ProcessTree,
    bad_records: &mut u64,
    out: &mut Vec<Event>,
) {
    if let Some(task) = TaskRecord::read(item) {
        if !task.apply(tree, decoder) {
            *bad_records += 1;
        }
        return;
    }
    match RawExec::parse(item) {
        Ok(raw) => {
            let mut event = decoder.decode(&raw);
            tree.exec_event(&event.context);
            tree.enrich(&mut event.context);
            out.push(event);
        }
        Err(error) => {
            *bad_records += 1;
            // Logs the first hundred, then one in a thousand.
            if *bad_records <= 100 || bad_records.is_multiple_of(1000) {
                tracing::warn!("skipped exec record ({bad_records} so far): {error}");
            }
        }
    }
}

/// Attaches the programs that stash the comm before exec: the BTF
/// tracepoint where the kernel has it, the syscall tracepoints otherwise.
/// A failure only costs `prev_comm`, so it is logged, not returned.
fn attach_prev_comm(ebpf: &mut Ebpf, btf: &Btf, try_prepare_exec: bool) -> PrevCommSource {
    let prepare_exec = if try_prepare_exec {
        attach_prepare_exec(ebpf, btf)
    } else {
        Ok(false)
    };
    match prepare_exec {
        Ok(true) => return PrevCommSource::SchedPrepareExec,
        Ok(false) => tracing::info!(
            "kernel has no sched_prepare_exec tracepoint (before 6.10); \
             taking prev_comm from the execve syscall tracepoints"
        ),
        Err(error) => tracing::warn!(
            "{}; taking prev_comm from the execve syscall tracepoints",
            error_chain(&error)
        ),
    }
    match attach_syscall_tracepoints(ebpf) {
        Ok(()) => PrevCommSource::SyscallTracepoints,
        Err(error) => {
            tracing::warn!("{}; events will have no prev_comm", error_chain(&error));
            PrevCommSource::Unavailable
        }
    }
}

/// Attaches the process tree's fork and exit programs.
fn attach_task_programs(ebpf: &mut Ebpf, btf: &Btf) -> Result<(), BpfError> {
    for (name, tracepoint) in [
        (PROG_TASK_FORK, "sched_process_fork"),
        (PROG_TASK_EXIT, "sched_process_exit"),
    ] {
        let prog: &mut BtfTracePoint = program(ebpf, name)?;
        prog.load(tracepoint, btf)
            .map_err(|e| load_error(name, e))?;
        prog.attach().map_err(|e| attach_error(name, e))?;
    }
    Ok(())
}

/// `Ok(false)` when the kernel lacks the tracepoint.
fn attach_prepare_exec(ebpf: &mut Ebpf, btf: &Btf) -> Result<bool, BpfError> {
    let prog: &mut BtfTracePoint = program(ebpf, PROG_PREPARE_EXEC)?;
    match prog.load("sched_prepare_exec", btf) {
        Ok(()) => {}
        Err(ProgramError::Btf(BtfError::UnknownBtfTypeName { .. })) => return Ok(false),
        Err(error) => return Err(load_error(PROG_PREPARE_EXEC, error)),
    }
    prog.attach()
        .map_err(|e| attach_error(PROG_PREPARE_EXEC, e))?;
    Ok(true)
}

fn attach_syscall_tracepoints(ebpf: &mut Ebpf) -> Result<(), BpfError> {
    ensure_tracefs()?;
    for (name, tracepoint) in [
        (PROG_ENTER_EXECVE, "sys_enter_execve"),
        (PROG_ENTER_EXECVEAT, "sys_enter_execveat"),
    ] {
        let prog: &mut TracePoint = program(ebpf, name)?;
        prog.load().map_err(|e| load_error(name, e))?;
        prog.attach("syscalls", tracepoint)
            .map_err(|e| attach_error(name, e))?;
    }
    Ok(())
}

/// Classic tracepoints are attached by id, read from tracefs; mount it
/// where aya looks first if neither of its usual places has it.
fn ensure_tracefs() -> Result<(), BpfError> {
    let mounted = |dir: &str| Path::new(dir).join("events").is_dir();
    if mounted(TRACEFS) || mounted(DEBUGFS_TRACING) {
        return Ok(());
    }
    // SAFETY: all pointers are NUL-terminated C string literals.
    let rc = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            c"/sys/kernel/tracing".as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(BpfError::Tracefs {
            path: TRACEFS,
            source: io::Error::last_os_error(),
        });
    }
    tracing::info!("mounted tracefs at {TRACEFS}");
    Ok(())
}

/// The program `name`, as type `T`.
fn program<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, BpfError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let prog = ebpf
        .program_mut(name)
        .ok_or(BpfError::ProgramMissing { program: name })?;
    prog.try_into().map_err(|source| BpfError::Program {
        program: name,
        action: "load",
        source,
    })
}

/// Takes map `name` out of the object as type `T`.
fn take_map<T>(
    ebpf: &mut Ebpf,
    name: &'static str,
    convert: impl FnOnce(aya::maps::Map) -> Result<T, MapError>,
) -> Result<T, BpfError> {
    let map = ebpf
        .take_map(name)
        .ok_or(BpfError::MapMissing { map: name })?;
    convert(map).map_err(|source| BpfError::Map { map: name, source })
}

fn load_error(program: &'static str, error: ProgramError) -> BpfError {
    match error {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => BpfError::Verifier {
            program,
            verifier_log: verifier_log.to_string(),
            source: io_error,
        },
        source => BpfError::Program {
            program,
            action: "load",
            source,
        },
    }
}

fn attach_error(program: &'static str, source: ProgramError) -> BpfError {
    BpfError::Program {
        program,
        action: "attach",
        source,
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK, whose default
/// (64 KiB or 8 MiB) is smaller than the ring buffer. Later kernels use
/// memory cgroups and ignore it, so a failure here is only logged.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `unlimited` is a valid rlimit that outlives the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
        tracing::debug!("raising RLIMIT_MEMLOCK: {}", io::Error::last_os_error());
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::engine::FieldFilter;
    use crate::engine::bindings::v1::sigbox::signature::types::{Event, ExecArgs, Payload, Value};
    use crate::engine::contract::event_to_v1;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn capability_rules() {
        let bit = |cap: u32| 1u64 << cap;
        assert_eq!(missing_capabilities(0x3f_ffff_ffff), None);
        assert_eq!(missing_capabilities(bit(CAP_SYS_ADMIN)), None);
        assert_eq!(missing_capabilities(bit(CAP_BPF) | bit(CAP_PERFMON)), None);
        assert_eq!(
            missing_capabilities(bit(CAP_BPF)).as_deref(),
            Some("CAP_PERFMON")
        );
        assert_eq!(
            missing_capabilities(0).as_deref(),
            Some("CAP_BPF, CAP_PERFMON")
        );
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(parse_cap_eff("Name:\tx\n"), None);
    }

    #[test]
    fn start_outside_a_runtime_is_an_error() {
        assert!(matches!(ExecCollector::start(), Err(BpfError::NoRuntime)));
    }

    /// Why the privileged tests cannot run here, if they cannot.
    fn skip_reason() -> Option<String> {
        if OBJECT.is_empty() {
            return Some("built with SIGBOX_BPF_STUB (no eBPF object)".to_owned());
        }
        if let Err(error) = check_privileges() {
            return Some(error_chain(&error));
        }
        if !Path::new("/sys/kernel/btf/vmlinux").exists() {
            return Some("kernel has no BTF (/sys/kernel/btf/vmlinux)".to_owned());
        }
        None
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    }

    fn exec_args(event: &Event) -> &ExecArgs {
        match &event.payload {
            Payload::Exec(args) => args,
            Payload::Generic(_) => panic!("not an exec payload"),
        }
    }

    fn ns_inode(name: &str) -> u32 {
        use std::os::unix::fs::MetadataExt;
        let ino = std::fs::metadata(format!("/proc/self/ns/{name}"))
            .expect("ns")
            .ino();
        u32::try_from(ino).expect("ns inode fits u32")
    }

    /// Reads events until `want` returns true for one of them, or panics
    /// after `limit`.
    async fn wait_for(
        collector: &mut ExecCollector,
        limit: Duration,
        what: &str,
        mut want: impl FnMut(&Event) -> bool,
    ) -> Event {
        let search = async {
            let mut batch = Vec::new();
            loop {
                batch.clear();
                collector.read_batch(&mut batch).await.expect("read_batch");
                if let Some(event) = batch
                    .drain(..)
                    .map(|live| event_to_v1(&live))
                    .find(&mut want)
                {
                    return event;
                }
            }
        };
        tokio::time::timeout(limit, search)
            .await
            .unwrap_or_else(|_| panic!("no event {what} within {limit:?}"))
    }

    #[test]
    fn reports_exec_of_spawned_child() {
        if let Some(reason) = skip_reason() {
            eprintln!("skipped: {reason}");
            return;
        }
        runtime().block_on(async {
            let collector = ExecCollector::start().unwrap_or_else(|e| {
                panic!("starting the collector: {}", error_chain(&e));
            });
            check_renamed_child_exec(collector).await;
        });
    }

    #[test]
    fn syscall_tracepoint_fallback_provides_prev_comm() {
        if let Some(reason) = skip_reason() {
            eprintln!("skipped: {reason}");
            return;
        }
        runtime().block_on(async {
            let collector = ExecCollector::open(
                object_for_this_kernel(),
                &CollectorOptions::default(),
                false,
                FileHook::CHAIN,
            )
            .unwrap_or_else(|e| panic!("starting the collector: {}", error_chain(&e)));
            assert_eq!(
                collector.prev_comm_source(),
                PrevCommSource::SyscallTracepoints
            );
            check_renamed_child_exec(collector).await;
        });
    }

    /// The build for kernels before 5.17 verifies and reports everything but
    /// the loader (checked on this kernel, which can load both).
    #[test]
    fn compat_object_reports_all_but_the_loader() {
        if let Some(reason) = skip_reason() {
            eprintln!("skipped: {reason}");
            return;
        }
        runtime().block_on(async {
            let mut collector = ExecCollector::open(
                OBJECT_COMPAT,
                &CollectorOptions::default(),
                true,
                FileHook::CHAIN,
            )
            .unwrap_or_else(|e| panic!("starting the collector: {}", error_chain(&e)));
            let mut child = Command::new("/usr/bin/true")
                .spawn()
                .expect("spawning true");
            let pid = child.id();
            let event = wait_for(&mut collector, Duration::from_secs(20), "for true", |e| {
                e.host_pid == pid
            })
            .await;
            child.wait().expect("waiting for true");
            let args = exec_args(&event);
            let resolved = std::fs::canonicalize("/usr/bin/true").unwrap();
            assert_eq!(args.pathname, resolved.to_str().unwrap());
            assert!(!args.pwd.is_empty());
            assert_eq!(args.interpreter_pathname, "");
            assert!(!args.extra.iter().any(|f| f.name == "interpreter_inode"));
        });
    }

    /// Spawns a child that renames itself `sigbox-pre`, then execs
    /// `/bin/true` with a known argv, and checks the event it causes.
    async fn check_renamed_child_exec(mut collector: ExecCollector) {
        let mut command = Command::new("/bin/true");
        command
            .arg0("sigbox-argv0")
            .args(["marker one", "", "tw\u{e9}"]);
        // SAFETY: prctl is async-signal-safe, as the hook requires.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_NAME, c"sigbox-pre".as_ptr()) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut child = command
            .stdin(Stdio::null())
            .spawn()
            .expect("spawning /bin/true");
        let pid = child.id();
        let event = wait_for(
            &mut collector,
            Duration::from_secs(20),
            "for the child",
            |e| e.host_pid == pid,
        )
        .await;
        assert!(child.wait().expect("waiting for the child").success());
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();

        assert_eq!(event.name, "sched_process_exec");
        assert_eq!((event.pid, event.tid), (pid, pid));
        assert_eq!(event.ppid, std::process::id());
        assert_eq!(event.process_name, "true");
        // SAFETY: getuid has no preconditions.
        assert_eq!(event.uid, unsafe { libc::getuid() });
        assert_eq!(event.mount_ns, ns_inode("mnt"));
        assert_eq!(event.pid_ns, ns_inode("pid"));
        assert_eq!(event.return_value, 0);
        let ts = u128::from(event.timestamp_ns);
        // One second of slack: the boot-to-epoch offset is taken once.
        assert!(
            ts + 1_000_000_000 >= before && ts <= after + 1_000_000_000,
            "{ts}"
        );
        // pathname is the file run, resolved (merged-/usr systems link /bin).
        let true_path = std::fs::canonicalize("/bin/true").expect("resolving /bin/true");
        assert_eq!(event.executable_path, true_path.to_str().unwrap());
        assert_eq!(
            event.container_id.is_empty(),
            matches!(
                event.origin,
                crate::engine::bindings::v1::sigbox::signature::types::Origin::Host
            )
        );
        let args = exec_args(&event);
        assert_eq!(
            args.prev_comm.as_deref(),
            Some("sigbox-pre"),
            "{:?}",
            collector.prev_comm_source()
        );
        assert_eq!(args.argv, ["sigbox-argv0", "marker one", "", "tw\u{e9}"]);
        assert!(!args.argv_truncated);
        assert_eq!(args.pathname, true_path.to_str().unwrap());
        assert_eq!(args.cmdpath, "/bin/true");
        // A dynamically linked program: its loader is reported, as Tracee
        // does, where the kernel has bpf_find_vma.
        if std::ptr::eq(object_for_this_kernel(), OBJECT) {
            let loader = std::fs::metadata(&args.interpreter_pathname)
                .unwrap_or_else(|e| panic!("loader {:?}: {e}", args.interpreter_pathname));
            let loader_inode = args
                .extra
                .iter()
                .find(|f| f.name == "interpreter_inode")
                .map(|f| format!("{:?}", f.value));
            assert_eq!(
                loader_inode,
                Some(format!("{:?}", Value::Unsigned(loader.ino())))
            );
        } else {
            assert_eq!(args.interpreter_pathname, "");
        }
        assert_eq!(args.inode, std::fs::metadata(&true_path).unwrap().ino());
        assert_eq!(args.inode_mode & libc::S_IFMT, libc::S_IFREG);
        assert!(!args.invoked_from_kernel);
        assert_eq!(collector.bad_records(), 0);
    }

    #[test]
    fn long_argv_is_truncated_and_scripts_report_their_interpreter() {
        if let Some(reason) = skip_reason() {
            eprintln!("skipped: {reason}");
            return;
        }
        runtime().block_on(async {
            let mut collector = ExecCollector::start().expect("starting the collector");
            let dir = std::env::temp_dir().join(format!("sigbox-bpf-test-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let script = dir.join("script.sh");
            std::fs::write(&script, "#!/bin/sh\nexit 0\n").expect("writing script");
            std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .expect("chmod");
            let long = "x".repeat(3000);
            let mut child = Command::new(&script)
                .args([&long, &long, &long, &long])
                .spawn()
                .expect("spawning the script");
            let pid = child.id();
            let event = wait_for(
                &mut collector,
                Duration::from_secs(20),
                "for the script",
                |e| e.host_pid == pid,
            )
            .await;
            child.wait().expect("waiting for the script");
            std::fs::remove_dir_all(&dir).ok();

            let args = exec_args(&event);
            // The file run is the interpreter; the script is what exec was given.
            let sh = std::fs::canonicalize("/bin/sh").expect("resolving /bin/sh");
            assert_eq!(args.pathname, sh.to_str().unwrap());
            assert_eq!(args.cmdpath, script.to_str().unwrap());
            let interp = args.extra.iter().find(|f| f.name == "interp");
            assert_eq!(
                interp.map(|f| format!("{:?}", f.value)),
                Some(format!("{:?}", Value::Text("/bin/sh".into())))
            );
            assert!(args.argv_truncated);
            // binfmt_script rewrites argv to `/bin/sh <script> args…`.
            assert_eq!(args.argv[0], "/bin/sh");
            assert_eq!(args.argv[1], script.to_str().unwrap());
            let total: usize = args.argv.iter().map(|a| a.len() + 1).sum();
            assert!(total <= record::c::EXEC_ARGV_CAP as usize + 1, "{total}");
            assert!(args.argv.last().unwrap().len() < long.len());
        });
    }

    #[test]
    fn burst_of_5000_execs_is_not_dropped() {
        if let Some(reason) = skip_reason() {
            eprintln!("skipped: {reason}");
            return;
        }
        const EXECS: usize = 5000;
        runtime().block_on(async {
            let mut collector = ExecCollector::start().expect("starting the collector");
            let mut shell = Command::new("/bin/sh")
                .arg("-c")
                .arg(format!(
                    "i=0; while [ $i -lt {EXECS} ]; do /bin/true; i=$((i+1)); done"
                ))
                .spawn()
                .expect("spawning the shell");
            let shell_pid = shell.id();
            let mut seen = 0;
            let mut batch = Vec::new();
            let collect = async {
                while seen < EXECS {
                    batch.clear();
                    collector.read_batch(&mut batch).await.expect("read_batch");
                    seen += batch
                        .iter()
                        .filter(|e| {
                            e.context.host_ppid == shell_pid && e.context.process_name == "true"
                        })
                        .count();
                }
            };
            let finished = tokio::time::timeout(Duration::from_secs(300), collect).await;
            shell.wait().expect("waiting for the shell");
            assert!(finished.is_ok(), "saw {seen} of {EXECS} execs");
            assert_eq!(collector.kernel_drops(), 0);
        });
    }

    fn file_selector(name: &str, filters: Vec<crate::engine::FieldFilter>) -> EventSelector {
        EventSelector {
            name: name.to_owned(),
            origin: crate::engine::OriginFilter::Any,
            filters,
            fields: Vec::new(),
        }
    }

    /// Opens for writing, of `pathname` exactly.
    fn writes_of(pathname: &str) -> EventSelector {
        file_selector(
            OPEN_EVENT,
            vec![writes(), FieldFilter::equals("pathname", &[pathname])],
        )
    }

    /// Opens for writing, of files named `name`.
    fn writes_named(name: &str) -> EventSelector {
        let named = FieldFilter {
            field: "pathname".into(),
            test: crate::engine::FilterTest::BasenameIn(vec![name.into()]),
        };
        file_selector(OPEN_EVENT, vec![writes(), named])
    }

    fn writes() -> FieldFilter {
        FieldFilter {
            field: "flags".into(),
            test: crate::engine::FilterTest::AccessMode(crate::engine::Access::Write),
        }
    }

    fn generic_arg<'a>(event: &'a crate::event::Event, name: &str) -> &'a crate::event::Value {
        event.arg(name).expect(name)
    }

    /// Reads host events until `want` returns true for one, or panics after
    /// `limit`.
    async fn wait_for_host(
        collector: &mut ExecCollector,
        limit: Duration,
        what: &str,
        mut want: impl FnMut(&crate::event::Event) -> bool,
    ) -> crate::event::Event {
        let search = async {
            let mut batch = Vec::new();
            loop {
                batch.clear();
                collector.read_batch(&mut batch).await.expect("read_batch");
                if let Some(event) = batch.drain(..).find(&mut want) {
                    return event;
                }
            }
        };
        tokio::time::timeout(limit, search)
            .await
            .unwrap_or_else(|_| panic!("no event {what} within {limit:?}"))
    }

    fn raw_open(path: &Path, flags: i32) {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path; the descriptor is closed at once.
        let fd = unsafe { libc::open(c_path.as_ptr(), flags, 0o600) };
        assert!(
            fd >= 0,
            "open {}: {}",
            path.display(),
            io::Error::last_os_error()
        );
        // SAFETY: fd was just opened by this function.
        unsafe { libc::close(fd) };
    }

    /// The device number as the kernel encodes it (`major << 20 | minor`).
    fn kernel_dev(dev: u64) -> u64 {
        (u64::from(libc::major(dev)) << 20) | u64::from(libc::minor(dev))
    }

    /// The network, process and mount kinds are served, off until
    /// selected, and a ptrace, a connect, a dup2 of a socket and a mount of
    /// this process come through with Tracee's arguments once they are.
    #[test]
    fn sys_events_are_switched_on_by_their_selectors() {
        if let Some(reason) = skip_reason() {
            eprintln!("skipped: {reason}");
            return;
        }
        runtime().block_on(async {
            let mut collector = ExecCollector::start().expect("starting the collector");
            let served = collector.served_events();
            assert!(served.contains(&"ptrace") && served.contains(&"security_sb_mount"));
            assert!(collector.sys_kinds_on().is_empty());
            assert!(!collector.sys_programs_attached());
            collector.select_for([&file_selector(OPEN_EVENT, vec![])]);
            assert!(collector.sys_kinds_on().is_empty(), "opens are not theirs");
            collector.select_for(std::iter::empty());

            let ptrace = file_selector("ptrace", vec![]);
            let connect = file_selector("security_socket_connect", vec![]);
            collector.select_for([&ptrace, &connect]);
            assert_eq!(
                collector.sys_kinds_on(),
                ["security_socket_connect", "ptrace"]
            );
            assert!(collector.sys_programs_attached());
            // POKEDATA on a pid that does not exist: refused, but entered.
            // SAFETY: the call only reads its integer arguments.
            unsafe { libc::ptrace(libc::PTRACE_POKEDATA, 0x7fff_fff0, 0x1000usize, 0x2ausize) };
            let pid = std::process::id();
            let event = wait_for_host(&mut collector, Duration::from_secs(20), "ptrace", |e| {
                e.name() == "ptrace" && e.context.host_pid == pid
            })
            .await;
            use crate::event::Value;
            assert_eq!(generic_arg(&event, "request"), &Value::Signed(5));
            assert_eq!(generic_arg(&event, "pid"), &Value::Signed(0x7fff_fff0));
            assert_eq!(generic_arg(&event, "addr"), &Value::Unsigned(0x1000));
            assert_eq!(generic_arg(&event, "data"), &Value::Unsigned(0x2a));
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let event = wait_for_host(&mut collector, Duration::from_secs(20), "connect", |e| {
                e.name() == "security_socket_connect" && e.context.host_pid == pid
            })
            .await;
            assert_eq!(generic_arg(&event, "type"), &Value::Signed(1));
            assert_eq!(
                generic_arg(&event, "remote_addr"),
                &Value::Json(format!(
                    r#"{{"sa_family":"AF_INET","sin_addr":"127.0.0.1","sin_port":"{port}"}}"#
                ))
            );

            // A dup2 of the connected socket, and a mount that fails (no
            // such target) but is entered.
            let dup = file_selector("socket_dup", vec![]);
            let mount = file_selector("security_sb_mount", vec![]);
            collector.select_for([&dup, &mount]);
            use std::os::fd::AsRawFd;
            let oldfd = stream.as_raw_fd();
            // SAFETY: dup2 onto a descriptor this test owns; closed at once.
            let newfd = unsafe { libc::dup2(oldfd, oldfd + 100) };
            assert_eq!(newfd, oldfd + 100, "{}", io::Error::last_os_error());
            // SAFETY: newfd was just made by dup2.
            unsafe { libc::close(newfd) };
            let event = wait_for_host(&mut collector, Duration::from_secs(20), "dup2", |e| {
                e.name() == "socket_dup" && e.context.host_pid == pid
            })
            .await;
            assert_eq!(generic_arg(&event, "oldfd"), &Value::Signed(oldfd.into()));
            assert_eq!(generic_arg(&event, "newfd"), &Value::Signed(newfd.into()));
            assert_eq!(
                generic_arg(&event, "remote_addr"),
                &Value::Json(format!(
                    r#"{{"sa_family":"AF_INET","sin_addr":"127.0.0.1","sin_port":"{port}"}}"#
                ))
            );
            let target = format!("/sigbox-no-such-mount-target-{pid}");
            let c = |text: &str| std::ffi::CString::new(text).unwrap();
            let (source, c_target, fs_type) = (c("sigbox-test-dev"), c(&target), c("tmpfs"));
            let flags = libc::MS_RDONLY | libc::MS_NOSUID;
            // SAFETY: NUL-terminated strings and no data; the target does not exist.
            let mounted = unsafe {
                libc::mount(
                    source.as_ptr(),
                    c_target.as_ptr(),
                    fs_type.as_ptr(),
                    flags,
                    std::ptr::null(),
                )
            };
            assert_eq!(mounted, -1, "mounted on {target}");
            let event = wait_for_host(&mut collector, Duration::from_secs(20), "mount", |e| {
                e.name() == "security_sb_mount" && e.context.host_pid == pid
            })
            .await;
            assert_eq!(
                generic_arg(&event, "dev_name"),
                &Value::Text("sigbox-test-dev".into())
            );
            assert_eq!(generic_arg(&event, "path"), &Value::Text(target));
            assert_eq!(generic_arg(&event, "type"), &Value::Text("tmpfs".into()));
            assert_eq!(generic_arg(&event, "flags"), &Value::Unsigned(flags));

            collector.select_for(std::iter::empty());
            assert!(collector.sys_kinds_on().is_empty());
            assert!(!collector.sys_programs_attached());
            assert_eq!(collector.bad_records(), 0);
        });
    }

    /// A kernel module file for the module_load test to load, named by
    /// `SIGBOX_TEST_MODULE` (tests/kernels/run-in-vm.sh puts one in its VM).
    const TEST_MODULE_ENV: &str = "SIGBOX_TEST_MODULE";

    /// `finit_module(2)` of `file`, or `init_module(2)` of its bytes when
    /// `from_memory`; then the module's sysfs `version` and `srcversion`
    /// (`""` when it has none), read before it is removed again.
    fn load_and_remove_module(file: &Path, name: &str, from_memory: bool) -> (String, String) {
        let params = std::ffi::CString::new("").unwrap();
        let loaded = if from_memory {
            let image = std::fs::read(file).expect("reading the module");
            // SAFETY: the image buffer and the parameter string outlive the call.
            unsafe {
                libc::syscall(
                    libc::SYS_init_module,
                    image.as_ptr(),
                    image.len(),
                    params.as_ptr(),
                )
            }
        } else {
            use std::os::fd::AsRawFd;
            let opened = std::fs::File::open(file).expect("opening the module");
            // SAFETY: an open descriptor and a NUL-terminated parameter string.
            unsafe {
                libc::syscall(
                    libc::SYS_finit_module,
                    opened.as_raw_fd(),
                    params.as_ptr(),
                    0,
                )
            }
        };
        assert_eq!(
            loaded,
            0,
            "loading {}: {}",
            file.display(),
            io::Error::last_os_error()
        );
        let attribute = |what: &str| {
            std::fs::read_to_string(format!("/sys/module/{name}/{what}"))
                .map(|text| text.trim_end().to_owned())
                .unwrap_or_default()
        };
        let versions = (attribute("version"), attribute("srcversion"));
        let c_name = std::ffi::CString::new(name).unwrap();
        // SAFETY: a NUL-terminated module name.
        let removed =
            unsafe { libc::syscall(libc::SYS_delete_module, c_name.as_ptr(), libc::O_NONBLOCK) };
        assert_eq!(
            removed,
            0,
            "removing {name}: {}",
            io::Error::last_os_error()
        );
        versions
    }

    /// `module_load` is served exactly where the kernel has modules
    /// (`/proc/modules`), its program attached only while selected; with a
    /// module to load (`SIGBOX_TEST_MODULE`), a `finit_module` gives its
    /// name, versions and file as `stat` sees them, and an `init_module`
    /// the same without the file fields.
    #[test]
    fn module_load_is_served_where_the_kernel_has_modules() {
        if let Some(reason) = skip_reason() {
            eprintln!("skipped: {reason}");
            return;
        }
        runtime().block_on(async {
            let mut collector = ExecCollector::start().expect("starting the collector");
            let modules = Path::new("/proc/modules").exists();
            let served = collector.served_events();
            assert_eq!(served.contains(&"module_load"), modules, "{served:?}");
            assert!(
                served.contains(&"ptrace"),
                "other kinds are served: {served:?}"
            );
            let module_load = file_selector("module_load", vec![]);
            collector.select_for([&module_load]);
            assert!(
                !collector.sys_programs_attached(),
                "module_load needs no syscall program"
            );
            assert_eq!(collector.module_program_attached(), modules);
            if !modules {
                eprintln!("kernel without CONFIG_MODULES: module_load unavailable, as reported");
                collector.select_for(std::iter::empty());
                return;
            }
            let Some(file) = std::env::var_os(TEST_MODULE_ENV).map(std::path::PathBuf::from) else {
                eprintln!("{TEST_MODULE_ENV} unset: no module loaded, attach checked only");
                collector.select_for(std::iter::empty());
                assert!(!collector.module_program_attached());
                return;
            };
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('.').next())
                .expect("module file name")
                .replace('-', "_");
            let pid = std::process::id();
            use crate::event::Value;
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(&file).expect("stat of the module");
            let (version, srcversion) = load_and_remove_module(&file, &name, false);
            let event = wait_for_host(
                &mut collector,
                Duration::from_secs(60),
                "finit_module",
                |e| e.name() == "module_load" && e.context.host_pid == pid,
            )
            .await;
            eprintln!(
                "module_load from finit_module: {:?}",
                event
                    .tracee_args()
                    .map(|(n, _, v)| (n, format!("{v:?}")))
                    .collect::<Vec<_>>()
            );
            assert_eq!(generic_arg(&event, "name"), &Value::Text(name.clone()));
            assert_eq!(
                generic_arg(&event, "version"),
                &Value::Text(version.clone())
            );
            assert_eq!(
                generic_arg(&event, "src_version"),
                &Value::Text(srcversion.clone())
            );
            assert_eq!(
                generic_arg(&event, "pathname"),
                &Value::Text(
                    std::fs::canonicalize(&file)
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_owned()
                )
            );
            assert_eq!(
                generic_arg(&event, "dev"),
                &Value::Unsigned(kernel_dev(meta.dev()))
            );
            assert_eq!(generic_arg(&event, "inode"), &Value::Unsigned(meta.ino()));
            let ctime = u64::try_from(meta.ctime()).unwrap() * 1_000_000_000
                + u64::try_from(meta.ctime_nsec()).unwrap();
            assert_eq!(generic_arg(&event, "ctime"), &Value::Unsigned(ctime));

            load_and_remove_module(&file, &name, true);
            let event = wait_for_host(
                &mut collector,
                Duration::from_secs(60),
                "init_module",
                |e| e.name() == "module_load" && e.context.host_pid == pid,
            )
            .await;
            assert_eq!(generic_arg(&event, "name"), &Value::Text(name));
            assert_eq!(generic_arg(&event, "src_version"), &Value::Text(srcversion));
            assert_eq!(generic_arg(&event, "pathname"), &Value::Text(String::new()));
            assert_eq!(generic_arg(&event, "inode"), &Value::Unsigned(0));

            collector.select_for(std::iter::empty());
            assert!(!collector.module_program_attached());
            assert_eq!(collector.bad_records(), 0);
        });
    }

    /// Each file hook this kernel has, forced in turn, gives the same
    /// events through the same kernel filters; unforced, the chain takes
    /// the first of them.
    #[test]
    fn file_events_are_off_until_selected_then_filtered_in_the_kernel() {
        if let Some(reason) = skip_reason() {
            eprintln!("skipped: {reason}");
            return;
        }
        runtime().block_on(async {
            let mut served = Vec::new();
            for &hook in FileHook::CHAIN {
                let mut collector = ExecCollector::open(
                    object_for_this_kernel(),
                    &CollectorOptions::default(),
                    true,
                    &[hook],
                )
                .unwrap_or_else(|e| panic!("starting the collector: {}", error_chain(&e)));
                if collector.file_hook().is_none() {
                    eprintln!("file events via {hook:?}: not on this kernel");
                    continue;
                }
                assert_eq!(collector.file_hook(), Some(hook));
                check_file_events(&mut collector, hook).await;
                eprintln!("file events via {hook:?}: checked");
                served.push(hook);
            }
            assert!(!served.is_empty(), "no file hook on this kernel");
            let chosen = ExecCollector::open(
                object_for_this_kernel(),
                &CollectorOptions::default(),
                true,
                FileHook::CHAIN,
            )
            .expect("starting the collector")
            .file_hook();
            assert_eq!(chosen, served.first().copied());
        });
    }

    async fn check_file_events(collector: &mut ExecCollector, hook: FileHook) {
        {
            // This test makes the opens itself, which a daemon would skip.
            collector.own_process = OwnProcess::NOBODY;
            let served = collector.served_events();
            assert!(served.contains(&OPEN_EVENT) && served.contains(&RENAME_EVENT));
            assert_eq!(collector.file_plan(), Some(&KernelPlan::OFF));
            // Kprobes stay attached from start (switched off in the map).
            assert_eq!(
                collector.file_programs_attached(),
                !hook.attaches_on_demand()
            );
            let dir = std::env::temp_dir().join(format!("sigbox-file-test-{}", std::process::id()));
            let other = dir.join("other");
            std::fs::create_dir_all(&other).expect("temp dir");
            let target = dir.join("watched.txt");
            let target_str = target.to_str().unwrap().to_owned();
            let unwatched = other.join("unwatched");
            raw_open(&unwatched, libc::O_WRONLY | libc::O_CREAT);
            collector.select_for([&writes_of(&target_str), &writes_named("badge")]);
            assert!(collector.file_programs_attached());
            let before = collector.file_drops();

            // A read, where only writes are selected: the access test.
            raw_open(&unwatched, libc::O_RDONLY);
            let after_read = collector.file_drops();
            assert!(
                after_read.access > before.access,
                "{before:?} -> {after_read:?}"
            );
            // A write of another name and path: the name test passes it
            // on to the path test, which drops it.
            raw_open(&unwatched, libc::O_WRONLY);
            let after_write = collector.file_drops();
            assert!(
                after_write.path > after_read.path,
                "{after_read:?} -> {after_write:?}"
            );
            assert_eq!(
                after_write.basename, before.basename,
                "paths are listed too"
            );

            raw_open(&target, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC);
            let pid = std::process::id();
            let event = wait_for_host(collector, Duration::from_secs(20), "open", |e| {
                e.name() == OPEN_EVENT && e.context.host_pid == pid
            })
            .await;
            let meta = std::fs::metadata(&target).unwrap();
            assert!(
                matches!(generic_arg(&event, "pathname"), crate::event::Value::Text(p) if *p == target_str)
            );
            // The kernel adds O_LARGEFILE (0o100000 on x86_64; libc says 0
            // there) to every open on 64-bit, and Tracee reports it.
            let want = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | 0o100_000;
            assert!(
                matches!(generic_arg(&event, "flags"), crate::event::Value::Signed(f) if *f == i64::from(want)),
                "{:?}",
                generic_arg(&event, "flags")
            );
            assert!(
                matches!(generic_arg(&event, "dev"), crate::event::Value::Unsigned(d) if *d == kernel_dev(meta.dev()))
            );
            assert!(
                matches!(generic_arg(&event, "inode"), crate::event::Value::Unsigned(i) if *i == meta.ino())
            );
            // The LSM hooks read it through bpf_task_pt_regs, which the
            // compat build (kernels before 5.17) goes without: empty there.
            let compat = std::ptr::eq(object_for_this_kernel(), OBJECT_COMPAT);
            let given = if compat && hook != FileHook::SyscallExit {
                ""
            } else {
                target_str.as_str()
            };
            assert!(
                matches!(generic_arg(&event, "syscall_pathname"), crate::event::Value::Text(p) if p == given)
            );

            // With names only, a write of another name is dropped by the
            // name test, and one of the name passes wherever it is.
            collector.select_for([&writes_named("badge")]);
            let before = collector.file_drops();
            raw_open(&unwatched, libc::O_WRONLY);
            let after = collector.file_drops();
            assert!(after.basename > before.basename, "{before:?} -> {after:?}");
            let badge = other.join("badge");
            raw_open(&badge, libc::O_WRONLY | libc::O_CREAT);
            let event = wait_for_host(collector, Duration::from_secs(20), "open by name", |e| {
                e.name() == OPEN_EVENT && e.context.host_pid == pid
            })
            .await;
            assert!(
                matches!(generic_arg(&event, "pathname"), crate::event::Value::Text(p) if p.as_str() == badge.to_str().unwrap())
            );

            // An ending of the file name is tested in the kernel too.
            let ending = FieldFilter {
                field: "pathname".into(),
                test: crate::engine::FilterTest::Suffix(vec![".sbsock".into()]),
            };
            collector.select_for([&file_selector(OPEN_EVENT, vec![writes(), ending])]);
            let before = collector.file_drops();
            raw_open(&unwatched, libc::O_WRONLY);
            let after = collector.file_drops();
            assert!(after.basename > before.basename, "{before:?} -> {after:?}");
            let socket_like = other.join("docker.sbsock");
            raw_open(&socket_like, libc::O_WRONLY | libc::O_CREAT);
            let event = wait_for_host(collector, Duration::from_secs(20), "open by ending", |e| {
                e.name() == OPEN_EVENT && e.context.host_pid == pid
            })
            .await;
            assert!(
                matches!(generic_arg(&event, "pathname"), crate::event::Value::Text(p) if p.as_str() == socket_like.to_str().unwrap())
            );

            // Renames are off until selected; then both paths come.
            collector.select_for([
                &writes_of(&target_str),
                &file_selector(RENAME_EVENT, vec![]),
            ]);
            let renamed = dir.join("renamed.txt");
            std::fs::rename(&target, &renamed).expect("rename");
            let event = wait_for_host(collector, Duration::from_secs(20), "rename", |e| {
                e.name() == RENAME_EVENT && e.context.host_pid == pid
            })
            .await;
            assert!(
                matches!(generic_arg(&event, "old_path"), crate::event::Value::Text(p) if target_str.ends_with(p.as_str()) && p.ends_with("/watched.txt")),
                "{:?}",
                generic_arg(&event, "old_path")
            );
            assert!(
                matches!(generic_arg(&event, "new_path"), crate::event::Value::Text(p) if p.ends_with("/renamed.txt"))
            );

            collector.select_for(std::iter::empty());
            assert_eq!(collector.file_plan(), Some(&KernelPlan::OFF));
            assert_eq!(
                collector.file_programs_attached(),
                !hook.attaches_on_demand()
            );
            std::fs::remove_dir_all(&dir).ok();
            assert_eq!(collector.bad_records(), 0);
        }
    }
}
