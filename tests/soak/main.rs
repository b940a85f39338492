//! The soak run (`make soak DURATION=1h`): the live daemon with TRC-1016,
//! the default pack and test signatures under a steady exec load, one
//! signature replaced by a new build every few seconds, sampled for memory,
//! descriptors, compile-cache size, kernel drops and findings. It fails when
//! memory or descriptors grow past their bounds after warm-up, when a
//! web-server-spawns-a-shell exec it made has no finding, or when any event
//! was dropped (in the kernel or on a full worker queue: a missed detection
//! for some signature even when TRC-1016 saw it).
//!
//! `soak DURATION [REPORT.csv]` (DURATION like 90s, 10m, 1h). Needs root.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sigbox_e2e::{free_port, http_get, metric, module, sigbox_command, temp_dir, test_module};

/// How often a signature is replaced by a new build.
const SWAP_EVERY: Duration = Duration::from_secs(5);
/// How often the daemon is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Memory may grow this much after warm-up (allocator noise, caches
/// filling to their bounds), or 10 %, whichever is more.
const RSS_SLACK_KIB: u64 = 24 * 1024;
/// Descriptors may grow this much after warm-up.
const FD_SLACK: u64 = 8;

struct Sample {
    at: Duration,
    rss_kib: u64,
    fds: u64,
    cache_bytes: u64,
    kernel_drops: f64,
    findings: f64,
    triggers: u64,
    swaps: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let duration = args
        .get(1)
        .and_then(|d| parse_duration(d))
        .expect("usage: soak DURATION [REPORT.csv]  (e.g. 10m, 1h)");
    let report = args.get(2).map(PathBuf::from);
    assert!(sigbox_e2e::is_root(), "the soak run needs root (live eBPF)");

    let dir = temp_dir("soak-signatures");
    for name in ["trc-1016", "trc-105", "trc-107", "trc-1026", "trc-1027"] {
        std::fs::copy(module(name), dir.join(format!("{name}.wasm"))).unwrap();
    }
    std::fs::copy(test_module("error-on-odd"), dir.join("error-on-odd.wasm")).unwrap();
    let cache = sigbox_e2e::cache_dir().join("soak");
    std::fs::create_dir_all(&cache).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let status = temp_dir("soak-status").join("status.json");
    let mut daemon = sigbox_command(&[
        "run",
        "-s",
        dir.to_str().unwrap(),
        "--listen",
        &listen,
        "--status-file",
        status.to_str().unwrap(),
    ])
    .env("SIGBOX_CACHE_DIR", &cache)
    .env("RUST_LOG", "warn")
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .expect("starting sigbox");
    let pid = daemon.id();
    let me = std::process::id();

