//! Live file events: `security_file_open` and `security_inode_rename` from
//! the kernel, switched on only while a loaded signature selects them,
//! filtered in the kernel, with Tracee's arguments.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{
    Daemon, findings_of, free_port, http_get, is_root, json_lines, metric, sigbox_command,
    temp_dir, test_module,
};

use crate::live::READY;

/// The paths TEST-FILE-ECHO selects (`guest-signatures/test-signatures/file-echo`).
const ECHO_DIR: &str = "/tmp/sigbox-e2e-file-echo";
const OPENED: &str = "/tmp/sigbox-e2e-file-echo/opened";
const RENAMED: &str = "/tmp/sigbox-e2e-file-echo/renamed";
/// Logged each time the kernel's file events are set for the loaded signatures.
const KERNEL_SET: &str = "kernel file events set for the loaded signatures";
/// The kernel's O_LARGEFILE on x86_64 (libc defines it as 0 there): the
/// kernel adds it to every open on 64-bit, and Tracee reports it.
const KERNEL_O_LARGEFILE: i32 = 0o100_000;
/// Held by each test that opens TEST-FILE-ECHO's paths: a daemon echoes
/// every process's opens of them, another test's too.
static ECHO_PATHS: Mutex<()> = Mutex::new(());

fn scrape(listen: &str) -> String {
    http_get(listen, "/metrics")
        .map(|(_, body)| body)
        .unwrap_or_default()
}

fn open_raw(path: &Path, flags: i32) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path; the descriptor is closed at once.
    let fd = unsafe { libc::open(c_path.as_ptr(), flags, 0o600) };
    assert!(
        fd >= 0,
        "open {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
    // SAFETY: fd was opened just above.
    unsafe { libc::close(fd) };
}

/// The device number as the kernel encodes it (`major << 20 | minor`), as
/// Tracee reports `dev`.
fn kernel_dev(dev: u64) -> u64 {
    (u64::from(libc::major(dev)) << 20) | u64::from(libc::minor(dev))
}

