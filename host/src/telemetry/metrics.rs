//! Prometheus metrics, read at scrape time from [`Telemetry`] and the
//! status board (so they cost nothing between scrapes), and the health
//! verdict.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::{Reload, Telemetry, lock};
use crate::status::StatusBoard;

/// Everything `/metrics` and `/healthz` read.
#[derive(Clone)]
pub struct Metrics {
    telemetry: Arc<Telemetry>,
    board: StatusBoard,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Metrics of `telemetry` and the signatures on `board`.
    pub fn new(telemetry: Arc<Telemetry>, board: StatusBoard) -> Self {
        Self { telemetry, board }
    }

    /// The text exposition (OpenMetrics) of every metric.
    ///
    /// # Errors
    /// Formatting failed (it does not, writing to a String).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::with_prefix("sigbox");
        registry.register_collector(Box::new(self.clone()));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        Ok(text)
    }

    /// Counts a listener connection closed at once (over the cap).
    pub fn count_refused_connection(&self) {
        self.telemetry.count_refused_connection();
    }

    /// `Ok(summary)` while the event source is alive, the signatures
    /// directory can be scanned and at least one signature is active
    /// (loaded, not quarantined); `Err(reason)` otherwise.
    ///
    /// # Errors
    /// The reason the daemon is not healthy.
    pub fn health(&self) -> Result<String, String> {
        if let Some(problem) = self.telemetry.source_problem() {
            return Err(problem);
        }
        if let Some(problem) = self.telemetry.scan_problem() {
            return Err(format!(
                "the signatures directory cannot be scanned (new and changed signatures are not loaded; retrying): {problem}"
            ));
        }
        let signatures = self.board.active();
        let active = signatures
            .iter()
            .filter(|s| !s.counters.snapshot().quarantined)
            .count();
        if active == 0 {
            return Err(if signatures.is_empty() {
                "no signature is loaded: nothing is being detected".to_owned()
            } else {
                format!(
                    "all {} loaded signatures are quarantined: nothing is being detected",
                    signatures.len()
                )
            });
        }
        Ok(format!(
            "ok: event source alive, {active} of {} signatures active",
            signatures.len()
        ))
    }
}

/// Each bucket's own count from cumulative ones: the encoder adds them up
/// itself (handed cumulative counts, it wrote `+Inf` above `_count`).
fn per_bucket(cumulative: &[(f64, u64)]) -> Vec<(f64, u64)> {
    let mut below = 0;
    cumulative
        .iter()
        .map(|&(bound, upto)| {
            let own = upto.saturating_sub(below);
            below = upto;
            (bound, own)
        })
        .collect()
}

/// Which counter of a signature's stats a metric reports.
type StatPick = fn(&crate::engine::SignatureStats) -> u64;

/// Encodes one metric family without labels.
fn single(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    let family = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(family)
}

