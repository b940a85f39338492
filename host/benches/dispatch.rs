//! `make bench`: the throughput of sandboxed dispatch, side by side with the
//! same detection as native Rust, on one pinned core. Prints one table.
//!
//! Environment: `SIGBOX_BENCH_MODULE` (default `target/signatures/trc-1016.wasm`),
//! `SIGBOX_BENCH_REPS` (repetitions per figure, default 7),
//! `SIGBOX_BENCH_SAMPLE_MS` (target length of one repetition, default 40),
//! `SIGBOX_BENCH_ONLY` (comma-separated sections: one, proto, instances, engine,
//! many, load, replay, author), `SIGBOX_BENCH_PROTO` (the prototype batch guest,
//! default `target/bench-proto/proto-batch.wasm`, built by
//! host/benches/proto/build.sh; its rows are skipped when it is missing),
//! `SIGBOX_BENCH_PROFILE=worst|realistic|parse` (loop one workload for 10 s
//! under `perf record`; with `SIGBOX_PERFMAP=1` perf names guest functions).
//!
//! Method (BENCHMARKS.md): thread CPU time on one pinned core; every figure
//! is the median of REPS repetitions after a warm-up;
//! the figures of one section are measured in interleaved rounds (case A,
//! case B, ..., then again), so a noisy neighbour slows all of them alike and
//! their ratios stay meaningful.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sigbox::bench::{
    self, ExecMix, SHELLS, Timing, WEB_SERVERS, exec_lines, parse_lines, pin_to_one_cpu, rss_bytes,
    thread_cpu_ns,
};
use sigbox::engine::bindings::v1::{Signature, SignaturePre};
use sigbox::engine::{Change, LoadedSignature, Runtime, RuntimeOptions, SignatureSet};
use sigbox::pipeline::Pipeline;
use sigbox::sink::{FindingWriter, OutputFormat};
use sigbox::source::replay::replay;
use sigbox::source::tracee_json::parse_event;
use sigbox::wit::{Event, Finding, Origin, OriginFilter, Payload, Signal};
use wasmtime::Store;
use wasmtime::component::Component;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// --- The native ceiling: TRC-1016's logic (guest-signatures/trc-1016) as plain Rust.

const SCHED_PROCESS_EXEC: &str = "sched_process_exec";

fn native_trc1016(event: &Event) -> Result<Vec<Finding>, String> {
    if event.name != SCHED_PROCESS_EXEC {
        return Ok(vec![]);
    }
    let prev_comm = string_arg(event, "prev_comm")?;
    if WEB_SERVERS.contains(&prev_comm) && SHELLS.contains(&event.process_name.as_str()) {
        Ok(vec![Finding { data: vec![] }])
    } else {
        Ok(vec![])
    }
}

/// The SDK's `Event::string_arg`, for `prev_comm` (the only argument TRC-1016 reads).
fn string_arg<'a>(event: &'a Event, name: &str) -> Result<&'a str, String> {
    let missing = || {
        format!(
            "event {}: argument {name} is missing or not a string",
            event.name
        )
    };
    match &event.payload {
        Payload::Exec(args) if name == "prev_comm" => args.prev_comm.as_deref().ok_or_else(missing),
        Payload::Exec(args) => find_text(&args.extra, name).ok_or_else(missing),
        Payload::Generic(fields) => find_text(fields, name).ok_or_else(missing),
    }
}

