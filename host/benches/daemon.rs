//! Daemon-level benchmarks through the real parts (run by `make bench`):
//!
//! - idle CPU of the real daemon (`sigbox run`) when nothing execs;
//! - exec → finding latency: a shell exec'd by a process named `nginx`, from
//!   the kernel's exec timestamp to TRC-1016's finding read from the real
//!   daemon's stdout (p50, p99);
//! - collector throughput: execs per second the eBPF collector delivers and
//!   evaluates while several threads exec as fast as they can, and the
//!   kernel's drop count;
//! - hot-swap latency: rename of a new version into the signatures directory
//!   → first event evaluated by it, under a continuous replay stream.
//!
//! The live parts need root; they are skipped with a message otherwise.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sigbox::engine::{Change, Limits, LoadedSignature, Runtime, SignatureSet};
use sigbox::event::Event;
use sigbox::source::bpf::{ExecCollector, check_privileges};

const LATENCY_SAMPLES: usize = 500;
const IDLE_SECONDS: u64 = 20;
const THROUGHPUT_THREADS: usize = 4;
const THROUGHPUT_EXECS_PER_THREAD: usize = 2_500;
const SWAPS: usize = 20;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn main() {
    println!("## Daemon benchmarks (sigbox benches/daemon.rs)\n");
    match check_privileges() {
        Ok(()) => {
            live_daemon();
            let tokio = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            tokio.block_on(live_benchmarks());
        }
        Err(error) => println!("live benchmarks skipped: {error}\n"),
    }
    swap_latency();
}

fn trc_1016(runtime: &Runtime) -> SignatureSet {
    let path = repo().join("target/signatures/trc-1016.wasm");
    let signature = LoadedSignature::load(runtime, &path, &[])
        .unwrap_or_else(|e| panic!("{}: {e} (run `make` first)", path.display()));
    let mut set = SignatureSet::default();
    set.apply(Change::Upsert(Box::new(signature)));
    set
}

async fn live_benchmarks() {
    let runtime = Runtime::new(Limits::default()).unwrap();
    let mut set = trc_1016(&runtime);
    let mut collector = ExecCollector::start().expect("starting the collector");
    let dir = std::env::temp_dir().join(format!("sigbox-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let mut batch: Vec<Event> = Vec::new();
    // Throughput: several threads exec /bin/true as fast as the machine
    // allows; the collector reads, decodes and evaluates every exec.
    let drops_before = collector.kernel_drops();
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let spawners: Vec<_> = (0..THROUGHPUT_THREADS)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..THROUGHPUT_EXECS_PER_THREAD {
                    Command::new("/bin/true").status().unwrap();
                }
            })
        })
        .collect();
    let waiter = {
        let done = done.clone();
        std::thread::spawn(move || {
            for spawner in spawners {
                spawner.join().unwrap();
            }
            done.store(true, Ordering::Relaxed);
        })
    };
    let expected = THROUGHPUT_THREADS * THROUGHPUT_EXECS_PER_THREAD;
    let mut seen = 0usize;
    let mut busy = Duration::ZERO;
    while seen < expected {
        batch.clear();
        match tokio::time::timeout(Duration::from_secs(2), collector.read_batch(&mut batch)).await {
            Ok(read) => read.unwrap(),
            Err(_) if done.load(Ordering::Relaxed) => break,
            Err(_) => continue,
        };
        let t = Instant::now();
        for event in &batch {
            if event.context.process_name == "true" {
                seen += 1;
            }
            set.dispatch(&std::sync::Arc::new(event.clone()), |_| {}, |_| {});
        }
        busy += t.elapsed();
    }
    let elapsed = started.elapsed();
    waiter.join().unwrap();
    let drops = collector.kernel_drops() - drops_before;
    println!(
        "collector: {seen} of {expected} execs seen in {elapsed:.2?} ({:.0} execs/s, the rate {THROUGHPUT_THREADS} threads could exec), \
         {drops} dropped in the kernel; decode+dispatch busy {:.1}% of the time ({:.0} ns/event)",
        seen as f64 / elapsed.as_secs_f64(),
        100.0 * busy.as_secs_f64() / elapsed.as_secs_f64(),
        busy.as_nanos() as f64 / seen.max(1) as f64,
    );
    let _ = std::fs::remove_dir_all(&dir);
    println!();
}