/// The events (each finding's `detectedFrom`, as Tracee JSON) on which
/// TEST-FILE-ECHO fired, of kind `event`.
fn echoed(daemon: &Daemon, event: &str) -> Vec<Value> {
    let lines = daemon.stdout_lines().join("\n");
    let findings = json_lines(lines.as_bytes());
    findings_of(&findings, "TEST-FILE-ECHO")
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

/// Argument `name` of a Tracee JSON event: `(type, value)`.
fn arg(event: &Value, name: &str) -> (Value, Value) {
    event["args"]
        .as_array()
        .and_then(|args| args.iter().find(|a| a["name"] == name))
        .map(|a| (a["type"].clone(), a["value"].clone()))
        .unwrap_or_else(|| panic!("no {name} in {event}"))
}

/// A signature selecting file events is deployed into a running daemon
/// that had none: before, the file programs are not attached and the
/// kernel's switches are off (the metrics say so); after, an open and a rename of the selected paths reach it with
/// Tracee's arguments, and an open of the same name elsewhere is dropped in
/// the kernel by the path filter, counted. Unloading it switches them off
/// and detaches the programs.
#[test]
fn file_events_are_switched_on_by_a_hot_swap_filtered_in_the_kernel_and_off_again() {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    let _echo_paths = ECHO_PATHS.lock().unwrap_or_else(PoisonError::into_inner);
    let signatures = temp_dir("file-events");
    std::fs::copy(
        sigbox_e2e::module("trc-1016"),
        signatures.join("trc-1016.wasm"),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let daemon = Daemon::start(
        &[
            "run",
            "-s",
            signatures.to_str().unwrap(),
            "--listen",
            &listen,
        ],
        READY,
    );
    let enabled = |metrics: &str, event: &str| {
        metric(
            metrics,
            &format!("sigbox_kernel_event_enabled{{event=\"{event}\"}}"),
        )
    };
    // Exec-only signatures: both file events are off in the kernel.
    let before = scrape(&listen);
    assert_eq!(
        enabled(&before, "security_file_open"),
        Some(0.0),
        "{before}"
    );
    assert_eq!(enabled(&before, "security_inode_rename"), Some(0.0));

    // Deploy TEST-FILE-ECHO atomically (hidden name, then rename).
    let hidden = signatures.join(".file-echo.wasm");
    std::fs::copy(test_module("file-echo"), &hidden).unwrap();
    std::fs::rename(&hidden, signatures.join("file-echo.wasm")).unwrap();
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), KERNEL_SET),
        "{}",
        daemon.stderr_text()
    );
    // The programs were attached only now (after the daemon dropped its
    // privileges), for this signature.
    let set_line = |daemon: &Daemon| {
        daemon
            .stderr_text()
            .lines()
            .filter(|l| l.contains(KERNEL_SET))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let lines = set_line(&daemon);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("attached=true"), "{lines:?}");
    let on = scrape(&listen);
    assert_eq!(enabled(&on, "security_file_open"), Some(1.0), "{on}");
    assert_eq!(enabled(&on, "security_inode_rename"), Some(1.0), "{on}");

    // The same name in another directory: passes the basename test, fails
    // the path test, counted before the open returns.
    let elsewhere = Path::new(ECHO_DIR).join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let path_drops = |metrics: &str| {
        metric(
            metrics,
            "sigbox_kernel_dropped_total{event=\"security_file_open\",filter=\"path\"}",
        )
        .unwrap_or(0.0)
    };
    let dropped_before = path_drops(&scrape(&listen));
    open_raw(&elsewhere.join("opened"), libc::O_RDONLY | libc::O_CREAT);
    let dropped_after = path_drops(&scrape(&listen));
    assert!(
        dropped_after > dropped_before,
        "{dropped_before} -> {dropped_after}"
    );

    let _ = std::fs::remove_file(RENAMED);
    open_raw(
        Path::new(OPENED),
        libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
    );
    let meta = std::fs::metadata(OPENED).unwrap();
    std::fs::rename(OPENED, RENAMED).unwrap();
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
            lines.iter().any(|l| l.contains("security_inode_rename"))
        }),
        "{:?}\n{}",
        daemon.stdout_lines(),
        daemon.stderr_text()
    );

    // Tracee v0.24.1's ids, argument names, order and types (core.go).
    let opens = echoed(&daemon, "security_file_open");
    assert_eq!(opens.len(), 1, "{opens:?}");
    let open = &opens[0];
    assert_eq!(open["id"], 732, "{open}");
    let names: Vec<&str> = open["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "pathname",
            "flags",
            "dev",
            "inode",
            "ctime",
            "syscall_pathname"
        ]
    );
    assert_eq!(arg(open, "pathname"), ("string".into(), OPENED.into()));
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | KERNEL_O_LARGEFILE;
    assert_eq!(arg(open, "flags"), ("int32".into(), flags.into()));
    assert_eq!(
        arg(open, "dev"),
        ("uint32".into(), kernel_dev(meta.dev()).into())
    );
    assert_eq!(arg(open, "inode"), ("uint64".into(), meta.ino().into()));
    assert_eq!(arg(open, "ctime").0, "uint64");
    assert_eq!(
        arg(open, "syscall_pathname"),
        ("string".into(), OPENED.into())
    );

    let renames = echoed(&daemon, "security_inode_rename");
    assert_eq!(renames.len(), 1, "{renames:?}");
    let rename = &renames[0];
    assert_eq!(rename["id"], 768, "{rename}");
    assert_eq!(arg(rename, "old_path"), ("string".into(), OPENED.into()));
    assert_eq!(arg(rename, "new_path"), ("string".into(), RENAMED.into()));

    // Unloading the only file signature switches both off again.
    std::fs::remove_file(signatures.join("file-echo.wasm")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut metrics = scrape(&listen);
    while enabled(&metrics, "security_file_open") != Some(0.0) {
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(50));
        metrics = scrape(&listen);
    }
    assert_eq!(enabled(&metrics, "security_inode_rename"), Some(0.0));
    // The switch flips in the kernel's map before the line is logged.
    assert!(
        daemon.wait_for_stderr_line(Duration::from_secs(60), |l| l.contains(KERNEL_SET)
            && l.contains("attached=false")),
        "{}",
        daemon.stderr_text()
    );
    let lines = set_line(&daemon);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].contains("attached=false"), "{lines:?}");
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let _ = std::fs::remove_file(RENAMED);
}

