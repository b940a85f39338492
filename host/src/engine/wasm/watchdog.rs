//! When a guest call passes its deadline, is it busy or was it starved?
//!
//! Deadlines are counted in epoch ticks, which is wall-clock time: on a
//! busy machine a trivial call can be descheduled past 10 ms, and treating
//! that as a fault would let whoever loads the machine quarantine a good
//! signature. So when a deadline passes, the watchdog looks at the CPU time
//! the calling thread used since the previous deadline: a call that had the
//! CPU for at least half of that window is busy and is interrupted; a
//! starved one gets another window. A call is interrupted at the latest
//! after [`MAX_WINDOWS`] windows, however starved.
//!
//! Reading the thread's CPU clock costs a system call, so it happens only
//! when a deadline passes, never on the normal path.

use std::time::Duration;

use wasmtime::{StoreContextMut, UpdateDeadline};

use super::host_state::HostState;
use super::runtime::EPOCH_TICK;

/// Windows (each the call's limit long) after which a call is interrupted
/// even if it was starved of CPU the whole time.
pub const MAX_WINDOWS: u32 = 100;

/// The watchdog's state for the current call.
#[derive(Debug, Default)]
pub struct Watchdog {
    window_ticks: u64,
    /// The thread's CPU time when the last window began (after the first
    /// deadline passed).
    window_cpu: Option<Duration>,
    windows: u32,
    /// For a load-time call: the thread's CPU time when it began.
    call_cpu: Option<Duration>,
}

impl Watchdog {
    /// Starts watching a call whose limit is `ticks`.
    pub fn start(&mut self, ticks: u64) {
        *self = Self {
            window_ticks: ticks,
            window_cpu: None,
            windows: 0,
            call_cpu: None,
        };
    }

    /// Starts watching a load-time call (instantiation, `get-metadata`,
    /// `selected-events`, `init`) whose budget is `ticks`. Its CPU clock is
    /// read now, and at each deadline the CPU it used since it began is
    /// what counts: a busy call is interrupted at its first deadline (one
    /// budget, not an unmeasured window plus a measured one), and one that
    /// gets a share of a loaded machine is interrupted once it has had half
    /// its budget of CPU, however the share is spread over windows. Loads
    /// are rare, so the extra system call does not matter there.
    pub fn start_measured(&mut self, ticks: u64) {
        self.start(ticks);
        let now = thread_cpu_time();
        self.window_cpu = Some(now);
        self.call_cpu = Some(now);
    }

    /// Decides at a passed deadline: interrupt a busy call, give a starved
    /// one another window.
    fn decide(&mut self, cpu_now: Duration) -> UpdateDeadline {
        self.windows += 1;
        let window = EPOCH_TICK * u32::try_from(self.window_ticks).unwrap_or(u32::MAX);
        let since = self.call_cpu.or(self.window_cpu);
        let busy = since.is_some_and(|start| cpu_now.saturating_sub(start) >= window / 2);
        if busy || self.windows > MAX_WINDOWS {
            return UpdateDeadline::Interrupt;
        }
        self.window_cpu = Some(cpu_now);
        UpdateDeadline::Continue(self.window_ticks)
    }
}

/// The store's epoch deadline callback.
pub fn on_deadline(mut store: StoreContextMut<'_, HostState>) -> wasmtime::Result<UpdateDeadline> {
    Ok(store.data_mut().watchdog.decide(thread_cpu_time()))
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_busy_call_is_interrupted_after_one_measured_window() {
        let mut dog = Watchdog::default();
        dog.start(10);
        assert!(matches!(dog.decide(ms(100)), UpdateDeadline::Continue(10)));
        assert!(matches!(dog.decide(ms(109)), UpdateDeadline::Interrupt));
    }

    #[test]
    fn a_busy_load_call_is_interrupted_at_its_first_deadline() {
        let mut dog = Watchdog::default();
        dog.start_measured(10);
        let started = dog.window_cpu.expect("measured at the start");
        assert!(matches!(
            dog.decide(started + ms(9)),
            UpdateDeadline::Interrupt
        ));
    }

    #[test]
    fn a_starved_load_call_gets_another_window() {
        let mut dog = Watchdog::default();
        dog.start_measured(10);
        let started = dog.window_cpu.expect("measured at the start");
        assert!(matches!(
            dog.decide(started + ms(1)),
            UpdateDeadline::Continue(10)
        ));
    }

    #[test]
    fn a_load_call_sharing_the_cpu_is_interrupted_once_it_had_half_its_budget() {
        let mut dog = Watchdog::default();
        dog.start_measured(10);
        let started = dog.window_cpu.expect("measured at the start");
        // 40 % of the CPU in each window: never busy by one window alone.
        assert!(matches!(
            dog.decide(started + ms(4)),
            UpdateDeadline::Continue(10)
        ));
        assert!(matches!(
            dog.decide(started + ms(8)),
            UpdateDeadline::Interrupt
        ));
    }

    #[test]
    fn a_starved_call_gets_more_windows_up_to_the_cap() {
        let mut dog = Watchdog::default();
        dog.start(10);
        for window in 0..MAX_WINDOWS {
            let cpu = ms(100 + u64::from(window));
            assert!(
                matches!(dog.decide(cpu), UpdateDeadline::Continue(10)),
                "window {window}"
            );
        }
        assert!(matches!(dog.decide(ms(300)), UpdateDeadline::Interrupt));
    }
}
