//! TEMPORARY: per-stage timestamps of live findings (SIGBOX_STAGE_TRACE=1),
//! printed on stderr, to find where exec → finding latency goes.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

pub static ON: LazyLock<bool> = LazyLock::new(|| std::env::var_os("SIGBOX_STAGE_TRACE").is_some());
/// When the live loop's read woke (ring readable).
pub static WAKE_NS: AtomicU64 = AtomicU64::new(0);
/// When the batch was decoded (read_batch returned).
pub static FORMATTED_NS: AtomicU64 = AtomicU64::new(0);
pub static READ_NS: AtomicU64 = AtomicU64::new(0);

pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub fn mark(at: &AtomicU64) {
    if *ON {
        at.store(now_ns(), Ordering::Relaxed);
    }
}

pub fn get(at: &AtomicU64) -> u64 {
    at.load(Ordering::Relaxed)
}