fn find_text<'a>(fields: &'a [sigbox::wit::Field], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| match &f.value {
            sigbox::wit::Value::Text(s) => Some(s.as_str()),
            _ => None,
        })
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

    fn dispatch(&mut self, event: &Event, findings: &mut u64) {
        let Some(indexes) = self.by_event.get(&event.name) else {
            return;
        };
        for &i in indexes {
            let (name, origin) = &self.selectors[i];
            if name != &event.name || !origin_ok(*origin, event.origin) {
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
        OriginFilter::Container => origin != Origin::Host,
        OriginFilter::ContainerInit => origin == Origin::ContainerInit,
    }
}

// --- Prototypes of proposed changes, measured here before touching the WIT.

/// A host-side filter as a signature could declare it in its metadata
/// (proposal): every listed argument must be a string in its set. For
/// TRC-1016: `process_name ∈ SHELLS` and `prev_comm ∈ WEB_SERVERS`.
fn host_filter_trc1016(event: &Event) -> bool {
    if !SHELLS.contains(&event.process_name.as_str()) {
        return false;
    }
    match &event.payload {
        Payload::Exec(args) => args
            .prev_comm
            .as_deref()
            .is_some_and(|p| WEB_SERVERS.contains(&p)),
        Payload::Generic(_) => true,
    }
}

/// The event with every field TRC-1016 never reads left empty: what a
/// declared field projection (proposal) would copy into the guest.
fn slim(event: &Event) -> Event {
    let mut e = event.clone();
    e.executable_path.clear();
    e.host_name.clear();
    e.container_id.clear();
    if let Payload::Exec(args) = &mut e.payload {
        args.pathname.clear();
        args.cmdpath.clear();
        args.argv.clear();
        args.interpreter_pathname.clear();
        args.stdin_path.clear();
        args.pwd.clear();
        args.extra.clear();
    }
    e
}

/// The state behind stores the bench builds itself (per-event instances,
/// engine variants, prototypes): like `HostState`, an empty WASI context and a
/// `log` that drops messages.
struct BenchState {
    wasi: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
}

impl BenchState {
    fn new() -> Self {
        Self {
            wasi: wasmtime_wasi::WasiCtx::builder().build(),
            table: wasmtime::component::ResourceTable::new(),
        }
    }
}

impl wasmtime_wasi::WasiView for BenchState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl sigbox::engine::bindings::v1::sigbox::signature::host::Host for BenchState {
    fn log(&mut self, _level: sigbox::wit::LogLevel, _message: String) {}
}

impl sigbox::engine::bindings::v1::sigbox::signature::types::Host for BenchState {}

/// A linker for the signature world (or, with `signature_world` false, WASI only).
fn bench_linker(
    engine: &wasmtime::Engine,
    signature_world: bool,
) -> anyhow::Result<wasmtime::component::Linker<BenchState>> {
    let mut linker = wasmtime::component::Linker::<BenchState>::new(engine);
    if signature_world {
        Signature::add_to_linker::<BenchState, wasmtime::component::HasSelf<BenchState>>(
            &mut linker,
            |s| s,
        )?;
    }
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    Ok(linker)
}

/// Host side of the batched flat-buffer prototype (host/benches/proto).
mod proto {
    wasmtime::component::bindgen!({ path: "benches/proto/wit", world: "proto" });
}

/// Calls `f` with every string slot of `event`, in the prototype's order.
fn for_each_string<'a>(event: &'a Event, mut f: impl FnMut(Option<&'a str>)) {
    for s in [
        &event.name,
        &event.process_name,
        &event.executable_path,
        &event.host_name,
        &event.container_id,
    ] {
        f(Some(s));
    }
    let text = |v: &'a sigbox::wit::Value| match v {
        sigbox::wit::Value::Text(t) => Some(t.as_str()),
        _ => None,
    };
    match &event.payload {
        Payload::Exec(a) => {
            for s in [&a.pathname, &a.cmdpath, &a.interpreter_pathname] {
                f(Some(s));
            }
            f(a.prev_comm.as_deref());
            f(Some(&a.stdin_path));
            f(Some(&a.pwd));
            for s in &a.argv {
                f(Some(s));
            }
            for field in &a.extra {
                f(Some(&field.name));
                f(text(&field.value));
            }
        }
        Payload::Generic(fields) => {
            for field in fields {
                f(Some(&field.name));
                f(text(&field.value));
            }
        }
    }
}

/// Appends `event` to a prototype batch (layout: host/benches/proto/src/lib.rs).
fn encode(event: &Event, buf: &mut Vec<u8>) {
    const SCALARS: usize = 8 + 4 * 9 + 8 + 8;
    let start = buf.len();
    let mut count = 0usize;
    for_each_string(event, |_| count += 1);
    let table = 8 + 8 * count;
    buf.resize(start + table, 0);
    buf.extend_from_slice(&event.timestamp_ns.to_le_bytes());
    for v in [
        event.pid,
        event.tid,
        event.ppid,
        event.host_pid,
        event.host_tid,
        event.host_ppid,
        event.uid,
        event.mount_ns,
        event.pid_ns,
    ] {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    buf.extend_from_slice(&event.cgroup_id.to_le_bytes());
    buf.extend_from_slice(&event.return_value.to_le_bytes());
    debug_assert_eq!(buf.len(), start + table + SCALARS);
    let mut slot = start + 8;
    for_each_string(event, |s| {
        let (offset, len) = match s {
            Some(s) => {
                let offset = buf.len() - start;
                buf.extend_from_slice(s.as_bytes());
                (offset as u32, s.len() as u32)
            }
            None => (0, u32::MAX),
        };
        buf[slot..slot + 4].copy_from_slice(&offset.to_le_bytes());
        buf[slot + 4..slot + 8].copy_from_slice(&len.to_le_bytes());
        slot += 8;
    });
    let total = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&total.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&(count as u32).to_le_bytes());
}

/// A change to an engine configuration, for the engine-variant section.
type ConfigTweak = Box<dyn Fn(&mut wasmtime::Config)>;

/// A loaded prototype batch guest.
struct ProtoSignature {
    store: Store<BenchState>,
    instance: proto::Proto,
}

impl ProtoSignature {
    fn load(runtime: &Runtime, component: &Component) -> anyhow::Result<Self> {
        let linker = bench_linker(runtime.engine(), false)?;
        let mut store = Store::new(runtime.engine(), BenchState::new());
        store.set_epoch_deadline(runtime.limits().cpu_ticks());
        let instance = proto::Proto::instantiate(&mut store, component, &linker)?;
        Ok(Self { store, instance })
    }

