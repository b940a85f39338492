//! Benchmark helpers: synthetic Tracee events, timing, pinning, memory, and
//! [`bench_module`], which measures one signature module (what
//! `sigbox bench FILE.wasm [EVENTS]` prints). `make bench`
//! (`host/benches/dispatch.rs`) builds its table from the same pieces.

pub mod ancestry;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use wasmtime::component::Component;

use crate::engine::{Change, LoadedSignature, MAX_BATCH, Runtime, RuntimeOptions, SignatureSet};
use crate::event::Event;
use crate::event::Kind;
use crate::source::tracee_json::parse_event;

/// Asks for the daemon's short scheduler slice for the calling thread
/// (`sched_slice`): a benchmark's reader of findings, so that what it
/// measures is the daemon's latency more than its own wake-ups. Whether the
/// kernel took it.
pub fn shorten_slice_for_this_thread() -> bool {
    crate::sched_slice::shorten_for_this_thread()
}

/// Shells, as TRC-1016 knows them (process names after the exec).
pub const SHELLS: [&str; 8] = ["ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash"];
/// Web servers, as TRC-1016 knows them (process names before the exec).
pub const WEB_SERVERS: [&str; 7] = [
    "nginx",
    "httpd",
    "httpd-foregroun",
    "http-nio",
    "lighttpd",
    "apache",
    "apache2",
];
/// Parents of the ordinary execs of a busy build/CI host.
const PARENTS: [&str; 12] = [
    "bash",
    "sh",
    "make",
    "cargo",
    "git",
    "python3",
    "node",
    "containerd-shim",
    "runc",
    "systemd",
    "cron",
    "sshd",
];
/// Ordinary programs.
const PROGRAMS: [&str; 20] = [
    "ls", "cat", "grep", "git", "cc1", "as", "ld", "rustc", "python3", "node", "sed", "awk", "tr",
    "date", "id", "uname", "find", "xargs", "sort", "head",
];

/// A small deterministic PRNG (xorshift64*), so every run sees the same events.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One element of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Which execs a generated stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecMix {
    /// A busy host: 1% web server → shell (TRC-1016 fires), 15% shells from
    /// other parents, 84% ordinary programs; one event in five in a container.
    Realistic,
    /// Every event is a web server spawning a shell (TRC-1016 fires on all).
    AllWebShells,
}

