//! What the live benchmarks (`file_events`, `net_events`, `ancestry`)
//! share: a real `sigbox run` on a chosen set of modules, its metrics, its
//! CPU time, the machine's load, the sections and rounds asked for, and
//! the timed loops and their table.

// Each bench uses part of it (only file_events reads findings).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sigbox::bench::{TempDir, Timing, thread_cpu_ns};

/// The binary the next daemons run (default `target/release/sigbox`): a
/// bench compares an older build side by side by switching it.
static BINARY: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Makes the next daemons run `binary` (`None`: `target/release/sigbox`).
pub fn use_binary(binary: Option<PathBuf>) {
    *BINARY.lock().unwrap() = binary;
}

fn binary() -> PathBuf {
    BINARY
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| repo().join("target/release/sigbox"))
}

/// Logged once the daemon is started.
const READY: &str = "watching exec events";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Every module of the default set (`target/signatures/`).
pub fn default_set() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(repo().join("target/signatures"))
        .expect("target/signatures: run `make` first")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    all.sort();
    all
}

/// A running `sigbox run` on a private copy of some modules, stopped
/// (SIGINT) on drop.
pub struct Daemon {
    child: Child,
    /// Findings as they are read off stdout, when started with
    /// [`Daemon::start_reading`].
    findings: Option<mpsc::Receiver<FindingRead>>,
    listen: String,
    stderr: Arc<Mutex<String>>,
    _dir: TempDir,
}

/// A finding line as a latency measurement needs it.
#[derive(Clone, Copy, Debug)]
pub struct FindingRead {
    /// Its `hostProcessId`.
    pub pid: u64,
    /// Its event's `timestamp` (ns since the epoch).
    pub event_ns: u64,
    /// When the line was read (ns since the epoch).
    pub read_ns: u64,
}

impl Daemon {
    /// Starts the daemon on `modules` and waits until every one is loaded
    /// and `switched` holds for its metrics (the kernel's switches set for
    /// them: signatures load after the daemon is ready).
    pub fn start(modules: &[PathBuf], switched: impl Fn(&str) -> bool) -> Daemon {
        Self::start_with(modules, switched, false)
    }

    /// [`Daemon::start`], with its findings read as they come
    /// ([`Daemon::findings`]).
    pub fn start_reading(modules: &[PathBuf], switched: impl Fn(&str) -> bool) -> Daemon {
        Self::start_with(modules, switched, true)
    }

    /// Findings read off stdout (started with [`Daemon::start_reading`]).
    pub fn findings(&self) -> &mpsc::Receiver<FindingRead> {
        self.findings
            .as_ref()
            .expect("started with Daemon::start_reading")
    }

    fn start_with(
        modules: &[PathBuf],
        switched: impl Fn(&str) -> bool,
        read_findings: bool,
    ) -> Daemon {
        let dir = TempDir::new("bench-live").unwrap();
        let signatures = dir.path().join("signatures");
        std::fs::create_dir(&signatures).unwrap();
        for module in modules {
            std::fs::copy(module, signatures.join(module.file_name().unwrap()))
                .unwrap_or_else(|e| panic!("{}: {e} (run `make` first)", module.display()));
        }
        let listen = format!("127.0.0.1:{}", free_port());
        let mut child = Command::new(binary())
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
        let findings = child.stdout.take().map(read_findings_of);
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
        let loaded = |m: &str| count_samples(m, "sigbox_signature_info{") == modules.len();
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
        daemon
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn metrics(&self) -> String {
        http_get(&self.listen, "/metrics").unwrap_or_default()
    }

    /// Waits (at most 3 s) until the daemon has worked through what the
    /// last loop queued: its CPU use over 200 ms falls below 10% of a core.
    /// Best effort: where the machine's own activity keeps it busy, it
    /// never does.
    pub fn settle(&self) {
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

/// A thread reading finding lines off `stdout` into a channel.
fn read_findings_of(stdout: std::process::ChildStdout) -> mpsc::Receiver<FindingRead> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // The daemon's threads on this path get the short slice; so does
        // the reader, so that its own wake-up (a hand-off an alert
        // pipeline pays too) is not most of what is measured.
        sigbox::bench::shorten_slice_for_this_thread();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let read_ns = wall_ns();
            let Ok(finding) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let seen = FindingRead {
                pid: finding["hostProcessId"].as_u64().unwrap_or(0),
                event_ns: finding["timestamp"].as_u64().unwrap_or(0),
                read_ns,
            };
            if tx.send(seen).is_err() {
                break;
            }
        }
    });
    rx
}

/// Now, in ns since the epoch (the clock of Tracee's `timestamp`).
fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
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
pub fn metric(exposition: &str, sample: &str) -> Option<f64> {
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
pub fn metric_sum(exposition: &str, prefix: &str) -> f64 {
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
pub fn cpu_seconds(pid: u32) -> f64 {
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

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Prints the loops' table: for each loop and each setup (`cpu[setup][loop]`,
/// one sample per round) the median CPU time per operation, the median
/// wall time, the slowdown against the first setup (none) and the CPU
/// spread.
pub fn print_loops(loops: &[&str], setups: &[&str], cpu: &[Vec<Timing>], wall: &[Vec<Timing>]) {
    let loop_width = loops.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 2;
    let setup_width = setups.iter().map(|s| s.chars().count()).max().unwrap_or(0) + 2;
    println!(
        "{:<loop_width$} {:<setup_width$} {:>9} {:>9} {:>9}   spread (CPU, min–max)",
        "loop", "beside it", "CPU/op", "wall/op", "vs none"
    );
    for (l, label) in loops.iter().enumerate() {
        let anchor = cpu[0][l].median();
        for (s, setup) in setups.iter().enumerate() {
            let median = cpu[s][l].median();
            let slowdown = if s == 0 {
                "—".to_owned()
            } else {
                format!("{:+.1}%", (median / anchor - 1.0) * 100.0)
            };
            println!(
                "{:<loop_width$} {:<setup_width$} {:>6.0} ns {:>6.0} ns {:>9}   {:.0}–{:.0} ns",
                if s == 0 { label } else { "" },
                setup,
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

/// Whether the run asks for `section`: `SIGBOX_BENCH_ONLY` lists sections,
/// comma-separated; unset or empty, every section runs.
pub fn wanted(section: &str) -> bool {
    let only = std::env::var("SIGBOX_BENCH_ONLY").unwrap_or_default();
    only.is_empty() || only.split(',').any(|s| s == section)
}

/// Rounds of alternated loops: `SIGBOX_BENCH_ROUNDS`, else `default`.
pub fn rounds(default: usize) -> usize {
    std::env::var("SIGBOX_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` operations (`op(i)` for the i-th) timed as thread CPU time (what
/// the kernel's hooks add to the calling thread) and wall time, in ns per
/// operation.
pub fn time_loop(n: usize, mut op: impl FnMut(usize)) -> (f64, f64) {
    let (cpu, wall) = (thread_cpu_ns(), Instant::now());
    for i in 0..n {
        op(i);
    }
    let cpu = (thread_cpu_ns() - cpu) as f64 / n as f64;
    (cpu, wall.elapsed().as_nanos() as f64 / n as f64)
}