    /// Evaluates one encoded batch; returns the number of findings.
    fn on_events(&mut self, batch: &[u8], ticks: u64) -> u64 {
        self.store.set_epoch_deadline(ticks);
        let results = self
            .instance
            .sigbox_proto_batch_detector()
            .call_on_events(&mut self.store, batch)
            .expect("on-events");
        results
            .iter()
            .map(|r| r.outcome.as_ref().map_or(0, |f| f.len() as u64))
            .sum()
    }
}

/// Runs `events` through `signatures` in batches of `batch` events: encode
/// once per batch, then one guest call per signature per batch.
fn run_batched<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    batch: usize,
    signatures: &mut [ProtoSignature],
    buf: &mut Vec<u8>,
    ticks: u64,
) -> u64 {
    let mut findings = 0;
    let mut flush = |buf: &mut Vec<u8>| {
        for s in signatures.iter_mut() {
            findings += s.on_events(buf, ticks);
        }
        buf.clear();
    };
    buf.clear();
    let mut in_batch = 0;
    for e in events {
        encode(e, buf);
        in_batch += 1;
        if in_batch == batch {
            flush(buf);
            in_batch = 0;
        }
    }
    if in_batch > 0 {
        flush(buf);
    }
    findings
}

fn proto_path() -> PathBuf {
    std::env::var_os("SIGBOX_BENCH_PROTO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-proto/proto-batch.wasm")
        })
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
            note: note.into(),
        }
    }
}

