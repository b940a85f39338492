//! The containers known on the event path: a bounded map from container id
//! to the runtime's answer, the least recently used entry evicted first
//! (containers that went are the ones no event uses any more).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event::ContainerInfo;

/// After this long a container no runtime answered for is asked again (its
/// runtime may have been restarting).
const RETRY_FAILED: Duration = Duration::from_secs(60);

/// What is known of a container id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Known {
    /// Asked, no answer yet.
    Pending,
    /// The runtime's answer.
    Resolved(Arc<ContainerInfo>),
    /// No runtime answered, at that time.
    Failed(Instant),
}

struct Entry {
    known: Known,
    /// When it was last used, in [`ContainerCache::clock`] ticks.
    used: u64,
}

/// Container id → what is known, at most `capacity` entries.
pub(crate) struct ContainerCache {
    entries: HashMap<String, Entry>,
    capacity: usize,
    clock: u64,
    evictions: u64,
}

/// What the event path should do for an id.
#[derive(Debug, PartialEq)]
pub(crate) enum Lookup {
    /// Known: use it.
    Resolved(Arc<ContainerInfo>),
    /// Asked already, or failed recently: go on without it.
    Unknown,
    /// Never asked (or the failure is old): ask, then go on without it.
    Ask,
}

impl ContainerCache {
    /// An empty cache of at most `capacity` (at least 1) containers.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            clock: 0,
            evictions: 0,
        }
    }

    /// What is known of `id`, marking it used.
    pub(crate) fn lookup(&mut self, id: &str, now: Instant) -> Lookup {
        self.clock += 1;
        let Some(entry) = self.entries.get_mut(id) else {
            return Lookup::Ask;
        };
        entry.used = self.clock;
        match &entry.known {
            Known::Resolved(info) => Lookup::Resolved(Arc::clone(info)),
            Known::Failed(at) if now.duration_since(*at) >= RETRY_FAILED => Lookup::Ask,
            Known::Pending | Known::Failed(_) => Lookup::Unknown,
        }
    }

    /// Records what is known of `id`, evicting the least recently used
    /// entry when the cache is full. An answer for an id evicted while
    /// pending is dropped: the next event asks again.
    pub(crate) fn record(&mut self, id: String, known: Known) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.known = known;
            return;
        }
        if !matches!(known, Known::Pending) {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.evict_one();
        }
        self.clock += 1;
        let used = self.clock;
        self.entries.insert(id, Entry { known, used });
    }

    /// Forgets `id` (its request could not be queued: the next event asks again).
    pub(crate) fn forget(&mut self, id: &str) {
        self.entries.remove(id);
    }

    /// A linear scan, but only when a new container arrives in a full cache.
    fn evict_one(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, entry)| entry.used)
            .map(|(id, _)| id.clone());
        if let Some(id) = oldest {
            self.entries.remove(&id);
            self.evictions += 1;
        }
    }

    /// Entries held now.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries evicted so far.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> Known {
        Known::Resolved(Arc::new(ContainerInfo {
            name: name.into(),
            ..ContainerInfo::default()
        }))
    }

    #[test]
    fn an_id_is_asked_once_then_answered() {
        let now = Instant::now();
        let mut cache = ContainerCache::new(4);
        assert_eq!(cache.lookup("a", now), Lookup::Ask);
        cache.record("a".into(), Known::Pending);
        assert_eq!(cache.lookup("a", now), Lookup::Unknown);
        cache.record("a".into(), info("web"));
        assert!(matches!(cache.lookup("a", now), Lookup::Resolved(i) if i.name == "web"));
    }

    #[test]
    fn the_cache_stays_within_its_bound_evicting_the_least_recently_used() {
        let now = Instant::now();
        let mut cache = ContainerCache::new(2);
        for id in ["a", "b"] {
            cache.record(id.into(), Known::Pending);
            cache.record(id.into(), info(id));
        }
        // "a" is used after "b", so "b" goes when "c" arrives.
        assert!(matches!(cache.lookup("a", now), Lookup::Resolved(_)));
        cache.record("c".into(), Known::Pending);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.evictions(), 1);
        assert_eq!(cache.lookup("b", now), Lookup::Ask, "evicted");
        assert!(matches!(cache.lookup("a", now), Lookup::Resolved(_)));
        for n in 0..1000 {
            cache.record(format!("x{n}"), Known::Pending);
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.evictions(), 1001);
    }

    #[test]
    fn an_answer_for_an_evicted_id_is_dropped() {
        let mut cache = ContainerCache::new(1);
        cache.record("a".into(), Known::Pending);
        cache.record("b".into(), Known::Pending);
        cache.record("a".into(), info("a"));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.lookup("a", Instant::now()), Lookup::Ask);
    }

    #[test]
    fn a_failed_lookup_is_asked_again_only_after_a_while() {
        let start = Instant::now();
        let mut cache = ContainerCache::new(4);
        cache.record("a".into(), Known::Pending);
        cache.record("a".into(), Known::Failed(start));
        assert_eq!(cache.lookup("a", start), Lookup::Unknown);
        assert_eq!(cache.lookup("a", start + RETRY_FAILED), Lookup::Ask);
    }
}
