//! Live network, process and mount events: `security_socket_connect`,
//! `socket_dup`, `ptrace`, `process_vm_writev` and `security_sb_mount`
//! from the kernel, switched on only while a loaded signature selects
//! them, with Tracee v0.24.1's ids, argument names, types and values.
//!
//! The events come from a python3 helper that names itself
//! [`HELPER_COMM`], the only process name TEST-EVENT-ECHO
//! (`guest-signatures/test-signatures/event-echo`) selects, so the
//! machine's other processes never reach the findings.

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use sigbox_e2e::{
    Daemon, findings_of, free_port, http_get, is_root, json_lines, metric, temp_dir, test_module,
};

use crate::live::READY;

/// The comm the helper sets, as TEST-EVENT-ECHO's filters name it.
const HELPER_COMM: &str = "sbx-net-echo";
/// Logged each time the kernel's switches change for the loaded signatures.
const SWITCHED: &str = "kernel network, process and mount events set for the loaded signatures";
/// The kinds, as `sigbox_kernel_event_enabled{event}` names them.
const KINDS: [&str; 5] = [
    "security_socket_connect",
    "socket_dup",
    "ptrace",
    "process_vm_writev",
    "security_sb_mount",
];

/// Sets its comm, makes the syscalls `argv[1]` names, prints what it used
/// as one JSON line.
const HELPER: &str = r#"
import ctypes, json, os, signal, socket, sys
with open('/proc/self/comm', 'w') as comm:
    comm.write(os.environ['SBX_COMM'])
libc = ctypes.CDLL(None, use_errno=True)
out = {}
mode = sys.argv[1]
if mode == 'net':
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.connect(('127.0.0.1', int(sys.argv[2])))
    out['tcp_fd'] = tcp.fileno()
    os.dup2(tcp.fileno(), 0)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.connect(sys.argv[3])
    out['unix_fd'] = unix.fileno()
elif mode == 'proc':
    child = os.fork()
    if child == 0:
        signal.pause()
        os._exit(0)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    # POKETEXT on a child not traced: refused (ESRCH), but entered.
    libc.ptrace(4, child, 0x1000, 0x2a)
    class Iovec(ctypes.Structure):
        _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
    buf = ctypes.create_string_buffer(8)
    local = Iovec(ctypes.addressof(buf), 8)
    remote = Iovec(0x1000, 8)
    libc.process_vm_writev.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong,
                                       ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    libc.process_vm_writev(child, ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0)
    out.update(child=child, local_iov=ctypes.addressof(local), remote_iov=ctypes.addressof(remote))
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
elif mode == 'mount':
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_ulong, ctypes.c_void_p]
    # A path relative to the working directory: the event has it absolute.
    out['rc'] = libc.mount(b'sbx-echo-tmpfs', sys.argv[2].encode(), b'tmpfs', 6, None)
print(json.dumps(out), flush=True)
"#;

/// Runs the helper (through `prefix`, e.g. `unshare -m`) in `cwd`; returns
/// what it printed.
fn run_helper(prefix: &[&str], cwd: &Path, args: &[&str]) -> Value {
    let (program, rest) = match prefix.split_first() {
        Some((program, rest)) => (*program, rest),
        None => ("python3", &[][..]),
    };
    let mut command = Command::new(program);
    command.args(rest);
    if !prefix.is_empty() {
        command.arg("python3");
    }
    let output = command
        .arg("-c")
        .arg(HELPER)
        .args(args)
        .current_dir(cwd)
        .env("SBX_COMM", HELPER_COMM)
        .output()
        .expect("running python3");
    assert!(
        output.status.success(),
        "helper {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the helper's JSON line")
}

fn scrape(listen: &str) -> String {
    http_get(listen, "/metrics")
        .map(|(_, body)| body)
        .unwrap_or_default()
}

fn enabled(metrics: &str, event: &str) -> Option<f64> {
    metric(
        metrics,
        &format!("sigbox_kernel_event_enabled{{event=\"{event}\"}}"),
    )
}

