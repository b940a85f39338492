//! What the workers run, as they apply changes: each worker reports what a
//! change did (log line, reload count, retired counters) and its new list,
//! and the status board shows every worker's list, in worker order.

use std::sync::{Arc, Mutex};

use super::report::{describe, identify};
use crate::engine::{Applied, SignatureStatus};
use crate::status::StatusBoard;
use crate::telemetry::{Reload, Telemetry};

/// Shared by the workers; each reports only its own changes.
pub struct Roster {
    /// Per worker, the signatures it runs now, in load order.
    running: Mutex<Vec<Vec<SignatureStatus>>>,
    board: StatusBoard,
    telemetry: Arc<Telemetry>,
}

impl Roster {
    pub fn new(workers: usize, board: StatusBoard, telemetry: Arc<Telemetry>) -> Self {
        Self {
            running: Mutex::new(vec![Vec::new(); workers]),
            board,
            telemetry,
        }
    }

    /// Worker `worker` applied a change (`rejected`: a rejected update of
    /// one of its signatures) and now runs `now_running`: logs it with the
    /// signature's id, version, digest and file (and, for a version that
    /// stopped, its final counters), counts it, and updates the board.
    pub fn applied(
        &self,
        worker: usize,
        applied: Applied,
        rejected: bool,
        now_running: Vec<SignatureStatus>,
    ) {
        match applied {
            Applied::Loaded(new) => {
                self.telemetry.count_reload(Reload::Loaded);
                tracing::info!("loaded signature {}{}", identify(&new), signers(&new));
                self.warn_unserved(&new);
                // A pack's other detectors run from the same file.
                for other in now_running.iter().filter(|s| {
                    s.info.path == new.info.path
                        && s.info.sha256 == new.info.sha256
                        && s.info.metadata.id != new.info.metadata.id
                }) {
                    tracing::info!(
                        "loaded signature {} (a detector of the same pack)",
                        identify(other)
                    );
                    self.warn_unserved(other);
                }
            }
            Applied::Replaced { old, new } => {
                self.telemetry.count_reload(Reload::Replaced);
                self.board.retire(&old);
                self.retire_pack_detectors(worker, &old);
                // The new version starts from nothing: say what went.
                tracing::info!(
                    "replaced signature {} with {}{}; the old instance's state ({} KiB of memory) is dropped",
                    describe(&old),
                    identify(&new),
                    signers(&new),
                    old.counters.snapshot().memory_bytes >> 10
                );
                self.warn_unserved(&new);
            }
            Applied::Unloaded(old) => {
                self.telemetry.count_reload(Reload::Unloaded);
                self.board.retire(&old);
                self.retire_pack_detectors(worker, &old);
                tracing::info!("unloaded signature {}", describe(&old));
            }
            Applied::Moved(now) => {
                tracing::info!(
                    "signature {} kept running under its new name",
                    identify(&now)
                );
            }
            Applied::NotLoaded(path) => {
                tracing::debug!("{} was not running; nothing to unload", path.display())
            }
            Applied::Unchanged if rejected => self.telemetry.count_reload(Reload::Rejected),
            Applied::Unchanged => {}
        }
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let emptied = !running[worker].is_empty() && now_running.is_empty();
        running[worker] = now_running;
        if emptied && running.iter().all(Vec::is_empty) {
            tracing::error!(
                "the last signature was unloaded: nothing is being detected until a module is added"
            );
        }
        self.board.set(running.iter().flatten().cloned().collect());
    }

    /// A pack that stopped is reported by its first detector: its other
    /// detectors (the same file and digest in what the worker ran) retire
    /// too, so their per-id counters carry over to the next version.
    fn retire_pack_detectors(&self, worker: usize, old: &SignatureStatus) {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        for other in running[worker].iter().filter(|s| {
            s.info.path == old.info.path
                && s.info.sha256 == old.info.sha256
                && s.info.metadata.id != old.info.metadata.id
        }) {
            self.board.retire(other);
        }
    }

    /// Warns when a signature selects events this source never produces, or
    /// reads fields it leaves out.
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
        for (field, option) in self.board.withheld(status) {
            tracing::warn!(
                "signature {} reads `{field}`, which this daemon does not collect: it will \
                 never match on it (start with {option})",
                identify(status),
            );
        }
    }
}

/// `, signed by A, B` for a verified signature, nothing otherwise.
fn signers(status: &SignatureStatus) -> String {
    if status.info.signed_by.is_empty() {
        String::new()
    } else {
        format!(", signed by {}", status.info.signed_by.join(", "))
    }
}
