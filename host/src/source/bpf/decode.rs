//! Raw exec records → [`Event`]s: splits the record, converts the clock,
//! decodes bytes and adds what the kernel side does not send (host name,
//! container id).

use std::collections::HashMap;
use std::io;

use super::record::{ExecRecord, RECORD_SIZE, c};
use crate::wit::{Event, ExecArgs, Field, Origin, Payload, Value};

/// The Tracee event name of every event this source produces.
pub(crate) const EVENT_NAME: &str = "sched_process_exec";

/// Container ids are cached per cgroup id; past this many entries the cache
/// is cleared, so a host that churns through cgroups cannot grow it forever.
const MAX_CACHED_CGROUPS: usize = 8192;

/// A record that does not have the shape the C side promises.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    /// Shorter than the fixed header.
    #[error("record of {len} bytes is shorter than the {RECORD_SIZE}-byte header")]
    Short {
        /// The record's length.
        len: usize,
    },
    /// The tail's length differs from the sum of the section lengths.
    #[error("record tail is {actual} bytes but its header announces {announced}")]
    TailLength {
        /// `filename_len + interp_len + argv_len`.
        announced: usize,
        /// Bytes after the header.
        actual: usize,
    },
}

/// One record split into its header and tail sections (still raw bytes).
#[derive(Debug)]
pub(crate) struct RawExec<'a> {
    pub record: ExecRecord,
    pub filename: &'a [u8],
    pub interp: &'a [u8],
    pub argv: &'a [u8],
}

impl<'a> RawExec<'a> {
    /// Splits a ring buffer record.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let record = ExecRecord::read(bytes).ok_or(DecodeError::Short { len: bytes.len() })?;
        let tail = &bytes[RECORD_SIZE..];
        let (f, i, a) = (
            usize::from(record.filename_len),
            usize::from(record.interp_len),
            usize::from(record.argv_len),
        );
        if f + i + a != tail.len() {
            return Err(DecodeError::TailLength {
                announced: f + i + a,
                actual: tail.len(),
            });
        }
        let (filename, rest) = tail.split_at(f);
        let (interp, argv) = rest.split_at(i);
        Ok(Self {
            record,
            filename,
            interp,
            argv,
        })
    }
}

/// Reads `/proc/<pid>/cgroup`.
pub(crate) fn read_proc_cgroup(pid: u32) -> io::Result<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
}

/// Turns raw records into events; holds what is computed once per run.
pub(crate) struct Decoder {
    /// `CLOCK_REALTIME - CLOCK_BOOTTIME`, in ns, taken once at start: later
    /// wall-clock steps (NTP, settimeofday) do not move event times.
    boot_to_epoch_ns: i128,
    host_name: String,
    /// cgroup id → container id ("" on the host).
    containers: HashMap<u64, String>,
    read_cgroup: fn(u32) -> io::Result<String>,
}

impl Decoder {
    /// A decoder for this machine: reads the clocks, the host name, and
    /// `/proc/<pid>/cgroup` for container ids.
    pub(crate) fn new() -> Self {
        Self::with_parts(boot_to_epoch_offset_ns(), host_name(), read_proc_cgroup)
    }

    /// A decoder with given clock offset, host name and cgroup file reader.
    pub(crate) fn with_parts(
        boot_to_epoch_ns: i128,
        host_name: String,
        read_cgroup: fn(u32) -> io::Result<String>,
    ) -> Self {
        Self {
            boot_to_epoch_ns,
            host_name,
            containers: HashMap::new(),
            read_cgroup,
        }
    }