/// A daemon running `modules` (test modules or default ones by path).
fn start(label: &str, modules: &[PathBuf], listen: &str) -> (Daemon, PathBuf) {
    let signatures = temp_dir(label);
    for module in modules {
        std::fs::copy(module, signatures.join(module.file_name().unwrap())).unwrap();
    }
    // Its own status file: other daemons may be running on this machine.
    let status = temp_dir(&format!("{label}-status")).join("status.json");
    let daemon = Daemon::start(
        &[
            "run",
            "-s",
            signatures.to_str().unwrap(),
            "--listen",
            listen,
            "--status-file",
            status.to_str().unwrap(),
        ],
        READY,
    );
    // Signatures load after the daemon is ready; TEST-EVENT-ECHO's kinds are
    // switched on only then, so a test must not act before.
    if modules.iter().any(|m| m.ends_with("event-echo.wasm")) {
        assert!(
            daemon.wait_for_stderr_line(Duration::from_secs(120), |l| {
                l.contains("kernel network, process and mount events set")
                    && l.contains("attached=true")
            }),
            "{}",
            daemon.stderr_text()
        );
    }
    (daemon, signatures)
}

/// The events (each finding's `detectedFrom`) on which TEST-EVENT-ECHO
/// fired, of kind `event`.
fn echoed(daemon: &Daemon, event: &str) -> Vec<Value> {
    echoed_in(&daemon.stdout_lines(), event)
}

/// Waits until an echoed event of kind `event` satisfies `want`; returns it.
fn wait_echoed(daemon: &Daemon, event: &str, want: impl Fn(&Value) -> bool) -> Value {
    let found = daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
        lines.iter().any(|l| l.contains(event)) && echoed_in(lines, event).iter().any(&want)
    });
    assert!(
        found,
        "no {event} as wanted in {:?}\n{}",
        echoed(daemon, event),
        daemon.stderr_text()
    );
    echoed(daemon, event).into_iter().find(want).unwrap()
}

/// The same, from stdout lines.
fn echoed_in(lines: &[String], event: &str) -> Vec<Value> {
    let findings = json_lines(lines.join("\n").as_bytes());
    findings_of(&findings, "TEST-EVENT-ECHO")
        .into_iter()
        .filter_map(|f| {
            f["args"]
                .as_array()?
                .iter()
                .find(|a| a["name"] == "detectedFrom")
                .map(|a| a["value"].clone())
        })
        .filter(|from| from["name"] == event)
        .collect()
}

/// The `[name, type, value]` of each argument, in order.
fn args_of(event: &Value) -> Vec<(String, String, Value)> {
    event["args"]
        .as_array()
        .unwrap_or_else(|| panic!("no args in {event}"))
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["type"].as_str().unwrap().to_owned(),
                a["value"].clone(),
            )
        })
        .collect()
}

fn typed(list: &[(&str, &str, Value)]) -> Vec<(String, String, Value)> {
    list.iter()
        .map(|(n, t, v)| ((*n).to_owned(), (*t).to_owned(), v.clone()))
        .collect()
}

fn skip() -> bool {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return true;
    }
    if Command::new("python3").arg("-c").arg("").status().is_err() {
        eprintln!("skipped: no python3 for the helper");
        return true;
    }
    false
}

