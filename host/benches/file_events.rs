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
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sigbox::bench::{TempDir, Timing};
use sigbox::source::check_privileges;

mod support;
use support::{
    Daemon, cpu_seconds, default_set, load_average, metric, metric_sum, print_loops, repo, rounds,
    time_loop, wanted,
};

/// The one path TEST-BENCH-OPEN selects
/// (`guest-signatures/test-signatures/bench-open`).
const WATCHED: &str = "/tmp/sigbox-bench-open/watched";
/// The default set's signatures that select no file event.
const EXEC_ONLY: [&str; 2] = ["trc-1016", "trc-105"];
/// How the daemon logs the file hook it took (`source::bpf::file_hook`).
const FILE_HOOK_TAKEN: &str = "file events come from ";

const OPENS_PER_LOOP: usize = 20_000;
const RENAMES_PER_LOOP: usize = 10_000;
const RATE_PER_SECOND: usize = 50_000;
const RATE_SECONDS: u64 = 5;
/// Daemon CPU sampled before the paced opens: the machine's own file
/// activity that reaches it.
const IDLE_SECONDS: u64 = 2;

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
        let signatures = repo().join("target/signatures");
        match self {
            Setup::NoDaemon => (vec![], false),
            Setup::FullSet => (default_set(), true),
            Setup::NoFileSignature => (
                EXEC_ONLY
                    .iter()
                    .map(|name| signatures.join(format!("{name}.wasm")))
                    .collect(),
                false,
            ),
            Setup::OneFileSignature => (
                vec![repo().join("target/signatures-test/bench-open.wasm")],
                true,
            ),
            Setup::ExecAndOneFileSignature => (
                vec![
                    signatures.join("trc-1016.wasm"),
                    repo().join("target/signatures-test/bench-open.wasm"),
                ],
                true,
            ),
        }
    }
}

/// The daemon of a setup (none for [`Setup::NoDaemon`]), once its
/// modules are loaded and the kernel's open switch is set for them.
fn start_daemon(setup: Setup) -> Option<Daemon> {
    start_daemon_with(setup, false)
}

/// [`start_daemon`] with its findings read ([`Daemon::findings`]).
fn start_daemon_reading(setup: Setup) -> Option<Daemon> {
    start_daemon_with(setup, true)
}

fn start_daemon_with(setup: Setup, read_findings: bool) -> Option<Daemon> {
    let (modules, selects_files) = setup.modules();
    if modules.is_empty() {
        return None;
    }
    let switched = |metrics: &str| {
        metric(
            metrics,
            "sigbox_kernel_event_enabled{event=\"security_file_open\"}",
        ) == Some(if selects_files { 1.0 } else { 0.0 })
    };
    Some(if read_findings {
        Daemon::start_reading(&modules, switched)
    } else {
        Daemon::start(&modules, switched)
    })
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
    let rounds = rounds(3);
    let files = Files::create();
    println!("load average at start: {}", load_average());
    if wanted("loops") {
        loops(&files, rounds);
    }
    if wanted("rate") {
        rates(&files);
    }
    if wanted("latency") {
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
            let daemon = start_daemon(*setup);
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
                hook = daemon.log().lines().find_map(|line| {
                    let (_, taken) = line.split_once(FILE_HOOK_TAKEN)?;
                    Some(taken.trim().to_owned())
                });
            }
        }
    }
    println!(
        "-- loops: median of {rounds} alternated rounds ({OPENS_PER_LOOP} opens, {RENAMES_PER_LOOP} renames each); \
         file hook: {}; load average now {}",
        hook.as_deref().unwrap_or("?"),
        load_average()
    );
    let loops: Vec<&str> = Loop::ALL.iter().map(|l| l.label()).collect();
    let setups: Vec<&str> = Setup::ALL.iter().map(|s| s.label()).collect();
    print_loops(&loops, &setups, &cpu, &wall);
}

/// Exec → finding latency samples per load.
const LATENCY_SAMPLES: usize = 300;

