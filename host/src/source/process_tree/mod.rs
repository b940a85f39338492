//! The process tree the host keeps: every process's parent, name and
//! executable, fed by the kernel's fork, exec and exit records (in the
//! order the kernel made them) and seeded from `/proc` at start. It answers
//! each event's entity ids and ancestors ([`ProcessTree::enrich`]).
//!
//! Processes are kept after they exit (with their exit time) until the
//! bound evicts them, least recently used first, so an ancestor that exited
//! before its descendant's event is read is still in the chain. Entries are
//! keyed by pid and start time, and each names its parent by the same key:
//! a pid reused after an exit never grafts a stranger into a chain.

mod proc_seed;

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lru::LruCache;

pub(crate) use self::proc_seed::{SeedProcess, read_proc};
use crate::event::{Ancestor, Ancestry, Context, MAX_ANCESTORS, entity_id};

/// Processes kept by default (Tracee keeps about as many).
pub const DEFAULT_MAX_PROCESSES: usize = 16_384;

/// A process: its host pid and its start, ns since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ProcessKey {
    pid: u32,
    start_ns: u64,
}

impl ProcessKey {
    fn entity_id(self) -> u32 {
        entity_id(self.pid, self.start_ns)
    }
}

/// What the tree holds of one process.
#[derive(Debug, Clone)]
struct Process {
    /// The process that forked it; `None` when not known (pid 1, kernel
    /// threads' parent, or a parent evicted or never seen).
    parent: Option<ProcessKey>,
    name: Arc<str>,
    executable_path: Arc<str>,
    /// Its pid in its own pid namespace; 0 when not known.
    ns_pid: u32,
    uid: u32,
    /// Empty on the host; inherited at fork, set at exec.
    container_id: Arc<str>,
    /// ns since the epoch; 0 while it runs.
    exit_ns: u64,
}

/// The bounded process tree.
pub struct ProcessTree {
    processes: LruCache<ProcessKey, Process>,
    /// The newest process of each pid: events and `/proc` name processes
    /// by pid alone.
    by_pid: HashMap<u32, ProcessKey>,
    evictions: Arc<AtomicU64>,
    /// How many processes it holds, for the metrics reader.
    size: Arc<AtomicU64>,
}

impl ProcessTree {
    /// An empty tree holding at most `max_processes` (at least 1).
    pub fn new(max_processes: usize) -> Self {
        let bound = NonZeroUsize::new(max_processes).unwrap_or(NonZeroUsize::MIN);
        Self {
            processes: LruCache::new(bound),
            by_pid: HashMap::new(),
            evictions: Arc::default(),
            size: Arc::default(),
        }
    }

    /// Adds the processes `/proc` listed, parents linked by pid, oldest
    /// first (so a bound smaller than the machine keeps the newest).
    pub(crate) fn seed(&mut self, mut seeds: Vec<SeedProcess>) {
        seeds.sort_by_key(|seed| seed.start_ns);
        for seed in &seeds {
            let key = ProcessKey {
                pid: seed.pid,
                start_ns: seed.start_ns,
            };
            self.insert(
                key,
                Process {
                    parent: None,
                    name: seed.name.as_str().into(),
                    executable_path: seed.executable_path.as_str().into(),
                    ns_pid: seed.ns_pid,
                    uid: seed.uid,
                    container_id: seed.container_id.as_str().into(),
                    exit_ns: 0,
                },
            );
        }
        for seed in &seeds {
            let parent = self.by_pid.get(&seed.ppid).copied();
            let key = self.by_pid.get(&seed.pid).copied();
            if let Some(process) = key.and_then(|key| self.processes.peek_mut(&key)) {
                process.parent = parent.filter(|p| p.pid != seed.pid);
            }
        }
    }

    /// A new process `pid`, started at `start_ns`, forked by `ppid` (started
    /// at `parent_start_ns`): it runs what its parent ran, named `comm`,
    /// with its parent's uid, in its parent's container (see
    /// [`Self::identify`] for what the kernel says of it).
    pub fn fork(&mut self, pid: u32, start_ns: u64, ppid: u32, parent_start_ns: u64, comm: &str) {
        let parent = self.find(ppid, parent_start_ns);
        let inherited = parent.and_then(|key| self.processes.peek(&key));
        let process = Process {
            parent,
            name: comm.into(),
            executable_path: inherited
                .map_or_else(|| Arc::from(""), |p| Arc::clone(&p.executable_path)),
            ns_pid: 0,
            uid: inherited.map_or(0, |p| p.uid),
            container_id: inherited.map_or_else(|| Arc::from(""), |p| Arc::clone(&p.container_id)),
            exit_ns: 0,
        };
        self.insert(ProcessKey { pid, start_ns }, process);
    }

    /// Process `pid` (started at `start_ns`) has `ns_pid` in its own pid
    /// namespace and real uid `uid` (what a fork record tells).
    pub fn identify(&mut self, pid: u32, start_ns: u64, ns_pid: u32, uid: u32) {
        if let Some(key) = self.find(pid, start_ns)
            && let Some(process) = self.processes.peek_mut(&key)
        {
            process.ns_pid = ns_pid;
            process.uid = uid;
        }
    }

