//! Which container an exec ran in, and whether that container had started:
//! Tracee's container id and origin, from the cgroup id the kernel reports.
//!
//! - **Id**: the cgroup's path, parsed from the innermost component out
//!   ([`container_id_from_cgroup`]). The path comes from
//!   `/proc/<pid>/cgroup`; when the process is already gone (a process that
//!   ran for a millisecond), from a walk of the cgroup2 hierarchy that finds
//!   the directory whose inode number is the cgroup id.
//! - **Origin** (Tracee's rule): a container whose cgroup existed when the
//!   daemon started counts as started; a newer one starts with the first exec
//!   in it whose mount namespace differs from its parent's (the runtime
//!   handing over to the entry point). Until then its execs are
//!   `container-init`, from then on (that exec included) `container`.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::decode::{container_id_from_cgroup, container_id_from_path};
use crate::event::Origin;

/// Past this many cgroups the caches are cleared (and the started set is
/// re-seeded from the hierarchy), so a host that churns through cgroups
/// cannot grow them forever.
const MAX_CACHED_CGROUPS: usize = 8192;
/// How deep the cgroup2 walk goes (Kubernetes nests about six levels).
const MAX_WALK_DEPTH: usize = 12;
/// How long a process's container id read for cgroup id 0 or 1 is reused.
/// Such ids name no container (no cgroup v2, or its root on a hybrid host
/// where runtimes place containers in v1 hierarchies only), so the id comes
/// from `/proc/<pid>/cgroup`, which read per event was most of the daemon's
/// CPU under an open flood. A process changes cgroup rarely (a runtime
/// moves its init, which then execs, and an exec reads it anew), and a
/// reused pid gets a fresh read after this at the latest.
const PROCESS_ID_TTL: Duration = Duration::from_secs(1);
/// `statfs` magic of cgroup2 (`CGROUP2_SUPER_MAGIC`).
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Container ids and started state per cgroup id.
pub(crate) struct Containers {
    /// cgroup id → container id ("" on the host).
    ids: HashMap<u64, String>,
    /// Container cgroups that have started.
    started: HashSet<u64>,
    /// cgroup ids a walk did not find (removed before we looked): not walked again.
    unknown: HashSet<u64>,
    /// pid → (when read, container id) for processes in cgroup id 0 or 1.
    by_process: HashMap<u32, (Instant, String)>,
    read_cgroup: fn(u32) -> io::Result<String>,
    /// The cgroup2 mount, when there is one.
    hierarchy: Option<PathBuf>,
}

impl Containers {
    /// Reads `/proc/<pid>/cgroup` and walks this machine's cgroup2
    /// hierarchy; every container cgroup that exists now counts as started.
    pub(crate) fn new() -> Self {
        Self::with_parts(super::decode::read_proc_cgroup, cgroup2_mount())
    }

    /// With a given `/proc/<pid>/cgroup` reader and cgroup2 mount.
    pub(crate) fn with_parts(
        read_cgroup: fn(u32) -> io::Result<String>,
        hierarchy: Option<PathBuf>,
    ) -> Self {
        let mut containers = Self {
            ids: HashMap::new(),
            started: HashSet::new(),
            unknown: HashSet::new(),
            by_process: HashMap::new(),
            read_cgroup,
            hierarchy,
        };
        containers.seed_started();
        containers
    }

    /// The container id ("" on the host) and origin of an exec in
    /// `cgroup_id` by `pid`, whose mount namespace is `mnt_ns` and whose
    /// parent's is `parent_mnt_ns` (0 when unknown).
    pub(crate) fn classify(
        &mut self,
        cgroup_id: u64,
        pid: u32,
        mnt_ns: u32,
        parent_mnt_ns: u32,
    ) -> (String, Origin) {
        let id = self.container_id(cgroup_id, pid);
        if id.is_empty() {
            return (id, Origin::Host);
        }
        // Ids 0 and 1 (no cgroup v2, or its root) cannot be told apart.
        if cgroup_id <= 1 || self.started.contains(&cgroup_id) {
            return (id, Origin::Container);
        }
        if parent_mnt_ns != 0 && mnt_ns != parent_mnt_ns {
            if self.started.len() >= MAX_CACHED_CGROUPS {
                self.started.clear();
                self.seed_started();
            }
            self.started.insert(cgroup_id);
            return (id, Origin::Container);
        }
        (id, Origin::ContainerInit)
    }

    /// Forgets what was read for `pid`: its exec (which follows a move into
    /// a container's cgroup) is classified from a fresh read.
    pub(crate) fn forget_process(&mut self, pid: u32) {
        self.by_process.remove(&pid);
    }