/// Warms each case up and sizes it to about `sample_ms`, then runs `reps`
/// interleaved rounds.
fn run_interleaved(cases: &mut [Case<'_>], reps: usize, sample_ms: f64) {
    for case in cases.iter_mut() {
        (case.run)();
        let start = Instant::now();
        (case.run)();
        let once = start.elapsed().as_secs_f64() * 1e3;
        case.loops = ((sample_ms / once.max(1e-6)).ceil() as u64).clamp(1, 100_000);
    }
    for _ in 0..reps {
        for case in cases.iter_mut() {
            let (wall, cpu) = (Instant::now(), thread_cpu_ns());
            for _ in 0..case.loops {
                (case.run)();
            }
            let items = case.items * case.loops;
            case.timing.push((thread_cpu_ns() - cpu) as f64, items);
            case.wall.push(wall.elapsed().as_nanos() as f64, items);
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

fn load_n(runtime: &Runtime, bytes: &[u8], n: usize) -> anyhow::Result<SignatureSet> {
    let mut set = SignatureSet::default();
    for i in 0..n {
        let path = PathBuf::from(format!("/bench/trc-1016-copy-{i:03}.wasm"));
        let signature = LoadedSignature::from_bytes(runtime, &path, bytes, &[])
            .map_err(|e| anyhow::anyhow!(sigbox::error_chain(&e)))?;
        set.apply(Change::Upsert(Box::new(signature)));
    }
    Ok(set)
}

fn module_path() -> PathBuf {
    if let Some(path) = std::env::var_os("SIGBOX_BENCH_MODULE") {
        return PathBuf::from(path);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/signatures/trc-1016.wasm")
}

fn main() -> anyhow::Result<()> {
    let reps = env_usize("SIGBOX_BENCH_REPS", 7).max(1);
    let sample_ms = env_usize("SIGBOX_BENCH_SAMPLE_MS", 40) as f64;
    let pin = pin_to_one_cpu();
    let module = module_path();
    let bytes = std::fs::read(&module).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (run `make` first to build the signatures)",
            module.display()
        )
    })?;
    let cache_dir = bench::TempDir::new("bench-cache")?;
    let runtime = Runtime::with_options(RuntimeOptions {
        cache_dir: Some(cache_dir.path().to_owned()),
        ..RuntimeOptions::default()
    })?;
    let uncached = Runtime::with_options(RuntimeOptions {
        compile_cache: false,
        ..RuntimeOptions::default()
    })?;
    let mut table = Table { rows: Vec::new() };
    let only = std::env::var("SIGBOX_BENCH_ONLY").ok();
    let want = |section: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|s| s == section))
    };

    let realistic = parse_lines(&exec_lines(20_000, ExecMix::Realistic, 42));
    let worst = parse_lines(&exec_lines(20_000, ExecMix::AllWebShells, 43));
    let realistic_slim: Vec<Event> = realistic.iter().map(slim).collect();
    let worst_slim: Vec<Event> = worst.iter().map(slim).collect();

    if let Ok(which) = std::env::var("SIGBOX_BENCH_PROFILE") {
        // For `perf record`: loop one workload for 10 s, print nothing else.
        if which == "parse" {
            let lines = exec_lines(20_000, ExecMix::Realistic, 44);
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed().as_secs() < 10 {
                for line in &lines {
                    std::hint::black_box(parse_event(line).expect("parses"));
                }
                n += lines.len() as u64;
            }
            println!(
                "{:.0} ns/line",
                start.elapsed().as_nanos() as f64 / n as f64
            );
            return Ok(());
        }
        let events = if which == "realistic" {
            &realistic
        } else {
            &worst
        };
        let mut set = load_n(&runtime, &bytes, 1)?;
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed().as_secs() < 10 {
            for e in events {
                set.dispatch(e, |_| {}, |_| {});
            }
            n += events.len() as u64;
        }
        println!(
            "{:.0} ns/event",
            start.elapsed().as_nanos() as f64 / n as f64
        );
        return Ok(());
    }

    // --- 1. One signature (TRC-1016): sandboxed vs native, and prototypes.
    if want("one") {
        let found = std::cell::Cell::new(0u64);
        let sink = std::cell::Cell::new(0u64);
        let count = || found.set(found.get() + 1);
        let mut native_r = NativeSet::new(1);
        let mut native_w = NativeSet::new(1);
        let mut set_r = load_n(&runtime, &bytes, 1)?;
        let mut set_w = load_n(&runtime, &bytes, 1)?;
        let mut set_fr = load_n(&runtime, &bytes, 1)?;
        let mut set_fw = load_n(&runtime, &bytes, 1)?;
        let mut set_sr = load_n(&runtime, &bytes, 1)?;
        let mut set_sw = load_n(&runtime, &bytes, 1)?;
        let mut floor =
            LoadedSignature::from_bytes(&runtime, Path::new("/bench/floor.wasm"), &bytes, &[])
                .map_err(|e| anyhow::anyhow!(sigbox::error_chain(&e)))?;
        let (r, w) = (&realistic, &worst);
        let (rs, ws) = (&realistic_slim, &worst_slim);
        let n = r.len();
        let mut cases = vec![
            Case::new("native TRC-1016, realistic mix", n, "ceiling", || {
                let mut f = 0;
                for e in r {
                    native_r.dispatch(e, &mut f);
                }
                sink.set(sink.get() + f);
            }),
            Case::new("native TRC-1016, worst case", n, "ceiling", || {
                let mut f = 0;
                for e in w {
                    native_w.dispatch(e, &mut f);
                }
                sink.set(sink.get() + f);
            }),
            Case::new(
                "sandboxed TRC-1016, realistic mix",
                n,
                "SignatureSet::dispatch",
                || {
                    for e in r {
                        set_r.dispatch(e, |_| count(), |_| {});
                    }
                },
            ),
            Case::new(
                "sandboxed TRC-1016, worst case",
                n,
                "every event enters the guest, finds",
                || {
                    for e in w {
                        set_w.dispatch(e, |_| count(), |_| {});
                    }
                },
            ),
            Case::new(
                "  + host-side filter (proto), realistic",
                n,
                "1% reach the guest",
                || {
                    for e in r {
                        if host_filter_trc1016(e) {
                            set_fr.dispatch(e, |_| count(), |_| {});
                        }
                    }
                },
            ),
            Case::new(
                "  + host-side filter (proto), worst case",
                n,
                "all pass the filter",
                || {
                    for e in w {
                        if host_filter_trc1016(e) {
                            set_fw.dispatch(e, |_| count(), |_| {});
                        }
                    }
                },
            ),
            Case::new(
                "  slim event (proto), realistic",
                n,
                "unread fields not copied",
                || {
                    for e in rs {
                        set_sr.dispatch(e, |_| count(), |_| {});
                    }
                },
            ),
            Case::new(
                "  slim event (proto), worst case",
                n,
                "unread fields not copied",
                || {
                    for e in ws {
                        set_sw.dispatch(e, |_| count(), |_| {});
                    }
                },
            ),
            Case::new(
                "  call floor: on-signal (no payload)",
                1000,
                "fixed cost of one guest call",
                || {
                    for _ in 0..1000 {
                        floor.on_signal(Signal::SourceComplete).expect("on-signal");
                    }
                },
            ),
        ];
        run_interleaved(&mut cases, reps, sample_ms);
        finish(&mut table, "one signature", cases);
        std::hint::black_box((found.get(), sink.get()));
    }

    // --- 1b. Prototype: batched flat-buffer transport (needs the proto guest).
    let proto_bytes = std::fs::read(proto_path()).ok();
    if want("proto") {
        if let Some(proto_bytes) = &proto_bytes {
            let component = Component::from_binary(runtime.engine(), proto_bytes)?;
            let ticks = runtime.limits().cpu_ticks();
            let mut buf = Vec::new();
            let buf = std::cell::RefCell::new(&mut buf);
            let buf = &buf;
            let mut cases: Vec<Case<'_>> = Vec::new();
            let n = worst.len();
            let mut set_w = load_n(&runtime, &bytes, 1)?;
            let (worst, realistic) = (&worst, &realistic);
            cases.push(Case::new(
                "typed on-event (today), worst case",
                n,
                "SignatureSet::dispatch",
                move || {
                    for e in worst {
                        set_w.dispatch(e, |_| {}, |_| {});
                    }
                },
            ));
            cases.push(Case::new(
                "encode only (batch buffer)",
                n,
                "host cost, once per event",
                move || {
                    let mut b = buf.borrow_mut();
                    b.clear();
                    for e in worst {
                        encode(e, &mut b);
                    }
                    std::hint::black_box(b.len());
                },
            ));
            for (label, events, batch) in [
                ("worst case", worst, 1usize),
                ("worst case", worst, 16),
                ("worst case", worst, 64),
                ("realistic mix", realistic, 64),
            ] {
                let mut sig = vec![ProtoSignature::load(&runtime, &component)?];
                cases.push(Case::new(
                    format!("flat buffer, batch {batch}, {label}"),
                    n,
                    "encode + on-events",
                    move || {
                        let found =
                            run_batched(events, batch, &mut sig, &mut buf.borrow_mut(), ticks);
                        std::hint::black_box(found);
                    },
                ));
            }
            run_interleaved(&mut cases, reps, sample_ms);
            finish(&mut table, "prototype: batched flat buffer", cases);
        } else {
            eprintln!(
                "note: {} not built; skipping the batch prototype (host/benches/proto/build.sh builds it)",
                proto_path().display()
            );
        }
    }

    // --- 2. Per-event instance (what InstancePre + a reused instance avoid).
    if want("instances") {
        let component = Component::from_binary(runtime.engine(), &bytes)?;
        let linker = bench_linker(runtime.engine(), true)?;
        let pre = SignaturePre::new(linker.instantiate_pre(&component)?)?;
        let ticks = runtime.limits().cpu_ticks();
        let mut reused = load_n(&runtime, &bytes, 1)?;
        let few = &realistic[..200];
        let fresh_instance = |event: &Event, use_pre: bool| {
            let mut store = Store::new(runtime.engine(), BenchState::new());
            store.set_epoch_deadline(ticks);
            let instance = if use_pre {
                pre.instantiate(&mut store).expect("instantiate")
            } else {
                Signature::instantiate(&mut store, &component, &linker).expect("instantiate")
            };
            let detector = instance.sigbox_signature_detector();
            detector
                .call_init(&mut store, &[])
                .expect("init")
                .expect("init ok");
            detector
                .call_on_event(&mut store, event)
                .expect("on-event")
                .ok();
        };
        let mut cases = vec![
            Case::new(
                "new instance per event (Linker::instantiate)",
                few.len(),
                "before InstancePre",
                || {
                    for e in few {
                        fresh_instance(e, false);
                    }
                },
            ),
            Case::new(
                "new instance per event (InstancePre)",
                few.len(),
                "before instance reuse",
                || {
                    for e in few {
                        fresh_instance(e, true);
                    }
                },
            ),
            Case::new(
                "one reused instance (as dispatched)",
                few.len(),
                "what sigbox does",
                || {
                    for e in few {
                        reused.dispatch(e, |_| {}, |_| {});
                    }
                },
            ),
        ];
        run_interleaved(&mut cases, reps, sample_ms);
        finish(&mut table, "instances", cases);
    }

    // --- 2b. Engine configuration (each a separate engine, same module).
    if want("engine") {
        let variants: Vec<(&str, ConfigTweak)> = vec![
            ("engine: sigbox default", Box::new(|_| {})),
            (
                "engine: pooling allocator",
                Box::new(|c: &mut wasmtime::Config| {
                    let mut pool = wasmtime::PoolingAllocationConfig::new();
                    pool.total_component_instances(200)
                        .total_core_instances(2000)
                        .total_memories(800)
                        .total_tables(1600)
                        .max_memory_size(64 << 20)
                        .max_core_instances_per_component(16)
                        .max_memories_per_component(4)
                        .max_tables_per_component(8);
                    c.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
                }),
            ),
            (
                "engine: opt-level none",
                Box::new(|c: &mut wasmtime::Config| {
                    c.cranelift_opt_level(wasmtime::OptLevel::None);
                }),
            ),
            (
                "engine: opt-level speed_and_size",
                Box::new(|c: &mut wasmtime::Config| {
                    c.cranelift_opt_level(wasmtime::OptLevel::SpeedAndSize);
                }),
            ),
            (
                "engine: no epoch interruption",
                Box::new(|c: &mut wasmtime::Config| {
                    c.epoch_interruption(false);
                }),
            ),
        ];
        let few = &worst[..2000];
        let mut engines = Vec::new();
        for (name, tweak) in &variants {
            let mut config = wasmtime::Config::new();
            config.wasm_component_model(true);
            config.epoch_interruption(true);
            config.max_wasm_stack(runtime.limits().wasm_stack_bytes);
            tweak(&mut config);
            let engine = wasmtime::Engine::new(&config)?;
            let linker = bench_linker(&engine, true)?;
            let component = Component::from_binary(&engine, &bytes)?;
            let pre = SignaturePre::new(linker.instantiate_pre(&component)?)?;
            engines.push((*name, engine, pre));
        }
        let mut cases: Vec<Case<'_>> = Vec::new();
        for (name, engine, pre) in &engines {
            let new_store = move || {
                let mut store = Store::new(engine, BenchState::new());
                store.set_epoch_deadline(u64::MAX / 2);
                let instance = pre.instantiate(&mut store).expect("instantiate");
                let detector = instance.sigbox_signature_detector();
                detector
                    .call_init(&mut store, &[])
                    .expect("init")
                    .expect("init ok");
                (store, instance)
            };
            cases.push(Case::new(
                format!("{name}: instantiate+init"),
                10,
                "",
                move || {
                    for _ in 0..10 {
                        drop(new_store());
                    }
                },
            ));
            let (mut store, instance) = new_store();
            cases.push(Case::new(
                format!("{name}: worst-case event"),
                few.len(),
                "",
                move || {
                    for e in few {
                        store.set_epoch_deadline(1000);
                        instance
                            .sigbox_signature_detector()
                            .call_on_event(&mut store, e)
                            .expect("on-event")
                            .ok();
                    }
                },
            ));
        }
        run_interleaved(&mut cases, reps, sample_ms);
        finish(&mut table, "engine configuration", cases);
    }

    // --- 3. N signatures, all selecting sched_process_exec.
    let mut memory_per_signature = None;
    if want("many") {
        let rss0 = rss_bytes();
        let mut sets: Vec<(usize, SignatureSet)> = Vec::new();
        for n in [1, 10, 100] {
            sets.push((n, load_n(&runtime, &bytes, n)?));
        }
        let rss1 = rss_bytes();
        if let (Some(a), Some(b)) = (rss0, rss1) {
            memory_per_signature = Some(b.saturating_sub(a) as f64 / 111.0);
        }
        let mut native100 = NativeSet::new(100);
        let mut filtered100 = load_n(&runtime, &bytes, 100)?;
        let r = &realistic[..2000];
        // Diagnostic: 100 instances sharing one compiled component (one copy
        // of the machine code) against 100 loads (100 copies, as distinct
        // signatures have): how much of the 100-signature cost is cache misses.
        let shared_component = Component::from_binary(runtime.engine(), &bytes)?;
        let shared_linker = bench_linker(runtime.engine(), true)?;
        let shared_pre = SignaturePre::new(shared_linker.instantiate_pre(&shared_component)?)?;
        let mut shared100 = Vec::new();
        for _ in 0..100 {
            let mut store = Store::new(runtime.engine(), BenchState::new());
            store.set_epoch_deadline(runtime.limits().cpu_ticks());
            let instance = shared_pre.instantiate(&mut store)?;
            instance
                .sigbox_signature_detector()
                .call_init(&mut store, &[])?
                .map_err(anyhow::Error::msg)?;
            shared100.push((store, instance));
        }
        let shared_ticks = runtime.limits().cpu_ticks();
        let proto_component = match &proto_bytes {
            Some(b) => Some(Component::from_binary(runtime.engine(), b)?),
            None => None,
        };
        let (mut proto100, mut proto100f) = (Vec::new(), Vec::new());
        if let Some(component) = &proto_component {
            for _ in 0..100 {
                proto100.push(ProtoSignature::load(&runtime, component)?);
                proto100f.push(ProtoSignature::load(&runtime, component)?);
            }
        }
        let mut proto_buf_f = Vec::new();
        let ticks = runtime.limits().cpu_ticks();
        let mut proto_buf = Vec::new();
        let mut cases: Vec<Case<'_>> = Vec::new();
        cases.push(Case::new(
            "100 instances sharing one compiled copy",
            r.len(),
            "diagnostic: code cache misses",
            || {
                for e in r {
                    for (store, instance) in shared100.iter_mut() {
                        store.set_epoch_deadline(shared_ticks);
                        let _ = instance
                            .sigbox_signature_detector()
                            .call_on_event(&mut *store, e);
                    }
                }
            },
        ));
        for (n, set) in &mut sets {
            cases.push(Case::new(
                format!("{n} signature(s), realistic mix"),
                r.len(),
                "SignatureSet::dispatch",
                move || {
                    for e in r {
                        set.dispatch(e, |_| {}, |_| {});
                    }
                },
            ));
        }
        cases.push(Case::new(
            "100 signatures + host filter (proto)",
            r.len(),
            "1% reach the guests",
            || {
                for e in r {
                    if host_filter_trc1016(e) {
                        filtered100.dispatch(e, |_| {}, |_| {});
                    }
                }
            },
        ));
        if !proto100.is_empty() {
            cases.push(Case::new(
                "100 signatures, flat buffer batch 64 (proto)",
                r.len(),
                "encode once, 100 calls per batch",
                || {
                    std::hint::black_box(run_batched(r, 64, &mut proto100, &mut proto_buf, ticks));
                },
            ));
            cases.push(Case::new(
                "100 signatures, host filter + flat batch (proto)",
                r.len(),
                "both proposals",
                || {
                    let passing = r.iter().filter(|e| host_filter_trc1016(e));
                    std::hint::black_box(run_batched(
                        passing,
                        64,
                        &mut proto100f,
                        &mut proto_buf_f,
                        ticks,
                    ));
                },
            ));
        }
        cases.push(Case::new(
            "100 native signatures",
            r.len(),
            "ceiling",
            || {
                let mut f = 0;
                for e in r {
                    native100.dispatch(e, &mut f);
                }
                std::hint::black_box(f);
            },
        ));
        run_interleaved(&mut cases, reps, sample_ms);
        finish(&mut table, "N signatures", cases);
    }

    // --- 4. Loading.
    if want("load") {
        let path = Path::new("/bench/trc-1016.wasm");
        let load = |rt: &Runtime| {
            LoadedSignature::from_bytes(rt, path, &bytes, &[]).expect("loads");
        };
        load(&runtime); // fills the cache
        let sha = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&bytes))
        };
        let mut cases = vec![
            Case::new(
                "compile (Cranelift, no cache)",
                1,
                "Component::from_binary",
                || {
                    Component::from_binary(uncached.engine(), &bytes).expect("compiles");
                },
            ),
            Case::new(
                "load, no cache",
                1,
                "compile+instantiate+metadata+init",
                || load(&uncached),
            ),
            Case::new(
                "deserialize from compile cache",
                1,
                "Runtime::compile, warm",
                || {
                    runtime.compile(&bytes, &sha).expect("cached");
                },
            ),
            Case::new(
                "load, from compile cache",
                1,
                "LoadedSignature::from_bytes",
                || load(&runtime),
            ),
        ];
        run_interleaved(&mut cases, reps.min(5), sample_ms);
        finish_wall(&mut table, "loading", cases);
    }

    // --- 5. Replay end to end: Tracee JSON lines → parse → dispatch → sink.
    if want("replay") {
        let lines = exec_lines(50_000, ExecMix::Realistic, 44);
        let mut input = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in &lines {
            input.extend_from_slice(line.as_bytes());
            input.push(b'\n');
        }
        let n = lines.len();
        let mb = input.len() as f64 / 1e6;
        let signature = |rt: &Runtime| {
            LoadedSignature::from_bytes(rt, Path::new("/bench/trc-1016.wasm"), &bytes, &[])
                .expect("loads")
        };
        let mut with_sig = Pipeline::new(FindingWriter::new(io::sink(), OutputFormat::Json, false));
        with_sig.apply(Change::Upsert(Box::new(signature(&runtime))));
        let mut without = Pipeline::new(FindingWriter::new(io::sink(), OutputFormat::Json, false));
        let input = &input;
        let lines = &lines;
        let mut cases = vec![
            Case::new(
                "JSON scan only (serde IgnoredAny)",
                n,
                "floor of any serde_json parser",
                || {
                    for line in lines {
                        let any: serde::de::IgnoredAny =
                            serde_json::from_str(line).expect("valid JSON");
                        std::hint::black_box(any);
                    }
                },
            ),
            Case::new(
                "parse Tracee JSON only",
                n,
                format!("{mb:.0} MB of JSON"),
                || {
                    for line in lines {
                        std::hint::black_box(parse_event(line).expect("parses"));
                    }
                },
            ),
            Case::new("replay, no signatures", n, "read+parse+pipeline", || {
                replay(&input[..], &mut without).expect("replays");
            }),
            Case::new(
                "replay, TRC-1016",
                n,
                "read+parse+dispatch+findings",
                || {
                    replay(&input[..], &mut with_sig).expect("replays");
                },
            ),
        ];
        run_interleaved(&mut cases, reps, sample_ms);
        finish(&mut table, "replay", cases);
    }

    // What `sigbox bench FILE.wasm` prints for the same module.
    let author = if want("author") {
        Some(bench::bench_module(&module, 20_000)?)
    } else {
        None
    };
    print_table(
        &table,
        &module,
        pin.as_ref().map(|p| p.cpu),
        reps,
        memory_per_signature,
    );
    if let Some(report) = author {
        println!("-- sigbox::bench::bench_module (what `sigbox bench FILE.wasm 20000` prints)");
        println!("{report}");
    }
    Ok(())
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