/// One `sched_process_exec` event as a line of `tracee --output json`, with
/// every context key and all 18 arguments Tracee prints (like
/// `tests/fixtures/trc-1016-cases.jsonl`).
pub fn exec_json_line(
    seq: u64,
    prev_comm: &str,
    comm: &str,
    container: bool,
    rng: &mut Rng,
) -> String {
    let pid = 10_000 + seq % 50_000;
    let ppid = pid - 1 - seq % 7;
    let path = format!("/usr/bin/{comm}");
    let mut argv = format!("\"{comm}\"");
    for i in 0..rng.below(6) {
        let arg = match i % 3 {
            0 => "-c".to_owned(),
            1 => format!("--jobs={}", rng.below(64)),
            _ => format!("src/module_{}/file_{}.rs", rng.below(100), rng.below(1000)),
        };
        argv.push_str(&format!(",\"{arg}\""));
    }
    let (container_id, container) = if container {
        let id = format!(
            "{:016x}{:016x}{:016x}{:016x}",
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64()
        );
        let obj = format!(
            r#"{{"id":"{id}","name":"web-{n}","image":"docker.io/library/nginx:1.27","imageDigest":"sha256:{:016x}"}}"#,
            rng.next_u64(),
            n = seq % 10
        );
        (id, obj)
    } else {
        (String::new(), "{}".to_owned())
    };
    let ts = 1_732_700_000_000_000_000 + seq * 1000;
    format!(
        concat!(
            r#"{{"timestamp":{ts},"threadStartTime":{tst},"processorId":{cpu},"processId":{pid},"cgroupId":{cg},"threadId":{pid},"#,
            r#""parentProcessId":{ppid},"hostProcessId":{pid},"hostThreadId":{pid},"hostParentProcessId":{ppid},"userId":33,"#,
            r#""mountNamespace":4026531841,"pidNamespace":4026531836,"processName":"{comm}","executable":{{"path":"{path}"}},"#,
            r#""hostName":"build-7","containerId":"{cid}","container":{container},"kubernetes":{{}},"eventId":"715","#,
            r#""eventName":"sched_process_exec","matchedPolicies":["default"],"argsNum":18,"returnValue":0,"syscall":"execve","#,
            r#""stackAddresses":null,"contextFlags":{{"containerStarted":true,"isCompat":false}},"threadEntityId":{te},"#,
            r#""processEntityId":{pe},"parentEntityId":{pa},"args":["#,
            r#"{{"name":"cmdpath","type":"string","value":"{path}"}},"#,
            r#"{{"name":"pathname","type":"string","value":"{path}"}},"#,
            r#"{{"name":"dev","type":"uint32","value":2049}},"#,
            r#"{{"name":"inode","type":"uint64","value":{inode}}},"#,
            r#"{{"name":"ctime","type":"uint64","value":1732000000000000000}},"#,
            r#"{{"name":"inode_mode","type":"uint16","value":33261}},"#,
            r#"{{"name":"interpreter_pathname","type":"string","value":"/lib64/ld-linux-x86-64.so.2"}},"#,
            r#"{{"name":"interpreter_dev","type":"uint32","value":2049}},"#,
            r#"{{"name":"interpreter_inode","type":"uint64","value":555}},"#,
            r#"{{"name":"interpreter_ctime","type":"uint64","value":1732000000000000000}},"#,
            r#"{{"name":"argv","type":"[]string","value":[{argv}]}},"#,
            r#"{{"name":"interp","type":"string","value":"{path}"}},"#,
            r#"{{"name":"stdin_type","type":"uint16","value":4096}},"#,
            r#"{{"name":"stdin_path","type":"string","value":""}},"#,
            r#"{{"name":"invoked_from_kernel","type":"bool","value":false}},"#,
            r#"{{"name":"prev_comm","type":"string","value":"{prev}"}},"#,
            r#"{{"name":"env","type":"[]string","value":null}},"#,
            r#"{{"name":"pwd","type":"string","value":"/home/build/src/project"}}]}}"#,
        ),
        ts = ts,
        tst = ts - 500,
        cpu = seq % 2,
        pid = pid,
        ppid = ppid,
        cg = 5000 + seq % 40,
        comm = comm,
        path = path,
        cid = container_id,
        container = container,
        te = 100_000 + seq,
        pe = 200_000 + seq,
        pa = 300_000 + seq,
        inode = 1000 + rng.below(5000),
        argv = argv,
        prev = prev_comm,
    )
}

/// `n` exec events of `mix`, as Tracee JSON lines.
pub fn exec_lines(n: usize, mix: ExecMix, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n as u64)
        .map(|seq| {
            let roll = rng.below(1000);
            let (prev, comm) = match mix {
                ExecMix::AllWebShells => (rng.pick(&WEB_SERVERS), rng.pick(&SHELLS)),
                ExecMix::Realistic if roll < 10 => (rng.pick(&WEB_SERVERS), rng.pick(&SHELLS)),
                ExecMix::Realistic if roll < 160 => (rng.pick(&PARENTS), rng.pick(&SHELLS)),
                ExecMix::Realistic => (rng.pick(&PARENTS), rng.pick(&PROGRAMS)),
            };
            let container = rng.below(5) == 0;
            exec_json_line(seq, prev, comm, container, &mut rng)
        })
        .collect()
}

