//! What the pipeline reports: the end-of-run summary and the log lines for
//! signature failures and coverage changes.

use std::fmt;

use crate::engine::{CoverageChange, ErrorReport, Failure, Notice, SignatureStatus};
use crate::error_chain;
use crate::event::Event;
use crate::telemetry::StreamCounts;

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
        let host_filtered = c.host_filtered.total();
        if host_filtered > 0 {
            write!(
                f,
                ", {host_filtered} events dropped by host filters (no signature selects them)"
            )?;
        }
        if let Some(drops) = c.kernel_drops {
            write!(f, ", {drops} events dropped in the kernel")?;
        }
        if c.queue_drops > 0 {
            write!(
                f,
                ", {} events dropped by full worker queues",
                c.queue_drops
            )?;
        }
        if c.coverage_records > 0 {
            write!(f, ", {} coverage records", c.coverage_records)?;
        }
        let unevaluated: u64 = self
            .signatures
            .iter()
            .map(|s| s.counters.snapshot().unevaluated)
            .sum();
        if c.stopped_by_signal || unevaluated > 0 {
            write!(
                f,
                ", stopped by a signal with {unevaluated} queued evaluations left undone \
                 (events × signatures; see per signature)"
            )?;
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
pub(super) fn identify(s: &SignatureStatus) -> String {
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
pub(super) fn describe(s: &SignatureStatus) -> String {
    let m = &s.info.metadata;
    let stats = s.counters.snapshot();
    format!(
        "{} v{} ({}, sha256 {}): {} events, {} findings, {} errors ({} traps, {} limit hits), {} quarantines{}{}{}",
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
        if stats.dropped_events > 0 {
            format!(
                ", {} events dropped (its worker's queue was full)",
                stats.dropped_events
            )
        } else {
            String::new()
        },
        if stats.dropped_log_bytes > 0 {
            format!(", {} log bytes dropped", stats.dropped_log_bytes)
        } else {
            String::new()
        },
    ) + &later_counts(&stats)
}

/// The counts `describe` adds only when they are not zero: batch faults and
/// events a stop left unevaluated.
fn later_counts(stats: &crate::engine::SignatureStats) -> String {
    let mut text = String::new();
    if stats.batch_faults > 0 {
        text.push_str(&format!(
            ", {} batch faults (calls of several events; their events were evaluated again one per call)",
            stats.batch_faults
        ));
    }
    if stats.unevaluated > 0 {
        text.push_str(&format!(
            ", {} events not evaluated (stopped first)",
            stats.unevaluated
        ));
    }
    text
}

/// Logs a failure through the signature's own log budget (so a signature
/// returning megabytes of errors is held to its budget), if the rate limit
/// for returned errors lets it through.
pub(super) fn log_failure(failure: &Failure<'_>, event: &Event, place: &dyn fmt::Display) {
    let ErrorReport::Log { suppressed } = failure.report else {
        return;
    };
    let mut message = format!(
        "{place}: {} pid {}: {}",
        crate::printable(event.name()),
        event.context.host_pid,
        error_chain(&failure.error)
    );
    if failure.events > 1 {
        message = format!(
            "a call of {} events faulted (the first: {message}); they are evaluated again one \
             per call, as are its next {} events",
            failure.events,
            crate::engine::MAX_BATCH
        );
    }
    if suppressed > 0 {
        message.push_str(&format!(
            " ({suppressed} more errors like this were counted but not logged)"
        ));
    }
    failure.log.emit(tracing::Level::WARN, "error", &message);
}

/// Logs a coverage change.
pub(super) fn log_notice(notice: &Notice) {
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
        CoverageChange::UpdateRejected {
            reason,
            file_sha256: None,
        } => tracing::error!(
            "rejected a new version of running signature {who}; the running version stays: {reason}"
        ),
        CoverageChange::UpdateRejected {
            reason,
            file_sha256: Some(sha256),
        } => tracing::error!(
            "rejected a new version of running signature {who}; the running version stays, \
             but {}: {reason}",
            crate::status::file_holds_rejected(sha256)
        ),
    }
}
