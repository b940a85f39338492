//! How long live findings take: from the event's kernel timestamp to its
//! finding handed to stdout and the outputs (`sigbox_finding_latency_seconds`).
//!
//! What an operator waits for between an exec and its alert, and what
//! issue 31 item 4 bounds (p99 ≤ 1 ms). Replay does not record it: a
//! replayed event's timestamp is when it happened, not when it was read.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the buckets, in microseconds.
pub const FINDING_LATENCY_BUCKETS_US: [u64; 12] = [
    100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 100_000, 1_000_000, 10_000_000, 60_000_000,
];

/// A histogram of event → finding latencies.
#[derive(Debug, Default)]
pub struct FindingLatency {
    /// Findings at or under each bound of [`FINDING_LATENCY_BUCKETS_US`]
    /// (not cumulative); the last slot counts the rest.
    buckets: [AtomicU64; FINDING_LATENCY_BUCKETS_US.len() + 1],
    sum_ns: AtomicU64,
}

impl FindingLatency {
    /// Records a finding written at `now_ns` for an event at `event_ns`
    /// (both ns since the epoch; a clock step back counts as 0).
    pub fn record(&self, event_ns: u64, now_ns: u64) {
        let took = now_ns.saturating_sub(event_ns);
        let us = took / 1000;
        let slot = FINDING_LATENCY_BUCKETS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(FINDING_LATENCY_BUCKETS_US.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(took, Ordering::Relaxed);
    }

    /// `(sum in seconds, count, cumulative (bound in seconds, count))`, in
    /// the shape Prometheus histograms take (the last bound is +Inf).
    pub fn cumulative(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut total = 0;
        let mut buckets = Vec::with_capacity(FINDING_LATENCY_BUCKETS_US.len() + 1);
        for (slot, count) in self.buckets.iter().enumerate() {
            total += count.load(Ordering::Relaxed);
            let bound = FINDING_LATENCY_BUCKETS_US
                .get(slot)
                .map_or(f64::INFINITY, |&us| us as f64 / 1e6);
            buckets.push((bound, total));
        }
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        (sum, total, buckets)
    }
}

/// Now, in ns since the epoch (the clock of event timestamps).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_cumulative_buckets() {
        let h = FindingLatency::default();
        h.record(1_000_000, 1_080_000); // 80 µs
        h.record(1_000_000, 1_700_000); // 700 µs
        h.record(1_000_000, 1_000_000 + 90_000_000_000); // 90 s
        h.record(2_000_000, 1_000_000); // clock stepped back
        let (sum, total, buckets) = h.cumulative();
        assert_eq!(total, 4);
        assert!((sum - 90.00078).abs() < 1e-9, "{sum}");
        assert_eq!(buckets[0], (0.0001, 2));
        assert_eq!(buckets[2], (0.0005, 2));
        assert_eq!(buckets[3], (0.001, 3));
        assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, 4));
    }
}