fn print_table(table: &Table, module: &Path, cpu: Option<usize>, reps: usize, memory: Option<f64>) {
    println!();
    println!(
        "sigbox bench: {} ({}, thread CPU time; medians of {reps} interleaved runs)",
        module.display(),
        cpu.map_or("not pinned".to_owned(), |c| format!("pinned to CPU {c}"))
    );
    println!(
        "{:<48} {:>10} {:>10} {:>10} {:>19}  note",
        "case", "per item", "rate", "wall", "cpu min..max"
    );
    let mut section = "";
    for row in &table.rows {
        if row.section != section {
            section = row.section;
            println!("-- {section}");
        }
        println!(
            "{:<48} {:>10} {:>10} {:>10} {:>19}  {}",
            row.name,
            fmt_ns(row.timing.median()),
            fmt_rate(row.timing.per_second()),
            fmt_ns(row.wall.median()),
            format!("{}..{}", fmt_ns(row.timing.min()), fmt_ns(row.timing.max())),
            row.note,
        );
    }
    if let Some(bytes) = memory {
        println!(
            "memory per loaded signature (RSS delta over 111 loads): {:.0} KiB",
            bytes / 1024.0
        );
    }
    let m = |n: &str| table.median(n);
    let ratios = [
        (
            "sandboxed / native, realistic mix",
            "sandboxed TRC-1016, realistic mix",
            "native TRC-1016, realistic mix",
        ),
        (
            "sandboxed / native, worst case",
            "sandboxed TRC-1016, worst case",
            "native TRC-1016, worst case",
        ),
        (
            "sandboxed + host filter / native, realistic",
            "  + host-side filter (proto), realistic",
            "native TRC-1016, realistic mix",
        ),
        (
            "full event / slim event, worst case",
            "sandboxed TRC-1016, worst case",
            "  slim event (proto), worst case",
        ),
        (
            "worst case / call floor (on-signal)",
            "sandboxed TRC-1016, worst case",
            "  call floor: on-signal (no payload)",
        ),
        (
            "typed / flat buffer batch 64, worst case",
            "typed on-event (today), worst case",
            "flat buffer, batch 64, worst case",
        ),
        (
            "new instance (InstancePre) / reused",
            "new instance per event (InstancePre)",
            "one reused instance (as dispatched)",
        ),
        (
            "100 / 1 signatures",
            "100 signature(s), realistic mix",
            "1 signature(s), realistic mix",
        ),
        (
            "100 sandboxed / 100 native",
            "100 signature(s), realistic mix",
            "100 native signatures",
        ),
        (
            "100 loads / 100 instances of one compiled copy",
            "100 signature(s), realistic mix",
            "100 instances sharing one compiled copy",
        ),
        (
            "100 typed / 100 flat buffer batch 64",
            "100 signature(s), realistic mix",
            "100 signatures, flat buffer batch 64 (proto)",
        ),
        (
            "pooling / on-demand: instantiate+init",
            "engine: pooling allocator: instantiate+init",
            "engine: sigbox default: instantiate+init",
        ),
        (
            "pooling / on-demand: worst-case event",
            "engine: pooling allocator: worst-case event",
            "engine: sigbox default: worst-case event",
        ),
        (
            "no epochs / epochs: worst-case event",
            "engine: no epoch interruption: worst-case event",
            "engine: sigbox default: worst-case event",
        ),
        (
            "load: no cache / from cache",
            "load, no cache",
            "load, from compile cache",
        ),
        (
            "replay TRC-1016 / parse only",
            "replay, TRC-1016",
            "parse Tracee JSON only",
        ),
        (
            "parse into Event / JSON scan floor",
            "parse Tracee JSON only",
            "JSON scan only (serde IgnoredAny)",
        ),
    ];
    println!("-- ratios (same run, CPU time)");
    for (label, a, b) in ratios {
        let r = m(a) / m(b);
        if r.is_finite() {
            println!("{label:<48} {r:>9.2}×");
        }
    }
    println!("-- targets (issue 6)");
    let rate = |n: &str| 1e9 / m(n);
    let memory_kib = memory.map_or(f64::NAN, |b| b / 1024.0);
    let targets: [(&str, f64, bool, String); 8] = [
        (
            "TRC-1016 realistic mix >= 5M events/s",
            rate("sandboxed TRC-1016, realistic mix"),
            true,
            fmt_rate(rate("sandboxed TRC-1016, realistic mix")),
        ),
        (
            "TRC-1016 worst case >= 2M events/s",
            rate("sandboxed TRC-1016, worst case"),
            true,
            fmt_rate(rate("sandboxed TRC-1016, worst case")),
        ),
        (
            "sandboxed within 10x native (realistic)",
            m("sandboxed TRC-1016, realistic mix") / m("native TRC-1016, realistic mix"),
            false,
            format!(
                "{:.1}x",
                m("sandboxed TRC-1016, realistic mix") / m("native TRC-1016, realistic mix")
            ),
        ),
        (
            "sandboxed within 10x native (worst case)",
            m("sandboxed TRC-1016, worst case") / m("native TRC-1016, worst case"),
            false,
            format!(
                "{:.1}x",
                m("sandboxed TRC-1016, worst case") / m("native TRC-1016, worst case")
            ),
        ),
        (
            "100 signatures >= 100k events/s",
            rate("100 signature(s), realistic mix"),
            true,
            fmt_rate(rate("100 signature(s), realistic mix")),
        ),
        (
            "load from compile cache <= 5 ms",
            m("load, from compile cache") / 1e6,
            false,
            fmt_ns(m("load, from compile cache")),
        ),
        (
            "memory per signature <= 2 MiB",
            memory_kib,
            false,
            format!("{memory_kib:.0} KiB"),
        ),
        (
            "replay with JSON >= 500k events/s",
            rate("replay, TRC-1016"),
            true,
            fmt_rate(rate("replay, TRC-1016")),
        ),
    ];
    let thresholds = [5e6, 2e6, 10.0, 10.0, 1e5, 5.0, 2048.0, 5e5];
    for ((label, value, higher_is_better, shown), threshold) in targets.into_iter().zip(thresholds)
    {
        let verdict = if !value.is_finite() {
            "not measured"
        } else if (higher_is_better && value >= threshold)
            || (!higher_is_better && value <= threshold)
        {
            "met"
        } else {
            "MISSED"
        };
        println!("{label:<48} {shown:>10}  {verdict}");
    }
}
