//! Live file events measured side by side (issue 28 item 4; run by `make
//! bench`, alone with `cargo bench -p sigbox --bench file_events`):
//!
//! - `loops`: an open+close loop of a path no signature selects, a rename
//!   loop, and an open+close loop of a path one signature selects, timed
//!   with no daemon and under the real daemon (`sigbox run`) in several
//!   setups, alternated in rounds (A, B, C, D, then again) so a noisy
//!   neighbour slows them alike; the median per operation and the slowdown
//!   against no daemon.
//! - `rate`: opens paced at 50k/s for 5 s; the daemon's CPU time (utime +
//!   stime of `/proc/PID/stat`) over the wall time, and what it dropped
//!   (from its `/metrics`).
//! - `latency` (issue 31 item 4): exec → TRC-1016 finding latency on the
//!   daemon's stdout, quiet and while 50k opens/s flow into another guest
//!   (TEST-BENCH-OPEN) through the same daemon.
//!
//! Environment: `SIGBOX_BENCH_ONLY` (comma-separated sections: loops,
//! rate, latency), `SIGBOX_BENCH_ROUNDS` (rounds of the loops, default 3).
//! Needs root (eBPF) and `make` (the binary, the signed default set and
//! the test signature TEST-BENCH-OPEN).

use std::ffi::CString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sigbox::bench::{TempDir, Timing, thread_cpu_ns};
use sigbox::source::check_privileges;

/// The one path TEST-BENCH-OPEN selects
/// (`guest-signatures/test-signatures/bench-open`).
const WATCHED: &str = "/tmp/sigbox-bench-open/watched";
/// The default set's signatures that select no file event.
const EXEC_ONLY: [&str; 2] = ["trc-1016", "trc-105"];
/// Logged once the daemon is started.
const READY: &str = "watching exec events";
/// Logged when the kernel refuses fentry and the file programs fall back to
/// `tp_btf/sys_exit`.
const SYSCALL_EXIT_HOOK: &str = "syscalls' exits instead";

const OPENS_PER_LOOP: usize = 20_000;
const RENAMES_PER_LOOP: usize = 10_000;
const RATE_PER_SECOND: usize = 50_000;
const RATE_SECONDS: u64 = 5;
/// Daemon CPU sampled before the paced opens: the machine's own file
/// activity that reaches it.
const IDLE_SECONDS: u64 = 2;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// What runs beside the loops.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    NoDaemon,
    /// Every signature of `target/signatures/` (17, 15 of them on file events).
    FullSet,
    /// Only the default set's exec signatures: the file programs stay detached.
    NoFileSignature,
    /// Only TEST-BENCH-OPEN: the file programs are attached and the kernel
    /// filter passes only [`WATCHED`] (the hook's cost for every other open).
    OneFileSignature,
    /// TRC-1016 and TEST-BENCH-OPEN: execs find, opens of [`WATCHED`] reach
    /// a guest (the latency section).
    ExecAndOneFileSignature,
}

impl Setup {
    const ALL: [Setup; 4] = [
        Setup::NoDaemon,
        Setup::FullSet,
        Setup::NoFileSignature,
        Setup::OneFileSignature,
    ];

