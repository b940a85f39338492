//! `make bench`: the throughput of sandboxed dispatch under contract 0.2,
//! side by side with the same detection as native Rust and with the 0.1
//! contract, on one pinned core; the worker pipeline on one and two cores;
//! replay with JSON parsing and output. Prints one table and the issue's
//! targets (BENCHMARKS.md).
//!
//! Environment: `SIGBOX_BENCH_REPS` (repetitions per figure, default 7),
//! `SIGBOX_BENCH_SAMPLE_MS` (target length of one repetition, default 40),
//! `SIGBOX_BENCH_ONLY` (comma-separated sections: one, wide, filters, many,
//! replay, author), `SIGBOX_BENCH_CASE` (only the cases whose name contains
//! it, for `perf record`), `SIGBOX_BENCH_WRITE_CAPTURE` (a file to write the
//! replay section's capture to, for profiling the real binary on it),
//! `SIGBOX_BENCH_PACK_BEFORE` (another build of `pack-bench.wasm`, e.g. the
//! previous commit's, run beside the current one in the `many` section).
//!
//! Signatures built with the Rust SDK take their batches flat (one buffer,
//! `flat-detector`); the "typed batch" cases run the same modules through
//! the typed `on-events` (`RuntimeOptions::flat_batches` off), in the same
//! run.
//!
//! Method (BENCHMARKS.md): thread CPU time on one pinned core for the
//! single-thread sections, wall time for the multi-threaded ones; every
//! figure is the median of REPS repetitions after a warm-up; the cases of a
//! section run in interleaved rounds (A, B, …, then again), so a noisy
//! neighbour slows them alike and their ratios stay meaningful.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use sigbox::bench::{
    self, ExecMix, Rng, SHELLS, Timing, WEB_SERVERS, exec_lines, parse_lines, pin_to_one_cpu,
    thread_cpu_ns,
};
use sigbox::engine::{
    Change, Detection, LoadedSignature, MAX_BATCH, Runtime, RuntimeOptions, SignatureSet,
};
use sigbox::engine::{Finding, OriginFilter};
use sigbox::event::{Event, Kind, Origin, Value};
use sigbox::pipeline::{Backpressure, Pipeline, PipelineOptions, Place};
use sigbox::sink::{FindingWriter, OutputFormat};
use sigbox::source::{parse_event, replay};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// --- The native ceiling: TRC-1016's logic (guest-signatures/trc-1016) as plain Rust.

const SCHED_PROCESS_EXEC: &str = "sched_process_exec";

fn native_trc1016(event: &Event) -> Result<Vec<Finding>, String> {
    if event.kind() != Some(Kind::SchedProcessExec) {
        return Ok(vec![]);
    }
    let prev_comm = prev_comm(event)?;
    if WEB_SERVERS.contains(&prev_comm) && SHELLS.contains(&event.context.process_name.as_str()) {
        Ok(vec![Finding { data: vec![] }])
    } else {
        Ok(vec![])
    }
}

/// The SDK's `Event::string_arg`, for `prev_comm` (the only argument
/// TRC-1016 reads), from its slot (found once, as a compiled selector does).
fn prev_comm(event: &Event) -> Result<&str, String> {
    static SLOT: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
        Kind::SchedProcessExec
            .def()
            .slot("prev_comm")
            .expect("exec has prev_comm")
    });
    match &event.args[*SLOT] {
        Value::Text(text) => Ok(text),
        _ => Err(format!(
            "event {}: argument prev_comm is missing or not a string",
            event.name()
        )),
    }
}

/// A native dispatch shaped like `SignatureSet::dispatch`: index by event
/// name, check the origin, call, count findings and errors.
struct NativeSet {
    by_event: HashMap<String, Vec<usize>>,
    selectors: Vec<(String, OriginFilter)>,
    stats: Vec<[u64; 3]>,
}

impl NativeSet {
    fn new(n: usize) -> Self {
        let mut by_event = HashMap::new();
        by_event.insert(SCHED_PROCESS_EXEC.to_owned(), (0..n).collect());
        Self {
            by_event,
            selectors: vec![(SCHED_PROCESS_EXEC.to_owned(), OriginFilter::Any); n],
            stats: vec![[0; 3]; n],
        }
    }

    /// Dispatches every event of `events`; returns findings.
    fn dispatch_all(&mut self, events: &[Arc<Event>]) -> u64 {
        let mut findings = 0;
        for event in events {
            self.dispatch(event, &mut findings);
        }
        findings
    }

