//! Container names and images for live events, from the container
//! runtime's API, as Tracee enriches its events
//! (`pkg/datastores/container/runtime`).
//!
//! The live source knows a container's id (from its cgroup); the name and
//! image come from the runtime. The event path only reads a bounded cache
//! ([`cache`]): an id it has not seen is queued for a background thread
//! ([`resolver`]) and the event goes on without a name, counted. Runtimes
//! are asked over their Unix sockets ([`sockets`] chooses them): Docker and
//! Podman through the Docker Engine API ([`docker_api`]), CRI-O through its
//! HTTP inspect endpoint ([`crio`]), containerd through its gRPC API
//! ([`containerd`] over [`grpc`]). A container Kubernetes created also gets
//! its pod, from kubelet's labels.

mod cache;
mod containerd;
mod crio;
mod docker_api;
mod grpc;
mod http;
mod resolver;
mod sockets;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use self::cache::{ContainerCache, Known, Lookup};
use self::resolver::{Answer, Resolver, RuntimeSocket};
pub use self::sockets::{RuntimeApi, RuntimeSocketPath};
use crate::event::Event;
use crate::telemetry::ContainerLookups;

/// Lookups waiting for the resolver at most; past it an event's container
/// is asked for again by a later event.
const QUEUED_LOOKUPS: usize = 1024;
/// Containers remembered by default.
pub const DEFAULT_CONTAINER_CACHE: usize = 4096;

/// How `sigbox run` looks containers up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLookupOptions {
    /// Whether to ask runtimes at all.
    pub enabled: bool,
    /// Runtime sockets to ask, in order; empty: probe the usual paths.
    pub sockets: Vec<RuntimeSocketPath>,
    /// Containers remembered at most.
    pub cache_containers: usize,
}

impl Default for ContainerLookupOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            sockets: Vec::new(),
            cache_containers: DEFAULT_CONTAINER_CACHE,
        }
    }
}

/// The event path's side: fills events' container info from the cache and
/// queues lookups for the ids it lacks.
pub struct ContainerLookup {
    cache: ContainerCache,
    requests: Sender<String>,
    answers: Receiver<Answer>,
    counters: Arc<ContainerLookups>,
}

impl ContainerLookup {
    /// Starts the resolver thread on the sockets `options` give (or finds
    /// by probing); `None` when lookups are off or there is no socket to
    /// ask, which is logged. Call it after privileges are dropped: the
    /// thread must not inherit them.
    pub fn start(options: &ContainerLookupOptions) -> Option<Self> {
        if !options.enabled {
            tracing::info!("container lookups are off (--no-container-lookup)");
            return None;
        }
        let sockets: Vec<RuntimeSocket> = sockets::choose(&options.sockets)
            .into_iter()
            .map(|(socket, missing)| {
                let socket = RuntimeSocket::new(socket);
                if missing { socket.failing() } else { socket }
            })
            .collect();
        if sockets.is_empty() {
            return None;
        }
        let (requests, queued) = crossbeam_channel::bounded(QUEUED_LOOKUPS);
        let (answer, answers) = crossbeam_channel::unbounded();
        let resolver = Resolver::new(sockets);
        let spawned = std::thread::Builder::new()
            .name("sigbox-containers".into())
            .spawn(move || resolver.serve(&queued, &answer));
        if let Err(error) = spawned {
            tracing::error!("container lookups are off: cannot start their thread: {error}");
            return None;
        }
        Some(Self::with_channels(
            options.cache_containers,
            requests,
            answers,
        ))
    }

    fn with_channels(
        cache_containers: usize,
        requests: Sender<String>,
        answers: Receiver<Answer>,
    ) -> Self {
        Self {
            cache: ContainerCache::new(cache_containers),
            requests,
            answers,
            counters: Arc::default(),
        }
    }

    /// The counters `/metrics` shows.
    pub fn counters(&self) -> Arc<ContainerLookups> {
        Arc::clone(&self.counters)
    }

    /// Takes the resolver's answers, then fills each container event's
    /// info from the cache. Never waits.
    pub fn enrich(&mut self, events: &mut [Event]) {
        let now = Instant::now();
        for (id, info) in self.answers.try_iter() {
            let (counter, known) = match info {
                Some(info) => (&self.counters.resolved, Known::Resolved(info)),
                None => (&self.counters.failed, Known::Failed(now)),
            };
            counter.fetch_add(1, Ordering::Relaxed);
            self.cache.record(id, known);
        }
        for event in events {
            let context = &mut event.context;
            if context.container_id.is_empty() || context.container.is_some() {
                continue;
            }
            match self.cache.lookup(&context.container_id, now) {
                Lookup::Resolved(info) => {
                    context.container = Some(info);
                    continue;
                }
                Lookup::Unknown => {}
                Lookup::Ask => self.ask(context.container_id.clone()),
            }
            self.counters
                .unresolved_events
                .fetch_add(1, Ordering::Relaxed);
        }
        self.counters
            .cached
            .store(self.cache.len() as u64, Ordering::Relaxed);
        self.counters
            .evictions
            .store(self.cache.evictions(), Ordering::Relaxed);
    }

    fn ask(&mut self, id: String) {
        self.cache.record(id.clone(), Known::Pending);
        match self.requests.try_send(id) {
            Ok(()) => {}
            // The resolver is behind: a later event of the container asks again.
            Err(TrySendError::Full(id) | TrySendError::Disconnected(id)) => {
                self.cache.forget(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests;