/// With only an exec signature loaded, the programs are not attached and
/// every one of the five kinds is switched off (the metric says so);
/// deploying TEST-EVENT-ECHO attaches them (after the daemon dropped its
/// privileges) and switches them on, and a connect then reaches it;
/// removing it switches them off and detaches the programs.
#[test]
fn kinds_are_off_until_a_signature_selects_them_and_off_again_after() {
    if skip() {
        return;
    }
    let listen = format!("127.0.0.1:{}", free_port());
    let (daemon, signatures) = start("net-off", &[sigbox_e2e::module("trc-1016")], &listen);
    let before = scrape(&listen);
    for kind in KINDS {
        assert_eq!(enabled(&before, kind), Some(0.0), "{kind}: {before}");
    }
    assert!(!daemon.stderr_text().contains(SWITCHED));

    let hidden = signatures.join(".event-echo.wasm");
    std::fs::copy(test_module("event-echo"), &hidden).unwrap();
    std::fs::rename(&hidden, signatures.join("event-echo.wasm")).unwrap();
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), SWITCHED),
        "{}",
        daemon.stderr_text()
    );
    let set_lines = |daemon: &Daemon| -> Vec<String> {
        daemon
            .stderr_text()
            .lines()
            .filter(|l| l.contains(SWITCHED))
            .map(str::to_owned)
            .collect()
    };
    let lines = set_lines(&daemon);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("attached=true"), "{lines:?}");
    let on = scrape(&listen);
    for kind in KINDS {
        assert_eq!(enabled(&on, kind), Some(1.0), "{kind}: {on}");
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let socket_dir = temp_dir("net-off-sock");
    let unix_path = socket_dir.join("s");
    let _unix = UnixListener::bind(&unix_path).unwrap();
    run_helper(
        &[],
        &socket_dir,
        &["net", &port.to_string(), unix_path.to_str().unwrap()],
    );
    wait_echoed(&daemon, "security_socket_connect", |_| true);

    std::fs::remove_file(signatures.join("event-echo.wasm")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut metrics = scrape(&listen);
    while KINDS.iter().any(|k| enabled(&metrics, k) != Some(0.0)) {
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(50));
        metrics = scrape(&listen);
    }
    // The kernel's switches flip before the line saying so is logged.
    assert!(
        daemon.wait_for_stderr_line(Duration::from_secs(120), |l| {
            l.contains(SWITCHED) && l.contains("attached=false")
        }),
        "{}",
        daemon.stderr_text()
    );
    let lines = set_lines(&daemon);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].contains("attached=false"), "{lines:?}");
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// A TCP connect to a loopback listener, a unix-socket connect, and a dup2
/// of the TCP socket onto fd 0, with Tracee's arguments and sockaddr maps.
#[test]
fn connects_and_a_socket_dup_carry_tracee_arguments() {
    if skip() {
        return;
    }
    let listen = format!("127.0.0.1:{}", free_port());
    let (daemon, _signatures) = start("net-connect", &[test_module("event-echo")], &listen);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let socket_dir = temp_dir("net-connect-sock");
    let unix_path = socket_dir.join("docker.sock");
    let _unix = UnixListener::bind(&unix_path).unwrap();
    let unix_text = unix_path.to_str().unwrap();
    let used = run_helper(&[], &socket_dir, &["net", &port.to_string(), unix_text]);
    let (tcp_fd, unix_fd) = (used["tcp_fd"].clone(), used["unix_fd"].clone());

    let inet =
        json!({"sa_family": "AF_INET", "sin_addr": "127.0.0.1", "sin_port": port.to_string()});
    let tcp = wait_echoed(&daemon, "security_socket_connect", |e| {
        args_of(e).get(2).map(|a| &a.2) == Some(&inet)
    });
    assert_eq!(tcp["id"], 736, "{tcp}");
    assert_eq!(
        args_of(&tcp),
        typed(&[
            ("sockfd", "int32", tcp_fd.clone()),
            ("type", "int32", json!(1)),
            ("remote_addr", "SockAddr", inet.clone()),
        ])
    );
    let unix = json!({"sa_family": "AF_UNIX", "sun_path": unix_text});
    let connect = wait_echoed(&daemon, "security_socket_connect", |e| {
        args_of(e).get(2).map(|a| &a.2) == Some(&unix)
    });
    assert_eq!(
        args_of(&connect),
        typed(&[
            ("sockfd", "int32", unix_fd),
            ("type", "int32", json!(1)),
            ("remote_addr", "SockAddr", unix),
        ])
    );
    // socket_dup: the peer, read from the socket.
    let dup = wait_echoed(&daemon, "socket_dup", |_| true);
    assert_eq!(dup["id"], 749, "{dup}");
    assert_eq!(
        args_of(&dup),
        typed(&[
            ("oldfd", "int32", tcp_fd),
            ("newfd", "int32", json!(0)),
            ("remote_addr", "SockAddr", inet),
        ])
    );
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// A ptrace(PTRACE_POKETEXT) and a process_vm_writev aimed at a child the
/// helper forks, with Tracee's arguments.
#[test]
fn ptrace_and_process_vm_writev_carry_tracee_arguments() {
    if skip() {
        return;
    }
    let listen = format!("127.0.0.1:{}", free_port());
    let (daemon, signatures) = start("net-proc", &[test_module("event-echo")], &listen);
    let used = run_helper(&[], &signatures, &["proc"]);
    let child = used["child"].clone();

    let ptrace = wait_echoed(&daemon, "ptrace", |e| {
        args_of(e).get(1).map(|a| &a.2) == Some(&child)
    });
    assert_eq!(ptrace["id"], 101, "{ptrace}");
    assert_eq!(
        args_of(&ptrace),
        typed(&[
            ("request", "int64", json!(4)),
            ("pid", "int32", child.clone()),
            ("addr", "trace.Pointer", json!(0x1000)),
            ("data", "trace.Pointer", json!(0x2a)),
        ])
    );
    let writev = wait_echoed(&daemon, "process_vm_writev", |e| {
        args_of(e).first().map(|a| &a.2) == Some(&child)
    });
    assert_eq!(writev["id"], 311, "{writev}");
    assert_eq!(
        args_of(&writev),
        typed(&[
            ("pid", "int32", child),
            ("local_iov", "trace.Pointer", used["local_iov"].clone()),
            ("liovcnt", "uint64", json!(1)),
            ("remote_iov", "trace.Pointer", used["remote_iov"].clone()),
            ("riovcnt", "uint64", json!(1)),
            ("flags", "uint64", json!(0)),
        ])
    );
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// A tmpfs mounted inside a private mount namespace (`unshare -m`), its
/// mount point given relative to the working directory.
#[test]
fn a_tmpfs_mount_in_a_private_namespace_carries_tracee_arguments() {
    if skip() {
        return;
    }
    let listen = format!("127.0.0.1:{}", free_port());
    let (daemon, _signatures) = start("net-mount", &[test_module("event-echo")], &listen);
    let dir = temp_dir("net-mount-point").canonicalize().unwrap();
    std::fs::create_dir(dir.join("mnt")).unwrap();
    let used = run_helper(
        &["unshare", "-m", "--propagation", "private"],
        &dir,
        &["mount", "mnt"],
    );
    assert_eq!(used["rc"], 0, "the mount failed: {used}");
    let path = dir.join("mnt");
    let mount = wait_echoed(&daemon, "security_sb_mount", |_| true);
    assert_eq!(mount["id"], 740, "{mount}");
    assert_eq!(
        args_of(&mount),
        typed(&[
            ("dev_name", "string", json!("sbx-echo-tmpfs")),
            ("path", "string", json!(path.to_str().unwrap())),
            ("type", "string", json!("tmpfs")),
            ("flags", "uint64", json!(6)),
        ])
    );
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// Mount attempts the burst makes while the daemon cannot read its ring,
/// each with three 4,000-byte strings: ~12 KB records, so 85 filled the
/// first 1 MiB ring and ~680 fit in 8 MiB. Host mounts only: the default
/// set's TRC-1014 wants a container's, so other daemons on the machine drop
/// them before their queues.
const BURST: usize = 300;

/// The sum of the samples whose line starts with `prefix`.
fn metric_sum(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The ring buffer holds a burst of records made while the daemon is
/// stopped (as when it is descheduled on a busy machine): 300 mount
/// records of ~12 KB, 3.6 MB, none dropped in the kernel. Each mount fails
/// (no such file system type), so nothing is mounted.
#[test]
fn the_ring_holds_a_burst_while_the_daemon_cannot_read() {
    if skip() {
        return;
    }
    let listen = format!("127.0.0.1:{}", free_port());
    let (daemon, _signatures) = start("net-burst", &[sigbox_e2e::module("trc-1014")], &listen);
    assert!(
        daemon.wait_for_stderr_line(Duration::from_secs(120), |l| {
            l.contains(SWITCHED) && l.contains("attached=true")
        }),
        "{}",
        daemon.stderr_text()
    );
    let ring_drops = |metrics: &str| {
        metric_sum(
            metrics,
            "sigbox_kernel_dropped_total{event=\"security_sb_mount\",filter=\"ring_buffer_full\"}",
        )
    };
    let before = ring_drops(&scrape(&listen));
    let long = |c: char| std::ffi::CString::new(c.to_string().repeat(4000)).unwrap();
    let (source, fs_type) = (long('s'), long('t'));
    let target = std::ffi::CString::new(format!("/{}", "d".repeat(3999))).unwrap();

    daemon.pause();
    for _ in 0..BURST {
        // SAFETY: NUL-terminated strings; no data. It fails (the type is
        // no file system), after the syscall's entry made the record.
        let status = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                fs_type.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        assert_eq!(status, -1, "a mount with no such type succeeded");
    }
    daemon.signal("CONT");
    // The kernel counted its drops as it wrote: final for the burst now.
    let dropped = ring_drops(&scrape(&listen)) - before;
    assert_eq!(dropped, 0.0, "{}", daemon.stderr_text());
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}