    fn dispatch(&mut self, event: &Event, findings: &mut u64) {
        let Some(indexes) = self.by_event.get(event.name()) else {
            return;
        };
        for &i in indexes {
            let (name, origin) = &self.selectors[i];
            if name != event.name() || !origin_ok(*origin, event.context.origin) {
                continue;
            }
            self.stats[i][0] += 1;
            match std::hint::black_box(native_trc1016(std::hint::black_box(event))) {
                Ok(found) => {
                    self.stats[i][1] += found.len() as u64;
                    *findings += found.len() as u64;
                }
                Err(_) => self.stats[i][2] += 1,
            }
        }
    }
}

fn origin_ok(filter: OriginFilter, origin: Origin) -> bool {
    match filter {
        OriginFilter::Any => true,
        OriginFilter::Host => origin == Origin::Host,
        OriginFilter::Container => origin == Origin::Container,
        OriginFilter::ContainerInit => origin == Origin::ContainerInit,
    }
}

// --- The table.

struct Row {
    section: &'static str,
    name: String,
    /// Thread CPU time per item.
    timing: Timing,
    /// Wall-clock time per item.
    wall: Timing,
    /// What the case measures.
    note: String,
}

struct Table {
    rows: Vec<Row>,
}

impl Table {
    fn push(
        &mut self,
        section: &'static str,
        name: impl Into<String>,
        timing: Timing,
        wall: Timing,
        note: impl Into<String>,
    ) {
        self.rows.push(Row {
            section,
            name: name.into(),
            timing,
            wall,
            note: note.into(),
        });
    }

    fn median(&self, name: &str) -> f64 {
        self.rows
            .iter()
            .find(|r| r.name == name)
            .map_or(f64::NAN, |r| r.timing.median())
    }
}

/// One case of an interleaved section: a name, a stream length, a closure
/// that processes the stream once.
struct Case<'a> {
    name: String,
    items: u64,
    run: Box<dyn FnMut() + 'a>,
    loops: u64,
    timing: Timing,
    wall: Timing,
    /// The whole process's CPU time (every thread: pool, workers).
    process: Timing,
    note: String,
}

impl<'a> Case<'a> {
    fn new(
        name: impl Into<String>,
        items: usize,
        note: impl Into<String>,
        run: impl FnMut() + 'a,
    ) -> Self {
        Self {
            name: name.into(),
            items: items as u64,
            run: Box::new(run),
            loops: 1,
            timing: Timing::default(),
            wall: Timing::default(),
            process: Timing::default(),
            note: note.into(),
        }
    }
}

/// Warms each case up and sizes it to about `sample_ms`, then runs `reps`
/// interleaved rounds.
fn run_interleaved(cases: &mut Vec<Case<'_>>, reps: usize, sample_ms: f64) {
    // `SIGBOX_BENCH_CASE` keeps only the cases whose name contains it (to
    // profile one case with `perf record`).
    if let Ok(wanted) = std::env::var("SIGBOX_BENCH_CASE") {
        cases.retain(|case| case.name.contains(&wanted));
    }
    for case in cases.iter_mut() {
        (case.run)();
        let start = Instant::now();
        (case.run)();
        let once = start.elapsed().as_secs_f64() * 1e3;
        case.loops = ((sample_ms / once.max(1e-6)).ceil() as u64).clamp(1, 100_000);
    }
    for _ in 0..reps {
        for case in cases.iter_mut() {
            let (wall, cpu, process) = (Instant::now(), thread_cpu_ns(), process_cpu_ns());
            for _ in 0..case.loops {
                (case.run)();
            }
            let items = case.items * case.loops;
            case.timing.push((thread_cpu_ns() - cpu) as f64, items);
            case.wall.push(wall.elapsed().as_nanos() as f64, items);
            case.process
                .push((process_cpu_ns() - process) as f64, items);
        }
    }
}

fn finish(table: &mut Table, section: &'static str, cases: Vec<Case<'_>>) {
    for case in cases {
        table.push(section, case.name, case.timing, case.wall, case.note);
    }
}

/// Like [`finish`], for cases that use other threads (parallel compilation):
/// wall time is the figure, CPU time of the calling thread would undercount.
fn finish_wall(table: &mut Table, section: &'static str, cases: Vec<Case<'_>>) {
    for case in cases {
        let note = format!("{} (wall time)", case.note);
        table.push(section, case.name, case.wall.clone(), case.wall, note);
    }
}

/// [`finish_wall`], each case followed by its process CPU time: on a
/// loaded machine wall time follows the load, while CPU time (every
/// thread's, per item) is the work itself.
fn finish_wall_and_cpu(table: &mut Table, section: &'static str, cases: Vec<Case<'_>>) {
    for case in cases {
        let note = format!("{} (wall time)", case.note);
        table.push(section, &case.name, case.wall.clone(), case.wall, note);
        table.push(
            section,
            format!("{} [process CPU]", case.name),
            case.process.clone(),
            case.process,
            "CPU time of all threads, per item",
        );
    }
}

