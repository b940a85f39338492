//! The epoch ticker: advances the engine's epoch (the clock guest deadlines
//! are counted in) only while guest calls are in flight.
//!
//! Ticking every millisecond whether or not a guest runs cost an idle daemon
//! about 3% of a core. Now a call marks itself in flight ([`EpochTicker::busy`]);
//! the ticker ticks while any is, keeps ticking for [`LINGER`] after the last
//! one (so a steady stream of calls never pays for a wake-up), then sleeps
//! until the next call. The first tick after a wake-up comes within one
//! [`EPOCH_TICK`], so deadlines stay as precise as with a free-running ticker.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// How often the epoch advances while a guest runs. A guest call may run
/// for its limit rounded up to this granularity before it traps.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Ticks with no call in flight before the ticker sleeps.
const LINGER: u32 = 100;

/// How long a sleeping ticker waits before checking that its engine still
/// exists (so the thread ends after the engine is dropped).
const PARKED_CHECK: Duration = Duration::from_secs(1);

/// Shared between the ticker thread and the calls it serves.
#[derive(Default)]
pub struct EpochTicker {
    in_flight: AtomicUsize,
    parked: AtomicBool,
    ticks: AtomicU64,
    lock: Mutex<()>,
    wake: Condvar,
}

/// Marks a guest call in flight until dropped.
pub struct Busy<'a>(&'a EpochTicker);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl EpochTicker {
    /// Starts the ticker thread for `engine`; it ends soon after the
    /// engine is dropped.
    pub(crate) fn spawn(engine: wasmtime::EngineWeak) -> Arc<Self> {
        let ticker = Arc::new(Self::default());
        let shared = ticker.clone();
        thread::Builder::new()
            .name("sigbox-epoch".into())
            .spawn(move || shared.run(&engine))
            .expect("spawning the epoch thread");
        ticker
    }

    /// Marks a guest call in flight: the epoch advances until the guard drops.
    pub(crate) fn busy(&self) -> Busy<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) {
            // Taking the lock orders this wake-up after the ticker's last
            // check of `in_flight`, so it cannot be lost.
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_one();
        }
        Busy(self)
    }

    /// Ticks so far (what an idle daemon spends on deadlines).
    #[cfg(test)]
    pub(crate) fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    fn run(&self, engine: &wasmtime::EngineWeak) {
        let mut idle_ticks = 0;
        loop {
            let Some(strong) = engine.upgrade() else {
                return;
            };
            strong.increment_epoch();
            drop(strong);
            self.ticks.fetch_add(1, Ordering::Relaxed);
            thread::sleep(EPOCH_TICK);
            if self.in_flight.load(Ordering::SeqCst) > 0 {
                idle_ticks = 0;
                continue;
            }
            idle_ticks += 1;
            if idle_ticks >= LINGER {
                self.sleep_until_busy(engine);
                idle_ticks = 0;
            }
        }
    }

    /// Sleeps until a call is in flight (or the engine is gone).
    fn sleep_until_busy(&self, engine: &wasmtime::EngineWeak) {
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.parked.store(true, Ordering::SeqCst);
        while self.in_flight.load(Ordering::SeqCst) == 0 {
            if engine.upgrade().is_none() {
                break;
            }
            guard = self
                .wake
                .wait_timeout(guard, PARKED_CHECK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        self.parked.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The epoch advances while a call is in flight and stops after the
    /// linger period with none; a new call starts it again.
    #[test]
    fn ticks_only_around_calls() {
        let engine =
            wasmtime::Engine::new(wasmtime::Config::new().epoch_interruption(true)).unwrap();
        let ticker = EpochTicker::spawn(engine.weak());
        // Wait (conditionally, not by timing) until the ticker sleeps.
        while !ticker.parked.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(10));
        }
        let epoch = || ticker.ticks();
        let before = epoch();
        thread::sleep(Duration::from_millis(50));
        assert_eq!(epoch(), before, "a parked ticker does not tick");
        let busy = ticker.busy();
        while epoch() < before + 3 {
            thread::sleep(Duration::from_millis(1));
        }
        drop(busy);
        while !ticker.parked.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(10));
        }
    }
}
