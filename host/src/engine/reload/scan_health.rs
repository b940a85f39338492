//! Whether the reload thread can list the signatures directory: failed
//! scans counted, and why the last one failed while none succeeded since
//! (read by `/healthz` and the metrics).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The reload thread's scans, as telemetry reads them.
#[derive(Debug, Default)]
pub struct ScanHealth {
    failures: AtomicU64,
    problem: Mutex<Option<String>>,
}

impl ScanHealth {
    /// A scan failed (retried with backoff), because of `reason`.
    pub fn failed(&self, reason: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }

    /// A scan succeeded.
    pub fn succeeded(&self) {
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Scans that failed so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Why the last scan failed, while no later one succeeded.
    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_lasts_until_a_scan_succeeds_and_failures_add_up() {
        let health = ScanHealth::default();
        assert_eq!(health.problem(), None);
        health.failed("EMFILE".into());
        health.failed("EMFILE again".into());
        assert_eq!(health.problem().as_deref(), Some("EMFILE again"));
        health.succeeded();
        assert_eq!(health.problem(), None);
        assert_eq!(health.failures(), 2);
    }
}
