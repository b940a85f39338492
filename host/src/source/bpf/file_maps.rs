//! The kernel side's file-event switches and filters, written from a
//! [`KernelPlan`], and its per-CPU drop counters, read back.
//!
//! The maps stay writable after the daemon drops its capabilities: a map
//! operation on a descriptor the process already holds needs none, so a hot
//! swap can switch an event kind on or off at any time.

use std::collections::BTreeMap;

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap, MapData, MapError, PerCpuArray};

use super::file_filters::{KernelPlan, PathKey, Uses, basename_hash, ending_hash};
use super::file_record::c;

/// `struct file_config` in `bpf/file_event.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FileConfig {
    pub open_enabled: u32,
    pub rename_enabled: u32,
    pub open_uses: u32,
    pub open_any_path: u32,
    pub open_basenames: u32,
    pub open_paths: u32,
    pub open_suffix_max: u32,
    pub open_suffix_lengths: [u8; 32],
    pub _pad: u32,
}

// SAFETY: repr(C), integers only, no padding.
unsafe impl aya::Pod for FileConfig {}

impl FileConfig {
    /// The switches of `plan`.
    fn of(plan: &KernelPlan) -> Self {
        let open = plan.open.as_ref();
        let endings = open.map_or((0, [0; 32]), |f| f.suffix_lengths());
        Self {
            open_enabled: u32::from(open.is_some()),
            rename_enabled: u32::from(plan.rename),
            open_uses: open.map_or(0, |f| f.uses.bits().into()),
            open_any_path: open.map_or(0, |f| f.any_path.bits().into()),
            open_basenames: u32::from(open.is_some_and(|f| !f.basenames.is_empty())),
            open_paths: u32::from(
                open.is_some_and(|f| !f.prefixes.is_empty() || !f.exact.is_empty()),
            ),
            open_suffix_max: endings.0,
            open_suffix_lengths: endings.1,
            _pad: 0,
        }
    }

    /// Passes everything either passes, with no set lookups: what the
    /// kernel runs while the sets are rewritten.
    fn unfiltered_union(self, other: Self) -> Self {
        let uses = self.open_uses | other.open_uses;
        Self {
            open_enabled: self.open_enabled | other.open_enabled,
            rename_enabled: self.rename_enabled | other.rename_enabled,
            open_uses: uses,
            open_any_path: uses,
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
    suffixes: HashMap<MapData, u64, u8>,
    paths: LpmTrie<MapData, [u8; 256], u8>,
    installed: KernelPlan,
    installed_hashes: BTreeMap<u64, u8>,
    installed_suffixes: BTreeMap<u64, u8>,
    installed_paths: Vec<(PathKey, Uses)>,
}

impl FileControls {
    /// Takes the maps; the kernel side starts with everything off.
    pub(crate) fn new(
        config: Array<MapData, FileConfig>,
        basenames: HashMap<MapData, u64, u8>,
        suffixes: HashMap<MapData, u64, u8>,
        paths: LpmTrie<MapData, [u8; 256], u8>,
    ) -> Self {
        Self {
            config,
            basenames,
            suffixes,
            paths,
            installed: KernelPlan::OFF,
            installed_hashes: BTreeMap::new(),
            installed_suffixes: BTreeMap::new(),
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
        let names = open.map(|f| &f.basenames);
        sync_hashes(
            &mut self.basenames,
            &mut self.installed_hashes,
            names,
            basename_hash,
        )?;
        let endings = open.map(|f| &f.suffixes);
        sync_hashes(
            &mut self.suffixes,
            &mut self.installed_suffixes,
            endings,
            ending_hash,
        )?;

        let paths = open.map(|f| f.path_keys()).unwrap_or_default();
        let wanted: Vec<&PathKey> = paths.iter().map(|(key, _)| key).collect();
        for (gone, _) in self
            .installed_paths
            .iter()
            .filter(|(k, _)| !wanted.contains(&k))
        {
            self.paths.remove(&Key::new(gone.prefix_bits, gone.data))?;
        }
        for entry in paths.iter().filter(|e| !self.installed_paths.contains(e)) {
            let (key, uses) = entry;
            self.paths
                .insert(&Key::new(key.prefix_bits, key.data), uses.bits(), 0)?;
        }
        self.installed_paths = paths;

        self.config.set(0, new, 0)?;
        self.installed = plan.clone();
        Ok(())
    }
}

/// Makes `map` hold the `hash`es of `names` with their uses (two names of
/// one hash pass the uses of both), changing only what differs from
/// `installed`.
fn sync_hashes(
    map: &mut HashMap<MapData, u64, u8>,
    installed: &mut BTreeMap<u64, u8>,
    names: Option<&BTreeMap<String, Uses>>,
    hash: fn(&[u8]) -> u64,
) -> Result<(), MapError> {
    let mut hashes: BTreeMap<u64, u8> = BTreeMap::new();
    for (name, uses) in names.into_iter().flatten() {
        *hashes.entry(hash(name.as_bytes())).or_default() |= uses.bits();
    }
    for gone in installed.keys().filter(|h| !hashes.contains_key(h)) {
        map.remove(gone)?;
    }
    for (hash, uses) in &hashes {
        if installed.get(hash) != Some(uses) {
            map.insert(hash, uses, 0)?;
        }
    }
    *installed = hashes;
    Ok(())
}