    // Findings of our own web-server execs (their parent is this process).
    let ours = Arc::new(AtomicU64::new(0));
    let stdout = daemon.stdout.take().unwrap();
    let counted = ours.clone();
    let reader = std::thread::spawn(move || {
        let needle = format!("\"hostParentProcessId\":{me},");
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(&needle) && line.contains("\"signatureID\":\"TRC-1016\"") {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let ready = Instant::now() + Duration::from_secs(300);
    while http_get(&listen, "/healthz").is_none_or(|(status, _)| status != 200) {
        assert!(Instant::now() < ready, "sigbox did not become healthy");
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("soak: sigbox pid {pid} healthy; running for {duration:?}");

    let stop = Arc::new(AtomicBool::new(false));
    let triggers = Arc::new(AtomicU64::new(0));
    let load = spawn_load(stop.clone(), triggers.clone());
    let swaps = Arc::new(AtomicU64::new(0));
    let swapper = spawn_swapper(dir.clone(), stop.clone(), swaps.clone());

    let started = Instant::now();
    let mut samples = Vec::new();
    let mut csv = report.as_ref().map(|path| {
        let mut file = std::fs::File::create(path).unwrap();
        writeln!(
            file,
            "seconds,rss_kib,fds,cache_bytes,kernel_drops,findings,triggers,swaps"
        )
        .unwrap();
        file
    });
    while started.elapsed() < duration {
        std::thread::sleep(SAMPLE_EVERY.min(duration.saturating_sub(started.elapsed())));
        let sample = sample(pid, &listen, &cache, started, &triggers, &swaps);
        let line = format!(
            "{},{},{},{},{},{},{},{}",
            sample.at.as_secs(),
            sample.rss_kib,
            sample.fds,
            sample.cache_bytes,
            sample.kernel_drops,
            sample.findings,
            sample.triggers,
            sample.swaps
        );
        println!("soak: {line}");
        if let Some(file) = csv.as_mut() {
            writeln!(file, "{line}").unwrap();
        }
        samples.push(sample);
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    swapper.join().unwrap();
    let total = triggers.load(Ordering::Relaxed);
    let drain = Instant::now() + Duration::from_secs(60);
    while ours.load(Ordering::Relaxed) < total && Instant::now() < drain {
        std::thread::sleep(Duration::from_millis(200));
    }
    let last = sample(pid, &listen, &cache, started, &triggers, &swaps);
    // Events any worker dropped on a full queue: counted and reported, but
    // each is a missed detection for every signature on that worker.
    let queue_drops = metric(
        &http_get(&listen, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default(),
        "sigbox_queue_drops_total",
    )
    .unwrap_or(f64::NAN);
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let exit = daemon.wait().unwrap();
    reader.join().unwrap();
    let found = ours.load(Ordering::Relaxed);

    // Warm-up: the first tenth of the run (at least one sample).
    let warm = samples.len().div_ceil(10).max(1);
    let baseline_rss = samples[..warm].iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let baseline_fds = samples[..warm].iter().map(|s| s.fds).max().unwrap_or(0);
    let peak_rss = samples[warm..]
        .iter()
        .map(|s| s.rss_kib)
        .max()
        .unwrap_or(baseline_rss);
    let peak_fds = samples[warm..]
        .iter()
        .map(|s| s.fds)
        .max()
        .unwrap_or(baseline_fds);
    let rss_bound = baseline_rss + RSS_SLACK_KIB.max(baseline_rss / 10);
    let fd_bound = baseline_fds + FD_SLACK;
    let peak_cache = samples.iter().map(|s| s.cache_bytes).max().unwrap_or(0);
    println!(
        "soak: {:?}, {total} web-server execs, {found} findings for them ({} missed), {queue_drops} \
         events dropped on full worker queues, {} swaps, {} kernel drops; RSS after warm-up {baseline_rss} KiB, peak {peak_rss} KiB (bound \
         {rss_bound}); fds {baseline_fds}, peak {peak_fds} (bound {fd_bound}); compile cache peak \
         {} MiB; daemon exit {exit}",
        started.elapsed(),
        total.saturating_sub(found),
        last.swaps,
        last.kernel_drops,
        peak_cache >> 20
    );
    let mut failures = Vec::new();
    if found < total {
        failures.push(format!("{} web-server execs had no finding", total - found));
    }
    if queue_drops != 0.0 {
        failures.push(format!(
            "{queue_drops} events dropped on full worker queues"
        ));
    }
    if last.kernel_drops != 0.0 {
        failures.push(format!(
            "{} events dropped in the kernel",
            last.kernel_drops
        ));
    }
    if peak_rss > rss_bound {
        failures.push(format!("RSS grew to {peak_rss} KiB, past {rss_bound} KiB"));
    }
    if peak_fds > fd_bound {
        failures.push(format!("descriptors grew to {peak_fds}, past {fd_bound}"));
    }
    if !exit.success() {
        failures.push(format!("the daemon exited with {exit}"));
    }
    if failures.is_empty() {
        println!("soak: PASSED");
    } else {
        println!("soak: FAILED: {}", failures.join("; "));
        std::process::exit(1);
    }
}

/// A steady exec load from one thread: a web server (a shell named nginx)
/// spawning a shell, back to back, each counted in `triggers`.
fn spawn_load(stop: Arc<AtomicBool>, triggers: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    let bin = temp_dir("soak-bin");
    let nginx = bin.join("nginx");
    std::fs::copy("/bin/sh", &nginx).unwrap();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let status = Command::new(&nginx)
                .args(["-c", "exec /bin/sh -c :"])
                .status();
            if status.is_ok_and(|s| s.success()) {
                triggers.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

/// Every [`SWAP_EVERY`], a new build of the test signature "versioned"
/// (alternately v1 and v2, each made unique by a custom section and signed
/// again), renamed into place: a new module to verify, compile and cache.
fn spawn_swapper(
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    let builds = [
        std::fs::read(test_module("versioned-v1")).unwrap(),
        std::fs::read(test_module("versioned-v2")).unwrap(),
    ];
    let staging = temp_dir("soak-staging");
    std::thread::spawn(move || {
        let mut n: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            let mut bytes = builds[(n % 2) as usize].clone();
            bytes.extend(custom_section("sigbox-soak", &n.to_le_bytes()));
            let staged = staging.join("versioned.wasm");
            std::fs::write(&staged, &bytes).unwrap();
            sigbox_e2e::sign(&staged);
            std::fs::rename(&staged, dir.join("versioned.wasm")).unwrap();
            n += 1;
            swaps.store(n, Ordering::Relaxed);
            let next = Instant::now() + SWAP_EVERY;
            while Instant::now() < next && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    })
}

/// A WebAssembly custom section (id 0) named `name` holding `payload`.
fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut content = leb128(name.len() as u64);
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let mut section = vec![0u8];
    section.extend(leb128(content.len() as u64));
    section.extend(content);
    section
}

fn leb128(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn sample(
    pid: u32,
    listen: &str,
    cache: &Path,
    started: Instant,
    triggers: &AtomicU64,
    swaps: &AtomicU64,
) -> Sample {
    let rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    let cache_bytes = std::fs::read_dir(cache).map_or(0, |d| {
        d.flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    });
    let metrics = http_get(listen, "/metrics")
        .map(|(_, body)| body)
        .unwrap_or_default();
    Sample {
        at: started.elapsed(),
        rss_kib,
        fds,
        cache_bytes,
        kernel_drops: metric(&metrics, "sigbox_kernel_drops_total").unwrap_or(f64::NAN),
        findings: metric(&metrics, "sigbox_signature_findings_total{id=\"TRC-1016\"}")
            .unwrap_or(f64::NAN),
        triggers: triggers.load(Ordering::Relaxed),
        swaps: swaps.load(Ordering::Relaxed),
    }
}

/// `90s`, `10m`, `1h`.
fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    Some(Duration::from_secs(match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return None,
    }))
}
