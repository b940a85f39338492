//! TEMPORARY (issue 31 item 4 measurements): per-stage timestamps of each
//! live exec finding, on stderr as `STAGE` lines when `SIGBOX_STAGE_TRACE`
//! is set. Removed once the measurements are in BENCHMARKS.md.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// Whether tracing is on.
pub static ON: LazyLock<bool> = LazyLock::new(|| std::env::var_os("SIGBOX_STAGE_TRACE").is_some());

/// pid → [read, queued, dequeued] (ns since the epoch).
static MARKS: LazyLock<Mutex<HashMap<u32, [u64; 3]>>> = LazyLock::new(Mutex::default);

/// Marks stage `at` of the exec by `pid` now.
pub fn mark(pid: u32, at: usize) {
    if !*ON {
        return;
    }
    let now = crate::telemetry::now_ns();
    let mut marks = MARKS.lock().unwrap_or_else(|e| e.into_inner());
    if at == 0 {
        marks.insert(pid, [now, 0, 0]);
    } else if let Some(m) = marks.get_mut(&pid) {
        m[at] = now;
    }
}

/// Writes the exec's stage line, once its finding is written.
pub fn written(pid: u32, kernel_ns: u64) {
    if !*ON {
        return;
    }
    let now = crate::telemetry::now_ns();
    let m = MARKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&pid)
        .unwrap_or_default();
    eprintln!(
        "STAGE pid={pid} kernel={kernel_ns} read={} queued={} dequeued={} written={now}",
        m[0], m[1], m[2]
    );
}