/// The CPU time of the whole process (all threads) so far.
fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// Loads `n` separately compiled copies of a module into one set (distinct
/// paths; a bare set does not check ids).
fn load_n(runtime: &Runtime, path: &Path, n: usize) -> anyhow::Result<Vec<LoadedSignature>> {
    let bytes = std::fs::read(path)?;
    (0..n)
        .map(|i| {
            let copy = PathBuf::from(format!("/bench/copy-{i:03}-{}", path.display()));
            LoadedSignature::from_bytes(runtime, &copy, &bytes, &[])
                .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), sigbox::error_chain(&e)))
        })
        .collect()
}

fn set_of(signatures: Vec<LoadedSignature>) -> SignatureSet {
    let mut set = SignatureSet::default();
    for signature in signatures {
        set.apply(Change::Upsert(Box::new(signature)));
    }
    set
}

fn module(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// Dispatches `events` through `set` in worker-sized batches; returns findings.
fn dispatch_all(set: &mut SignatureSet, events: &[Arc<Event>]) -> u64 {
    let mut findings = 0;
    for batch in events.chunks(MAX_BATCH) {
        set.dispatch_batch(batch, |_, _| findings += 1, |_, _| {});
    }
    findings
}

/// A pipeline with `workers` threads running `signatures`.
fn pipeline_with(workers: usize, signatures: Vec<LoadedSignature>) -> Pipeline<io::Sink> {
    let mut pipeline = Pipeline::with_options(
        FindingWriter::new(io::sink(), OutputFormat::Json, false),
        PipelineOptions {
            workers,
            queue_events: 4096,
            backpressure: Backpressure::Wait,
        },
    );
    for signature in signatures {
        pipeline.apply(Change::Upsert(Box::new(signature)));
    }
    pipeline
}

fn main() -> anyhow::Result<()> {
    let reps = env_usize("SIGBOX_BENCH_REPS", 7);
    let sample_ms = env_usize("SIGBOX_BENCH_SAMPLE_MS", 40) as f64;
    let only = std::env::var("SIGBOX_BENCH_ONLY").unwrap_or_default();
    let want = |section: &str| only.is_empty() || only.split(',').any(|s| s == section);
    let trc_1016 = module("target/signatures/trc-1016.wasm");
    let legacy = module("target/signatures-test/legacy-v0-1.wasm");
    let reads_all = module("target/signatures-test/reads-all.wasm");
    let unfiltered = module("target/signatures-test/trc-1016-unfiltered.wasm");
    let echo = module("target/signatures-test/exec-echo.wasm");
    let pack = module("target/signatures-test/pack-bench.wasm");
    for path in [&trc_1016, &legacy, &reads_all, &unfiltered, &echo, &pack] {
        anyhow::ensure!(
            path.is_file(),
            "{} is missing: run `make` first",
            path.display()
        );
    }

    // Pin before any engine exists, so wasmtime's threads start on this CPU.
    let pin = pin_to_one_cpu();
    let cache = bench::TempDir::new("dispatch-cache")?;
    let runtime = Runtime::with_options(RuntimeOptions {
        cache_dir: Some(cache.path().to_owned()),
        ..RuntimeOptions::default()
    })?;
    // The same modules through their typed `on-events`, for comparison.
    let typed = Runtime::with_options(RuntimeOptions {
        cache_dir: Some(cache.path().to_owned()),
        flat_batches: false,
        ..RuntimeOptions::default()
    })?;
    let realistic = parse_lines(&exec_lines(20_000, ExecMix::Realistic, 42));
    let worst = parse_lines(&exec_lines(20_000, ExecMix::AllWebShells, 43));
    let mut table = Table { rows: Vec::new() };

    if want("one") {
        let mut native_r = NativeSet::new(1);
        let mut native_w = NativeSet::new(1);
        let mut v2_r = set_of(load_n(&runtime, &trc_1016, 1)?);
        let mut v2_w = set_of(load_n(&runtime, &trc_1016, 1)?);
        let mut v1_r = set_of(load_n(&runtime, &legacy, 1)?);
        let mut v1_w = set_of(load_n(&runtime, &legacy, 1)?);
        let mut unfiltered_w = set_of(load_n(&runtime, &unfiltered, 1)?);
        let mut typed_w = set_of(load_n(&typed, &trc_1016, 1)?);
        let mut typed_unfiltered_w = set_of(load_n(&typed, &unfiltered, 1)?);
        let (r, w) = (&realistic, &worst);
        let mut cases = vec![
            Case::new("native TRC-1016, realistic mix", r.len(), "ceiling", || {
                native_r.dispatch_all(r);
            }),
            Case::new("native TRC-1016, worst case", w.len(), "ceiling", || {
                native_w.dispatch_all(w);
            }),
            Case::new(
                "0.2 TRC-1016, realistic mix",
                r.len(),
                "host filters + batches",
                || {
                    dispatch_all(&mut v2_r, r);
                },
            ),
            Case::new(
                "0.2 TRC-1016, worst case",
                w.len(),
                "every event enters the guest, finds",
                || {
                    dispatch_all(&mut v2_w, w);
                },
            ),
            Case::new(
                "0.2 TRC-1016 unfiltered, worst case",
                w.len(),
                "no host filter, batches of 64",
                || {
                    dispatch_all(&mut unfiltered_w, w);
                },
            ),
            Case::new(
                "typed batch TRC-1016, worst case",
                w.len(),
                "the same module, typed on-events",
                || {
                    dispatch_all(&mut typed_w, w);
                },
            ),
            Case::new(
                "typed batch TRC-1016 unfiltered, worst case",
                w.len(),
                "the same module, typed on-events",
                || {
                    dispatch_all(&mut typed_unfiltered_w, w);
                },
            ),
            Case::new(
                "0.1 TRC-1016, realistic mix",
                r.len(),
                "host filters, whole event",
                || {
                    dispatch_all(&mut v1_r, r);
                },
            ),
            Case::new(
                "0.1 TRC-1016, worst case",
                w.len(),
                "one whole event record per call",
                || {
                    dispatch_all(&mut v1_w, w);
                },
            ),
        ];
        run_interleaved(&mut cases, reps, sample_ms);
        finish(&mut table, "one signature, one core", cases);
    }

    if want("wide") {
        let mut all = set_of(load_n(&runtime, &reads_all, 1)?);
        let mut echo_set = set_of(load_n(&runtime, &echo, 1)?);
        let w = &worst;
        let mut cases = vec![
            Case::new(
                "0.2 reads every exec field (19)",
                w.len(),
                "TEST-READS-ALL, no filter",
                || {
                    dispatch_all(&mut all, w);
                },
            ),
            Case::new(
                "0.2 exec-echo (4 fields, finds every event)",
                w.len(),
                "findings with data",
                || {
                    dispatch_all(&mut echo_set, w);
                },
            ),
        ];
        run_interleaved(&mut cases, reps, sample_ms);
        finish(&mut table, "wide projections, one core", cases);
    }

    if want("filters") {
        let filters = module("target/signatures-test/hostwork-filters.wasm");
        anyhow::ensure!(
            filters.is_file(),
            "{} is missing: run `make` first",
            filters.display()
        );
        let mut largest = set_of(load_n(&runtime, &filters, 1)?);
        // Each event passes 31 filters of each of the 32 selectors and
        // fails the last: the most the host checks for one signature.
        let matching: Vec<Arc<Event>> = worst
            .iter()
            .map(|event| {
                let mut event = Event::clone(event);
                event.context.process_name = "hwfilters".into();
                Arc::new(event)
            })
            .collect();
        let mut cases = vec![Case::new(
            "largest filter set (32 x 32 x 1,024 values)",
            matching.len(),
            "HOSTWORK-FILTERS, host only",
            || {
                dispatch_all(&mut largest, &matching);
            },
        )];
        run_interleaved(&mut cases, reps, sample_ms);
        finish(&mut table, "host filters, one core", cases);
    }

    if want("many") {
        const N: usize = 100;
        let events: Vec<Arc<Event>> = realistic.iter().take(2_000).cloned().collect();
        let mut one_core = set_of(load_n(&runtime, &unfiltered, N)?);
        let mut native = NativeSet::new(N);
        let worst_events: Vec<Arc<Event>> = worst.iter().take(2_000).cloned().collect();
        let mut one_core_w = set_of(load_n(&runtime, &unfiltered, N)?);
        let mut native_w = NativeSet::new(N);
        // The same 100 copies of the logic as detectors of one pack.
        let mut packed = set_of(load_n(&runtime, &pack, 1)?);
        let mut packed_w = set_of(load_n(&runtime, &pack, 1)?);
        anyhow::ensure!(
            packed.status().len() == N,
            "pack-bench is not {N} detectors"
        );
        let mut typed_many = set_of(load_n(&typed, &unfiltered, N)?);
        let before = std::env::var_os("SIGBOX_BENCH_PACK_BEFORE").map(PathBuf::from);
        let mut packed_before = match &before {
            Some(path) => Some((
                set_of(load_n(&runtime, path, 1)?),
                set_of(load_n(&runtime, path, 1)?),
            )),
            None => None,
        };
        let mut cases = vec![
            Case::new(
                "native 100 signatures, realistic mix",
                events.len(),
                "anchor: 100 copies of TRC-1016's logic, unfiltered",
                || {
                    native.dispatch_all(&events);
                },
            ),
            Case::new(
                "100 unfiltered signatures, one thread",
                events.len(),
                "SignatureSet::dispatch_batch",
                || {
                    dispatch_all(&mut one_core, &events);
                },
            ),
            Case::new(
                "native 100 signatures, worst case",
                worst_events.len(),
                "anchor: every event finds, 100 times",
                || {
                    native_w.dispatch_all(&worst_events);
                },
            ),
            Case::new(
                "100 unfiltered signatures, worst case",
                worst_events.len(),
                "every event finds, 100 times",
                || {
                    dispatch_all(&mut one_core_w, &worst_events);
                },
            ),
            Case::new(
                "100 detectors in one pack, realistic mix",
                events.len(),
                "one call per batch for all 100",
                || {
                    dispatch_all(&mut packed, &events);
                },
            ),
            Case::new(
                "100 detectors in one pack, worst case",
                worst_events.len(),
                "every event finds, 100 times, one call",
                || {
                    dispatch_all(&mut packed_w, &worst_events);
                },
            ),
        ];
        cases.push(Case::new(
            "100 unfiltered signatures, typed batch",
            events.len(),
            "the same modules, typed on-events",
            || {
                dispatch_all(&mut typed_many, &events);
            },
        ));
        if let Some((before_r, before_w)) = &mut packed_before {
            cases.push(Case::new(
                "100 detectors in one pack (before), realistic mix",
                events.len(),
                "SIGBOX_BENCH_PACK_BEFORE",
                || {
                    dispatch_all(before_r, &events);
                },
            ));
            cases.push(Case::new(
                "100 detectors in one pack (before), worst case",
                worst_events.len(),
                "SIGBOX_BENCH_PACK_BEFORE",
                || {
                    dispatch_all(before_w, &worst_events);
                },
            ));
        }
        run_interleaved(&mut cases, reps, sample_ms);
        finish(&mut table, "100 distinct signatures", cases);
    }
    // The rest uses several threads: unpin so they can use every core.
    drop(pin);
    if want("many") {
        many_on_workers(
            &mut table,
            &runtime,
            &unfiltered,
            &realistic,
            reps,
            sample_ms,
        )?;
    }
    report(table, reps, want, &runtime, &trc_1016, &echo)
}

/// 100 signatures through the worker pipeline on one and two workers: the
/// collector clones and hands over each event; wall time.
fn many_on_workers(
    table: &mut Table,
    runtime: &Runtime,
    module: &Path,
    events: &[Arc<Event>],
    reps: usize,
    sample_ms: f64,
) -> anyhow::Result<()> {
    let owned: Vec<Event> = events.iter().take(2_000).map(|e| (**e).clone()).collect();
    let owned = &owned;
    let mut cases = Vec::new();
    for workers in [1, 2] {
        let mut pipeline = pipeline_with(workers, load_n(runtime, module, 100)?);
        cases.push(Case::new(
            format!("100 unfiltered signatures, pipeline, {workers} worker(s)"),
            owned.len(),
            "Pipeline::process, wall time",
            move || {
                for (line, event) in owned.iter().enumerate() {
                    pipeline
                        .process(event.clone(), None, Place::Line(line as u64))
                        .expect("processes");
                }
                // Returns once the workers have drained their queues.
                pipeline.signal_source_complete();
            },
        ));
    }
    run_interleaved(&mut cases, reps, sample_ms);
    finish_wall(table, "100 distinct signatures", cases);
    Ok(())
}

// --- A capture as Tracee records it: execs, many file opens, and mostly
// events no signature of the default set selects.

/// Paths a capture's opens read: common files, and one in 100 a file a
/// default signature reads for (TRC-109's ASLR setting).
const OPENED: [&str; 6] = [
    "/etc/ld.so.cache",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/etc/passwd",
    "/proc/self/status",
    "/usr/share/zoneinfo/UTC",
    "/var/lib/app/data.db",
];

/// Events of a capture that no default signature selects, with Tracee's
/// argument lists.
const UNSELECTED: [(&str, &str, &str); 4] = [
    (
        "openat",
        "257",
        r#"[{"name":"dirfd","type":"int","value":-100},{"name":"pathname","type":"const char*","value":"/etc/hosts"},{"name":"flags","type":"int","value":524288},{"name":"mode","type":"unsigned int","value":0}]"#,
    ),
    ("close", "3", r#"[{"name":"fd","type":"int","value":3}]"#),
    (
        "read",
        "0",
        r#"[{"name":"fd","type":"int","value":3},{"name":"buf","type":"void*","value":"0x7ffd5c1a2b30"},{"name":"count","type":"size_t","value":4096}]"#,
    ),
    (
        "sched_process_fork",
        "1002",
        r#"[{"name":"parent_tid","type":"int","value":4242},{"name":"parent_ns_tid","type":"int","value":4242},{"name":"parent_pid","type":"int","value":4242},{"name":"parent_ns_pid","type":"int","value":4242},{"name":"child_tid","type":"int","value":4243},{"name":"child_ns_tid","type":"int","value":4243},{"name":"child_pid","type":"int","value":4243},{"name":"child_ns_pid","type":"int","value":4243},{"name":"start_time","type":"unsigned long","value":1732700000000000000}]"#,
    ),
];

/// `n` lines of a realistic capture: 10% execs (the realistic exec mix),
/// 30% `security_file_open` (1% of them a read TRC-109 reports), 60% events
/// no default signature selects. Every line carries Tracee's full context.
fn capture_lines(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let execs = exec_lines(n / 10 + 1, ExecMix::Realistic, seed);
    (0..n as u64)
        .map(|seq| {
            let roll = rng.below(100);
            if roll < 10 {
                return execs[seq as usize % execs.len()].clone();
            }
            let (name, id, args) = if roll < 40 {
                let path = if rng.below(100) == 0 {
                    "/proc/sys/kernel/randomize_va_space"
                } else {
                    rng.pick(&OPENED)
                };
                let args = format!(
                    r#"[{{"name":"pathname","type":"const char*","value":"{path}"}},{{"name":"flags","type":"int","value":524288}},{{"name":"dev","type":"dev_t","value":2049}},{{"name":"inode","type":"unsigned long","value":{}}},{{"name":"ctime","type":"unsigned long","value":1732000000000000000}},{{"name":"syscall_pathname","type":"const char*","value":"{path}"}}]"#,
                    rng.below(1 << 20)
                );
                ("security_file_open", "732", args)
            } else {
                let (name, id, args) = UNSELECTED[rng.below(UNSELECTED.len())];
                (name, id, args.to_owned())
            };
            let pid = 10_000 + seq % 50_000;
            let comm = rng.pick(&["nginx", "python3", "postgres", "node", "java"]);
            format!(
                concat!(
                    r#"{{"timestamp":{ts},"threadStartTime":1732699000000000000,"processorId":1,"processId":{pid},"cgroupId":9000,"threadId":{pid},"#,
                    r#""parentProcessId":1,"hostProcessId":{pid},"hostThreadId":{pid},"hostParentProcessId":3000,"userId":0,"mountNamespace":4026531841,"#,
                    r#""pidNamespace":4026531836,"processName":"{comm}","executable":{{"path":"/usr/bin/{comm}"}},"hostName":"build-7","containerId":"","#,
                    r#""container":{{}},"kubernetes":{{}},"eventId":"{id}","eventName":"{name}","matchedPolicies":["default"],"argsNum":{argc},"#,
                    r#""returnValue":0,"syscall":"openat","stackAddresses":null,"contextFlags":{{"containerStarted":false,"isCompat":false}},"#,
                    r#""threadEntityId":1,"processEntityId":1,"parentEntityId":1,"args":{args}}}"#
                ),
                ts = 1_732_700_000_000_000_000 + seq * 1000,
                argc = args.matches(r#""name""#).count(),
                pid = pid,
                comm = comm,
                id = id,
                name = name,
                args = args,
            )
        })
        .collect()
}

/// Every module of the default set (`target/signatures/`), loaded once.
fn default_set(runtime: &Runtime) -> anyhow::Result<Vec<LoadedSignature>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(module("target/signatures"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|path| path.extension().is_some_and(|e| e == "wasm"));
    paths.sort();
    anyhow::ensure!(!paths.is_empty(), "no default signatures: run `make` first");
    paths
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path)?;
            LoadedSignature::from_bytes(runtime, path, &bytes, &[])
                .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), sigbox::error_chain(&e)))
        })
        .collect()
}

