//! Counts of the container runtime lookups behind container names and
//! images (`sigbox_container_*`), kept here so the source that does the
//! lookups publishes into telemetry and telemetry imports no source.

use std::sync::atomic::AtomicU64;

/// Counts for `/metrics`, updated by the live source's container lookups.
#[derive(Debug, Default)]
pub struct ContainerLookups {
    /// Lookups a runtime answered.
    pub(crate) resolved: AtomicU64,
    /// Lookups no runtime answered (unknown id, or every runtime failed).
    pub(crate) failed: AtomicU64,
    /// Container events that went on before their lookup finished.
    pub(crate) unresolved_events: AtomicU64,
    /// Containers in the cache now.
    pub(crate) cached: AtomicU64,
    /// Containers evicted from the full cache.
    pub(crate) evictions: AtomicU64,
}
