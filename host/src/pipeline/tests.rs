//! The collector and the workers with real guests (built by `make all`):
//! a worker held mid-batch by its output, and what the collector does
//! meanwhile.

use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::engine::{LoadedSignature, Runtime, RuntimeOptions};
use crate::sink::OutputFormat;
use crate::source::tracee_json::parse_event;
use crate::telemetry::metrics::Metrics;

/// A writer whose first write waits until the test opens the gate: the
/// worker writing it is held mid-batch (in its set's dispatch), as by a
/// long guest call, and the test knows when it is.
struct GatedWriter {
    written: Arc<Mutex<Vec<u8>>>,
    gate: Option<(Sender<()>, Receiver<()>)>,
}

/// The test's side of a [`GatedWriter`].
struct Gate {
    /// Receives once a worker is held in the first write.
    held: Receiver<()>,
    open: Sender<()>,
    written: Arc<Mutex<Vec<u8>>>,
}

impl Gate {
    /// The lines written so far.
    fn lines(&self) -> Vec<String> {
        let written = self.written.lock().unwrap();
        String::from_utf8_lossy(&written)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn gated_writer() -> (GatedWriter, Gate) {
    let (held_tx, held) = channel();
    let (open, open_rx) = channel();
    let written = Arc::new(Mutex::new(Vec::new()));
    let writer = GatedWriter {
        written: written.clone(),
        gate: Some((held_tx, open_rx)),
    };
    (
        writer,
        Gate {
            held,
            open,
            written,
        },
    )
}

impl Write for GatedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some((held, open)) = self.gate.take() {
            held.send(()).unwrap();
            open.recv().unwrap();
        }
        self.written.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One worker writing text findings to `writer`.
fn one_worker(
    writer: GatedWriter,
    queue_events: usize,
    backpressure: Backpressure,
) -> Pipeline<GatedWriter> {
    Pipeline::with_options(
        FindingWriter::new(writer, OutputFormat::Text, true),
        PipelineOptions {
            workers: 1,
            queue_events,
            backpressure,
        },
    )
}

/// The test guest `name` (built by `make all`) as if loaded from the file
/// `as_file`.wasm, so two builds can be versions of one file.
fn guest(name: &str, as_file: &str) -> Change {
    let built = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/signatures-test")
        .join(format!("{name}.wasm"));
    let bytes = std::fs::read(&built).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; build the test guests first (make all)",
            built.display()
        )
    });
    let runtime = Runtime::with_options(RuntimeOptions {
        compile_cache: false,
        ..RuntimeOptions::default()
    })
    .unwrap();
    let path = Path::new("/signatures").join(format!("{as_file}.wasm"));
    let signature = LoadedSignature::from_bytes(&runtime, &path, &bytes, &[]).unwrap();
    Change::Upsert(Box::new(signature))
}

/// Hands the collector an event named `name` from process `pid` (the
/// versioned guest's findings carry it as `seq`).
fn process<W: Write + Send + 'static>(pipeline: &mut Pipeline<W>, name: &str, pid: u32) {
    let line = format!(
        r#"{{"timestamp":{pid},"processId":{pid},"hostProcessId":{pid},"eventName":"{name}","processName":"ls","args":[]}}"#
    );
    let event = parse_event(&line).unwrap();
    pipeline
        .process(event, None, Place::Line(u64::from(pid)))
        .unwrap();
}

/// The `(seq, version)` of each TEST-VERSIONED finding, in written order.
fn versioned_findings(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|line| line.contains("TEST-VERSIONED"))
        .map(|line| {
            let value = |key: &str| {
                line.split(' ')
                    .find_map(|word| word.strip_prefix(key))
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_owned()
            };
            (value("seq="), value("version="))
        })
        .collect()
}

fn stats_of(signatures: &[SignatureStatus], id: &str) -> crate::engine::SignatureStats {
    signatures
        .iter()
        .find(|s| s.info.metadata.id == id)
        .unwrap_or_else(|| panic!("{id} is not listed"))
        .counters
        .snapshot()
}