    /// Builds the event for one record.
    pub(crate) fn decode(&mut self, raw: &RawExec<'_>) -> Event {
        let r = &raw.record;
        let container_id = self.container_id(r.cgroup_id, r.pid);
        let pathname = lossy(raw.filename);
        let interpreter_pathname = lossy(raw.interp);
        let argv_truncated =
            r.has(c::EXEC_FLAG_ARGV_TRUNCATED) || r.has(c::EXEC_FLAG_ARGV_UNREADABLE);
        let prev_comm = r
            .has(c::EXEC_FLAG_PREV_COMM)
            .then(|| comm_str(&r.prev_comm));
        let wall = i128::from(r.ts_boot_ns) + self.boot_to_epoch_ns;
        Event {
            timestamp_ns: u64::try_from(wall.max(0)).unwrap_or(u64::MAX),
            name: EVENT_NAME.to_owned(),
            origin: if container_id.is_empty() {
                Origin::Host
            } else {
                Origin::Container
            },
            // Ids are the host's: the kernel side does not translate them into
            // the process's own pid namespace, so pid == host_pid and so on.
            pid: r.pid,
            tid: r.tid,
            ppid: r.ppid,
            host_pid: r.pid,
            host_tid: r.tid,
            host_ppid: r.ppid,
            uid: r.uid,
            mount_ns: r.mnt_ns,
            pid_ns: r.pid_ns,
            cgroup_id: r.cgroup_id,
            process_name: comm_str(&r.comm),
            executable_path: pathname.clone(),
            host_name: self.host_name.clone(),
            container_id,
            return_value: 0,
            payload: Payload::Exec(ExecArgs {
                cmdpath: pathname.clone(),
                pathname,
                argv: split_argv(raw.argv),
                argv_truncated,
                interpreter_pathname,
                prev_comm,
                dev: r.dev,
                inode: r.inode,
                ctime: r.ctime_ns,
                inode_mode: u32::from(r.inode_mode),
                // Not collected by the kernel side (yet).
                stdin_type: 0,
                stdin_path: String::new(),
                invoked_from_kernel: r.has(c::EXEC_FLAG_PARENT_KTHREAD),
                pwd: String::new(),
                extra: vec![Field {
                    name: "gid".to_owned(),
                    value: Value::Signed(r.gid.into()),
                }],
            }),
        }
    }

    /// The container id of a process in cgroup `cgroup_id`, "" on the host.
    ///
    /// `/proc/<pid>/cgroup` is read once per new cgroup id. A failed read
    /// (the process already exited) is not cached, so the next exec in that
    /// cgroup tries again. Ids 0 and 1 (no cgroup v2, or its root) are never
    /// cached: on cgroup-v1-only hosts every process reports them.
    fn container_id(&mut self, cgroup_id: u64, pid: u32) -> String {
        if let Some(id) = self.containers.get(&cgroup_id) {
            return id.clone();
        }
        let id = match (self.read_cgroup)(pid) {
            Ok(text) => container_id_from_cgroup(&text)
                .unwrap_or_default()
                .to_owned(),
            Err(error) => {
                tracing::debug!("reading /proc/{pid}/cgroup: {error}");
                return String::new();
            }
        };
        if cgroup_id > 1 {
            if self.containers.len() >= MAX_CACHED_CGROUPS {
                self.containers.clear();
            }
            self.containers.insert(cgroup_id, id.clone());
        }
        id
    }
}

/// Bytes → `String`; invalid UTF-8 becomes U+FFFD (the schema's rule for
/// byte strings).
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A NUL-padded `comm` → `String`, up to the first NUL; empty stays empty.
pub(crate) fn comm_str(comm: &[u8]) -> String {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    lossy(&comm[..end])
}

/// Splits NUL-separated argv bytes.
///
/// The final NUL terminates the last argument and does not start a new one;
/// empty arguments in between are kept. When the kernel side cut argv short
/// the data ends without a NUL: the partial last argument is kept as it is
/// (the event's `argv_truncated` says it is partial).
pub(crate) fn split_argv(bytes: &[u8]) -> Vec<String> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    bytes.split(|&b| b == 0).map(lossy).collect()
}

/// The container id in the text of a `/proc/<pid>/cgroup` file, if any.
///
/// Each line is `hierarchy:controllers:path`; path components are checked
/// from the innermost out, so nested containers give the innermost id.
/// Recognised forms (the id is 64 lowercase hex digits):
/// - `/docker/<id>`, `/kubepods/<qos>/pod<uid>/<id>` (cgroupfs driver);
/// - `docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`,
///   `libpod-<id>.scope` (systemd driver), also `libpod-<id>` without `.scope`.
///
/// `crio-conmon-<id>` and `libpod-conmon-<id>` hold the container monitor,
/// which runs outside the container, and are not container ids.
pub(crate) fn container_id_from_cgroup(text: &str) -> Option<&str> {
    text.lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .find_map(|path| path.rsplit('/').find_map(container_id_from_component))
}