    /// The container id of a process in cgroup `cgroup_id`, "" on the host.
    fn container_id(&mut self, cgroup_id: u64, pid: u32) -> String {
        if let Some(id) = self.ids.get(&cgroup_id) {
            return id.clone();
        }
        if cgroup_id > 1 {
            return self.read_container_id(cgroup_id, pid);
        }
        if let Some((read_at, id)) = self.by_process.get(&pid)
            && read_at.elapsed() < PROCESS_ID_TTL
        {
            return id.clone();
        }
        let id = self.read_container_id(cgroup_id, pid);
        if self.by_process.len() >= MAX_CACHED_CGROUPS {
            self.by_process.clear();
        }
        self.by_process.insert(pid, (Instant::now(), id.clone()));
        id
    }

    /// The container id of `pid` from `/proc/<pid>/cgroup`, or from the
    /// hierarchy when the process is gone; cached for `cgroup_id` above 1.
    fn read_container_id(&mut self, cgroup_id: u64, pid: u32) -> String {
        let id = match (self.read_cgroup)(pid) {
            Ok(text) => Some(
                container_id_from_cgroup(&text)
                    .unwrap_or_default()
                    .to_owned(),
            ),
            Err(error) => {
                tracing::debug!(
                    "reading /proc/{pid}/cgroup: {error}; looking up cgroup {cgroup_id}"
                );
                self.find_in_hierarchy(cgroup_id)
            }
        };
        let Some(id) = id else {
            return String::new();
        };
        if cgroup_id > 1 {
            if self.ids.len() >= MAX_CACHED_CGROUPS {
                self.ids.clear();
            }
            self.ids.insert(cgroup_id, id.clone());
        }
        id
    }

    /// Walks the hierarchy for the cgroup whose inode is `cgroup_id`, caching
    /// every container cgroup seen on the way. `None` if it is gone.
    fn find_in_hierarchy(&mut self, cgroup_id: u64) -> Option<String> {
        if cgroup_id <= 1 || self.unknown.contains(&cgroup_id) {
            return None;
        }
        let mut found = None;
        for (inode, id) in self.walk() {
            if inode == cgroup_id {
                found = Some(id.clone());
            }
            if !id.is_empty() && self.ids.len() < MAX_CACHED_CGROUPS {
                self.ids.insert(inode, id);
            }
        }
        if found.is_none() {
            if self.unknown.len() >= MAX_CACHED_CGROUPS {
                self.unknown.clear();
            }
            self.unknown.insert(cgroup_id);
        }
        found
    }

    /// Marks every container cgroup in the hierarchy as started.
    fn seed_started(&mut self) {
        for (inode, id) in self.walk() {
            if !id.is_empty() {
                self.started.insert(inode);
                if self.ids.len() < MAX_CACHED_CGROUPS {
                    self.ids.insert(inode, id);
                }
            }
        }
    }

    /// (cgroup id, container id or "") of every cgroup in the hierarchy.
    fn walk(&self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        if let Some(root) = &self.hierarchy {
            walk_dir(root, root, 0, &mut out);
        }
        out
    }
}

fn walk_dir(root: &Path, dir: &Path, depth: usize, out: &mut Vec<(u64, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if !kind.is_dir() {
            continue;
        }
        let path = entry.path();
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let id = container_id_from_path(&relative.to_string_lossy())
            .unwrap_or_default()
            .to_owned();
        out.push((metadata.ino(), id));
        if depth + 1 < MAX_WALK_DEPTH {
            walk_dir(root, &path, depth + 1, out);
        }
    }
}

/// Where cgroup2 is mounted: `/sys/fs/cgroup` (unified) or
/// `/sys/fs/cgroup/unified` (hybrid); `None` on cgroup-v1-only hosts.
fn cgroup2_mount() -> Option<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| is_cgroup2(path))
}