/// Runs `collect` on another thread and returns what it returns. It must
/// not wait for the held worker: if it does, the test fails (after a
/// minute, rather than hanging) instead of passing.
fn on_collector_thread<T: Send + 'static>(collect: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = channel();
    std::thread::spawn(move || done.send(collect()).unwrap());
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the collector waited for a worker held mid-batch")
}

#[test]
fn a_swap_queued_behind_a_busy_worker_never_holds_the_collector_and_applies_at_its_next_batch() {
    let (writer, gate) = gated_writer();
    let mut pipeline = one_worker(writer, 16, Backpressure::Wait);
    let v2 = guest("versioned-v2", "versioned");
    pipeline.apply(guest("versioned-v1", "versioned"));
    process(&mut pipeline, "sched_process_exec", 1);
    // The worker is held writing event 1's finding, inside its batch.
    gate.held.recv().unwrap();

    // Meanwhile the collector swaps in v2 and hands out three more events.
    let pipeline = on_collector_thread(move || {
        pipeline.apply(v2);
        for pid in 2..=4 {
            process(&mut pipeline, "sched_process_exec", pid);
        }
        pipeline.tick();
        pipeline
    });
    // The swap is queued, not applied: the collector routes for v2, the
    // worker still runs v1 (the board lists what workers run).
    let version = |list: Vec<SignatureStatus>| list[0].info.metadata.version.clone();
    assert_eq!(version(pipeline.status()), "2");
    assert_eq!(version(pipeline.board().active()), "1");

    gate.open.send(()).unwrap();
    let summary = pipeline.finish(0).unwrap();
    // v1 evaluated the event queued before the swap, v2 those after it.
    let found = versioned_findings(&gate.lines());
    let expected: Vec<(String, String)> = [(1, 1), (2, 2), (3, 2), (4, 2)]
        .iter()
        .map(|(seq, version)| (format!("{seq}"), format!("{version}")))
        .collect();
    assert_eq!(found, expected);
    assert_eq!(summary.signatures.len(), 1);
    assert_eq!(summary.signatures[0].info.metadata.version, "2");
    assert_eq!(stats_of(&summary.signatures, "TEST-VERSIONED").events, 3);
}