impl Collector for Metrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let t = &self.telemetry;
        let count = |c: &std::sync::atomic::AtomicU64| ConstCounter::new(c.load(Ordering::Relaxed));

        let mut info = encoder.encode_descriptor(
            "build",
            "The sigbox build: its version and the contract versions it serves.",
            None,
            MetricType::Info,
        )?;
        info.encode_info(&[
            ("version", env!("CARGO_PKG_VERSION")),
            ("contracts", "0.1,0.2"),
        ])?;

        single(
            &mut encoder,
            "records",
            "Input records read (ring-buffer records live).",
            &count(&t.records),
        )?;
        single(
            &mut encoder,
            "events",
            "Events read from the source (those the host filters dropped included).",
            &count(&t.events),
        )?;
        single(
            &mut encoder,
            "bad_records",
            "Records that could not be turned into events.",
            &count(&t.bad_records),
        )?;
        single(
            &mut encoder,
            "queue_drops",
            "Events dropped because a dispatch worker's queue was full.",
            &count(&t.queue_drops),
        )?;
        let mut host_filtered = encoder.encode_descriptor(
            "host_filtered",
            "Events no loaded signature's selectors accept, dropped by the host before any \
             worker queue, per event (`other`: names sigbox has no definition of).",
            None,
            MetricType::Counter,
        )?;
        let labels = super::HostFiltered::labels();
        for (event, counter) in labels.zip(&t.host_filtered) {
            count(counter).encode(host_filtered.encode_family(&[("event", event)])?)?;
        }
        single(
            &mut encoder,
            "coverage_records",
            "Coverage records written to the findings stream.",
            &count(&t.coverage_records),
        )?;
        single(
            &mut encoder,
            "directory_scan_failures",
            "Scans of the signatures directory that failed (retried with backoff).",
            &ConstCounter::new(t.scan_health().failures()),
        )?;
        single(
            &mut encoder,
            "listener_refused_connections",
            "Connections to /metrics and /healthz closed at once: the connection cap was reached.",
            &count(&t.refused_connections),
        )?;
        if let Some(read) = lock(&t.kernel_drops).as_ref() {
            single(
                &mut encoder,
                "kernel_drops",
                "Exec events the kernel dropped because the ring buffer was full (read from the BPF map).",
                &ConstCounter::new(read()),
            )?;
        }
        if let Some(read) = lock(&t.process_tree).as_ref() {
            let (processes, evictions) = read();
            single(
                &mut encoder,
                "process_tree_processes",
                "Processes the process tree holds (exited ones included).",
                &ConstGauge::new(processes),
            )?;
            single(
                &mut encoder,
                "process_tree_evictions",
                "Processes evicted from the process tree by its bound (--process-tree-max).",
                &ConstCounter::new(evictions),
            )?;
        }
        if let Some(read) = lock(&t.kernel_files).as_ref() {
            let files = read();
            let mut enabled = encoder.encode_descriptor(
                "kernel_event_enabled",
                "1 while the kernel sends this event kind (a loaded signature selects it).",
                None,
                MetricType::Gauge,
            )?;
            for (event, on) in &files.enabled {
                ConstGauge::new(i64::from(*on))
                    .encode(enabled.encode_family(&[("event", *event)])?)?;
            }
            let mut dropped = encoder.encode_descriptor(
                "kernel_dropped",
                "Events dropped in the kernel, by filter (no loaded selector could match) or \
                 because the ring buffer was full.",
                None,
                MetricType::Counter,
            )?;
            for (event, filter, count) in &files.dropped {
                ConstCounter::new(*count)
                    .encode(dropped.encode_family(&[("event", *event), ("filter", *filter)])?)?;
            }
        }

        if let Some(containers) = lock(&t.containers).clone() {
            encode_containers(&mut encoder, &containers)?;
        }

        let mut reloads = encoder.encode_descriptor(
            "reloads",
            "Signature file changes, by result.",
            None,
            MetricType::Counter,
        )?;
        for (reload, counter) in Reload::ALL.iter().zip(&t.reloads) {
            count(counter).encode(reloads.encode_family(&[("result", reload.label())])?)?;
        }

        let outputs = lock(&t.outputs).clone();
        for (name, help, pick) in [
            ("output_sent", "Records delivered, per finding output.", 0),
            (
                "output_dropped",
                "Records given up on (full queue, retries exhausted), per output.",
                1,
            ),
            ("output_retries", "Deliveries retried, per output.", 2),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for output in &outputs {
                let value = match pick {
                    0 => &output.sent,
                    1 => &output.dropped,
                    _ => &output.retries,
                };
                count(value).encode(family.encode_family(&[("output", output.name)])?)?;
            }
        }

        let (sum, total, buckets) = t.finding_latency.cumulative();
        let buckets = per_bucket(&buckets);
        encoder
            .encode_descriptor(
                "finding_latency_seconds",
                "Live only: from an event's kernel timestamp to its finding written to \
                 stdout and handed to the outputs.",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                sum, total, &buckets, None,
            )?;
        self.encode_signatures(&mut encoder)
    }
}