/// Exec → TRC-1016 finding on the daemon's stdout (from the kernel's exec
/// timestamp to the line read), quiet and while opens of [`WATCHED`] flow
/// at [`RATE_PER_SECOND`] into TEST-BENCH-OPEN's guest through the same
/// collector and workers (issue 31 item 4: p99 ≤ 1 ms).
///
/// `SIGBOX_BENCH_LATENCY_BASELINE=PATH[,PATH...]` measures older builds
/// too, each alternated with this one (old quiet, new quiet, old flood, new
/// flood), labelled by file name, for
/// `SIGBOX_BENCH_ROUNDS` rounds (default 1), the samples of each pooled.
fn latency(files: &Files) {
    println!(
        "-- exec → TRC-1016 finding, {LATENCY_SAMPLES} samples each; load average now {}",
        load_average()
    );
    let dir = TempDir::new("bench-latency").unwrap();
    let nginx = dir.path().join("nginx");
    std::fs::copy("/bin/sh", &nginx).unwrap();
    let mut builds: Vec<(String, Option<PathBuf>)> = Vec::new();
    if let Ok(old) = std::env::var("SIGBOX_BENCH_LATENCY_BASELINE") {
        for path in old.split(',').filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            let label = path.file_name().unwrap().to_string_lossy().into_owned();
            builds.push((label, Some(path)));
        }
    }
    builds.push(("this build".to_owned(), None));
    let rounds = rounds(1);
    // (flood, build) → samples over every round
    let mut pooled = vec![vec![Vec::new(); builds.len()]; 2];
    for round in 0..rounds {
        for (f, opens_flow) in [false, true].into_iter().enumerate() {
            for (b, (label, binary)) in builds.iter().enumerate() {
                support::use_binary(binary.clone());
                let (latencies, load) = latency_run(files, &nginx, opens_flow);
                println!(
                    "round {} {label:>22}: {}  {load}",
                    round + 1,
                    percentiles(&latencies)
                );
                pooled[f][b].extend(latencies);
            }
        }
    }
    support::use_binary(None);
    if rounds > 1 || builds.len() > 1 {
        println!(
            "pooled over {rounds} rounds (load average now {}):",
            load_average()
        );
        for (f, by_build) in pooled.iter_mut().enumerate() {
            for (b, latencies) in by_build.iter_mut().enumerate() {
                latencies.sort();
                println!(
                    "{:>5} {:>22}: {}",
                    if f == 0 { "quiet" } else { "flood" },
                    builds[b].0,
                    percentiles(latencies)
                );
            }
        }
    }
    println!();
}

/// p50, p90, p99 and max of sorted `latencies`.
fn percentiles(latencies: &[Duration]) -> String {
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    format!(
        "p50 {:>9.2?}  p90 {:>9.2?}  p99 {:>9.2?}  max {:>9.2?}",
        at(0.5),
        at(0.9),
        at(0.99),
        latencies.last().unwrap(),
    )
}

/// One daemon, [`LATENCY_SAMPLES`] execs of an nginx shell: the sorted
/// latencies, and what flowed meanwhile.
fn latency_run(files: &Files, nginx: &Path, opens_flow: bool) -> (Vec<Duration>, String) {
    let daemon = start_daemon_reading(Setup::ExecAndOneFileSignature).expect("a daemon");
    daemon.settle();
    let findings = daemon.findings();
    let before = daemon.metrics();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let generator = opens_flow.then(|| {
        let (stop, watched) = (stop.clone(), files.watched.clone());
        std::thread::spawn(move || paced_opens_until(&watched, &stop))
    });
    let mut latencies = Vec::with_capacity(LATENCY_SAMPLES);
    for _ in 0..LATENCY_SAMPLES {
        let mut shell = Command::new(nginx)
            .args(["-c", "exec /bin/sh -c :"])
            .spawn()
            .unwrap();
        let pid = u64::from(shell.id());
        loop {
            let finding = findings
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no finding for {pid}:\n{}", daemon.log()));
            if finding.pid == pid {
                let took = finding.read_ns.saturating_sub(finding.event_ns);
                latencies.push(Duration::from_nanos(took));
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
    // WATCHED is one fixed path (TEST-BENCH-OPEN's kernel filter): the
    // e2e flood test opens it too, and its opens reach this daemon's guest.
    let to_guest = delta("sigbox_signature_events_total{id=\"TEST-BENCH-OPEN\"}");
    let load = match flow {
        Some((opens, elapsed)) => format!(
            "while {:.1}k opens/s reach TEST-BENCH-OPEN ({to_guest} to its guest, {} ring full, {} queue drops){}",
            opens as f64 / elapsed.as_secs_f64() / 1000.0,
            delta(
                "sigbox_kernel_dropped_total{event=\"security_file_open\",filter=\"ring_buffer_full\"}"
            ),
            delta("sigbox_queue_drops_total"),
            if to_guest > 1.2 * opens as f64 {
                "; ANOTHER PROCESS OPENED WATCHED MEANWHILE: not comparable"
            } else {
                ""
            },
        ),
        None if to_guest > 0.0 => {
            format!("quiet? {to_guest} opens of WATCHED by another process: not comparable")
        }
        None => "quiet".to_owned(),
    };
    (latencies, load)
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
        let daemon = start_daemon(setup).expect("a daemon setup");
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