fn container_id_from_component(component: &str) -> Option<&str> {
    const PREFIXES: [&str; 5] = [
        "docker-",
        "cri-containerd-",
        "crio-",
        "libpod-",
        "containerd-",
    ];
    let name = component.strip_suffix(".scope").unwrap_or(component);
    if name.starts_with("crio-conmon-") || name.starts_with("libpod-conmon-") {
        return None;
    }
    let id = PREFIXES
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    let is_id = id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    is_id.then_some(id)
}

/// `CLOCK_REALTIME - CLOCK_BOOTTIME` now, in ns.
pub(crate) fn boot_to_epoch_offset_ns() -> i128 {
    clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_BOOTTIME)
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clocks exist on every
    // kernel that can run the eBPF side (BOOTTIME since 2.6.39).
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// This machine's host name (`gethostname`), lossily decoded; empty on failure.
pub(crate) fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which outlives the call.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        tracing::warn!("gethostname: {}", io::Error::last_os_error());
        return String::new();
    }
    comm_str(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Builds the bytes of a record with the given tail sections.
    fn record_bytes(
        mut record: ExecRecord,
        filename: &[u8],
        interp: &[u8],
        argv: &[u8],
    ) -> Vec<u8> {
        record.filename_len = filename.len() as u16;
        record.interp_len = interp.len() as u16;
        record.argv_len = argv.len() as u16;
        let mut bytes = record.to_bytes();
        bytes.extend_from_slice(filename);
        bytes.extend_from_slice(interp);
        bytes.extend_from_slice(argv);
        bytes
    }

    fn comm(name: &str) -> [u8; 16] {
        let mut comm = [0u8; 16];
        comm[..name.len()].copy_from_slice(name.as_bytes());
        comm
    }

    fn base_record() -> ExecRecord {
        ExecRecord {
            ts_boot_ns: 5_000,
            cgroup_id: 42,
            pid: 100,
            tid: 100,
            old_tid: 100,
            ppid: 1,
            uid: 1000,
            gid: 1001,
            mnt_ns: 4026531841,
            pid_ns: 4026531836,
            comm: comm("true"),
            prev_comm: comm("bash"),
            flags: c::EXEC_FLAG_PREV_COMM as u16,
            ..ExecRecord::default()
        }
    }

    fn host_cgroup(_pid: u32) -> io::Result<String> {
        Ok("0::/user.slice/user-0.slice/session-1.scope\n".to_owned())
    }

    fn docker_cgroup(_pid: u32) -> io::Result<String> {
        Ok(format!("0::/system.slice/docker-{ID}.scope\n"))
    }

    fn gone(_pid: u32) -> io::Result<String> {
        Err(io::Error::from(io::ErrorKind::NotFound))
    }

    fn decode(bytes: &[u8], read_cgroup: fn(u32) -> io::Result<String>) -> Event {
        let raw = RawExec::parse(bytes).expect("valid record");
        Decoder::with_parts(1_000_000, "box".to_owned(), read_cgroup).decode(&raw)
    }

    fn exec_args(event: &Event) -> &ExecArgs {
        match &event.payload {
            Payload::Exec(args) => args,
            Payload::Generic(_) => panic!("not an exec payload"),
        }
    }

    #[test]
    fn maps_every_field() {
        let bytes = record_bytes(base_record(), b"/bin/true", b"", b"true\0-x\0\0end\0");
        let event = decode(&bytes, host_cgroup);
        assert_eq!(event.name, "sched_process_exec");
        assert_eq!(event.timestamp_ns, 1_005_000);
        assert_eq!((event.pid, event.tid, event.ppid), (100, 100, 1));
        assert_eq!(
            (event.host_pid, event.host_tid, event.host_ppid),
            (100, 100, 1)
        );
        assert_eq!(event.uid, 1000);
        assert_eq!(
            (event.mount_ns, event.pid_ns, event.cgroup_id),
            (4026531841, 4026531836, 42)
        );
        assert_eq!(event.process_name, "true");
        assert_eq!(event.executable_path, "/bin/true");
        assert_eq!(event.host_name, "box");
        assert_eq!(event.container_id, "");
        assert!(matches!(event.origin, Origin::Host));
        let args = exec_args(&event);
        assert_eq!(args.pathname, "/bin/true");
        assert_eq!(args.cmdpath, "/bin/true");
        assert_eq!(args.argv, ["true", "-x", "", "end"]);
        assert!(!args.argv_truncated);
        assert_eq!(args.interpreter_pathname, "");
        assert_eq!(args.prev_comm.as_deref(), Some("bash"));
        assert!(!args.invoked_from_kernel);
        assert!(
            matches!(&args.extra[..], [Field { name, value: Value::Signed(1001) }] if name == "gid")
        );
    }

    #[test]
    fn truncated_argv_keeps_partial_last_argument() {
        let mut record = base_record();
        record.flags |= c::EXEC_FLAG_ARGV_TRUNCATED as u16;
        let bytes = record_bytes(record, b"/bin/echo", b"", b"echo\0aaaa\0bb");
        let event = decode(&bytes, host_cgroup);
        let args = exec_args(&event);
        assert!(args.argv_truncated);
        assert_eq!(args.argv, ["echo", "aaaa", "bb"]);
    }

    #[test]
    fn unreadable_argv_is_empty_and_flagged() {
        let mut record = base_record();
        record.flags |= c::EXEC_FLAG_ARGV_UNREADABLE as u16;
        let bytes = record_bytes(record, b"/bin/true", b"", b"");
        let event = decode(&bytes, host_cgroup);
        assert!(exec_args(&event).argv.is_empty());
        assert!(exec_args(&event).argv_truncated);
    }

    #[test]
    fn empty_comms_stay_empty_and_missing_prev_comm_is_none() {
        let mut record = base_record();
        record.comm = [0; 16];
        record.prev_comm = [0; 16];
        let bytes = record_bytes(record, b"/x", b"", b"");
        let event = decode(&bytes, host_cgroup);
        assert_eq!(event.process_name, "");
        assert_eq!(exec_args(&event).prev_comm.as_deref(), Some(""));

        record.flags = 0;
        let bytes = record_bytes(record, b"/x", b"", b"");
        assert_eq!(exec_args(&decode(&bytes, host_cgroup)).prev_comm, None);
    }

    #[test]
    fn full_length_comm_has_no_terminator() {
        let mut record = base_record();
        record.comm = *b"0123456789abcdef";
        let bytes = record_bytes(record, b"/x", b"", b"");
        assert_eq!(decode(&bytes, host_cgroup).process_name, "0123456789abcdef");
    }

    #[test]
    fn missing_parent_gives_ppid_zero() {
        let mut record = base_record();
        record.ppid = 0;
        let bytes = record_bytes(record, b"/sbin/init", b"", b"init\0");
        let event = decode(&bytes, host_cgroup);
        assert_eq!((event.ppid, event.host_ppid), (0, 0));
    }

    #[test]
    fn non_utf8_bytes_are_decoded_lossily() {
        let bytes = record_bytes(base_record(), b"/tmp/\xff", b"", b"a\xffb\0\xc3\0ok\0");
        let event = decode(&bytes, host_cgroup);
        let args = exec_args(&event);
        assert_eq!(args.argv, ["a\u{fffd}b", "\u{fffd}", "ok"]);
        assert_eq!(args.pathname, "/tmp/\u{fffd}");
    }

    #[test]
    fn script_interpreter_is_reported() {
        let bytes = record_bytes(base_record(), b"/usr/local/bin/x.sh", b"/bin/sh", b"x.sh\0");
        let event = decode(&bytes, host_cgroup);
        assert_eq!(exec_args(&event).interpreter_pathname, "/bin/sh");
        assert_eq!(exec_args(&event).pathname, "/usr/local/bin/x.sh");
    }

    #[test]
    fn container_events_carry_the_id() {
        let bytes = record_bytes(base_record(), b"/bin/sh", b"", b"sh\0");
        let event = decode(&bytes, docker_cgroup);
        assert_eq!(event.container_id, ID);
        assert!(matches!(event.origin, Origin::Container));
    }

    #[test]
    fn container_ids_are_cached_per_cgroup_but_failures_are_not() {
        let raw_bytes = record_bytes(base_record(), b"/bin/sh", b"", b"sh\0");
        let raw = RawExec::parse(&raw_bytes).unwrap();
        let mut decoder = Decoder::with_parts(0, String::new(), gone);
        assert_eq!(decoder.decode(&raw).container_id, "");
        assert!(decoder.containers.is_empty());
        decoder.read_cgroup = docker_cgroup;
        assert_eq!(decoder.decode(&raw).container_id, ID);
        // Cached now: a failing reader no longer matters for this cgroup.
        decoder.read_cgroup = gone;
        assert_eq!(decoder.decode(&raw).container_id, ID);
    }

    #[test]
    fn container_id_from_cgroup_path_forms() {
        let cases = [
            (format!("0::/system.slice/docker-{ID}.scope"), Some(ID)),
            (format!("12:pids:/docker/{ID}\n0::/docker/{ID}"), Some(ID)),
            (
                format!(
                    "0::/kubepods.slice/kubepods-besteffort.slice/\
                     kubepods-besteffort-pod1a2b3c4d_5e6f.slice/cri-containerd-{ID}.scope"
                ),
                Some(ID),
            ),
            (
                format!("0::/kubepods/burstable/pod1a2b3c4d-5e6f-7a8b-9c0d-112233445566/{ID}"),
                Some(ID),
            ),
            (
                format!("0::/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope"),
                Some(ID),
            ),
            (
                format!("0::/machine.slice/libpod-{ID}.scope/container"),
                Some(ID),
            ),
            (format!("0::/libpod_parent/libpod-{ID}"), Some(ID)),
            (format!("0::/machine.slice/libpod-conmon-{ID}.scope"), None),
            (format!("0::/kubepods.slice/crio-conmon-{ID}.scope"), None),
            (
                "0::/user.slice/user-1000.slice/session-2.scope".to_owned(),
                None,
            ),
            ("0::/".to_owned(), None),
            (String::new(), None),
            // Upper case or short ids are not container ids.
            (format!("0::/docker/{}", ID.to_uppercase()), None),
            (format!("0::/docker/{}", &ID[..63]), None),
        ];
        for (text, want) in &cases {
            assert_eq!(container_id_from_cgroup(text), *want, "{text:?}");
        }
        // Docker in docker: the innermost id wins.
        let inner = "f".repeat(64);
        let nested = format!("0::/docker/{ID}/docker/{inner}");
        assert_eq!(container_id_from_cgroup(&nested), Some(inner.as_str()));
    }

    #[test]
    fn malformed_records_are_rejected() {
        let bytes = record_bytes(base_record(), b"/bin/true", b"", b"true\0");
        assert!(matches!(
            RawExec::parse(&bytes[..10]),
            Err(DecodeError::Short { len: 10 })
        ));
        assert!(matches!(
            RawExec::parse(&bytes[..bytes.len() - 1]),
            Err(DecodeError::TailLength {
                announced: 14,
                actual: 13
            })
        ));
    }

    #[test]
    fn split_argv_edge_cases() {
        assert!(split_argv(b"").is_empty());
        assert_eq!(split_argv(b"\0"), [""]);
        assert_eq!(split_argv(b"a"), ["a"]);
        assert_eq!(split_argv(b"a\0\0"), ["a", ""]);
    }

    #[test]
    fn clock_offset_is_plausible() {
        // Wall clock minus time since boot: some time after 2020 and before now.
        let offset = boot_to_epoch_offset_ns();
        assert!(offset > 1_577_836_800_000_000_000, "{offset}");
    }
}