#[allow(
    clippy::useless_conversion,
    reason = "statfs.f_type is i64 on x86_64 but another width elsewhere"
)]
fn is_cgroup2(path: &Path) -> bool {
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into the zeroed struct we own; the path is a
    // valid NUL-terminated string that outlives the call.
    unsafe {
        let mut stat: libc::statfs = std::mem::zeroed();
        libc::statfs(c_path.as_ptr(), &mut stat) == 0
            && i64::from(stat.f_type) == CGROUP2_SUPER_MAGIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn docker_cgroup(_pid: u32) -> io::Result<String> {
        Ok(format!("0::/system.slice/docker-{ID}.scope\n"))
    }

    fn host_cgroup(_pid: u32) -> io::Result<String> {
        Ok("0::/user.slice/session-1.scope\n".to_owned())
    }

    fn gone(_pid: u32) -> io::Result<String> {
        Err(io::Error::from(io::ErrorKind::NotFound))
    }

    #[test]
    fn a_new_container_is_init_until_an_exec_changes_mount_namespace() {
        let mut containers = Containers::with_parts(docker_cgroup, None);
        assert_eq!(
            containers.classify(50, 7, 10, 10),
            (ID.to_owned(), Origin::ContainerInit)
        );
        // The entry point: a new mount namespace. That exec is `container`.
        assert_eq!(
            containers.classify(50, 8, 11, 10),
            (ID.to_owned(), Origin::Container)
        );
        // So is everything after it, even in the same mount namespace.
        assert_eq!(containers.classify(50, 9, 11, 11).1, Origin::Container);
        // Another new cgroup starts over.
        assert_eq!(containers.classify(51, 9, 11, 11).1, Origin::ContainerInit);
    }

    #[test]
    fn an_unknown_parent_namespace_does_not_start_a_container() {
        let mut containers = Containers::with_parts(docker_cgroup, None);
        assert_eq!(containers.classify(50, 7, 10, 0).1, Origin::ContainerInit);
    }

    #[test]
    fn host_processes_are_host() {
        let mut containers = Containers::with_parts(host_cgroup, None);
        assert_eq!(
            containers.classify(50, 7, 10, 11),
            (String::new(), Origin::Host)
        );
    }

    #[test]
    fn a_gone_process_in_an_unknown_cgroup_is_host_and_not_cached() {
        let mut containers = Containers::with_parts(gone, None);
        assert_eq!(
            containers.classify(50, 7, 10, 11),
            (String::new(), Origin::Host)
        );
        assert!(containers.ids.is_empty());
    }

    #[test]
    fn ids_are_cached_per_cgroup_but_failures_are_not() {
        let mut containers = Containers::with_parts(gone, None);
        assert_eq!(containers.classify(50, 7, 10, 11).0, "");
        containers.read_cgroup = docker_cgroup;
        assert_eq!(containers.classify(50, 7, 10, 11).0, ID);
        // Cached now: a failing reader no longer matters for this cgroup.
        containers.read_cgroup = gone;
        assert_eq!(containers.classify(50, 7, 10, 11).0, ID);
    }

    static READS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    fn counted_docker_cgroup(pid: u32) -> io::Result<String> {
        READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        docker_cgroup(pid)
    }

    #[test]
    fn a_process_in_the_root_cgroup_is_read_once_until_its_exec() {
        let reads = || READS.load(std::sync::atomic::Ordering::Relaxed);
        let mut containers = Containers::with_parts(counted_docker_cgroup, None);
        let first = reads();
        for _ in 0..100 {
            assert_eq!(containers.classify(1, 7, 10, 0).0, ID);
        }
        assert_eq!(reads() - first, 1, "read once for 100 events");
        containers.forget_process(7);
        assert_eq!(containers.classify(1, 7, 10, 0).0, ID);
        assert_eq!(reads() - first, 2, "read again after its exec");
        // Another process is its own read.
        assert_eq!(containers.classify(1, 8, 10, 0).0, ID);
        assert_eq!(reads() - first, 3);
    }

    #[test]
    fn the_hierarchy_walk_names_cgroups_by_inode_and_seeds_started() {
        let root = std::env::temp_dir().join(format!("sigbox-cgroups-{}", std::process::id()));
        let scope = root.join("system.slice").join(format!("docker-{ID}.scope"));
        std::fs::create_dir_all(&scope).unwrap();
        let inode = std::fs::metadata(&scope).unwrap().ino();
        let mut containers = Containers::with_parts(gone, Some(root.clone()));
        // Existing at start: started, and found although the process is gone.
        assert_eq!(
            containers.classify(inode, 7, 10, 10),
            (ID.to_owned(), Origin::Container)
        );
        // A cgroup created later is found by a new walk, and is not started.
        let later = root
            .join("system.slice")
            .join(format!("libpod-{}.scope", &ID.replace('0', "f")));
        std::fs::create_dir_all(&later).unwrap();
        let later_inode = std::fs::metadata(&later).unwrap().ino();
        let (id, origin) = containers.classify(later_inode, 7, 10, 10);
        assert_eq!(id, ID.replace('0', "f"));
        assert_eq!(origin, Origin::ContainerInit);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
