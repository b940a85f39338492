//! The kernel side's file-event switches and filters, written from a
//! [`KernelPlan`], and its per-CPU drop counters, read back.
//!
//! The maps stay writable after the daemon drops its capabilities: a map
//! operation on a descriptor the process already holds needs none, so a hot
//! swap can switch an event kind on or off at any time.

use std::collections::BTreeSet;

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap, MapData, MapError, PerCpuArray};

use super::file_filters::{KernelPlan, PathKey, basename_hash};
use super::file_record::c;

/// `struct file_config` in `bpf/file_event.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FileConfig {
    pub open_enabled: u32,
    pub rename_enabled: u32,
    pub open_access: u32,
    pub open_basenames: u32,
    pub open_paths: u32,
    pub _pad: u32,
}

// SAFETY: repr(C), integers only, no padding.
unsafe impl aya::Pod for FileConfig {}

impl FileConfig {
    /// The switches of `plan`.
    fn of(plan: &KernelPlan) -> Self {
        let open = plan.open.as_ref();
        Self {
            open_enabled: u32::from(open.is_some()),
            rename_enabled: u32::from(plan.rename),
            open_access: open.map_or(0, |f| f.access.bits()),
            open_basenames: u32::from(open.is_some_and(|f| f.basenames.is_some())),
            open_paths: u32::from(open.is_some_and(|f| f.paths.is_some())),
            _pad: 0,
        }
    }

    /// Passes everything either passes, with no set lookups: what the
    /// kernel runs while the sets are rewritten.
    fn unfiltered_union(self, other: Self) -> Self {
        Self {
            open_enabled: self.open_enabled | other.open_enabled,
            rename_enabled: self.rename_enabled | other.rename_enabled,
            open_access: self.open_access | other.open_access,
            ..Self::default()
        }
    }
}

/// Events the kernel side dropped, by reason, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileDrops {
    /// Opens whose access mode no selector accepts.
    pub access: u64,
    /// Opens whose file name no selector accepts.
    pub basename: u64,
    /// Opens whose path no selector accepts.
    pub path: u64,
    /// Opens lost because the ring buffer was full.
    pub open_ring_full: u64,
    /// Renames lost because the ring buffer was full.
    pub rename_ring_full: u64,
}

impl FileDrops {
    /// `(event, filter, count)` rows for `sigbox_kernel_dropped_total`.
    pub fn rows(&self) -> [(&'static str, &'static str, u64); 5] {
        [
            ("security_file_open", "access_mode", self.access),
            ("security_file_open", "basename", self.basename),
            ("security_file_open", "path", self.path),
            (
                "security_file_open",
                "ring_buffer_full",
                self.open_ring_full,
            ),
            (
                "security_inode_rename",
                "ring_buffer_full",
                self.rename_ring_full,
            ),
        ]
    }
}

/// Reads the per-CPU drop counters.
pub(crate) fn read_drops(drops: &PerCpuArray<MapData, u64>) -> FileDrops {
    let sum = |index: u32| -> u64 {
        drops
            .get(&index, 0)
            .map(|values| values.iter().copied().sum())
            .unwrap_or(0)
    };
    FileDrops {
        access: sum(c::FILE_DROP_ACCESS),
        basename: sum(c::FILE_DROP_BASENAME),
        path: sum(c::FILE_DROP_PATH),
        open_ring_full: sum(c::FILE_DROP_OPEN_RING),
        rename_ring_full: sum(c::FILE_DROP_RENAME_RING),
    }
}

/// The switch and filter maps, and what was last written to them.
pub(crate) struct FileControls {
    config: Array<MapData, FileConfig>,
    basenames: HashMap<MapData, u64, u8>,
    paths: LpmTrie<MapData, [u8; 256], u8>,
    installed: KernelPlan,
    installed_hashes: BTreeSet<u64>,
    installed_paths: Vec<PathKey>,
}

impl FileControls {
    /// Takes the maps; the kernel side starts with everything off.
    pub(crate) fn new(
        config: Array<MapData, FileConfig>,
        basenames: HashMap<MapData, u64, u8>,
        paths: LpmTrie<MapData, [u8; 256], u8>,
    ) -> Self {
        Self {
            config,
            basenames,
            paths,
            installed: KernelPlan::OFF,
            installed_hashes: BTreeSet::new(),
            installed_paths: Vec::new(),
        }
    }

    /// What the kernel side runs now.
    pub(crate) fn installed(&self) -> &KernelPlan {
        &self.installed
    }

    /// Makes the kernel side run `plan`. While the sets change, the kernel
    /// runs without set lookups (passing more, never fewer, events than
    /// either plan), so no open a selector accepts is dropped in between.
    pub(crate) fn apply(&mut self, plan: &KernelPlan) -> Result<(), MapError> {
        if *plan == self.installed {
            return Ok(());
        }
        let old = FileConfig::of(&self.installed);
        let new = FileConfig::of(plan);
        self.config.set(0, old.unfiltered_union(new), 0)?;

        let open = plan.open.as_ref();
        let hashes: BTreeSet<u64> = open
            .and_then(|f| f.basenames.as_ref())
            .map(|names| names.iter().map(|n| basename_hash(n.as_bytes())).collect())
            .unwrap_or_default();
        for gone in self.installed_hashes.difference(&hashes) {
            self.basenames.remove(gone)?;
        }
        for hash in hashes.difference(&self.installed_hashes) {
            self.basenames.insert(hash, 1, 0)?;
        }
        self.installed_hashes = hashes;

        let paths = open
            .and_then(|f| f.paths.as_ref())
            .map(|set| set.keys())
            .unwrap_or_default();
        for gone in self.installed_paths.iter().filter(|k| !paths.contains(k)) {
            self.paths.remove(&Key::new(gone.prefix_bits, gone.data))?;
        }
        for key in paths.iter().filter(|k| !self.installed_paths.contains(k)) {
            self.paths
                .insert(&Key::new(key.prefix_bits, key.data), 1, 0)?;
        }
        self.installed_paths = paths;

        self.config.set(0, new, 0)?;
        self.installed = plan.clone();
        Ok(())
    }
}