/// `n` events named `name` that are not execs, with a few generic arguments.
pub fn generic_lines(n: usize, name: &str, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n as u64)
        .map(|seq| {
            let comm = rng.pick(&PROGRAMS);
            format!(
                concat!(
                    r#"{{"timestamp":{},"processId":{},"threadId":{},"hostProcessId":{},"processName":"{}","#,
                    r#""hostName":"build-7","containerId":"","eventName":"{}","args":["#,
                    r#"{{"name":"pathname","type":"const char*","value":"/etc/file_{}"}},"#,
                    r#"{{"name":"flags","type":"int","value":{}}},"#,
                    r#"{{"name":"mode","type":"mode_t","value":420}}]}}"#
                ),
                1_732_700_000_000_000_000 + seq * 1000,
                1000 + seq,
                1000 + seq,
                1000 + seq,
                comm,
                name,
                rng.below(100),
                rng.below(4),
            )
        })
        .collect()
}

/// Parses generated lines (they are always valid).
pub fn parse_lines(lines: &[String]) -> Vec<Arc<Event>> {
    lines
        .iter()
        .map(|line| Arc::new(parse_event(line).expect("generated lines parse")))
        .collect()
}

/// What a replay pool thread does with one line, on this thread: an event
/// named in `selected` is parsed, any other only checked. `with_serde`
/// takes serde_json alone, as replay did before its one-scan tape
/// (`source/json_tape.rs`), for a side-by-side figure. `true` when the
/// line was accepted.
pub fn judge_line(line: &str, selected: &[&str], with_serde: bool) -> bool {
    use crate::source::tracee_check::{checked_name, checked_name_with_serde, sniff_event_name};
    use crate::source::tracee_json::parse_event_with_serde;
    match sniff_event_name(line) {
        Some(name) if !selected.contains(&name) => {
            let checked = if with_serde {
                checked_name_with_serde(line)
            } else {
                checked_name(line)
            };
            checked.is_some_and(|checked| checked == name)
        }
        _ if with_serde => parse_event_with_serde(line).is_ok(),
        _ => parse_event(line).is_ok(),
    }
}

/// Repeated measurements of one quantity, in nanoseconds per item.
#[derive(Debug, Clone, Default)]
pub struct Timing {
    /// One value per repetition.
    pub samples: Vec<f64>,
}

impl Timing {
    /// Adds one repetition: `elapsed_ns` for `items` items.
    pub fn push(&mut self, elapsed_ns: f64, items: u64) {
        self.samples.push(elapsed_ns / items.max(1) as f64);
    }

    /// The median, in ns per item (0 when empty).
    pub fn median(&self) -> f64 {
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        match sorted.len() {
            0 => 0.0,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        }
    }

    /// The fastest repetition.
    pub fn min(&self) -> f64 {
        self.samples.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// The slowest repetition.
    pub fn max(&self) -> f64 {
        self.samples.iter().copied().fold(0.0, f64::max)
    }

    /// Items per second at the median.
    pub fn per_second(&self) -> f64 {
        1e9 / self.median()
    }
}

/// CPU time consumed by the calling thread, in ns. On a shared machine this
/// leaves out the time other processes held the core, so it measures what
/// one dedicated core would do (caches are still shared).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// Runs `run` once to warm up, then `reps` times, timing each run of `items`
/// items in thread CPU time ([`thread_cpu_ns`]).
pub fn measure(reps: usize, items: u64, mut run: impl FnMut()) -> Timing {
    run();
    let mut timing = Timing::default();
    for _ in 0..reps {
        let start = thread_cpu_ns();
        run();
        timing.push((thread_cpu_ns() - start) as f64, items);
    }
    timing
}

/// Pins the calling thread (and threads it starts later) to one CPU, the one
/// it runs on now; the previous affinity comes back when the guard drops.
pub struct PinGuard {
    previous: libc::cpu_set_t,
    /// The CPU pinned to.
    pub cpu: usize,
}

/// Pins the calling thread to one CPU; `None` if the kernel refused.
pub fn pin_to_one_cpu() -> Option<PinGuard> {
    // SAFETY: cpu_set_t is plain data; the calls get valid pointers and sizes.
    unsafe {
        let mut previous: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut previous) != 0 {
            return None;
        }
        let cpu = usize::try_from(libc::sched_getcpu()).ok()?;
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) != 0 {
            return None;
        }
        Some(PinGuard { previous, cpu })
    }
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        // SAFETY: restores a set the kernel gave us.
        unsafe {
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &self.previous);
        }
    }
}