/// `dropped=N droppedSinceStart=M` of each `sigbox_events_dropped` record.
fn drop_records(lines: &[String]) -> Vec<(u64, u64)> {
    lines
        .iter()
        .filter(|line| line.contains("sigbox_events_dropped"))
        .map(|line| {
            let value = |key: &str| -> u64 {
                line.split(' ')
                    .find_map(|word| word.strip_prefix(key))
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            (value("dropped="), value("droppedSinceStart="))
        })
        .collect()
}

#[test]
fn events_dropped_by_a_full_queue_unselected_or_left_at_stop_are_counted_exactly() {
    let (writer, gate) = gated_writer();
    // Room for two events; the live collector drops what does not fit.
    let mut pipeline = one_worker(writer, 2, Backpressure::Drop);
    // TEST-VERSIONED selects execs; TEST-SELECTS-CONNECT execs and socket connects.
    pipeline.apply(guest("versioned-v1", "versioned"));
    pipeline.apply(guest("selects-connect", "selects-connect"));
    let versioned = pipeline.status()[0].counters.clone();
    let selects_connect = pipeline.status()[1].counters.clone();
    process(&mut pipeline, "sched_process_exec", 1);
    // The worker took event 1 and is held writing its finding: its queue
    // is empty.
    gate.held.recv().unwrap();

    let mut pipeline = on_collector_thread(move || {
        // Two execs fill the queue; three more and a socket connect are dropped.
        for pid in 2..=6 {
            process(&mut pipeline, "sched_process_exec", pid);
        }
        process(&mut pipeline, "security_socket_connect", 7);
        // No signature selects an exit: it is counted as read and as
        // dropped by the host's filters, never queued.
        process(&mut pipeline, "sched_process_exit", 8);
        pipeline
    });
    let counts = pipeline.counts_mut().clone();
    assert_eq!((counts.events, counts.queue_drops), (8, 4));
    assert_eq!(counts.host_filtered.total(), 1);
    let dropped = |counters: &Counters| counters.snapshot().dropped_events;
    assert_eq!((dropped(&versioned), dropped(&selects_connect)), (3, 4));

    // A stop due now: the two queued execs reach no signature, and each
    // is counted per signature that selected it (TEST-SELECTS-CONNECT also
    // event 1, which it had not been handed when the stop came).
    pipeline.stop_signal().request(Duration::ZERO);
    pipeline.publish_counts();
    let board = pipeline.board().clone();
    let metrics = Metrics::new(pipeline.telemetry().clone(), board.clone());
    gate.open.send(()).unwrap();
    let summary = pipeline.finish(0).unwrap();
    let versioned = stats_of(&summary.signatures, "TEST-VERSIONED");
    assert_eq!(
        (
            versioned.events,
            versioned.unevaluated,
            versioned.dropped_events
        ),
        (1, 2, 3)
    );
    let selects_connect = stats_of(&summary.signatures, "TEST-SELECTS-CONNECT");
    assert_eq!(
        (
            selects_connect.events,
            selects_connect.unevaluated,
            selects_connect.dropped_events
        ),
        (0, 3, 4)
    );
    assert_eq!((summary.counts.events, summary.counts.queue_drops), (8, 4));
    // What `sigbox status` and the metrics read says the same.
    let status = board.to_json();
    let listed = |id: &str, key: &str| {
        status["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s[key].clone())
    };
    assert_eq!(listed("TEST-VERSIONED", "droppedEvents"), Some(3.into()));
    assert_eq!(
        listed("TEST-SELECTS-CONNECT", "droppedEvents"),
        Some(4.into())
    );
    let metrics = metrics.encode().unwrap();
    for line in [
        "sigbox_queue_drops_total 4",
        r#"sigbox_signature_dropped_events_total{id="TEST-VERSIONED"} 3"#,
        r#"sigbox_signature_dropped_events_total{id="TEST-SELECTS-CONNECT"} 4"#,
        r#"sigbox_signature_unevaluated_events_total{id="TEST-VERSIONED"} 2"#,
        r#"sigbox_signature_unevaluated_events_total{id="TEST-SELECTS-CONNECT"} 3"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
    // Where findings go: the first drop at once, the rest by the end; in
    // all, the four (more records only if a second passed between drops).
    let records = drop_records(&gate.lines());
    assert!(!records.is_empty());
    assert_eq!(records.iter().map(|(n, _)| n).sum::<u64>(), 4);
    assert_eq!(records.last().unwrap().1, 4);
    assert!(
        summary
            .to_string()
            .contains("4 events dropped by full worker queues"),
        "{summary}"
    );
}

/// Hands the collector a `security_file_open` of `path` by process `comm`.
fn open_by<W: Write + Send + 'static>(
    pipeline: &mut Pipeline<W>,
    comm: &str,
    path: &str,
    pid: u32,
) {
    let line = format!(
        r#"{{"timestamp":{pid},"processId":{pid},"eventName":"security_file_open","processName":"{comm}","args":[{{"name":"pathname","type":"const char*","value":"{path}"}},{{"name":"flags","type":"int","value":0}}]}}"#
    );
    let event = parse_event(&line).unwrap();
    pipeline
        .process(event, None, Place::Line(u64::from(pid)))
        .unwrap();
}

/// TEST-OPENS-BY-NAME's file and process name
/// (`guest-signatures/test-signatures/opens-by-name`).
const WATCHED: &str = "/tmp/sigbox-e2e-opens-by-name/watched";
const OPENER: &str = "sigbox-opener";

#[test]
fn events_no_selector_accepts_are_dropped_before_the_queues_and_counted() {
    let (writer, gate) = gated_writer();
    // Room for one event; the live collector drops what does not fit.
    let mut pipeline = one_worker(writer, 1, Backpressure::Drop);
    pipeline.apply(guest("opens-by-name", "opens-by-name"));
    open_by(&mut pipeline, OPENER, WATCHED, 1);
    // The worker took open 1 and is held writing its finding: its queue
    // (one slot) is empty.
    gate.held.recv().unwrap();

    let mut pipeline = on_collector_thread(move || {
        // Opens of the same name its selector rejects (another process,
        // another file) and an exec it does not select: none takes the
        // slot, so none pushes out the open that matters after them.
        for pid in 2..=101 {
            open_by(&mut pipeline, "cat", WATCHED, pid);
        }
        open_by(&mut pipeline, OPENER, "/etc/hostname", 102);
        process(&mut pipeline, "sched_process_exec", 103);
        process(&mut pipeline, "sched_process_exit", 104);
        open_by(&mut pipeline, OPENER, WATCHED, 105);
        pipeline
    });
    let counts = pipeline.counts_mut().clone();
    assert_eq!(counts.events, 105, "every event read is counted as read");
    assert_eq!(
        counts.queue_drops, 0,
        "no event was dropped by a full queue"
    );
    let filtered = &counts.host_filtered;
    let counted: Vec<(&str, u64)> = HostFiltered::labels()
        .zip(filtered.counts())
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        counted,
        [
            ("sched_process_exec", 1),
            ("security_file_open", 101),
            ("other", 1)
        ]
    );
    pipeline.publish_counts();
    let metrics = Metrics::new(pipeline.telemetry().clone(), pipeline.board().clone());

    gate.open.send(()).unwrap();
    let summary = pipeline.finish(0).unwrap();
    // The signature evaluated the two opens its selector accepts, and only those.
    let stats = stats_of(&summary.signatures, "TEST-OPENS-BY-NAME");
    assert_eq!(
        (stats.events, stats.findings, stats.dropped_events),
        (2, 2, 0)
    );
    assert_eq!(
        gate.lines()
            .iter()
            .filter(|l| l.contains("TEST-OPENS-BY-NAME"))
            .count(),
        2
    );
    let metrics = metrics.encode().unwrap();
    for line in [
        r#"sigbox_host_filtered_total{event="security_file_open"} 101"#,
        r#"sigbox_host_filtered_total{event="sched_process_exec"} 1"#,
        r#"sigbox_host_filtered_total{event="other"} 1"#,
        "sigbox_events_total 105",
        "sigbox_queue_drops_total 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
    assert!(
        summary
            .to_string()
            .contains("105 events, 0 bad records, 2 findings, 0 signature errors, 103 events dropped by host filters"),
        "{summary}"
    );
}

#[test]
fn a_hot_swap_that_adds_a_signature_lets_its_events_through_the_host_filter() {
    let (writer, gate) = gated_writer();
    let mut pipeline = one_worker(writer, 16, Backpressure::Wait);
    gate.open.send(()).unwrap();
    pipeline.apply(guest("opens-by-name", "opens-by-name"));
    // No running signature selects execs yet.
    process(&mut pipeline, "sched_process_exec", 1);
    assert_eq!(pipeline.counts_mut().host_filtered.total(), 1);

    pipeline.apply(guest("versioned-v1", "versioned"));
    process(&mut pipeline, "sched_process_exec", 2);
    assert_eq!(pipeline.counts_mut().host_filtered.total(), 1);

    // Unloading it filters execs again.
    pipeline.apply(Change::Remove(
        Path::new("/signatures/versioned.wasm").into(),
    ));
    process(&mut pipeline, "sched_process_exec", 3);
    assert_eq!(pipeline.counts_mut().host_filtered.total(), 2);

    let summary = pipeline.finish(0).unwrap();
    let found = versioned_findings(&gate.lines());
    assert_eq!(found, [("2".to_owned(), "1".to_owned())]);
    assert_eq!(summary.counts.events, 3);
}

/// A writer that notes which thread wrote each finding line.
#[derive(Clone, Default)]
struct ThreadNotingWriter {
    /// (writing thread's name, line) per write.
    writes: NotedWrites,
}

impl Write for ThreadNotingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        let line = String::from_utf8_lossy(buf).into_owned();
        self.writes.lock().unwrap().push((thread, line));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Waits until worker `index` has done every job queued for it.
fn wait_idle<W: Write + Send + 'static>(pipeline: &Pipeline<W>, index: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while pipeline.workers[index].shared.try_idle().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never idled"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// What [`ThreadNotingWriter::writes`] holds.
type NotedWrites = Arc<Mutex<Vec<(String, String)>>>;

/// A live pipeline of one worker running TEST-VERSIONED, whose collector
/// evaluates an exec itself while the worker is idle, counting an
/// evaluation slow above `slow_above` per event; idle when returned.
fn inline_exec_pipeline(slow_above: Duration) -> (Pipeline<ThreadNotingWriter>, NotedWrites) {
    let writer = ThreadNotingWriter::default();
    let writes = writer.writes.clone();
    let mut pipeline = Pipeline::with_options(
        FindingWriter::new(writer, OutputFormat::Text, true),
        PipelineOptions {
            workers: 1,
            queue_events: 16,
            backpressure: Backpressure::Drop,
        },
    );
    pipeline.evaluate_idle_execs_here(true);
    pipeline.workers[0].shared.slow_above(slow_above);
    pipeline.apply(guest("versioned-v1", "versioned"));
    wait_idle(&pipeline, 0);
    (pipeline, writes)
}

/// Each TEST-VERSIONED finding's `seq` (the event's pid) and who wrote it:
/// `collector` (this thread) or the worker thread's name.
fn evaluated_by(writes: &NotedWrites) -> Vec<(String, String)> {
    let here = std::thread::current().name().unwrap().to_owned();
    writes
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, line)| line.contains("TEST-VERSIONED"))
        .map(|(thread, line)| {
            let seq = line
                .trim_end()
                .split(' ')
                .find_map(|word| word.strip_prefix("seq="))
                .unwrap()
                .trim_matches('"')
                .to_owned();
            let by = if *thread == here { "collector" } else { thread };
            (seq, by.to_owned())
        })
        .collect()
}

