//! What the kernel should send of file events: which kinds are on, and for
//! opens the union of the loaded selectors' filters, as a plain description
//! ([`KernelPlan`]) that [`super::file_maps`] writes into the BPF maps.
//!
//! The kernel tests an open cheapest first: its uses (what its access mode
//! allows: read, write), then its basename (a hash lookup), then its path
//! (an LPM trie of prefixes, where an exact path is its bytes and a NUL).
//! Each selector contributes one rule: the uses its `access-mode` filter
//! takes, and the cheapest of its filters on `pathname` the kernel can test
//! (a basename, else a file-name ending, else exact paths, else prefixes; a
//! suffix `/name` is the basename `name`, a suffix without `/` an ending of
//! the file name). Its other filters are left to the host,
//! so a rule passes a superset of what its selector accepts. The kernel
//! passes an open when some rule for one of its uses passes it, so it never
//! drops an open a selector accepts; the host's filters drop the rest.

use std::collections::BTreeMap;

use super::file_record::{OPEN_EVENT, RENAME_EVENT};
use crate::engine::{Access, EventSelector, FilterTest};

/// Uses of an open (what its access mode allows), as `FILE_USE_*` bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Uses(u8);

impl Uses {
    /// No use.
    pub const NONE: Self = Self(0);
    /// Reading: `O_RDONLY` or `O_RDWR` (Tracee's `IsFileRead`).
    pub const READ: Self = Self(0b01);
    /// Writing: `O_WRONLY` or `O_RDWR` (Tracee's `IsFileWrite`).
    pub const WRITE: Self = Self(0b10);
    /// Either.
    pub const ANY: Self = Self(0b11);

    /// The uses either has.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The bits as the kernel's maps and `file_config` hold them.
    pub fn bits(self) -> u8 {
        self.0
    }

    fn of(access: Access) -> Self {
        match access {
            Access::Read => Self::READ,
            Access::Write => Self::WRITE,
        }
    }
}

/// Bytes of a file name the kernel reads (`NAME_MAX_READ`).
const NAME_BYTES: usize = 255;

/// The paths one rule passes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Paths {
    Any,
    Basenames(Vec<String>),
    Suffixes(Vec<String>),
    Exact(Vec<String>),
    Prefixes(Vec<String>),
}

/// The opens the kernel passes: the union of the selectors' rules, by
/// use. A set entry's uses are those of the rules that listed it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KernelFileFilter {
    /// Uses some rule takes: an open with none of them is dropped first.
    pub uses: Uses,
    /// Uses for which every path passes.
    pub any_path: Uses,
    /// File names (last path component) and the uses they pass.
    pub basenames: BTreeMap<String, Uses>,
    /// Endings of file names (`docker.sock`) and the uses they pass.
    pub suffixes: BTreeMap<String, Uses>,
    /// Path prefixes (`/etc/cron.d/`) and the uses they pass.
    pub prefixes: BTreeMap<String, Uses>,
    /// Whole paths (`/etc/shadow`) and the uses they pass.
    pub exact: BTreeMap<String, Uses>,
}

impl KernelFileFilter {
    /// Every open.
    pub fn any() -> Self {
        Self {
            uses: Uses::ANY,
            any_path: Uses::ANY,
            ..Self::default()
        }
    }

    /// Adds the rule of one `security_file_open` selector.
    fn add(&mut self, selector: &EventSelector) {
        let (uses, paths) = rule_of(selector);
        self.uses = self.uses.union(uses);
        let listed = match paths {
            Paths::Any => {
                self.any_path = self.any_path.union(uses);
                return;
            }
            Paths::Basenames(names) => (&mut self.basenames, names),
            Paths::Suffixes(endings) => (&mut self.suffixes, endings),
            Paths::Exact(paths) => (&mut self.exact, paths),
            Paths::Prefixes(prefixes) => (&mut self.prefixes, prefixes),
        };
        let (set, values) = listed;
        for value in values {
            let entry = set.entry(value).or_insert(Uses::NONE);
            *entry = entry.union(uses);
        }
    }