    fn label(self) -> &'static str {
        match self {
            Setup::NoDaemon => "no daemon",
            Setup::FullSet => "daemon, full default set",
            Setup::NoFileSignature => "daemon, no file signature",
            Setup::OneFileSignature => "daemon, TEST-BENCH-OPEN only",
            Setup::ExecAndOneFileSignature => "daemon, TRC-1016 + TEST-BENCH-OPEN",
        }
    }

    /// The modules this setup loads, and whether any selects file events.
    fn modules(self) -> (Vec<PathBuf>, bool) {
        let default_set = repo().join("target/signatures");
        match self {
            Setup::NoDaemon => (vec![], false),
            Setup::FullSet => {
                let mut all: Vec<PathBuf> = std::fs::read_dir(&default_set)
                    .expect("target/signatures: run `make` first")
                    .filter_map(|e| Some(e.ok()?.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                    .collect();
                all.sort();
                (all, true)
            }
            Setup::NoFileSignature => (
                EXEC_ONLY
                    .iter()
                    .map(|name| default_set.join(format!("{name}.wasm")))
                    .collect(),
                false,
            ),
            Setup::OneFileSignature => (
                vec![repo().join("target/signatures-test/bench-open.wasm")],
                true,
            ),
            Setup::ExecAndOneFileSignature => (
                vec![
                    default_set.join("trc-1016.wasm"),
                    repo().join("target/signatures-test/bench-open.wasm"),
                ],
                true,
            ),
        }
    }
}

/// A running `sigbox run` on a private copy of a setup's modules, stopped
/// (SIGINT) on drop.
struct Daemon {
    child: Child,
    /// Findings as (hostProcessId, event timestamp ns, ns since the epoch
    /// when the line was read), when started with [`Daemon::start_reading`].
    findings: Option<mpsc::Receiver<(u64, u64, u64)>>,
    listen: String,
    stderr: Arc<Mutex<String>>,
    _dir: TempDir,
}

impl Daemon {
    fn start(setup: Setup) -> Option<Daemon> {
        Self::start_with(setup, false)
    }

    /// Started with its findings read off stdout as they come.
    fn start_reading(setup: Setup) -> Option<Daemon> {
        Self::start_with(setup, true)
    }

    fn start_with(setup: Setup, read_findings: bool) -> Option<Daemon> {
        let (modules, selects_files) = setup.modules();
        if modules.is_empty() {
            return None;
        }
        let dir = TempDir::new("bench-file-events").unwrap();
        let signatures = dir.path().join("signatures");
        std::fs::create_dir(&signatures).unwrap();
        for module in &modules {
            std::fs::copy(module, signatures.join(module.file_name().unwrap()))
                .unwrap_or_else(|e| panic!("{}: {e} (run `make` first)", module.display()));
        }
        let listen = format!("127.0.0.1:{}", free_port());
        let mut child = Command::new(repo().join("target/release/sigbox"))
            .arg("run")
            .arg("-s")
            .arg(&signatures)
            .arg("--trust")
            .arg(repo().join("target/dev-trust.toml"))
            .arg("--status-file")
            .arg(dir.path().join("status.json"))
            .args(["--listen", &listen])
            .stdout(if read_findings {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting target/release/sigbox (run `make` first)");
        let findings = child.stdout.take().map(|stdout| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let read_at = wall_ns();
                    let Ok(finding) = serde_json::from_str::<serde_json::Value>(&line) else {
                        continue;
                    };
                    let pid = finding["hostProcessId"].as_u64().unwrap_or(0);
                    let at = finding["timestamp"].as_u64().unwrap_or(0);
                    if tx.send((pid, at, read_at)).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready) = mpsc::channel();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.by_ref().map_while(Result::ok) {
                let is_ready = line.contains(READY);
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
                if is_ready {
                    let _ = ready_tx.send(());
                }
            }
        });
        let daemon = Daemon {
            child,
            findings,
            listen,
            stderr,
            _dir: dir,
        };
        assert!(
            ready.recv_timeout(Duration::from_secs(300)).is_ok(),
            "sigbox run did not start:\n{}",
            daemon.log()
        );
        // Every module loaded, and the kernel's open switch set for them.
        let loaded = |m: &str| count_samples(m, "sigbox_signature_info{") == modules.len();
        let switched = |m: &str| {
            metric(
                m,
                "sigbox_kernel_event_enabled{event=\"security_file_open\"}",
            ) == Some(if selects_files { 1.0 } else { 0.0 })
        };
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let metrics = daemon.metrics();
            if loaded(&metrics) && switched(&metrics) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not load its signatures:\n{metrics}\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(daemon)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn metrics(&self) -> String {
        http_get(&self.listen, "/metrics").unwrap_or_default()
    }

    /// Waits (at most 3 s) until the daemon has worked through what the
    /// last loop queued: its CPU use over 200 ms falls below 10% of a core.
    /// Best effort: where the machine's own opens keep it busy, it never does.
    fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            let before = cpu_seconds(self.pid());
            std::thread::sleep(Duration::from_millis(200));
            if cpu_seconds(self.pid()) - before < 0.02 {
                return;
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signals the child this process started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a free port")
        .port()
}

/// The body of `GET path` from `address` (HTTP/1.0).
fn http_get(address: &str, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response.split_once("\r\n\r\n")?.1.to_owned())
}

/// The value of the sample `name{labels}` in an exposition.
fn metric(exposition: &str, sample: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        line.strip_prefix(sample)?
            .strip_prefix(' ')?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

/// The sum of the samples whose line starts with `prefix` (0 if none).
fn metric_sum(exposition: &str, prefix: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn count_samples(exposition: &str, prefix: &str) -> usize {
    exposition
        .lines()
        .filter(|line| line.starts_with(prefix))
        .count()
}

/// CPU time (utime + stime, every thread) `pid` used so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is the
    // first, utime and stime the 12th and 13th.
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / per_second
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
}

/// One `open(O_RDONLY)` and `close`, as a program reading a file does.
fn open_close(path: &CString) {
    // SAFETY: a NUL-terminated path; the descriptor is closed at once.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
    assert!(fd >= 0, "open: {}", std::io::Error::last_os_error());
    // SAFETY: fd was opened just above.
    unsafe { libc::close(fd) };
}

fn rename(from: &CString, to: &CString) {
    // SAFETY: NUL-terminated paths.
    let status = unsafe { libc::rename(from.as_ptr(), to.as_ptr()) };
    assert_eq!(status, 0, "rename: {}", std::io::Error::last_os_error());
}

/// `n` operations timed as thread CPU time (what the kernel's hook adds to
/// the calling thread) and wall time, in ns per operation.
fn time_loop(n: usize, mut op: impl FnMut(usize)) -> (f64, f64) {
    let (cpu, wall) = (thread_cpu_ns(), Instant::now());
    for i in 0..n {
        op(i);
    }
    let cpu = (thread_cpu_ns() - cpu) as f64 / n as f64;
    (cpu, wall.elapsed().as_nanos() as f64 / n as f64)
}

/// The loops of one measurement.
#[derive(Clone, Copy)]
enum Loop {
    OpenUnmatched,
    Rename,
    OpenWatched,
}

impl Loop {
    const ALL: [Loop; 3] = [Loop::OpenUnmatched, Loop::Rename, Loop::OpenWatched];

    fn label(self) -> &'static str {
        match self {
            Loop::OpenUnmatched => "open+close, a path no signature selects",
            Loop::Rename => "rename, back and forth",
            Loop::OpenWatched => "open+close of WATCHED (TEST-BENCH-OPEN's path)",
        }
    }
}

/// The files the loops use: `unmatched` and `a` in a private temporary
/// directory, and [`WATCHED`].
struct Files {
    _dir: TempDir,
    unmatched: CString,
    a: CString,
    b: CString,
    watched: CString,
}

impl Files {
    fn create() -> Files {
        let dir = TempDir::new("bench-files").unwrap();
        let unmatched = dir.path().join("unmatched");
        let a = dir.path().join("a");
        std::fs::write(&unmatched, b"x").unwrap();
        std::fs::write(&a, b"x").unwrap();
        let watched = Path::new(WATCHED);
        std::fs::create_dir_all(watched.parent().unwrap()).unwrap();
        std::fs::write(watched, b"x").unwrap();
        Files {
            unmatched: c_path(&unmatched),
            a: c_path(&a),
            b: c_path(&dir.path().join("b")),
            watched: c_path(watched),
            _dir: dir,
        }
    }

    fn run(&self, which: Loop) -> (f64, f64) {
        match which {
            Loop::OpenUnmatched => time_loop(OPENS_PER_LOOP, |_| open_close(&self.unmatched)),
            Loop::OpenWatched => time_loop(OPENS_PER_LOOP, |_| open_close(&self.watched)),
            Loop::Rename => {
                let timing = time_loop(RENAMES_PER_LOOP, |i| {
                    if i % 2 == 0 {
                        rename(&self.a, &self.b);
                    } else {
                        rename(&self.b, &self.a);
                    }
                });
                if RENAMES_PER_LOOP % 2 == 1 {
                    rename(&self.b, &self.a);
                }
                timing
            }
        }
    }
}

fn main() {
    println!("## File events (issue 28; sigbox benches/file_events.rs)\n");
    if let Err(error) = check_privileges() {
        println!("skipped: {error}");
        return;
    }
    let only = std::env::var("SIGBOX_BENCH_ONLY").unwrap_or_default();
    let want = |section: &str| only.is_empty() || only.split(',').any(|s| s == section);
    let rounds: usize = std::env::var("SIGBOX_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let files = Files::create();
    println!("load average at start: {}", load_average());
    if want("loops") {
        loops(&files, rounds);
    }
    if want("rate") {
        rates(&files);
    }
    if want("latency") {
        latency(&files);
    }
    println!("load average at end: {}", load_average());
    let _ = std::fs::remove_file(WATCHED);
}

/// The loops under each setup, in alternated rounds.
fn loops(files: &Files, rounds: usize) {
    // (setup, loop) -> CPU and wall timings, one sample per round.
    let mut cpu = vec![vec![Timing::default(); Loop::ALL.len()]; Setup::ALL.len()];
    let mut wall = cpu.clone();
    let mut hook = None;
    for _ in 0..rounds {
        for (s, setup) in Setup::ALL.iter().enumerate() {
            let daemon = Daemon::start(*setup);
            // Warm the path lookups and the daemon's first calls.
            for which in Loop::ALL {
                files.run(which);
            }
            for (l, which) in Loop::ALL.iter().enumerate() {
                if let Some(daemon) = &daemon {
                    daemon.settle();
                }
                let (c, w) = files.run(*which);
                cpu[s][l].push(c, 1);
                wall[s][l].push(w, 1);
            }
            if let Some(daemon) = &daemon
                && *setup == Setup::OneFileSignature
            {
                hook = Some(if daemon.log().contains(SYSCALL_EXIT_HOOK) {
                    "tp_btf/sys_exit (the kernel refused fentry)"
                } else {
                    "fentry"
                });
            }
        }
    }
    println!(
        "-- loops: median of {rounds} alternated rounds ({OPENS_PER_LOOP} opens, {RENAMES_PER_LOOP} renames each); \
         file hook: {}; load average now {}",
        hook.unwrap_or("?"),
        load_average()
    );
    println!(
        "{:<48} {:<30} {:>9} {:>9} {:>9}   spread (CPU, min–max)",
        "loop", "beside it", "CPU/op", "wall/op", "vs none"
    );
    for (l, which) in Loop::ALL.iter().enumerate() {
        let anchor = cpu[0][l].median();
        for (s, setup) in Setup::ALL.iter().enumerate() {
            let median = cpu[s][l].median();
            let slowdown = if s == 0 {
                "—".to_owned()
            } else {
                format!("{:+.1}%", (median / anchor - 1.0) * 100.0)
            };
            println!(
                "{:<48} {:<30} {:>6.0} ns {:>6.0} ns {:>9}   {:.0}–{:.0} ns",
                if s == 0 { which.label() } else { "" },
                setup.label(),
                median,
                wall[s][l].median(),
                slowdown,
                cpu[s][l].min(),
                cpu[s][l].max(),
            );
        }
    }
    println!();
}

fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Exec → finding latency samples per load.
const LATENCY_SAMPLES: usize = 300;

/// Exec → TRC-1016 finding on the daemon's stdout (from the kernel's exec
/// timestamp to the line read), quiet and while opens of [`WATCHED`] flow
/// at [`RATE_PER_SECOND`] into TEST-BENCH-OPEN's guest through the same
/// collector and workers (issue 31 item 4: p99 ≤ 1 ms).
fn latency(files: &Files) {
    println!(
        "-- exec → TRC-1016 finding, {LATENCY_SAMPLES} samples each; load average now {}",
        load_average()
    );
    let dir = TempDir::new("bench-latency").unwrap();
    let nginx = dir.path().join("nginx");
    std::fs::copy("/bin/sh", &nginx).unwrap();
    for opens_flow in [false, true] {
        let daemon = Daemon::start_reading(Setup::ExecAndOneFileSignature).expect("a daemon");
        daemon.settle();
        let findings = daemon.findings.as_ref().unwrap();
        let before = daemon.metrics();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let generator = opens_flow.then(|| {
            let (stop, watched) = (stop.clone(), files.watched.clone());
            std::thread::spawn(move || paced_opens_until(&watched, &stop))
        });
        let mut latencies = Vec::with_capacity(LATENCY_SAMPLES);
        for _ in 0..LATENCY_SAMPLES {
            let mut shell = Command::new(&nginx)
                .args(["-c", "exec /bin/sh -c :"])
                .spawn()
                .unwrap();
            let pid = u64::from(shell.id());
            loop {
                let (of, at, read_at) = findings
                    .recv_timeout(Duration::from_secs(60))
                    .unwrap_or_else(|_| panic!("no finding for {pid}:\n{}", daemon.log()));
                if of == pid {
                    latencies.push(Duration::from_nanos(read_at.saturating_sub(at)));
                    break;
                }
            }
            shell.wait().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let flow = generator.map(|g| g.join().unwrap());
        let after = daemon.metrics();
        let delta = |prefix: &str| metric_sum(&after, prefix) - metric_sum(&before, prefix);
        latencies.sort();
        let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
        let load = match flow {
            Some((opens, elapsed)) => format!(
                "while {:.1}k opens/s reach TEST-BENCH-OPEN ({} to its guest, {} ring full, {} queue drops)",
                opens as f64 / elapsed.as_secs_f64() / 1000.0,
                delta("sigbox_signature_events_total{id=\"TEST-BENCH-OPEN\"}"),
                delta(
                    "sigbox_kernel_dropped_total{event=\"security_file_open\",filter=\"ring_buffer_full\"}"
                ),
                delta("sigbox_queue_drops_total"),
            ),
            None => "quiet".to_owned(),
        };
        println!(
            "p50 {:>9.2?}  p90 {:>9.2?}  p99 {:>9.2?}  max {:>9.2?}  {load}",
            at(0.5),
            at(0.9),
            at(0.99),
            latencies.last().unwrap(),
        );
    }
    println!();
}

/// Opens of `path` paced at [`RATE_PER_SECOND`] for [`RATE_SECONDS`].
fn paced_opens(path: &CString) -> (usize, Duration) {
    paced_opens_while(path, |ms| ms < RATE_SECONDS * 1000)
}

/// Opens of `path` paced at [`RATE_PER_SECOND`] until `stop`.
fn paced_opens_until(path: &CString, stop: &std::sync::atomic::AtomicBool) -> (usize, Duration) {
    paced_opens_while(path, |_| !stop.load(std::sync::atomic::Ordering::Relaxed))
}

/// Opens of `path` at [`RATE_PER_SECOND`] while `go(ms elapsed)`: a burst
/// each millisecond, then a sleep to the next. Returns the opens made and
/// the wall time they took.
fn paced_opens_while(path: &CString, mut go: impl FnMut(u64) -> bool) -> (usize, Duration) {
    let per_ms = RATE_PER_SECOND / 1000;
    let start = Instant::now();
    let mut opens = 0;
    let mut tick = 0;
    while go(tick) {
        for _ in 0..per_ms {
            open_close(path);
        }
        opens += per_ms;
        tick += 1;
        let next = start + Duration::from_millis(tick);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    (opens, start.elapsed())
}

/// Daemon CPU and drops at a fixed rate of opens, per setup and path.
fn rates(files: &Files) {
    println!(
        "-- {}k opens/s for {RATE_SECONDS} s: daemon CPU (utime+stime / wall) and drops; load average now {}",
        RATE_PER_SECOND / 1000,
        load_average()
    );
    println!(
        "{:<36} {:<30} {:>9} {:>10} {:>8} {:>9} {:>9} {:>10} {:>11} {:>9}",
        "opens of",
        "daemon",
        "achieved",
        "daemon CPU",
        "backlog",
        "idle CPU",
        "ring full",
        "filtered",
        "queue drops",
        "to guest"
    );
    let cases = [
        (
            Setup::FullSet,
            "a path no signature selects",
            &files.unmatched,
        ),
        (
            Setup::OneFileSignature,
            "a path no signature selects",
            &files.unmatched,
        ),
        (
            Setup::OneFileSignature,
            "WATCHED (passes the kernel filter)",
            &files.watched,
        ),
    ];
    for (setup, what, path) in cases {
        let daemon = Daemon::start(setup).expect("a daemon setup");
        daemon.settle();
        let idle_start = cpu_seconds(daemon.pid());
        std::thread::sleep(Duration::from_secs(IDLE_SECONDS));
        let idle = (cpu_seconds(daemon.pid()) - idle_start) / IDLE_SECONDS as f64;
        let before = daemon.metrics();
        let cpu_start = cpu_seconds(daemon.pid());
        let (opens, elapsed) = paced_opens(path);
        let used = cpu_seconds(daemon.pid()) - cpu_start;
        // What was still queued when the opens stopped: CPU spent after.
        daemon.settle();
        let backlog = cpu_seconds(daemon.pid()) - cpu_start - used;
        let after = daemon.metrics();
        let delta = |prefix: &str| metric_sum(&after, prefix) - metric_sum(&before, prefix);
        let ring_full = delta(
            "sigbox_kernel_dropped_total{event=\"security_file_open\",filter=\"ring_buffer_full\"}",
        );
        let filtered =
            delta("sigbox_kernel_dropped_total{event=\"security_file_open\"") - ring_full;
        let queue = delta("sigbox_queue_drops_total");
        let to_guest = delta("sigbox_signature_events_total{id=\"TEST-BENCH-OPEN\"}");
        println!(
            "{:<36} {:<30} {:>7.1}k/s {:>9.1}% {:>6.2} s {:>8.1}% {:>9} {:>10} {:>11} {:>9}",
            what,
            setup.label(),
            opens as f64 / elapsed.as_secs_f64() / 1000.0,
            used / elapsed.as_secs_f64() * 100.0,
            backlog,
            idle * 100.0,
            ring_full,
            filtered,
            queue,
            if setup == Setup::OneFileSignature {
                to_guest.to_string()
            } else {
                "—".into()
            },
        );
    }
    println!();
}
