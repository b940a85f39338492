//! A stop request shared by the threads that evaluate events, so a daemon
//! told to stop ends between two guest calls instead of draining its queues
//! through slow signatures.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Set once, when the daemon is told to stop.
#[derive(Debug, Default)]
pub struct StopSignal {
    /// After this instant no new guest call starts.
    deadline: OnceLock<Instant>,
}

impl StopSignal {
    /// Asks evaluation to stop once `grace` has passed (events queued until
    /// then are still evaluated). A second request changes nothing.
    pub fn request(&self, grace: Duration) {
        let _ = self.deadline.set(Instant::now() + grace);
    }

    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        self.deadline.get().is_some()
    }

    /// Whether the grace is over: no guest call may start any more.
    pub fn due(&self) -> bool {
        self.deadline.get().is_some_and(|&d| Instant::now() >= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_only_after_a_request_and_its_grace() {
        let stop = StopSignal::default();
        assert!(!stop.requested() && !stop.due());
        stop.request(Duration::from_secs(3600));
        assert!(stop.requested() && !stop.due());
        let now = StopSignal::default();
        now.request(Duration::ZERO);
        assert!(now.due());
        // The first deadline stays.
        now.request(Duration::from_secs(3600));
        assert!(now.due());
    }
}