/// The process's resident set size in bytes (from /proc/self/statm).
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// A private temporary directory (mode 0700), removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/sigbox-<tag>-<pid>-<n>`.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn new(tag: &str) -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("sigbox-{tag}-{}-{nanos}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Self(path))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One workload run through a module.
#[derive(Debug, Clone)]
pub struct WorkloadResult {
    /// What the events were.
    pub name: String,
    /// Events per repetition.
    pub events: u64,
    /// Of those, the events its selectors accepted, which reached the guest.
    pub evaluated: u64,
    /// ns per event, one sample per repetition.
    pub timing: Timing,
    /// Findings in one repetition.
    pub findings: u64,
    /// Signature errors in one repetition.
    pub errors: u64,
}

/// What [`bench_module`] measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The module file.
    pub path: PathBuf,
    /// Its signature id and version.
    pub id: String,
    /// Its version.
    pub version: String,
    /// File size.
    pub file_bytes: usize,
    /// The events it selects.
    pub selected: Vec<String>,
    /// Cranelift compile time of the component alone, ms (median).
    pub compile_ms: f64,
    /// Full load without a compile cache (compile, instantiate, metadata,
    /// init), ms (median).
    pub load_uncached_ms: f64,
    /// Full load with the compile cache warm, ms (median).
    pub load_cached_ms: f64,
    /// Resident memory per extra loaded instance, KiB.
    pub rss_per_instance_kib: Option<f64>,
    /// The per-event workloads.
    pub workloads: Vec<WorkloadResult>,
    /// The CPU the measurement was pinned to, if pinning worked.
    pub pinned_cpu: Option<usize>,
}

/// Repetitions of each measurement (after one warm-up run).
const REPS: usize = 7;
/// Distinct events generated per workload (cycled when more are asked for).
const MAX_DISTINCT_EVENTS: usize = 20_000;
/// Instances loaded to measure memory per instance.
const MEMORY_INSTANCES: usize = 16;