    /// The endings' lengths as `file_config` holds them: the longest, and
    /// a bit per length.
    pub fn suffix_lengths(&self) -> (u32, [u8; 32]) {
        let mut bits = [0; 32];
        let mut longest = 0;
        for ending in self.suffixes.keys() {
            let n = ending.len();
            bits[n >> 3] |= 1 << (n & 7);
            longest = longest.max(n as u32);
        }
        (longest, bits)
    }

    /// The LPM entries (prefixes and exact paths) with the uses each
    /// passes, including those of the shorter entries it starts with: the
    /// kernel's lookup finds only the longest match.
    pub fn path_keys(&self) -> Vec<(PathKey, Uses)> {
        let keys: Vec<(PathKey, Uses)> = self
            .prefixes
            .iter()
            .map(|(p, uses)| (PathKey::prefix(p), *uses))
            .chain(
                self.exact
                    .iter()
                    .map(|(p, uses)| (PathKey::exact(p), *uses)),
            )
            .collect();
        keys.iter()
            .map(|(key, _)| {
                let uses = keys
                    .iter()
                    .filter(|(shorter, _)| shorter.starts(key))
                    .fold(Uses::NONE, |all, (_, uses)| all.union(*uses));
                (key.clone(), uses)
            })
            .collect()
    }
}

/// A selector's rule: the uses its access-mode filters take (all of them
/// must hold), and the cheapest kernel test among its `pathname` filters.
fn rule_of(selector: &EventSelector) -> (Uses, Paths) {
    let mut uses = Uses::ANY;
    let mut paths = Paths::Any;
    for filter in &selector.filters {
        match (filter.field.as_str(), &filter.test) {
            ("flags", FilterTest::AccessMode(access)) => uses = Uses(uses.0 & Uses::of(*access).0),
            ("pathname", test) => {
                if let Some(candidate) = kernel_paths(test)
                    && cost(&candidate) < cost(&paths)
                {
                    paths = candidate;
                }
            }
            _ => {}
        }
    }
    // Read and write filters together take only O_RDWR, which has both uses.
    if uses == Uses::NONE {
        uses = Uses::ANY;
    }
    (uses, paths)
}

/// What the kernel can test of a `pathname` filter, if anything.
fn kernel_paths(test: &FilterTest) -> Option<Paths> {
    match test {
        FilterTest::BasenameIn(names) => Some(Paths::Basenames(names.clone())),
        FilterTest::Equals(paths) => Some(Paths::Exact(paths.clone())),
        FilterTest::Prefix(prefixes) => Some(Paths::Prefixes(prefixes.clone())),
        // `/mem` ends only paths whose last component is `mem`.
        FilterTest::Suffix(suffixes) => suffixes
            .iter()
            .map(|s| {
                s.strip_prefix('/')
                    .filter(|name| !name.is_empty() && !name.contains('/'))
                    .map(str::to_owned)
            })
            .collect::<Option<Vec<_>>>()
            .map(Paths::Basenames)
            .or_else(|| {
                // An ending without `/` lies within the file name (live
                // paths never end in `/`).
                let within_name =
                    |s: &String| !s.is_empty() && s.len() <= NAME_BYTES && !s.contains('/');
                (suffixes.iter().all(within_name)).then(|| Paths::Suffixes(suffixes.clone()))
            }),
        FilterTest::AccessMode(_) => None,
    }
}

/// How much a test costs the kernel (lower is cheaper): a name needs no
/// path walk, and a whole name one hash.
fn cost(paths: &Paths) -> u8 {
    match paths {
        Paths::Basenames(_) => 0,
        Paths::Suffixes(_) => 1,
        Paths::Exact(_) => 2,
        Paths::Prefixes(_) => 3,
        Paths::Any => 4,
    }
}