/// `sigbox_container_*`: the runtime lookups behind container names.
fn encode_containers(
    encoder: &mut DescriptorEncoder,
    c: &super::ContainerLookups,
) -> Result<(), std::fmt::Error> {
    let count = |c: &std::sync::atomic::AtomicU64| ConstCounter::new(c.load(Ordering::Relaxed));
    let mut lookups = encoder.encode_descriptor(
        "container_lookups",
        "Container name and image lookups from the runtime's API, by result.",
        None,
        MetricType::Counter,
    )?;
    for (result, counter) in [("resolved", &c.resolved), ("failed", &c.failed)] {
        count(counter).encode(lookups.encode_family(&[("result", result)])?)?;
    }
    single(
        encoder,
        "container_unresolved_events",
        "Container events that went on without name and image: their lookup had not finished.",
        &count(&c.unresolved_events),
    )?;
    single(
        encoder,
        "container_cache_evictions",
        "Containers evicted from the full lookup cache (least recently used first).",
        &count(&c.evictions),
    )?;
    single(
        encoder,
        "container_cache_entries",
        "Containers in the lookup cache.",
        &ConstGauge::new(i64::try_from(c.cached.load(Ordering::Relaxed)).unwrap_or(i64::MAX)),
    )
}

impl Metrics {
    fn encode_signatures(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let signatures = self.board.active();
        let mut info = encoder.encode_descriptor(
            "signature",
            "A loaded signature: its id, version, module digest, file and signers.",
            None,
            MetricType::Info,
        )?;
        for s in &signatures {
            info.encode_info(&[
                ("id", s.info.metadata.id.clone()),
                ("version", s.info.metadata.version.clone()),
                ("sha256", s.info.sha256.clone()),
                ("file", s.info.path.to_string_lossy().into_owned()),
                ("signed_by", s.info.signed_by.join(",")),
            ])?;
        }
        // Counters are per id and monotonic: what the id's earlier versions
        // counted (before a hot swap) is added to the running version's.
        let retired: Vec<_> = signatures
            .iter()
            .map(|s| self.board.retired(&s.info.metadata.id).unwrap_or_default())
            .collect();
        let stats: Vec<_> = signatures
            .iter()
            .zip(&retired)
            .map(|(s, r)| {
                let mut stat = s.counters.snapshot();
                stat.add_counts(&r.stats);
                (s.info.metadata.id.as_str(), stat)
            })
            .collect();
        let counters: [(&str, &str, StatPick); 6] = [
            (
                "signature_events",
                "Events evaluated, per signature.",
                |s| s.events,
            ),
            ("signature_findings", "Findings, per signature.", |s| {
                s.findings
            }),
            (
                "signature_missed_events",
                "Selected events not evaluated while quarantined, per signature.",
                |s| s.missed_events,
            ),
            (
                "signature_dropped_events",
                "Events dropped because the signature's worker fell behind, per signature.",
                |s| s.dropped_events,
            ),
            (
                "signature_batch_faults",
                "Calls of several events that faulted (also counted as errors of kind trap or \
                 limit), whose events were evaluated again one per call, per signature.",
                |s| s.batch_faults,
            ),
            (
                "signature_unevaluated_events",
                "Queued events not evaluated because the daemon was told to stop, per signature.",
                |s| s.unevaluated,
            ),
        ];
        for (name, help, pick) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (id, stat) in &stats {
                ConstCounter::new(pick(stat)).encode(family.encode_family(&[("id", *id)])?)?;
            }
        }
        let mut errors = encoder.encode_descriptor(
            "signature_errors",
            "Events a signature failed on, per signature and kind: returned (an error it returned), trap, limit.",
            None,
            MetricType::Counter,
        )?;
        for (id, stat) in &stats {
            let returned = stat.errors.saturating_sub(stat.traps + stat.limit_hits);
            for (kind, value) in [
                ("returned", returned),
                ("trap", stat.traps),
                ("limit", stat.limit_hits),
            ] {
                ConstCounter::new(value)
                    .encode(errors.encode_family(&[("id", *id), ("kind", kind)])?)?;
            }
        }
        let mut stale = encoder.encode_descriptor(
            "signature_file_rejected",
            "1 while a signature runs an older version than its file holds: the file's \
             version was rejected, so a restart would not load the signature.",
            None,
            MetricType::Gauge,
        )?;
        for s in &signatures {
            let rejected = self.board.file_rejected(&s.info.path).is_some();
            let file = s.info.path.to_string_lossy();
            ConstGauge::new(i64::from(rejected)).encode(
                stale.encode_family(&[("id", s.info.metadata.id.as_str()), ("file", &file)])?,
            )?;
        }
        let mut quarantined = encoder.encode_descriptor(
            "signature_quarantined",
            "1 while a signature is quarantined (it sees no events), else 0.",
            None,
            MetricType::Gauge,
        )?;
        for (id, stat) in &stats {
            ConstGauge::new(i64::from(stat.quarantined))
                .encode(quarantined.encode_family(&[("id", *id)])?)?;
        }
        let mut host = encoder.encode_descriptor(
            "signature_host_seconds",
            "Host time spent on a signature's behalf outside its guest calls (matching its \
             filters, checking its findings), per signature.",
            None,
            MetricType::Counter,
        )?;
        for (id, stat) in &stats {
            ConstCounter::new(stat.host_ns as f64 / 1e9)
                .encode(host.encode_family(&[("id", *id)])?)?;
        }
        let mut memory = encoder.encode_descriptor(
            "signature_memory_bytes",
            "Linear memory a signature's instance holds (its state; the sandbox caps it at \
             its memory limit), per signature.",
            None,
            MetricType::Gauge,
        )?;
        for (id, stat) in &stats {
            ConstGauge::new(i64::try_from(stat.memory_bytes).unwrap_or(i64::MAX))
                .encode(memory.encode_family(&[("id", *id)])?)?;
        }
        let mut seconds = encoder.encode_descriptor(
            "signature_evaluation_seconds",
            "Time per evaluated event, per signature (microsecond buckets; the sum also \
             holds faulted calls and host time matching its filters).",
            None,
            MetricType::Histogram,
        )?;
        for (s, r) in signatures.iter().zip(&retired) {
            let (mut sum, mut total, mut buckets) = s.counters.evaluation.cumulative();
            let (old_sum, old_total, old_buckets) = &r.evaluation;
            sum += old_sum;
            total += old_total;
            for (bucket, (_, old)) in buckets.iter_mut().zip(old_buckets) {
                bucket.1 += old;
            }
            seconds
                .encode_family(&[("id", s.info.metadata.id.as_str())])?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    sum,
                    total,
                    &per_bucket(&buckets),
                    None,
                )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `+Inf` bucket of a histogram: how many observations it holds.
    fn inf_bucket(text: &str, name: &str) -> Option<u64> {
        let prefix = format!("{name}_bucket{{le=\"+Inf\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix)?.split(' ').next()?.parse().ok())
    }

    #[test]
    fn histogram_buckets_add_up_to_the_count() {
        let telemetry = Telemetry::new();
        for took_us in [50, 300, 700, 2000] {
            telemetry
                .finding_latency()
                .record(1_000_000_000, 1_000_000_000 + took_us * 1000);
        }
        let text = Metrics::new(telemetry, StatusBoard::default())
            .encode()
            .unwrap();
        let name = "sigbox_finding_latency_seconds";
        assert!(text.contains(&format!("{name}_count 4")), "{text}");
        assert_eq!(inf_bucket(&text, name), Some(4), "{text}");
        assert!(
            text.contains(&format!("{name}_bucket{{le=\"0.001\"}} 3")),
            "{text}"
        );
    }

    #[test]
    fn cumulative_counts_become_per_bucket() {
        assert_eq!(
            per_bucket(&[(0.1, 2), (1.0, 2), (f64::INFINITY, 5)]),
            vec![(0.1, 2), (1.0, 0), (f64::INFINITY, 3)]
        );
    }
}