/// The daemon's own opens are not events, as Tracee leaves out its own
/// process: classifying an event can read `/proc/<pid>/cgroup`, itself an
/// open, so a daemon that saw its own opens fed itself one event per event
/// where the kernel filter passes them, and never drained its ring buffer
/// (100% of a core; SIGINT could not stop it). Here its own open is of the
/// path TEST-FILE-ECHO selects: it reopens its findings file there after
/// SIGUSR1. This test's opens of that path are echoed; the daemon's is not.
#[test]
fn the_daemons_own_opens_are_not_events() {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    let _echo_paths = ECHO_PATHS.lock().unwrap_or_else(PoisonError::into_inner);
    std::fs::create_dir_all(ECHO_DIR).unwrap();
    let signatures = temp_dir("file-events-self");
    std::fs::copy(test_module("file-echo"), signatures.join("file-echo.wasm")).unwrap();
    let daemon = Daemon::start(
        &[
            "run",
            "-s",
            signatures.to_str().unwrap(),
            "--listen",
            "off",
            "--output-file",
            OPENED,
        ],
        READY,
    );
    // Findings of TEST-FILE-ECHO on opens by process `pid`.
    let by = |lines: &[String], pid: u32| {
        findings_of(&json_lines(lines.join("\n").as_bytes()), "TEST-FILE-ECHO")
            .into_iter()
            .filter(|f| f["hostProcessId"] == pid)
            .count()
    };
    let wait_for_ours = |count: usize| {
        assert!(
            daemon.wait_for_stdout(Duration::from_secs(60), |lines| by(
                lines,
                std::process::id()
            ) >= count),
            "{:?}\n{}",
            daemon.stdout_lines(),
            daemon.stderr_text()
        );
    };
    // Signatures load after the daemon is ready: its opens are switched on
    // (and the kernel's filter written) only once TEST-FILE-ECHO runs.
    assert!(
        daemon.wait_for_stderr_line(Duration::from_secs(120), |l| {
            l.contains(KERNEL_SET) && l.contains("attached=true")
        }),
        "{}",
        daemon.stderr_text()
    );
    // The path is live: this test's open is echoed.
    open_raw(Path::new(OPENED), libc::O_RDONLY | libc::O_CREAT);
    wait_for_ours(1);
    // The next finding is written after the daemon reopens OPENED.
    daemon.signal("USR1");
    assert!(daemon.wait_for_stderr(Duration::from_secs(60), "SIGUSR1"));
    open_raw(Path::new(OPENED), libc::O_RDONLY | libc::O_CREAT);
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(60), &format!("reopened {OPENED}")),
        "{}",
        daemon.stderr_text()
    );
    // A later open of ours: its finding comes after any of that reopen.
    open_raw(Path::new(OPENED), libc::O_RDONLY | libc::O_CREAT);
    wait_for_ours(3);
    assert_eq!(
        by(&daemon.stdout_lines(), daemon.pid()),
        0,
        "the daemon's own open was an event: {:?}",
        daemon.stdout_lines()
    );
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let _ = std::fs::remove_file(OPENED);
}

/// The file and process name TEST-OPENS-BY-NAME selects
/// (`guest-signatures/test-signatures/opens-by-name`).
const WATCHED_DIR: &str = "/tmp/sigbox-e2e-opens-by-name";
const WATCHED: &str = "/tmp/sigbox-e2e-opens-by-name/watched";
const OPENER: &str = "sigbox-opener";

