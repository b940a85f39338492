//! The path every event takes, whatever its source: dispatch to the selecting
//! signatures, write findings, log and count failures.

use std::fmt;
use std::io::{self, Write};

use tokio::sync::mpsc::UnboundedReceiver;

use crate::engine::{
    Applied, Change, CoverageChange, Detection, ErrorReport, Failure, Notice, SignatureSet,
    SignatureStatus,
};
use crate::error_chain;
use crate::sink::FindingWriter;
use crate::sink::coverage::CoverageRecord;
use crate::status::StatusBoard;
use crate::wit::{Event, Signal};

/// Counts kept while processing a stream.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamCounts {
    /// Input records read (lines for replay, ring-buffer records for live).
    pub records: u64,
    /// Events dispatched.
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
}

/// The end-of-run report printed to stderr.
pub struct Summary {
    /// What the source and pipeline counted.
    pub counts: StreamCounts,
    /// Every loaded signature with its counters.
    pub signatures: Vec<SignatureStatus>,
    /// Signature files that failed to load.
    pub load_failures: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        write!(
            f,
            "summary: {} records, {} events, {} bad records, {} findings, {} signature errors",
            c.records, c.events, c.bad_records, c.findings, c.signature_errors
        )?;
        if let Some(drops) = c.kernel_drops {
            write!(f, ", {drops} events dropped in the kernel")?;
        }
        if c.coverage_records > 0 {
            write!(f, ", {} coverage records", c.coverage_records)?;
        }
        write!(
            f,
            "; {} signatures loaded, {} failed to load",
            self.signatures.len(),
            self.load_failures
        )?;
        for s in &self.signatures {
            write!(f, "\n  {}", describe(s))?;
        }
        Ok(())
    }
}

/// `ID vVERSION (FILE, sha256 DIGEST)`
fn identify(s: &SignatureStatus) -> String {
    let m = &s.info.metadata;
    format!(
        "{} v{} ({}, sha256 {})",
        m.id,
        m.version,
        crate::printable(&s.info.path.to_string_lossy()),
        s.info.sha256
    )
}

/// [`identify`], then `: N events, N findings, N errors (…)`
fn describe(s: &SignatureStatus) -> String {
    let m = &s.info.metadata;
    let stats = s.counters.snapshot();
    format!(
        "{} v{} ({}, sha256 {}): {} events, {} findings, {} errors ({} traps, {} limit hits), {} quarantines{}{}",
        m.id,
        m.version,
        crate::printable(&s.info.path.to_string_lossy()),
        s.info.sha256,
        stats.events,
        stats.findings,
        stats.errors,
        stats.traps,
        stats.limit_hits,
        stats.quarantines,
        if stats.quarantined {
            format!(
                ", QUARANTINED until {} ({} events missed)",
                crate::utc_time(stats.quarantined_until_ms),
                stats.missed_events
            )
        } else if stats.missed_events > 0 {
            format!(", {} events missed while quarantined", stats.missed_events)
        } else {
            String::new()
        },
        if stats.dropped_log_bytes > 0 {
            format!(", {} log bytes dropped", stats.dropped_log_bytes)
        } else {
            String::new()
        },
    )
}

/// Logs a failure through the signature's own log budget (so a signature
/// returning megabytes of errors is held to its budget), if the rate limit
/// for returned errors lets it through.
fn log_failure(failure: &Failure<'_>, event: &Event, place: &dyn fmt::Display) {
    let ErrorReport::Log { suppressed } = failure.report else {
        return;
    };
    let mut message = format!(
        "{place}: {} pid {}: {}",
        crate::printable(&event.name),
        event.host_pid,
        error_chain(&failure.error)
    );
    if suppressed > 0 {
        message.push_str(&format!(
            " ({suppressed} more errors like this were counted but not logged)"
        ));
    }
    failure.log.emit(tracing::Level::WARN, "error", &message);
}