/// CPU time all of `pid`'s threads used so far (schedstat, nanoseconds).
fn process_cpu_ns(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
                .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

/// The real daemon (`sigbox run` with TRC-1016): its CPU use while idle,
/// then exec → finding latency as a consumer of its stdout sees it, from
/// the kernel's exec timestamp to the finding line read, through the
/// collector, a worker queue, the guest and the writer.
fn live_daemon() {
    let bin = repo().join("target/release/sigbox");
    let module = repo().join("target/signatures/trc-1016.wasm");
    if !bin.is_file() || !module.is_file() {
        println!("live daemon benchmarks skipped: run `make` first");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sigbox-bench-live-{}", std::process::id()));
    let signatures = dir.join("signatures");
    std::fs::create_dir_all(&signatures).unwrap();
    std::fs::copy(&module, signatures.join("trc-1016.wasm")).unwrap();
    let nginx = dir.join("nginx");
    std::fs::copy("/bin/sh", &nginx).unwrap();
    let mut daemon = Command::new(&bin)
        .args(["run", "-s", signatures.to_str().unwrap(), "--status-file"])
        .arg(dir.join("status.json"))
        .arg("--trust")
        .arg(repo().join("target/dev-trust.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = daemon.id();
    let stderr = BufReader::new(daemon.stderr.take().unwrap());
    let (ready_tx, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("watching exec events") {
                let _ = ready_tx.send(());
            }
        }
    });
    ready
        .recv_timeout(Duration::from_secs(300))
        .expect("sigbox run did not start");

    // Idle: nothing in this benchmark execs; the machine's own execs (other
    // processes) still reach the daemon and are counted in the figure.
    std::thread::sleep(Duration::from_secs(2));
    let before = process_cpu_ns(pid);
    std::thread::sleep(Duration::from_secs(IDLE_SECONDS));
    let used = process_cpu_ns(pid) - before;
    println!(
        "idle daemon (sigbox run, TRC-1016, {IDLE_SECONDS} s without benchmark execs): {:.3}% of a core ({:.1} ms of CPU)",
        used as f64 / (IDLE_SECONDS as f64 * 1e9) * 100.0,
        used as f64 / 1e6
    );

    let mut lines = BufReader::new(daemon.stdout.take().unwrap()).lines();
    let mut latencies = Vec::with_capacity(LATENCY_SAMPLES);
    for _ in 0..LATENCY_SAMPLES {
        let mut child = Command::new(&nginx)
            .args(["-c", "exec /bin/sh -c :"])
            .spawn()
            .unwrap();
        let shell = u64::from(child.id());
        loop {
            let line = lines.next().expect("sigbox ended").unwrap();
            let now = wall_ns();
            let finding: serde_json::Value = serde_json::from_str(&line).unwrap();
            if finding["hostProcessId"] == shell {
                let exec_ns = finding["timestamp"].as_u64().unwrap();
                latencies.push(Duration::from_nanos(now.saturating_sub(exec_ns)));
                break;
            }
        }
        child.wait().unwrap();
    }
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    daemon.wait().unwrap();
    latencies.sort();
    println!(
        "exec → TRC-1016 finding on the daemon's stdout ({LATENCY_SAMPLES} samples): p50 {:?}, p90 {:?}, p99 {:?}, max {:?}\n",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A compact Tracee exec event whose processId is `seq`.
fn exec_line(seq: u64) -> String {
    format!(
        r#"{{"timestamp":{seq},"processId":{seq},"hostProcessId":{seq},"processName":"sh","eventName":"sched_process_exec","args":[{{"name":"prev_comm","type":"const char*","value":"bash"}}]}}"#
    )
}

fn swap_latency() {
    let bin = repo().join("target/release/sigbox");
    let v1 = repo().join("target/signatures-test/versioned-v1.wasm");
    let v2 = repo().join("target/signatures-test/versioned-v2.wasm");
    if !bin.is_file() || !v1.is_file() || !v2.is_file() {
        println!("swap latency skipped: run `make` first");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sigbox-bench-swap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let publish = |source: &Path| {
        let temp = dir.join(".versioned.wasm.tmp");
        std::fs::copy(source, &temp).unwrap();
        let at = Instant::now();
        std::fs::rename(&temp, dir.join("versioned.wasm")).unwrap();
        at
    };
    publish(&v1);
    let mut child = Command::new(&bin)
        .args([
            "replay",
            "-s",
            dir.to_str().unwrap(),
            "--output",
            "text",
            "-",
        ])
        .arg("--trust")
        .arg(repo().join("target/dev-trust.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seq = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut chunk = String::new();
                for _ in 0..256 {
                    seq += 1;
                    chunk.push_str(&exec_line(seq));
                    chunk.push('\n');
                }
                if stdin.write_all(chunk.as_bytes()).is_err() {
                    break;
                }
            }
            seq
        })
    };
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut wait_for = |version: &str| loop {
        let line = lines.next().expect("sigbox ended").unwrap();
        if line.contains(&format!("version=\"{version}\"")) {
            return;
        }
    };
    wait_for("1");
    let mut latencies = Vec::with_capacity(SWAPS);
    for swap in 0..SWAPS {
        let (source, version) = if swap % 2 == 0 {
            (&v2, "2")
        } else {
            (&v1, "1")
        };
        let renamed = publish(source);
        wait_for(version);
        latencies.push(renamed.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    // Drain stdout so the feeder is never blocked, then let sigbox finish.
    let drain = std::thread::spawn(move || lines.count());
    let events = feeder.join().unwrap();
    drain.join().unwrap();
    child.wait().unwrap();
    latencies.sort();
    println!(
        "hot swap: rename → first event evaluated by the new version ({SWAPS} swaps under a replay stream, {events} events): \
         p50 {:?}, max {:?} (file-watch debounce is 100 ms)",
        percentile(&latencies, 0.5),
        latencies.last().unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