/// The replay and author sections (multi-threaded, unpinned), then the table.
fn report(
    mut table: Table,
    reps: usize,
    want: impl Fn(&str) -> bool,
    runtime: &Runtime,
    trc_1016: &Path,
    echo: &Path,
) -> anyhow::Result<()> {
    let sample_ms = env_usize("SIGBOX_BENCH_SAMPLE_MS", 40) as f64;
    if want("replay") {
        let realistic = exec_lines(50_000, ExecMix::Realistic, 44);
        let worst = exec_lines(20_000, ExecMix::AllWebShells, 45);
        let join = |lines: &[String]| {
            let mut input = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
            for line in lines {
                input.extend_from_slice(line.as_bytes());
                input.push(b'\n');
            }
            input
        };
        let capture = capture_lines(100_000, 46);
        let (input_r, input_w, input_c) = (join(&realistic), join(&worst), join(&capture));
        // The same capture for `perf record` of the real binary (BENCHMARKS.md).
        if let Ok(path) = std::env::var("SIGBOX_BENCH_WRITE_CAPTURE") {
            std::fs::write(&path, &input_c)?;
        }
        let mut defaults = pipeline_with(2, default_set(runtime)?);
        let mut trc = pipeline_with(2, load_n(runtime, trc_1016, 1)?);
        let mut finds_all = pipeline_with(2, load_n(runtime, echo, 1)?);
        let parsed: Vec<Event> = worst
            .iter()
            .map(|l| parse_event(l).expect("parses"))
            .collect();
        let echo_signature = load_n(runtime, echo, 1)?.remove(0);
        let finding = Finding {
            data: vec![sigbox::event::Field {
                name: "pid".into(),
                value: sigbox::event::Value::Unsigned(1),
            }],
        };
        let lines_r = &realistic;
        let mut cases = vec![
            Case::new(
                "parse Tracee JSON only",
                lines_r.len(),
                "1.9 KB lines",
                || {
                    for line in lines_r {
                        std::hint::black_box(parse_event(line).expect("parses"));
                    }
                },
            ),
            Case::new(
                "write a finding (Tracee JSON, replay context)",
                worst.len(),
                "FindingWriter::write",
                || {
                    let mut writer = FindingWriter::new(io::sink(), OutputFormat::Json, false);
                    for (line, event) in worst.iter().zip(&parsed) {
                        let detection = Detection {
                            signature: echo_signature.info(),
                            event_id: 6000,
                            finding: finding.clone(),
                        };
                        writer.write(&detection, event, Some(line)).expect("writes");
                    }
                },
            ),
            Case::new(
                "replay, TRC-1016, realistic mix",
                realistic.len(),
                "read+parse+dispatch+output, 2 workers",
                || {
                    replay(&input_r[..], &mut trc).expect("replays");
                    trc.signal_source_complete();
                },
            ),
            Case::new(
                "replay, exec-echo, every event finds",
                worst.len(),
                "…+ a finding written per event",
                || {
                    replay(&input_w[..], &mut finds_all).expect("replays");
                    finds_all.signal_source_complete();
                },
            ),
        ];
        let capture_ref = &capture;
        cases.extend([
            Case::new(
                "anchor: serde_json::Value of each capture line",
                capture.len(),
                "native floor: a generic parse, nothing else",
                || {
                    for line in capture_ref {
                        std::hint::black_box(
                            serde_json::from_str::<serde_json::Value>(line).expect("parses"),
                        );
                    }
                },
            ),
            Case::new(
                "judge capture lines, serde_json (before the tape)",
                capture.len(),
                "one thread: check unselected, parse exec/open",
                || {
                    for line in capture_ref {
                        assert!(bench::judge_line(line, CAPTURE_SELECTED, true));
                    }
                },
            ),
            Case::new(
                "judge capture lines, one-scan tape",
                capture.len(),
                "the same, as replay's pool threads now do",
                || {
                    for line in capture_ref {
                        assert!(bench::judge_line(line, CAPTURE_SELECTED, false));
                    }
                },
            ),
            Case::new(
                "replay, default set, capture mix",
                capture.len(),
                "10% exec, 30% open, 60% unselected; 2 workers",
                || {
                    replay(&input_c[..], &mut defaults).expect("replays");
                    defaults.signal_source_complete();
                },
            ),
        ]);
        run_interleaved(&mut cases, reps, sample_ms);
        finish_wall_and_cpu(&mut table, "replay (wall time)", cases);
    }
    let author = if want("author") {
        Some(bench::bench_module(trc_1016, 20_000, None)?)
    } else {
        None
    };
    print_table(&table, reps);
    if let Some(report) = author {
        println!("-- sigbox::bench::bench_module (what `sigbox bench FILE.wasm 20000` prints)");
        println!("{report}");
    }
    Ok(())
}

