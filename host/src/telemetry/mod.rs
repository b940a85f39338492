//! What a fleet reads off a running daemon: Prometheus metrics and a health
//! check on one small HTTP listener (`--listen`), started after privileges
//! are dropped.
//!
//! [`Telemetry`] is what the daemon's parts publish into (counts, the
//! source's heartbeat, outputs' counters); [`metrics`] turns it and the
//! status board into metrics at scrape time; [`server`] answers HTTP.

mod container_lookups;
mod finding_latency;
mod host_filtered;
pub(crate) mod metrics;
pub(crate) mod server;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::engine::{ScanHealth, unix_ms};
pub use container_lookups::ContainerLookups;
pub use finding_latency::{FINDING_LATENCY_BUCKETS_US, FindingLatency, now_ns};
pub use host_filtered::HostFiltered;

/// Where metrics and health are served unless `--listen` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9479";

/// How long the event source may stay silent (no events, no idle tick)
/// before `/healthz` calls it dead.
pub(crate) const SOURCE_SILENCE: Duration = Duration::from_secs(10);

/// Counts kept while processing a stream.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamCounts {
    /// Input records read (lines for replay, ring-buffer records for live).
    pub records: u64,
    /// Events read (those the host filters dropped included).
    pub events: u64,
    /// Records that could not be turned into events.
    pub bad_records: u64,
    /// Findings written.
    pub findings: u64,
    /// Signature failures on single events (errors and traps).
    pub signature_errors: u64,
    /// Events the kernel dropped because the ring buffer was full (live only).
    pub kernel_drops: Option<u64>,
    /// Coverage records written (quarantines, re-enables, rejected updates,
    /// lost events).
    pub coverage_records: u64,
    /// Events read that no running signature's selectors accepted, dropped
    /// before any worker queue (also counted in `events`).
    pub host_filtered: HostFiltered,
    /// Events dropped because a dispatch worker's queue was full (live only;
    /// counted once per worker that missed the event).
    pub queue_drops: u64,
    /// Whether a signal stopped the run (replay: before the end of its input).
    pub stopped_by_signal: bool,
}

/// Counts and state the daemon's parts publish for scraping.
#[derive(Default)]
pub struct Telemetry {
    records: AtomicU64,
    events: AtomicU64,
    bad_records: AtomicU64,
    queue_drops: AtomicU64,
    /// [`StreamCounts::host_filtered`], in [`HostFiltered::labels`]' order.
    host_filtered: [AtomicU64; HostFiltered::LABELS],
    coverage_records: AtomicU64,
    /// When the event source last proved alive (ms since the epoch; 0: never).
    heartbeat_ms: AtomicU64,
    /// The source has ended (input finished, or the daemon is stopping).
    source_ended: AtomicBool,
    kernel_drops: Mutex<Option<KernelDropsReader>>,
    kernel_files: Mutex<Option<KernelFilesReader>>,
    process_tree: Mutex<Option<ProcessTreeReader>>,
    reloads: [AtomicU64; Reload::ALL.len()],
    outputs: Mutex<Vec<Arc<OutputCounters>>>,
    /// Listener connections closed at once because the cap was reached.
    refused_connections: AtomicU64,
    /// The reload thread's scans of the signatures directory.
    scan_health: Arc<ScanHealth>,
    /// Container lookups (live, while on).
    containers: Mutex<Option<Arc<ContainerLookups>>>,
    /// Live event → finding latencies (the workers record them).
    finding_latency: Arc<FindingLatency>,
}

/// Reads the kernel's drop counter (the BPF map) at scrape time.
pub(crate) type KernelDropsReader = Box<dyn Fn() -> u64 + Send + Sync>;

/// Reads the process tree's `(processes held, evictions)` at scrape time.
pub type ProcessTreeReader = Box<dyn Fn() -> (u64, u64) + Send + Sync>;

/// Reads the kernel's file-event switches and filter drops at scrape time.
pub type KernelFilesReader = Box<dyn Fn() -> KernelFiles + Send + Sync>;

/// The kernel's file events as `/metrics` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelFiles {
    /// `(event, switched on)`: `sigbox_kernel_event_enabled{event}`.
    pub enabled: Vec<(&'static str, bool)>,
    /// `(event, filter, count)`: `sigbox_kernel_dropped_total{event,filter}`.
    pub dropped: Vec<(&'static str, &'static str, u64)>,
}

/// What happened to a signature file, for `sigbox_reloads_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// A new signature runs.
    Loaded,
    /// A new version replaced the running one.
    Replaced,
    /// A signature stopped (its file went away).
    Unloaded,
    /// A file was rejected (invalid, refused by the trust policy, a
    /// duplicate id); a running version stays.
    Rejected,
}