    /// An exec event's process ran that exec: [`Self::exec`] with the
    /// event's names, then its namespaced pid, uid and container.
    pub fn exec_event(&mut self, c: &Context) {
        self.exec(
            c.host_pid,
            c.thread_start_ns,
            c.host_ppid,
            &c.process_name,
            &c.executable_path,
        );
        if let Some(key) = self.find(c.host_pid, c.thread_start_ns)
            && let Some(process) = self.processes.peek_mut(&key)
        {
            process.ns_pid = c.pid;
            process.uid = c.uid;
            if *process.container_id != *c.container_id {
                process.container_id = c.container_id.as_str().into();
            }
        }
    }

    /// Process `pid` (parent `ppid`, started at `start_ns`) ran an exec:
    /// its new name and executable. A process the tree lost is added back.
    pub fn exec(&mut self, pid: u32, start_ns: u64, ppid: u32, comm: &str, path: &str) {
        match self.find(pid, start_ns) {
            Some(key) => {
                if let Some(process) = self.processes.get_mut(&key) {
                    process.name = comm.into();
                    process.executable_path = path.into();
                }
            }
            None => {
                let parent = self.by_pid.get(&ppid).copied();
                self.insert(
                    ProcessKey { pid, start_ns },
                    Process {
                        parent,
                        name: comm.into(),
                        executable_path: path.into(),
                        ns_pid: 0,
                        uid: 0,
                        container_id: Arc::from(""),
                        exit_ns: 0,
                    },
                );
            }
        }
    }

    /// Process `pid` (started at `start_ns`) exited at `exit_ns`. It stays
    /// for its descendants' events until the bound evicts it.
    pub fn exit(&mut self, pid: u32, start_ns: u64, exit_ns: u64) {
        if let Some(key) = self.find(pid, start_ns)
            && let Some(process) = self.processes.peek_mut(&key)
        {
            process.exit_ns = exit_ns;
        }
    }

    /// Fills `context`'s entity ids and ancestors from the tree as it is
    /// now: Tracee's `processEntityId` from the process's start, its
    /// `parentEntityId` from the current parent's (`host_ppid`), and the
    /// ancestors (the processes that forked it, nearest first, at most
    /// [`MAX_ANCESTORS`]), exited ones included.
    pub fn enrich(&mut self, context: &mut Context) {
        let own = self.by_pid.get(&context.host_pid).copied();
        context.process_entity_id = match own {
            Some(key) => key.entity_id(),
            None => entity_id(context.host_pid, context.thread_start_ns),
        };
        context.parent_entity_id = self
            .by_pid
            .get(&context.host_ppid)
            .map_or(0, |key| key.entity_id());
        context.ancestors = self.ancestors(own);
    }

    /// The chain above `own`, nearest first.
    fn ancestors(&mut self, own: Option<ProcessKey>) -> Ancestry {
        let mut chain = Vec::with_capacity(MAX_ANCESTORS);
        let mut next = own.and_then(|key| self.processes.get(&key)?.parent);
        while let Some(key) = next
            && chain.len() < MAX_ANCESTORS
        {
            let Some(process) = self.processes.get(&key) else {
                break;
            };
            chain.push(Ancestor {
                pid: process.ns_pid,
                host_pid: key.pid,
                entity_id: key.entity_id(),
                process_name: Arc::clone(&process.name),
                executable_path: Arc::clone(&process.executable_path),
                uid: process.uid,
                start_ns: key.start_ns,
                exit_ns: process.exit_ns,
                container_id: Arc::clone(&process.container_id),
            });
            next = process.parent;
        }
        Arc::from(chain)
    }

    /// How many processes it holds.
    pub fn len(&self) -> usize {
        self.processes.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    /// Processes evicted by the bound since start.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// A reader of `(processes held, evictions)` for the metrics endpoint
    /// (another thread).
    pub fn counts_reader(&self) -> impl Fn() -> (u64, u64) + Send + Sync + 'static {
        let size = Arc::clone(&self.size);
        let evictions = Arc::clone(&self.evictions);
        move || {
            (
                size.load(Ordering::Relaxed),
                evictions.load(Ordering::Relaxed),
            )
        }
    }

    /// The process `pid` started at `start_ns`; else the newest of that
    /// pid (`/proc` start times are in clock ticks, not ns).
    fn find(&self, pid: u32, start_ns: u64) -> Option<ProcessKey> {
        let exact = ProcessKey { pid, start_ns };
        if self.processes.contains(&exact) {
            return Some(exact);
        }
        self.by_pid.get(&pid).copied()
    }

    fn insert(&mut self, key: ProcessKey, process: Process) {
        if let Some((old, _)) = self.processes.push(key, process)
            && old != key
        {
            if self.by_pid.get(&old.pid) == Some(&old) {
                self.by_pid.remove(&old.pid);
            }
            if self.evictions.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(
                    max_processes = self.processes.cap().get(),
                    "the process tree is full: evicting the least recently used processes \
                     (their descendants' events lose those ancestors; raise \
                     --process-tree-max); logged once, counted in \
                     sigbox_process_tree_evictions_total"
                );
            }
        }
        self.by_pid.insert(key.pid, key);
        self.size
            .store(self.processes.len() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
