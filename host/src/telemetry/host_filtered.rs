//! Events the host's filters dropped before the worker queues (no loaded
//! signature's selectors accept them), per event kind.

use crate::event::{Event, Kind};

/// Events the host's filters dropped, per event kind (others together).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostFiltered {
    /// Per kind, in [`Kind::ALL`]'s order.
    pub known: [u64; Kind::ALL.len()],
    /// Events of names the event table does not know (replay).
    pub other: u64,
}

impl HostFiltered {
    /// How many labels [`Self::labels`] gives.
    pub const LABELS: usize = Kind::ALL.len() + 1;

    /// Counts one dropped `event`.
    pub(crate) fn count(&mut self, event: &Event) {
        match event.kind() {
            Some(kind) => self.known[kind.index()] += 1,
            None => self.other += 1,
        }
    }

    /// All of them.
    pub fn total(&self) -> u64 {
        self.known.iter().sum::<u64>() + self.other
    }

    /// The `event` label of each count: every kind's name, then `other`.
    pub fn labels() -> impl Iterator<Item = &'static str> {
        Kind::ALL
            .iter()
            .map(|kind| kind.name())
            .chain(std::iter::once("other"))
    }

    /// The counts, in [`Self::labels`]' order.
    pub fn counts(&self) -> impl Iterator<Item = u64> + '_ {
        self.known
            .iter()
            .copied()
            .chain(std::iter::once(self.other))
    }
}