impl Reload {
    const ALL: [Reload; 4] = [Self::Loaded, Self::Replaced, Self::Unloaded, Self::Rejected];

    fn label(self) -> &'static str {
        match self {
            Self::Loaded => "loaded",
            Self::Replaced => "replaced",
            Self::Unloaded => "unloaded",
            Self::Rejected => "rejected",
        }
    }
}

/// One finding output's counters.
#[derive(Debug, Default)]
pub(crate) struct OutputCounters {
    /// `stdout`, `file`, `webhook`, `syslog`.
    pub name: &'static str,
    /// Records (findings and coverage records) delivered.
    pub sent: AtomicU64,
    /// Records given up on: queue full, retries exhausted, rejected.
    pub dropped: AtomicU64,
    /// Deliveries retried (webhook).
    pub retries: AtomicU64,
}

impl OutputCounters {
    /// Counters for output `name`.
    pub(crate) fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Self {
            name,
            ..Self::default()
        })
    }

    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl Telemetry {
    /// Fresh, shared.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The live event → finding latencies, for the writer to record.
    pub fn finding_latency(&self) -> &Arc<FindingLatency> {
        &self.finding_latency
    }

    /// Publishes the pipeline's counts (the dispatch thread owns them).
    pub(crate) fn publish_counts(&self, counts: &StreamCounts) {
        self.records.store(counts.records, Ordering::Relaxed);
        self.events.store(counts.events, Ordering::Relaxed);
        self.bad_records
            .store(counts.bad_records, Ordering::Relaxed);
        self.queue_drops
            .store(counts.queue_drops, Ordering::Relaxed);
        self.coverage_records
            .store(counts.coverage_records, Ordering::Relaxed);
        for (slot, count) in self.host_filtered.iter().zip(counts.host_filtered.counts()) {
            slot.store(count, Ordering::Relaxed);
        }
    }

    /// The event source is alive now (called on every wake of its loop).
    pub(crate) fn heartbeat(&self) {
        self.heartbeat_ms
            .store(unix_ms(std::time::SystemTime::now()), Ordering::Relaxed);
    }

    /// The event source has ended.
    pub(crate) fn source_ended(&self) {
        self.source_ended.store(true, Ordering::Relaxed);
    }

    /// How to read the kernel's drop counter at scrape time.
    pub(crate) fn set_kernel_drops(&self, reader: KernelDropsReader) {
        *lock(&self.kernel_drops) = Some(reader);
    }

    /// How to read the kernel's file-event state at scrape time.
    pub fn set_kernel_files(&self, reader: KernelFilesReader) {
        *lock(&self.kernel_files) = Some(reader);
    }

    /// How to read the process tree's counts at scrape time.
    pub fn set_process_tree(&self, reader: ProcessTreeReader) {
        *lock(&self.process_tree) = Some(reader);
    }

    /// Counts one signature-file change.
    pub(crate) fn count_reload(&self, reload: Reload) {
        let slot = Reload::ALL
            .iter()
            .position(|r| *r == reload)
            .expect("every reload kind is listed");
        self.reloads[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Registers an output's counters.
    pub(crate) fn add_output(&self, counters: Arc<OutputCounters>) {
        lock(&self.outputs).push(counters);
    }

    /// Registers the container lookups' counters.
    pub(crate) fn set_containers(&self, counters: Arc<ContainerLookups>) {
        *lock(&self.containers) = Some(counters);
    }

    /// A listener connection was closed at once: too many were open.
    pub(crate) fn count_refused_connection(&self) {
        self.refused_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Where the reload thread reports its scans of the signatures
    /// directory; `/healthz` says a scan failed until one succeeds.
    pub(crate) fn scan_health(&self) -> &Arc<ScanHealth> {
        &self.scan_health
    }

    /// Why the last directory scan failed, while none succeeded since.
    fn scan_problem(&self) -> Option<String> {
        self.scan_health.problem()
    }

    /// Why the source is not alive, if it is not.
    fn source_problem(&self) -> Option<String> {
        if self.source_ended.load(Ordering::Relaxed) {
            return Some("the event source has ended".into());
        }
        let last = self.heartbeat_ms.load(Ordering::Relaxed);
        if last == 0 {
            return Some("the event source has not started".into());
        }
        let silent_ms = unix_ms(std::time::SystemTime::now()).saturating_sub(last);
        (silent_ms > SOURCE_SILENCE.as_millis() as u64).then(|| {
            format!(
                "the event source has been silent for {:.1} s (limit {} s)",
                silent_ms as f64 / 1000.0,
                SOURCE_SILENCE.as_secs()
            )
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