/// Logs a coverage change.
fn log_notice(notice: &Notice) {
    let who = identify(&notice.signature);
    match &notice.change {
        CoverageChange::Quarantined { reason, cooldown } => tracing::error!(
            "quarantined signature {who} for {}s after too many faults (last: {reason}); until {} it sees no events",
            cooldown.as_secs(),
            crate::utc_time(notice.signature.counters.snapshot().quarantined_until_ms)
        ),
        CoverageChange::Reenabled {
            restart_error: None,
        } => {
            tracing::warn!("re-enabled signature {who} with a fresh instance after its cool-down")
        }
        CoverageChange::Reenabled {
            restart_error: Some(error),
        } => tracing::error!(
            "re-enabled signature {who} after its cool-down, but a fresh instance failed: {error}"
        ),
        CoverageChange::UpdateRejected { reason } => tracing::error!(
            "rejected a new version of running signature {who}; the running version stays: {reason}"
        ),
    }
}

/// Dispatches events to signatures and writes their findings.
pub struct Pipeline<W: Write> {
    signatures: SignatureSet,
    writer: FindingWriter<W>,
    counts: StreamCounts,
    /// Prepared signature changes (hot swap), applied between events.
    changes: Option<UnboundedReceiver<Change>>,
    board: StatusBoard,
}

impl<W: Write> Pipeline<W> {
    /// A pipeline with no signatures yet, writing findings with `writer`.
    pub fn new(writer: FindingWriter<W>) -> Self {
        Self {
            signatures: SignatureSet::default(),
            writer,
            counts: StreamCounts::default(),
            changes: None,
            board: StatusBoard::default(),
        }
    }

    /// Applies changes from `changes` before each event from now on.
    pub fn watch(&mut self, changes: UnboundedReceiver<Change>) {
        self.changes = Some(changes);
    }

    /// The active list this pipeline keeps up to date.
    pub fn board(&self) -> &StatusBoard {
        &self.board
    }

    /// Applies one change between events and logs it with the signature's id,
    /// version, digest and file.
    pub fn apply(&mut self, change: Change) {
        match self.signatures.apply(change) {
            Applied::Loaded(new) => {
                tracing::info!("loaded signature {}", identify(&new));
                self.warn_unserved(&new);
            }
            Applied::Replaced { old, new } => {
                tracing::info!(
                    "replaced signature {} with {}",
                    describe(&old),
                    identify(&new)
                );
                self.warn_unserved(&new);
            }
            Applied::Unloaded(old) => {
                tracing::info!("unloaded signature {}", describe(&old));
                if self.signatures.is_empty() {
                    tracing::error!(
                        "the last signature was unloaded: nothing is being detected until a module is added"
                    );
                }
            }
            Applied::NotLoaded(path) => {
                tracing::debug!("{} was not running; nothing to unload", path.display())
            }
            Applied::Unchanged => {}
        }
        self.board.set(self.signatures.status());
        self.write_notices();
    }

    /// Warns when a signature selects events this source never produces.
    fn warn_unserved(&self, status: &SignatureStatus) {
        let unserved = self.board.unserved(status);
        if !unserved.is_empty() {
            tracing::warn!(
                "signature {} selects {} which this source never produces: it will never see {}",
                identify(status),
                unserved.join(", "),
                if unserved.len() == 1 { "it" } else { "them" }
            );
        }
    }

    /// Work for a quiet moment: apply prepared changes and end quarantines
    /// whose cool-down is over.
    pub fn tick(&mut self) {
        self.apply_pending();
        self.signatures.tick();
        self.write_notices();
    }

    /// Reports events the kernel dropped where findings go (and in the log).
    pub fn report_kernel_drops(&mut self, lost: u64, total: u64) {
        tracing::error!(
            "the kernel dropped {lost} exec events ({total} since start): the ring buffer was full"
        );
        self.write_record(&CoverageRecord::events_lost(lost, total));
    }