/// Measures one signature module: compile and load times (without and with
/// the compile cache, in a private temporary cache directory), resident
/// memory per loaded instance, and ns per event through the real dispatch
/// ([`SignatureSet::dispatch`]) for `events` events per repetition of each
/// event kind the module selects (`sched_process_exec`: a realistic exec mix,
/// 1% web-server shells; other names: synthetic events with three
/// arguments). Medians of 7 repetitions after a warm-up; the calling thread
/// is pinned to one CPU while measuring.
///
/// # Errors
/// The file cannot be read or is not a valid signature, or the engine
/// cannot start.
pub fn bench_module(
    path: &Path,
    events: usize,
    recorded: Option<&Path>,
) -> anyhow::Result<BenchReport> {
    let events = events.max(1);
    let pin = pin_to_one_cpu();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let cache_dir = TempDir::new("bench-cache").context("cannot create a temporary cache")?;
    let uncached = Runtime::with_options(RuntimeOptions {
        compile_cache: false,
        ..RuntimeOptions::default()
    })?;
    let cached = Runtime::with_options(RuntimeOptions {
        cache_dir: Some(cache_dir.path().to_owned()),
        ..RuntimeOptions::default()
    })?;
    let load = |runtime: &Runtime| {
        LoadedSignature::from_bytes(runtime, path, &bytes, &[])
            .map_err(|e| anyhow::anyhow!(crate::error_chain(&e)))
    };
    let first = load(&uncached)?;
    let compile_ms = ms(3, || {
        Component::from_binary(uncached.engine(), &bytes).expect("compiled before");
    });
    let load_uncached_ms = ms(3, || drop(load(&uncached).expect("loaded before")));
    let load_cached_ms = ms(REPS, || drop(load(&cached).expect("loaded before")));

    let rss_per_instance_kib = {
        let mut keep = Vec::with_capacity(MEMORY_INSTANCES);
        let before = rss_bytes();
        for _ in 0..MEMORY_INSTANCES {
            keep.push(load(&cached)?);
        }
        let after = rss_bytes();
        before
            .zip(after)
            .map(|(b, a)| a.saturating_sub(b) as f64 / 1024.0 / MEMORY_INSTANCES as f64)
    };

    let info = first.info().clone();
    let mut names: Vec<String> = info
        .selected_events
        .iter()
        .map(|s| s.name.clone())
        .collect();
    names.dedup();
    let mut set = SignatureSet::default();
    set.apply(Change::Upsert(Box::new(first)));
    let counters = set.status()[0].counters.clone();
    // The author's own recorded events, or synthetic ones per selected event.
    let streams: Vec<(String, Vec<Arc<Event>>)> = match recorded {
        Some(file) => {
            let recorded = read_recorded(file)?;
            vec![(
                format!("{} ({} recorded events)", file.display(), recorded.len()),
                recorded,
            )]
        }
        None => names
            .iter()
            .map(|name| {
                let distinct = events.min(MAX_DISTINCT_EVENTS);
                if Kind::named(name) == Some(Kind::SchedProcessExec) {
                    (
                        format!("{name} (1% web-server shells)"),
                        parse_lines(&exec_lines(distinct, ExecMix::Realistic, 7)),
                    )
                } else {
                    (
                        format!("{name} (synthetic)"),
                        parse_lines(&generic_lines(distinct, name, 7)),
                    )
                }
            })
            .collect(),
    };
    let mut workloads = Vec::new();
    for (label, distinct) in streams {
        let stream: Vec<Arc<Event>> = distinct.into_iter().cycle().take(events).collect();
        let (mut findings, mut errors, mut evaluated) = (0u64, 0u64, 0u64);
        let timing = measure(REPS, events as u64, || {
            findings = 0;
            errors = 0;
            let before = counters.snapshot().events;
            // In batches, as the daemon's workers dispatch under load.
            for batch in stream.chunks(MAX_BATCH) {
                set.dispatch_batch(batch, |_, _| findings += 1, |_, _| errors += 1);
            }
            evaluated = counters.snapshot().events - before;
        });
        workloads.push(WorkloadResult {
            name: label,
            events: events as u64,
            evaluated,
            timing,
            findings,
            errors,
        });
    }
    Ok(BenchReport {
        path: path.to_owned(),
        id: info.metadata.id,
        version: info.metadata.version,
        file_bytes: bytes.len(),
        selected: names,
        compile_ms,
        load_uncached_ms,
        load_cached_ms,
        rss_per_instance_kib,
        workloads,
        pinned_cpu: pin.as_ref().map(|p| p.cpu),
    })
}

/// The events of a file of Tracee JSON lines (blank lines skipped).
///
/// # Errors
/// The file is unreadable, holds no event, or a line is not a Tracee event
/// (the message names the line).
fn read_recorded(file: &Path) -> anyhow::Result<Vec<Arc<Event>>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read recorded events {}", file.display()))?;
    let mut events = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event = parse_event(line)
            .with_context(|| format!("{}:{}: not a Tracee event", file.display(), index + 1))?;
        events.push(Arc::new(event));
    }
    anyhow::ensure!(!events.is_empty(), "{} holds no events", file.display());
    Ok(events)
}