/// A signature selects opens of one file by one process name. The kernel
/// tests the path, not the name, so every open of the file leaves the
/// kernel; the host's filters drop those by other processes before any
/// worker queue, counted per event in the metrics and the summary, and
/// none reaches the guest, while the one by the named process does.
#[test]
fn opens_the_kernel_passes_but_no_selector_accepts_are_dropped_by_the_host_and_counted() {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    const OTHER_OPENS: u32 = 500;
    let signatures = temp_dir("host-filter");
    std::fs::copy(
        test_module("opens-by-name"),
        signatures.join("opens-by-name.wasm"),
    )
    .unwrap();
    std::fs::create_dir_all(WATCHED_DIR).unwrap();
    std::fs::write(WATCHED, "watched\n").unwrap();
    // A copy of cat named as the signature wants (its comm).
    let bin = temp_dir("host-filter-bin");
    let opener = bin.join(OPENER);
    std::fs::copy("/bin/cat", &opener).unwrap();

    let listen = format!("127.0.0.1:{}", free_port());
    let daemon = Daemon::start(
        &[
            "run",
            "-s",
            signatures.to_str().unwrap(),
            "--listen",
            &listen,
        ],
        READY,
    );
    assert!(
        daemon.wait_for_stderr_line(Duration::from_secs(120), |l| {
            l.contains(KERNEL_SET) && l.contains("attached=true")
        }),
        "{}",
        daemon.stderr_text()
    );
    let host_filtered = |metrics: &str| {
        metric(
            metrics,
            "sigbox_host_filtered_total{event=\"security_file_open\"}",
        )
        .unwrap_or(0.0)
    };
    assert_eq!(host_filtered(&scrape(&listen)), 0.0);

    // This test's thread opens the file: the kernel passes each open (the
    // path matches), the host drops it (the process name does not).
    for _ in 0..OTHER_OPENS {
        open_raw(Path::new(WATCHED), libc::O_RDONLY);
    }
    // Then the named process opens it: its finding proves the daemon read
    // past every open before it.
    let status = std::process::Command::new(&opener)
        .arg(WATCHED)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
            lines.iter().any(|l| l.contains("TEST-OPENS-BY-NAME"))
        }),
        "{:?}\n{}",
        daemon.stdout_lines(),
        daemon.stderr_text()
    );
    // The counts are published after each batch the collector read.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut metrics = scrape(&listen);
    while host_filtered(&metrics) < f64::from(OTHER_OPENS) {
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(50));
        metrics = scrape(&listen);
    }
    assert_eq!(host_filtered(&metrics), f64::from(OTHER_OPENS), "{metrics}");
    // Only the named process's open reached the guest; none was dropped
    // by a full queue.
    let reached = metric(
        &metrics,
        "sigbox_signature_events_total{id=\"TEST-OPENS-BY-NAME\"}",
    );
    assert_eq!(reached, Some(1.0), "{metrics}");
    assert_eq!(metric(&metrics, "sigbox_queue_drops_total"), Some(0.0));

    let stopped = daemon.stop();
    let findings = json_lines(stopped.stdout.join("\n").as_bytes());
    let found = findings_of(&findings, "TEST-OPENS-BY-NAME");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["processName"], OPENER, "{}", found[0]);
    // The summary counts them too (execs no signature selects add to it).
    let summary = stopped
        .stderr
        .lines()
        .find(|l| l.contains("summary:"))
        .unwrap_or_default()
        .to_owned();
    let dropped: u64 = summary
        .split([',', ';'])
        .map(str::trim)
        .find_map(|part| {
            part.strip_suffix(" events dropped by host filters (no signature selects them)")
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no host-filter count in {summary}"));
    assert!(dropped >= u64::from(OTHER_OPENS), "{summary}");
    let _ = std::fs::remove_dir_all(WATCHED_DIR);
}

/// The one path TEST-BENCH-OPEN selects
/// (`guest-signatures/test-signatures/bench-open`); only this test opens it.
const FLOODED: &str = "/tmp/sigbox-bench-open/watched";

/// Opens of [`FLOODED`] made while the daemon is paused: more records
/// (each over 112 bytes) than its 8 MiB file ring holds.
const OVERFILL: usize = 150_000;

/// A file ring the kernel keeps full: the daemon, paused while opens
/// overfill it, resumes into a backlog that two threads keep adding to.
/// The exec ring, signals and timers must still be served: the losses are
/// reported, a web-server shell is found, and SIGTERM stops the daemon,
/// while the flood goes on. (Once, every wait completed at once on the busy
/// ring, the runtime never collected the others' wake-ups, an exec's
/// finding waited minutes for the flood to end, and a stop read the ring
/// for as long as it was fed.) Where the daemon decodes faster than the
/// flood, the backlog drains and the test passes either way.
#[test]
fn execs_and_signals_get_through_while_opens_flood_the_daemon() {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    std::fs::create_dir_all(Path::new(FLOODED).parent().unwrap()).unwrap();
    std::fs::write(FLOODED, b"x").unwrap();
    let signatures = temp_dir("file-events-flood");
    std::fs::copy(
        test_module("bench-open"),
        signatures.join("bench-open.wasm"),
    )
    .unwrap();
    std::fs::copy(
        sigbox_e2e::module("trc-1016"),
        signatures.join("trc-1016.wasm"),
    )
    .unwrap();
    let daemon = Daemon::start(
        &["run", "-s", signatures.to_str().unwrap(), "--listen", "off"],
        READY,
    );
    for loaded in ["loaded signature TRC-1016", KERNEL_SET] {
        assert!(
            daemon.wait_for_stderr_line(Duration::from_secs(120), |l| {
                l.contains(loaded) && (loaded != KERNEL_SET || l.contains("attached=true"))
            }),
            "{}",
            daemon.stderr_text()
        );
    }
    daemon.pause();
    for _ in 0..OVERFILL {
        open_raw(Path::new(FLOODED), libc::O_RDONLY);
    }
    let flood = Flood::start(Path::new(FLOODED), 2);
    daemon.signal("CONT");
    // The kernel dropped what the full ring could not take, which the
    // daemon reports where findings go.
    let overflowed = daemon.wait_for_stdout(Duration::from_secs(120), |lines| {
        lines
            .iter()
            .any(|l| l.contains("sigbox_events_lost") && l.contains("security_file_open"))
    });
    let shell = crate::live::run_as("nginx", "exec /bin/sh -c true");
    let found = overflowed
        && daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
            !crate::pack_live::findings(lines, "TRC-1016", shell).is_empty()
        });
    assert!(
        overflowed,
        "no loss reported for the overfilled ring: {}",
        daemon.stderr_text()
    );
    assert!(
        found,
        "no finding for the shell during the flood: {}",
        daemon.stderr_text()
    );
    daemon.signal("TERM");
    let stopped = daemon.wait_within(Duration::from_secs(60));
    drop(flood);
    let stopped = stopped.unwrap_or_else(|daemon| {
        panic!("SIGTERM ignored during the flood: {}", daemon.stderr_text())
    });
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// Threads opening one file as fast as they can, until dropped (a failing
/// test must not leave them running beside the other tests).
struct Flood {
    on: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Flood {
    fn start(path: &'static Path, threads: usize) -> Self {
        let on = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let threads = (0..threads)
            .map(|_| {
                let on = on.clone();
                std::thread::spawn(move || {
                    while on.load(std::sync::atomic::Ordering::Relaxed) {
                        open_raw(path, libc::O_RDONLY);
                    }
                })
            })
            .collect();
        Self { on, threads }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.on.store(false, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The file hook is the first of fentry, kprobe and the syscall exits that
/// this kernel accepts, each refusal logged; `SIGBOX_FILE_HOOK` forces one
/// (here the syscall exits, which every supported kernel has), and the
/// forced hook delivers the opens.
#[test]
fn the_file_hook_is_chosen_in_order_and_can_be_forced() {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    const CHAIN: [&str; 3] = ["Fentry", "Kprobe", "SyscallExit"];
    let signatures = temp_dir("file-hook");
    let args = ["run", "-s", signatures.to_str().unwrap(), "--listen", "off"];
    let chosen = Daemon::start(&args, READY);
    let log = chosen.stderr_text();
    let taken = CHAIN
        .iter()
        .position(|hook| log.contains(&format!("file events come from {hook}")))
        .unwrap_or_else(|| panic!("no file hook chosen:\n{log}"));
    for (at, hook) in CHAIN.iter().enumerate() {
        let refused = log.contains(&format!("file events cannot come from {hook}:"));
        assert_eq!(refused, at < taken, "{hook}:\n{log}");
    }
    assert!(chosen.stop().status.success());

    let _echo_paths = ECHO_PATHS.lock().unwrap_or_else(PoisonError::into_inner);
    std::fs::create_dir_all(ECHO_DIR).unwrap();
    std::fs::copy(test_module("file-echo"), signatures.join("file-echo.wasm")).unwrap();
    let mut command = sigbox_command(&args);
    command.env("SIGBOX_FILE_HOOK", "syscall");
    let forced = Daemon::start_command(command, READY);
    assert!(
        forced.wait_for_stderr_line(Duration::from_secs(120), |l| {
            l.contains(KERNEL_SET) && l.contains("attached=true")
        }),
        "{}",
        forced.stderr_text()
    );
    let log = forced.stderr_text();
    assert!(log.contains("file events come from SyscallExit"), "{log}");
    assert!(!log.contains("file events cannot come from"), "{log}");
    open_raw(Path::new(OPENED), libc::O_RDONLY | libc::O_CREAT);
    let ours = |lines: &[String]| {
        findings_of(&json_lines(lines.join("\n").as_bytes()), "TEST-FILE-ECHO")
            .iter()
            .any(|f| f["hostProcessId"] == std::process::id())
    };
    assert!(
        forced.wait_for_stdout(Duration::from_secs(60), ours),
        "{:?}\n{}",
        forced.stdout_lines(),
        forced.stderr_text()
    );
    assert!(forced.stop().status.success());
    let _ = std::fs::remove_file(OPENED);
}