    /// Writes and logs the coverage changes the signature set noted.
    fn write_notices(&mut self) {
        for notice in self.signatures.take_notices() {
            log_notice(&notice);
            self.write_record(&CoverageRecord::from_notice(&notice));
        }
    }

    fn write_record(&mut self, record: &CoverageRecord) {
        match self.writer.write_coverage(record) {
            Ok(()) => self.counts.coverage_records += 1,
            Err(error) => tracing::error!("cannot write a coverage record: {error}"),
        }
    }

    /// Applies every change that is ready, without waiting.
    pub fn apply_pending(&mut self) {
        while let Some(change) = self.changes.as_mut().and_then(|rx| rx.try_recv().ok()) {
            self.apply(change);
        }
    }

    /// The counters so far (the source adds its own through [`Self::counts_mut`]).
    pub fn counts(&self) -> &StreamCounts {
        &self.counts
    }

    /// Mutable access for the source's own counters (records, bad records, drops).
    pub fn counts_mut(&mut self) -> &mut StreamCounts {
        &mut self.counts
    }

    /// The loaded signatures.
    pub fn signatures(&self) -> &SignatureSet {
        &self.signatures
    }

    /// Mutable access to the loaded signatures (for signals and reloads).
    pub fn signatures_mut(&mut self) -> &mut SignatureSet {
        &mut self.signatures
    }

    /// Evaluates `event` with every signature that selected it. `raw` is the
    /// event's original JSON, if it has one; `place` says where the event came
    /// from (e.g. `line 12`) for log lines.
    ///
    /// # Errors
    /// Only when findings cannot be written (e.g. stdout was closed): the
    /// caller should stop. Signature failures are logged and counted here.
    pub fn process(
        &mut self,
        event: &Event,
        raw: Option<&str>,
        place: &dyn fmt::Display,
    ) -> io::Result<()> {
        self.apply_pending();
        // Quarantines that ended are reported before the event's findings.
        self.signatures.tick();
        self.write_notices();
        self.counts.events += 1;
        let mut write_result = Ok(());
        let writer = &mut self.writer;
        let counts = &mut self.counts;
        let mut failures = 0;
        self.signatures.dispatch(
            event,
            |detection: Detection<'_>| {
                if write_result.is_ok() {
                    write_result = writer.write(&detection, event, raw);
                    counts.findings += 1;
                }
            },
            |failure: Failure<'_>| {
                failures += 1;
                log_failure(&failure, event, place);
            },
        );
        self.counts.signature_errors += failures;
        self.write_notices();
        write_result
    }

    /// Tells every signature the source has ended, logging those that fail.
    pub fn signal_source_complete(&mut self) {
        self.signatures.signal(Signal::SourceComplete, |failure| {
            log_failure(&failure, &source_complete_event(), &"end of input");
        });
        self.write_notices();
    }

    /// Flushes findings and returns the summary.
    ///
    /// # Errors
    /// Flushing failed.
    pub fn finish(mut self, load_failures: usize) -> io::Result<Summary> {
        self.writer.flush()?;
        Ok(Summary {
            counts: self.counts,
            signatures: self.signatures.status(),
            load_failures,
        })
    }
}

/// What failure lines name for the `source-complete` signal.
fn source_complete_event() -> Event {
    Event {
        timestamp_ns: 0,
        name: "source-complete".into(),
        origin: crate::wit::Origin::Host,
        pid: 0,
        tid: 0,
        ppid: 0,
        host_pid: 0,
        host_tid: 0,
        host_ppid: 0,
        uid: 0,
        mount_ns: 0,
        pid_ns: 0,
        cgroup_id: 0,
        process_name: String::new(),
        executable_path: String::new(),
        host_name: String::new(),
        container_id: String::new(),
        return_value: 0,
        payload: crate::wit::Payload::Generic(Vec::new()),
    }
}
