//! Raw exec records → [`Event`]s: splits the record, converts the clock,
//! decodes bytes and adds what the kernel side does not send (host name,
//! container id and origin).

use std::io;

use super::containers::Containers;
use super::record::{ExecRecord, RECORD_SIZE, c};
use std::sync::Arc;

use crate::event::{Context, Event, Kind, Origin, Value};

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
        /// The sum of the `*_len` fields.
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
    pub pathname: &'a [u8],
    pub pwd: &'a [u8],
    pub stdin_path: &'a [u8],
    pub loader: &'a [u8],
    pub env: &'a [u8],
}

impl<'a> RawExec<'a> {
    /// Splits a ring buffer record.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let record = ExecRecord::read(bytes).ok_or(DecodeError::Short { len: bytes.len() })?;
        let tail = &bytes[RECORD_SIZE..];
        let lengths = [
            record.filename_len,
            record.interp_len,
            record.argv_len,
            record.pathname_len,
            record.pwd_len,
            record.stdin_path_len,
            record.loader_len,
            record.env_len,
        ]
        .map(usize::from);
        let announced: usize = lengths.iter().sum();
        if announced != tail.len() {
            return Err(DecodeError::TailLength {
                announced,
                actual: tail.len(),
            });
        }
        let mut rest = tail;
        let [
            filename,
            interp,
            argv,
            pathname,
            pwd,
            stdin_path,
            loader,
            env,
        ] = lengths.map(|len| {
            let (section, after) = rest.split_at(len);
            rest = after;
            section
        });
        Ok(Self {
            record,
            filename,
            interp,
            argv,
            pathname,
            pwd,
            stdin_path,
            loader,
            env,
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
    host_name: Arc<str>,
    containers: Containers,
}

impl Decoder {
    /// A decoder for this machine: reads the clocks, the host name, and the
    /// cgroups for container ids.
    pub(crate) fn new() -> Self {
        Self::with_parts(boot_to_epoch_offset_ns(), host_name(), Containers::new())
    }

    /// A decoder with given clock offset, host name and container lookup.
    pub(crate) fn with_parts(
        boot_to_epoch_ns: i128,
        host_name: String,
        containers: Containers,
    ) -> Self {
        Self {
            boot_to_epoch_ns,
            host_name: host_name.into(),
            containers,
        }
    }

    /// A `CLOCK_BOOTTIME` reading in ns since the epoch, as Tracee's
    /// `BootToEpochNS`.
    pub(crate) fn epoch_ns(&self, boot_ns: u64) -> u64 {
        let wall = i128::from(boot_ns) + self.boot_to_epoch_ns;
        u64::try_from(wall.max(0)).unwrap_or(u64::MAX)
    }

    /// The machine's host name, as events carry it.
    pub(crate) fn host_name(&self) -> Arc<str> {
        Arc::clone(&self.host_name)
    }

    /// The container id and origin of a non-exec event: a container counts
    /// as started once an exec in it said so (see `Containers::classify`).
    pub(crate) fn container_of(
        &mut self,
        cgroup_id: u64,
        pid: u32,
        mnt_ns: u32,
    ) -> (String, Origin) {
        self.containers.classify(cgroup_id, pid, mnt_ns, 0)
    }

    /// Builds the event for one record, with Tracee's `sched_process_exec`
    /// arguments (see bpf/README.md for where each comes from).
    pub(crate) fn decode(&mut self, raw: &RawExec<'_>) -> Event {
        let r = &raw.record;
        self.containers.forget_process(r.pid);
        let (container_id, origin) =
            self.containers
                .classify(r.cgroup_id, r.pid, r.mnt_ns, r.parent_mnt_ns);
        let cmdpath = lossy(raw.filename);
        let pathname = lossy(raw.pathname);
        let context = Context {
            timestamp_ns: self.epoch_ns(r.ts_boot_ns),
            // Tracee's `threadStartTime`: the exec'ing thread's start
            // (`task->start_boottime`), converted like the timestamp.
            thread_start_ns: self.epoch_ns(r.start_boot_ns),
            // Context ids are the ones in the process's own pid namespace,
            // as Tracee reports them; the host's are beside them.
            pid: r.ns_pid,
            tid: r.ns_tid,
            ppid: r.ns_ppid,
            host_pid: r.pid,
            host_tid: r.tid,
            host_ppid: r.ppid,
            uid: r.uid,
            mount_ns: r.mnt_ns,
            pid_ns: r.pid_ns,
            cgroup_id: r.cgroup_id,
            process_name: comm_str(&r.comm),
            executable_path: pathname.clone(),
            host_name: Arc::clone(&self.host_name),
            container_id,
            origin,
            ..Context::default()
        };
        let mut event = Event::new(context, Kind::SchedProcessExec);
        let has_loader = r.has(c::EXEC_FLAG_LOADER);
        // Tracee's `interp`: bprm->interp, which is the filename itself
        // unless binfmt_script/misc replaced it.
        let interp = if raw.interp.is_empty() {
            cmdpath.clone()
        } else {
            lossy(raw.interp)
        };
        let text = Value::Text;
        let mut set = |name: &str, value: Value| event.set(name, value);
        set("cmdpath", text(cmdpath));
        set("pathname", text(pathname));
        set("dev", Value::Unsigned(r.dev.into()));
        set("inode", Value::Unsigned(r.inode));
        set("ctime", Value::Unsigned(r.ctime_ns));
        set("inode_mode", Value::Unsigned(r.inode_mode.into()));
        set(
            "interpreter_pathname",
            text(if has_loader {
                lossy(raw.loader)
            } else {
                String::new()
            }),
        );
        if has_loader {
            set("interpreter_dev", Value::Unsigned(r.loader_dev.into()));
            set("interpreter_inode", Value::Unsigned(r.loader_inode));
            set("interpreter_ctime", Value::Unsigned(r.loader_ctime_ns));
        }
        set("argv", Value::TextList(split_argv(raw.argv)));
        set("interp", text(interp));
        set("stdin_type", Value::Unsigned(r.stdin_mode.into()));
        set("stdin_path", text(stdin_path(r, raw.stdin_path)));
        set(
            "invoked_from_kernel",
            Value::Boolean(r.has(c::EXEC_FLAG_PARENT_KTHREAD)),
        );
        if r.has(c::EXEC_FLAG_PREV_COMM) {
            set("prev_comm", text(comm_str(&r.prev_comm)));
        }
        if r.has(c::EXEC_FLAG_ENV_COLLECTED) {
            set("env", Value::TextList(split_argv(raw.env)));
            if r.has(c::EXEC_FLAG_ENV_TRUNCATED) || r.has(c::EXEC_FLAG_ENV_UNREADABLE) {
                set("env_truncated", Value::Boolean(true));
            }
        }
        set("pwd", text(lossy(raw.pwd)));
        set(
            "argv_truncated",
            Value::Boolean(
                r.has(c::EXEC_FLAG_ARGV_TRUNCATED) || r.has(c::EXEC_FLAG_ARGV_UNREADABLE),
            ),
        );
        // The walk keeps the last 64 components: a deeper path (an evasion
        // of path-prefix rules) says so instead of passing for the whole path.
        if r.has(c::EXEC_FLAG_PATHNAME_TRUNCATED) {
            set("pathname_truncated", Value::Boolean(true));
        }
        event
    }
}

/// fd 0's path; a pipe or socket, which has no name in any directory, is
/// named as the kernel names it in `/proc/<pid>/fd/0` (`pipe:[INODE]`).
fn stdin_path(r: &ExecRecord, path: &[u8]) -> String {
    const S_IFIFO: u16 = 0o010_000;
    const S_IFSOCK: u16 = 0o140_000;
    if path.is_empty() {
        match r.stdin_mode {
            S_IFIFO => return format!("pipe:[{}]", r.stdin_inode),
            S_IFSOCK => return format!("socket:[{}]", r.stdin_inode),
            _ => {}
        }
    }
    lossy(path)
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
        .find_map(container_id_from_path)
}

/// The container id in one cgroup path (`/system.slice/docker-<id>.scope`),
/// read from the innermost component out, by the rules above.
pub(crate) fn container_id_from_path(path: &str) -> Option<&str> {
    path.rsplit('/').find_map(container_id_from_component)
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
    use crate::engine::bindings::v1::sigbox::signature::types::{
        Event, ExecArgs, Origin, Payload, Value,
    };
    use crate::engine::contract::event_to_v1;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// The tail sections of a record, by name; unset ones are empty.
    #[derive(Default)]
    struct Tail<'a> {
        filename: &'a [u8],
        interp: &'a [u8],
        argv: &'a [u8],
        pathname: &'a [u8],
        pwd: &'a [u8],
        stdin_path: &'a [u8],
        loader: &'a [u8],
        env: &'a [u8],
    }

    /// Builds the bytes of a record with the given tail sections.
    fn record_with(mut record: ExecRecord, tail: &Tail<'_>) -> Vec<u8> {
        let sections = [
            tail.filename,
            tail.interp,
            tail.argv,
            tail.pathname,
            tail.pwd,
            tail.stdin_path,
            tail.loader,
            tail.env,
        ];
        let lengths = sections.map(|s| s.len() as u16);
        [
            record.filename_len,
            record.interp_len,
            record.argv_len,
            record.pathname_len,
            record.pwd_len,
            record.stdin_path_len,
            record.loader_len,
            record.env_len,
        ] = lengths;
        let mut bytes = record.to_bytes();
        for section in sections {
            bytes.extend_from_slice(section);
        }
        bytes
    }

    /// A record whose resolved pathname is its filename.
    fn record_bytes(record: ExecRecord, filename: &[u8], interp: &[u8], argv: &[u8]) -> Vec<u8> {
        record_with(
            record,
            &Tail {
                filename,
                interp,
                argv,
                pathname: filename,
                ..Tail::default()
            },
        )
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
            ns_pid: 100,
            ns_tid: 100,
            ns_ppid: 1,
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

    fn decode(bytes: &[u8], read_cgroup: fn(u32) -> io::Result<String>) -> Event {
        let raw = RawExec::parse(bytes).expect("valid record");
        let event = Decoder::with_parts(
            1_000_000,
            "box".to_owned(),
            Containers::with_parts(read_cgroup, None),
        )
        .decode(&raw);
        // The 0.1 record: every argument of an exec in one typed view.
        event_to_v1(&event)
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
        let names: Vec<&str> = args.extra.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["interp"], "no gid: Tracee's exec event has none");
        assert_eq!(
            extra(&event, "interp"),
            debug(Value::Text("/bin/true".into()))
        );
    }

    /// `threadStartTime` is the thread's start on the same clock as the
    /// timestamp, converted the same way (Tracee's `BootToEpochNS`).
    #[test]
    fn thread_start_is_converted_like_the_timestamp() {
        let mut record = base_record();
        record.start_boot_ns = 4_000;
        let bytes = record_bytes(record, b"/bin/true", b"", b"true\0");
        let raw = RawExec::parse(&bytes).expect("valid record");
        let live = Decoder::with_parts(
            1_000_000,
            "box".to_owned(),
            Containers::with_parts(host_cgroup, None),
        )
        .decode(&raw);
        assert_eq!(live.context.thread_start_ns, 1_004_000);
        assert_eq!(live.context.timestamp_ns, 1_005_000);
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
        (record.ppid, record.ns_ppid) = (0, 0);
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

    /// An extra argument, as its Debug text (the WIT `Value` has no PartialEq).
    fn extra(event: &Event, name: &str) -> Option<String> {
        exec_args(event)
            .extra
            .iter()
            .find(|f| f.name == name)
            .map(|f| format!("{:?}", f.value))
    }

    fn debug(value: Value) -> Option<String> {
        Some(format!("{value:?}"))
    }

    #[test]
    fn script_reports_its_interp_and_resolved_pathname() {
        let bytes = record_with(
            base_record(),
            &Tail {
                filename: b"./x.sh",
                interp: b"/bin/sh",
                argv: b"x.sh\0",
                pathname: b"/usr/bin/dash",
                ..Tail::default()
            },
        );
        let event = decode(&bytes, host_cgroup);
        let args = exec_args(&event);
        assert_eq!(args.cmdpath, "./x.sh");
        assert_eq!(args.pathname, "/usr/bin/dash");
        assert_eq!(event.executable_path, "/usr/bin/dash");
        assert_eq!(
            extra(&event, "interp"),
            debug(Value::Text("/bin/sh".into()))
        );
        assert_eq!(args.interpreter_pathname, "", "no loader reported");
        assert_eq!(extra(&event, "interpreter_inode"), None);
    }

    #[test]
    fn loader_fields_are_reported_when_flagged() {
        let mut record = base_record();
        record.flags |= c::EXEC_FLAG_LOADER as u16;
        (
            record.loader_dev,
            record.loader_inode,
            record.loader_ctime_ns,
        ) = (8, 77, 99);
        let bytes = record_with(
            record,
            &Tail {
                filename: b"/bin/ls",
                pathname: b"/usr/bin/ls",
                loader: b"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                ..Tail::default()
            },
        );
        let event = decode(&bytes, host_cgroup);
        assert_eq!(
            exec_args(&event).interpreter_pathname,
            "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
        );
        assert_eq!(extra(&event, "interpreter_dev"), debug(Value::Unsigned(8)));
        assert_eq!(
            extra(&event, "interpreter_inode"),
            debug(Value::Unsigned(77))
        );
        assert_eq!(
            extra(&event, "interpreter_ctime"),
            debug(Value::Unsigned(99))
        );
    }

    #[test]
    fn namespaced_ids_are_the_context_and_host_ids_stay_beside_them() {
        let mut record = base_record();
        (record.pid, record.tid, record.ppid) = (5000, 5000, 4999);
        (record.ns_pid, record.ns_tid, record.ns_ppid) = (1, 1, 0);
        let bytes = record_bytes(record, b"/bin/sh", b"", b"sh\0");
        let event = decode(&bytes, host_cgroup);
        assert_eq!((event.pid, event.tid, event.ppid), (1, 1, 0));
        assert_eq!(
            (event.host_pid, event.host_tid, event.host_ppid),
            (5000, 5000, 4999)
        );
    }

    #[test]
    fn pwd_stdin_and_env_are_reported() {
        let mut record = base_record();
        record.flags |= (c::EXEC_FLAG_ENV_COLLECTED | c::EXEC_FLAG_ENV_TRUNCATED) as u16;
        record.stdin_mode = 0o020_000;
        let bytes = record_with(
            record,
            &Tail {
                filename: b"/bin/true",
                pathname: b"/usr/bin/true",
                pwd: b"/srv/www",
                stdin_path: b"/dev/pts/3",
                env: b"A=1\0LD_PRELOAD=/x.so\0PA",
                ..Tail::default()
            },
        );
        let event = decode(&bytes, host_cgroup);
        let args = exec_args(&event);
        assert_eq!(args.pwd, "/srv/www");
        assert_eq!(
            (args.stdin_type, args.stdin_path.as_str()),
            (0o020_000, "/dev/pts/3")
        );
        assert_eq!(
            extra(&event, "env"),
            debug(Value::TextList(vec![
                "A=1".into(),
                "LD_PRELOAD=/x.so".into(),
                "PA".into()
            ]))
        );
        assert_eq!(extra(&event, "env_truncated"), debug(Value::Boolean(true)));
    }

    #[test]
    fn a_cut_pathname_says_so() {
        let mut record = base_record();
        record.flags |= c::EXEC_FLAG_PATHNAME_TRUNCATED as u16;
        let bytes = record_bytes(record, b"/x", b"", b"");
        let event = decode(&bytes, host_cgroup);
        assert_eq!(
            extra(&event, "pathname_truncated"),
            debug(Value::Boolean(true))
        );
        let bytes = record_bytes(base_record(), b"/x", b"", b"");
        assert_eq!(
            extra(&decode(&bytes, host_cgroup), "pathname_truncated"),
            None
        );
    }

    #[test]
    fn env_is_absent_unless_collected() {
        let bytes = record_bytes(base_record(), b"/bin/true", b"", b"");
        assert_eq!(extra(&decode(&bytes, host_cgroup), "env"), None);
    }

    #[test]
    fn pipes_and_sockets_on_stdin_are_named_like_proc() {
        for (mode, want) in [(0o010_000, "pipe:[4242]"), (0o140_000, "socket:[4242]")] {
            let mut record = base_record();
            (record.stdin_mode, record.stdin_inode) = (mode, 4242);
            let bytes = record_bytes(record, b"/bin/true", b"", b"");
            assert_eq!(exec_args(&decode(&bytes, host_cgroup)).stdin_path, want);
        }
    }

    #[test]
    fn container_events_carry_the_id() {
        let mut record = base_record();
        record.parent_mnt_ns = record.mnt_ns + 1;
        let bytes = record_bytes(record, b"/bin/sh", b"", b"sh\0");
        let event = decode(&bytes, docker_cgroup);
        assert_eq!(event.container_id, ID);
        assert!(matches!(event.origin, Origin::Container));
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
                announced: 23,
                actual: 22
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
