//! Container names and images for live events, from the container
//! runtime's API, as Tracee enriches its events
//! (`pkg/datastores/container/runtime`).
//!
//! The live source knows a container's id (from its cgroup); the name and
//! image come from the runtime. The event path only reads a bounded cache
//! ([`cache`]): an id it has not seen is queued for a background thread
//! ([`resolver`]) and the event goes on without a name, counted. Runtimes
//! speaking the Docker Engine API are asked ([`docker_api`]): Docker, and
//! Podman's service. containerd and CRI-O speak gRPC (CRI) and are not
//! asked yet.

mod cache;
mod docker_api;
mod resolver;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use self::cache::{ContainerCache, Known, Lookup};
use self::resolver::{Answer, Resolver, RuntimeSocket};
use crate::event::Event;

/// Docker-API sockets probed when none is given (Docker, rootful Podman).
const DOCKER_API_SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/podman/podman.sock"];
/// Sockets of runtimes not asked yet, named when found so the operator
/// knows why their containers have no names.
const UNSUPPORTED_SOCKETS: [(&str, &str); 2] = [
    ("containerd", "/var/run/containerd/containerd.sock"),
    ("CRI-O", "/var/run/crio/crio.sock"),
];
/// Lookups waiting for the resolver at most; past it an event's container
/// is asked for again by a later event.
const QUEUED_LOOKUPS: usize = 1024;
/// Containers remembered by default.
pub const DEFAULT_CACHE_CONTAINERS: usize = 4096;

/// How `sigbox run` looks containers up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupOptions {
    /// Whether to ask runtimes at all.
    pub enabled: bool,
    /// Docker-API sockets to ask, in order; empty: probe the usual paths.
    pub sockets: Vec<PathBuf>,
    /// Containers remembered at most.
    pub cache_containers: usize,
}

impl Default for LookupOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            sockets: Vec::new(),
            cache_containers: DEFAULT_CACHE_CONTAINERS,
        }
    }
}

/// Counts for `/metrics`.
#[derive(Debug, Default)]
pub struct ContainerCounters {
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

/// The event path's side: fills events' container info from the cache and
/// queues lookups for the ids it lacks.
pub struct ContainerLookup {
    cache: ContainerCache,
    requests: Sender<String>,
    answers: Receiver<Answer>,
    counters: Arc<ContainerCounters>,
}

impl ContainerLookup {
    /// Starts the resolver thread on the sockets `options` give (or finds
    /// by probing); `None` when lookups are off or there is no socket to
    /// ask, which is logged. Call it after privileges are dropped: the
    /// thread must not inherit them.
    pub fn start(options: &LookupOptions) -> Option<Self> {
        if !options.enabled {
            tracing::info!("container lookups are off (--no-container-lookup)");
            return None;
        }
        let sockets = sockets(options);
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
    pub fn counters(&self) -> Arc<ContainerCounters> {
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

/// The sockets to ask: the ones given (a missing one is logged now, once),
/// else the usual Docker-API paths that exist.
fn sockets(options: &LookupOptions) -> Vec<RuntimeSocket> {
    if !options.sockets.is_empty() {
        return options
            .sockets
            .iter()
            .map(|path| {
                let socket = RuntimeSocket::new(path.clone());
                if path.exists() {
                    socket
                } else {
                    tracing::warn!(
                        "container runtime socket {} does not exist (--container-runtime-socket); \
                         containers it runs get no name or image until it does",
                        path.display()
                    );
                    socket.failing()
                }
            })
            .collect();
    }
    for (runtime, path) in UNSUPPORTED_SOCKETS {
        if std::path::Path::new(path).exists() {
            tracing::warn!(
                "{runtime} socket {path} found: sigbox does not ask {runtime} yet, so its \
                 containers get no name or image (a Docker-API socket can be given with \
                 --container-runtime-socket)"
            );
        }
    }
    let found: Vec<RuntimeSocket> = DOCKER_API_SOCKETS
        .iter()
        .map(PathBuf::from)
        .filter(|path| path.exists())
        .map(RuntimeSocket::new)
        .collect();
    if found.is_empty() {
        tracing::info!(
            "no container runtime socket at {}: containers get no name or image \
             (--container-runtime-socket PATH names one)",
            DOCKER_API_SOCKETS.join(", ")
        );
    }
    found
}

#[cfg(test)]
mod tests;