/// The median wall-clock time of `reps` runs of `f`, in ms (wall time:
/// compilation runs on several threads).
fn ms(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut timing = Timing::default();
    for _ in 0..reps {
        let start = std::time::Instant::now();
        f();
        timing.push(start.elapsed().as_nanos() as f64, 1);
    }
    timing.median() / 1e6
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} {} v{} ({} bytes), selects: {}",
            self.path.display(),
            self.id,
            self.version,
            self.file_bytes,
            self.selected.join(", ")
        )?;
        match self.pinned_cpu {
            Some(cpu) => writeln!(
                f,
                "single-threaded, pinned to CPU {cpu}; thread CPU time, medians of {REPS} runs"
            )?,
            None => writeln!(
                f,
                "single-threaded (not pinned); thread CPU time, medians of {REPS} runs"
            )?,
        }
        writeln!(
            f,
            "  compile (Cranelift, wall)      {:>10.2} ms",
            self.compile_ms
        )?;
        writeln!(
            f,
            "  load, no compile cache (wall)  {:>10.2} ms",
            self.load_uncached_ms
        )?;
        writeln!(
            f,
            "  load, from cache (wall)        {:>10.2} ms",
            self.load_cached_ms
        )?;
        match self.rss_per_instance_kib {
            Some(kib) => writeln!(f, "  memory per loaded instance     {kib:>10.0} KiB")?,
            None => writeln!(f, "  memory per loaded instance            n/a")?,
        }
        writeln!(
            f,
            "  {:<44} {:>10} {:>12} {:>9} {:>9} {:>8}",
            "events", "ns/event", "events/s", "to guest", "findings", "errors"
        )?;
        for w in &self.workloads {
            writeln!(
                f,
                "  {:<44} {:>10.0} {:>12.0} {:>9} {:>9} {:>8}",
                w.name,
                w.timing.median(),
                w.timing.per_second(),
                w.evaluated,
                w.findings,
                w.errors
            )?;
        }
        write!(
            f,
            "  ({} events per run; \"to guest\": those the module's selectors accepted)",
            self.workloads.first().map_or(0, |w| w.events)
        )?;
        for w in self.workloads.iter().filter(|w| w.evaluated == 0) {
            write!(
                f,
                "\nwarning: none of the {} events of {} reached the guest: the module selects \
                 {} (and its filters may skip more), so these events/s measure only the host \
                 skipping events; bench it on recorded events it selects",
                w.events,
                w.name,
                self.selected.join(", ")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;

    #[test]
    fn generated_lines_parse_like_tracee_events() {
        let lines = exec_lines(2000, ExecMix::Realistic, 1);
        let events = parse_lines(&lines);
        let web_shells = events
            .iter()
            .filter(|e| {
                assert_eq!(e.kind(), Some(Kind::SchedProcessExec));
                let prev = e.arg("prev_comm").and_then(Value::as_text).unwrap();
                WEB_SERVERS.contains(&prev) && SHELLS.contains(&e.context.process_name.as_str())
            })
            .count();
        assert!((5..=40).contains(&web_shells), "{web_shells} of 2000");
        assert!(events.iter().any(|e| !e.context.container_id.is_empty()));
        for event in &events {
            let given: Vec<&str> = event.tracee_args().map(|(name, _, _)| name).collect();
            let table: Vec<&str> = Kind::SchedProcessExec
                .def()
                .args
                .iter()
                .map(|a| a.name)
                .collect();
            assert_eq!(
                given, table,
                "generated lines carry every argument of the table, in order"
            );
        }
        let all = parse_lines(&exec_lines(10, ExecMix::AllWebShells, 1));
        assert!(
            all.iter()
                .all(|e| SHELLS.contains(&e.context.process_name.as_str()))
        );
        let generic = parse_lines(&generic_lines(3, "openat", 1));
        assert_eq!(generic[0].kind(), None);
        assert_eq!(generic[0].extra.len(), 3);
    }

    #[test]
    fn timing_median() {
        let mut t = Timing::default();
        for ns in [30.0, 10.0, 20.0] {
            t.push(ns * 10.0, 10);
        }
        assert_eq!(t.median(), 20.0);
        assert_eq!(t.min(), 10.0);
        assert_eq!(t.max(), 30.0);
    }
}