/// What the kernel side should send: opens through `open` when it is
/// `Some`, renames when `rename`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelPlan {
    /// Opens: off (`None`), or on with the union of the selectors' filters.
    pub open: Option<KernelFileFilter>,
    /// Renames: on or off (no kernel filter).
    pub rename: bool,
}

impl KernelPlan {
    /// Nothing on: both programs return at once.
    pub const OFF: Self = Self {
        open: None,
        rename: false,
    };

    /// The plan for the loaded signatures' selectors.
    pub fn for_selectors<'a>(selectors: impl IntoIterator<Item = &'a EventSelector>) -> Self {
        let mut plan = Self::OFF;
        for selector in selectors {
            if selector.name == OPEN_EVENT {
                plan.open
                    .get_or_insert_with(KernelFileFilter::default)
                    .add(selector);
            } else if selector.name == RENAME_EVENT {
                plan.rename = true;
            }
        }
        plan
    }
}

/// The hash `file_name_suffixes` is keyed by: FNV-1a 64 of the ending's
/// bytes last to first, as the kernel hashes a name's endings in one
/// backward pass.
pub fn ending_hash(ending: &[u8]) -> u64 {
    basename_hash(&ending.iter().rev().copied().collect::<Vec<u8>>())
}

/// 64-bit FNV-1a of a file name, as `basename_selected` in `bpf/file.bpf.h`
/// computes it over the dentry's name.
pub fn basename_hash(name: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    name.iter().fold(OFFSET, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// Bytes of path an LPM key holds (`FILE_PATH_KEY_BYTES`).
pub const PATH_KEY_BYTES: usize = 256;

/// An LPM trie entry: the prefix length in bits and the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathKey {
    /// Bits of `data` that must match.
    pub prefix_bits: u32,
    /// The bytes, zero-padded.
    pub data: [u8; PATH_KEY_BYTES],
}

impl PathKey {
    /// A prefix entry: the first 256 bytes of `prefix` at most (a longer
    /// prefix matches more paths, never fewer).
    pub fn prefix(prefix: &str) -> Self {
        Self::of_bytes(prefix.as_bytes())
    }

    /// An exact-path entry: the path and its NUL, as the kernel looks paths
    /// up; a path too long for that becomes the prefix of its first 256 bytes.
    pub fn exact(path: &str) -> Self {
        let mut bytes = path.as_bytes().to_vec();
        bytes.push(0);
        Self::of_bytes(&bytes)
    }

    fn of_bytes(bytes: &[u8]) -> Self {
        let kept = &bytes[..bytes.len().min(PATH_KEY_BYTES)];
        let mut data = [0; PATH_KEY_BYTES];
        data[..kept.len()].copy_from_slice(kept);
        Self {
            prefix_bits: u32::try_from(8 * kept.len()).unwrap_or(u32::MAX),
            data,
        }
    }
}

impl PathKey {
    /// Whether `self` matches every path `longer` matches (its bits start
    /// `longer`'s).
    fn starts(&self, longer: &PathKey) -> bool {
        let bytes = (self.prefix_bits / 8) as usize;
        self.prefix_bits <= longer.prefix_bits && self.data[..bytes] == longer.data[..bytes]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{FieldFilter, OriginFilter};

    fn selector(name: &str, filters: Vec<FieldFilter>) -> EventSelector {
        EventSelector {
            name: name.to_owned(),
            origin: OriginFilter::Any,
            filters,
            fields: Vec::new(),
        }
    }

    fn on(field: &str, test: FilterTest) -> FieldFilter {
        FieldFilter {
            field: field.to_owned(),
            test,
        }
    }

    fn texts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn uses_of(items: &[(&str, Uses)]) -> BTreeMap<String, Uses> {
        items.iter().map(|(k, u)| ((*k).to_owned(), *u)).collect()
    }

    fn writes() -> FieldFilter {
        on("flags", FilterTest::AccessMode(Access::Write))
    }

    fn reads() -> FieldFilter {
        on("flags", FilterTest::AccessMode(Access::Read))
    }

    #[test]
    fn nothing_selected_switches_everything_off() {
        let exec = selector("sched_process_exec", vec![]);
        assert_eq!(KernelPlan::for_selectors([&exec]), KernelPlan::OFF);
    }

    #[test]
    fn a_selector_filtering_other_fields_takes_every_open() {
        let open = selector(
            OPEN_EVENT,
            vec![FieldFilter::equals("process-name", &["cat"])],
        );
        let plan = KernelPlan::for_selectors([&open]);
        assert_eq!(plan.open, Some(KernelFileFilter::any()));
        assert!(!plan.rename);
    }

    #[test]
    fn each_selector_gives_its_cheapest_path_test_for_its_uses() {
        let agent = selector(
            OPEN_EVENT,
            vec![
                writes(),
                on("pathname", FilterTest::Prefix(texts(&["/sys/fs/cgroup/"]))),
                on(
                    "pathname",
                    FilterTest::BasenameIn(texts(&["release_agent"])),
                ),
            ],
        );
        let aslr = selector(
            OPEN_EVENT,
            vec![
                reads(),
                FieldFilter::equals("pathname", &["/proc/sys/kernel/randomize_va_space"]),
            ],
        );
        let cron = selector(
            OPEN_EVENT,
            vec![
                writes(),
                on("pathname", FilterTest::Prefix(texts(&["/etc/cron.d/"]))),
            ],
        );
        let filter = KernelPlan::for_selectors([&agent, &aslr, &cron])
            .open
            .unwrap();
        assert_eq!(filter.uses, Uses::ANY);
        assert_eq!(filter.any_path, Uses::NONE);
        assert_eq!(filter.basenames, uses_of(&[("release_agent", Uses::WRITE)]));
        assert_eq!(
            filter.exact,
            uses_of(&[("/proc/sys/kernel/randomize_va_space", Uses::READ)])
        );
        assert_eq!(filter.prefixes, uses_of(&[("/etc/cron.d/", Uses::WRITE)]));
    }

    #[test]
    fn a_suffix_within_the_file_name_is_an_ending_the_kernel_tests() {
        // Tracee's TRC-1019: writes whose path ends with `docker.sock`.
        let docker = selector(
            OPEN_EVENT,
            vec![
                writes(),
                on("pathname", FilterTest::Suffix(texts(&["docker.sock"]))),
            ],
        );
        let filter = KernelPlan::for_selectors([&docker]).open.unwrap();
        assert_eq!(filter.any_path, Uses::NONE);
        assert_eq!(filter.suffixes, uses_of(&[("docker.sock", Uses::WRITE)]));
        let (longest, bits) = filter.suffix_lengths();
        assert_eq!(longest, 11);
        assert_eq!(bits[1], 1 << 3);
    }

    #[test]
    fn endings_of_many_lengths_are_held_as_a_bit_per_length() {
        let long = "x".repeat(255);
        let endings: Vec<EventSelector> = ["a", "bb", "ccc", long.as_str()]
            .iter()
            .map(|e| {
                selector(
                    OPEN_EVENT,
                    vec![on("pathname", FilterTest::Suffix(texts(&[e])))],
                )
            })
            .collect();
        let filter = KernelPlan::for_selectors(&endings).open.unwrap();
        assert_eq!(filter.any_path, Uses::NONE);
        let (longest, bits) = filter.suffix_lengths();
        assert_eq!(longest, 255);
        assert_eq!(bits[0], 0b1110);
        assert_eq!(bits[31], 0b1000_0000);
        assert!(bits[1..31].iter().all(|b| *b == 0));
    }

    #[test]
    fn a_selector_without_a_kernel_path_test_passes_every_path_for_its_uses_only() {
        // A suffix across a `/` cannot be tested on the file name.
        let docker = selector(
            OPEN_EVENT,
            vec![
                writes(),
                on("pathname", FilterTest::Suffix(texts(&["run/docker.sock"]))),
            ],
        );
        let pki = selector(
            OPEN_EVENT,
            vec![
                reads(),
                on(
                    "pathname",
                    FilterTest::Prefix(texts(&["/etc/kubernetes/pki/"])),
                ),
            ],
        );
        let filter = KernelPlan::for_selectors([&docker, &pki]).open.unwrap();
        assert_eq!(filter.any_path, Uses::WRITE, "reads still filtered by path");
        assert_eq!(
            filter.prefixes,
            uses_of(&[("/etc/kubernetes/pki/", Uses::READ)])
        );
    }

    #[test]
    fn a_suffix_that_is_a_whole_file_name_is_a_basename() {
        let mem = selector(
            OPEN_EVENT,
            vec![on(
                "pathname",
                FilterTest::Suffix(texts(&["/mem", "/environ"])),
            )],
        );
        let filter = KernelPlan::for_selectors([&mem]).open.unwrap();
        assert_eq!(
            filter.basenames,
            uses_of(&[("environ", Uses::ANY), ("mem", Uses::ANY)])
        );
        let partial = selector(
            OPEN_EVENT,
            vec![on("pathname", FilterTest::Suffix(texts(&["/mem", ".so"])))],
        );
        let filter = KernelPlan::for_selectors([&partial]).open.unwrap();
        assert_eq!(
            filter.any_path,
            Uses::ANY,
            "neither all names nor all endings"
        );
    }

    #[test]
    fn read_and_write_filters_together_keep_both_uses() {
        let rdwr = selector(OPEN_EVENT, vec![reads(), writes()]);
        let filter = KernelPlan::for_selectors([&rdwr]).open.unwrap();
        assert_eq!(filter.uses, Uses::ANY);
    }

    #[test]
    fn a_path_entry_passes_the_uses_of_the_shorter_entries_it_starts_with() {
        let etc_writes = selector(
            OPEN_EVENT,
            vec![
                writes(),
                on("pathname", FilterTest::Prefix(texts(&["/etc/"]))),
            ],
        );
        let shadow_reads = selector(
            OPEN_EVENT,
            vec![
                reads(),
                FieldFilter::equals("pathname", &["/etc/shadow", "/root/x"]),
            ],
        );
        let filter = KernelPlan::for_selectors([&etc_writes, &shadow_reads])
            .open
            .unwrap();
        let keys: BTreeMap<Vec<u8>, Uses> = filter
            .path_keys()
            .into_iter()
            .map(|(key, uses)| (key.data[..(key.prefix_bits / 8) as usize].to_vec(), uses))
            .collect();
        assert_eq!(keys[&b"/etc/".to_vec()], Uses::WRITE);
        assert_eq!(keys[&b"/etc/shadow\0".to_vec()], Uses::ANY);
        assert_eq!(keys[&b"/root/x\0".to_vec()], Uses::READ);
    }

    #[test]
    fn renames_are_on_when_selected() {
        let rename = selector(RENAME_EVENT, vec![FieldFilter::equals("new_path", &["/x"])]);
        let plan = KernelPlan::for_selectors([&rename]);
        assert!(plan.rename);
        assert_eq!(plan.open, None);
    }

    #[test]
    fn basename_hash_is_fnv1a_64() {
        // Reference values of FNV-1a 64.
        assert_eq!(basename_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(basename_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(basename_hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn path_keys_hold_prefixes_and_nul_terminated_exact_paths() {
        let prefix = PathKey::prefix("/etc/");
        assert_eq!(prefix.prefix_bits, 40);
        assert_eq!(&prefix.data[..6], b"/etc/\0");
        let exact = PathKey::exact("/etc");
        assert_eq!(exact.prefix_bits, 40);
        assert_eq!(&exact.data[..5], b"/etc\0");
        let long = "/".repeat(300);
        assert_eq!(PathKey::exact(&long).prefix_bits, 8 * 256);
        assert_eq!(PathKey::prefix(&long).prefix_bits, 8 * 256);
    }
}