#[test]
fn live_an_exec_is_evaluated_by_the_collector_only_while_its_worker_is_idle_and_in_order() {
    // Never slow, however busy the machine: this test is about order.
    let (mut pipeline, writes) = inline_exec_pipeline(Duration::MAX);
    // Idle worker: the collector (this thread) evaluates the exec itself.
    process(&mut pipeline, "sched_process_exec", 1);
    // A busy worker (its set held, as in the middle of a batch): the
    // execs are queued behind what it is doing, not evaluated here.
    let shared = pipeline.workers[0].shared.clone();
    let held = shared.set.lock().unwrap();
    for pid in 2..=3 {
        process(&mut pipeline, "sched_process_exec", pid);
    }
    drop(held);
    wait_idle(&pipeline, 0);
    process(&mut pipeline, "sched_process_exec", 4);
    pipeline.finish(0).unwrap();

    assert_eq!(
        evaluated_by(&writes),
        [
            ("1", "collector"),
            ("2", "sigbox-worker-0"),
            ("3", "sigbox-worker-0"),
            ("4", "collector"),
        ]
        .map(|(seq, by)| (seq.to_owned(), by.to_owned()))
    );
}

#[test]
fn live_a_slow_evaluation_keeps_a_workers_execs_off_the_collector_for_a_while() {
    // Every evaluation counts as slow.
    let (mut pipeline, writes) = inline_exec_pipeline(Duration::ZERO);
    // Idle and not yet slow: evaluated here, and found slow.
    process(&mut pipeline, "sched_process_exec", 1);
    // Idle again, but lately slow: the next execs go to the worker.
    let shared = pipeline.workers[0].shared.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while shared.set.try_lock().is_err() {
        assert!(std::time::Instant::now() < deadline, "never idle");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(shared.try_idle().is_none(), "slow, yet offered inline");
    process(&mut pipeline, "sched_process_exec", 2);
    pipeline.finish(0).unwrap();

    // Evaluated here: the first yes, then no.
    assert_eq!(
        evaluated_by(&writes),
        [("1", "collector"), ("2", "sigbox-worker-0")]
            .map(|(seq, by)| (seq.to_owned(), by.to_owned()))
    );
}