/// The capture's event names the default set selects (the rest it only
/// checks).
const CAPTURE_SELECTED: &[&str] = &["sched_process_exec", "security_file_open"];

fn print_table(table: &Table, reps: usize) {
    println!();
    println!(
        "sigbox bench (thread CPU time on one pinned core unless marked wall; medians of {reps} interleaved runs)"
    );
    println!(
        "{:<52} {:>10} {:>10} {:>10} {:>19}  note",
        "case", "per item", "rate", "wall", "min..max"
    );
    let mut section = "";
    for row in &table.rows {
        if row.section != section {
            section = row.section;
            println!("-- {section}");
        }
        println!(
            "{:<52} {:>10} {:>10} {:>10} {:>19}  {}",
            row.name,
            fmt_ns(row.timing.median()),
            fmt_rate(row.timing.per_second()),
            fmt_ns(row.wall.median()),
            format!("{}..{}", fmt_ns(row.timing.min()), fmt_ns(row.timing.max())),
            row.note,
        );
    }
    let rate = |name: &str| 1e9 / table.median(name);
    let ratio = |a: &str, b: &str| table.median(b) / table.median(a);
    println!();
    println!("issue 12 targets (this run):");
    let targets = [
        (
            "TRC-1016, every event enters the guest, per core",
            rate("0.2 TRC-1016, worst case"),
            2e6,
        ),
        (
            "a signature reading every exec field, per core",
            rate("0.2 reads every exec field (19)"),
            5e5,
        ),
        (
            "100 unfiltered signatures, per core",
            rate("100 unfiltered signatures, one thread"),
            1e5,
        ),
        (
            "replay with JSON parsing and output",
            rate("replay, TRC-1016, realistic mix"),
            5e5,
        ),
        (
            "replay, default set, capture mix (issue 31)",
            rate("replay, default set, capture mix"),
            5e5,
        ),
        (
            "findings written as Tracee JSON",
            rate("write a finding (Tracee JSON, replay context)"),
            3e5,
        ),
    ];
    for (what, got, want) in targets {
        if got.is_finite() {
            println!(
                "  {what:<50} {:>10} (target {:>10}) {}",
                fmt_rate(got),
                fmt_rate(want),
                if got >= want { "met" } else { "MISSED" }
            );
        }
    }
    let two = ratio(
        "100 unfiltered signatures, pipeline, 2 worker(s)",
        "100 unfiltered signatures, pipeline, 1 worker(s)",
    );
    if two.is_finite() {
        println!(
            "  {:<50} {:>9.2}x (target 1.70x) {}",
            "100 signatures, 2 workers / 1 worker",
            two,
            if two >= 1.7 { "met" } else { "MISSED" }
        );
    }
    for (what, a, b) in [
        (
            "replay default set / serde_json::Value anchor (time ratio)",
            "replay, default set, capture mix",
            "anchor: serde_json::Value of each capture line",
        ),
        (
            "0.2 / native TRC-1016, realistic mix (time ratio)",
            "0.2 TRC-1016, realistic mix",
            "native TRC-1016, realistic mix",
        ),
        (
            "0.2 / native TRC-1016, worst case (time ratio)",
            "0.2 TRC-1016, worst case",
            "native TRC-1016, worst case",
        ),
        (
            "typed batch / native TRC-1016, worst case (time ratio)",
            "typed batch TRC-1016, worst case",
            "native TRC-1016, worst case",
        ),
        (
            "typed / flat batch TRC-1016, worst (speed-up of flat)",
            "typed batch TRC-1016, worst case",
            "0.2 TRC-1016, worst case",
        ),
        (
            "typed / flat 100 signatures, realistic (speed-up)",
            "100 unfiltered signatures, typed batch",
            "100 unfiltered signatures, one thread",
        ),
        (
            "pack before / after, realistic (speed-up)",
            "100 detectors in one pack (before), realistic mix",
            "100 detectors in one pack, realistic mix",
        ),
        (
            "100 signatures / native 100, realistic (time ratio)",
            "100 unfiltered signatures, one thread",
            "native 100 signatures, realistic mix",
        ),
        (
            "100 signatures / native 100, worst (time ratio)",
            "100 unfiltered signatures, worst case",
            "native 100 signatures, worst case",
        ),
        (
            "pack of 100 / native 100, realistic (time ratio)",
            "100 detectors in one pack, realistic mix",
            "native 100 signatures, realistic mix",
        ),
        (
            "pack of 100 / native 100, worst (time ratio)",
            "100 detectors in one pack, worst case",
            "native 100 signatures, worst case",
        ),
        (
            "0.1 / 0.2 TRC-1016, worst case (speed-up of 0.2)",
            "0.1 TRC-1016, worst case",
            "0.2 TRC-1016, worst case",
        ),
    ] {
        let r = table.median(a) / table.median(b);
        if r.is_finite() {
            println!("  {what:<50} {r:>9.2}x");
        }
    }
}
fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e4 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn fmt_rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2}M/s", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1}k/s", per_second / 1e3)
    } else {
        format!("{per_second:.1}/s")
    }
}
