//! What the kernel should send of file events: which kinds are on, and for
//! opens the union of the loaded selectors' filters, as a plain description
//! ([`KernelPlan`]) that [`super::file_maps`] writes into the BPF maps.
//!
//! The kernel tests an open cheapest first: access mode, then the basename
//! (a hash lookup), then the path (an LPM trie of prefixes, where an exact
//! path is its bytes and a NUL). The union is taken per test, so it may let
//! through opens no single selector accepts (the host's filters drop those),
//! but it never drops one a selector accepts.

use std::collections::BTreeSet;

use super::file_record::{OPEN_EVENT, RENAME_EVENT};
use crate::engine::EventSelector;

/// The open access modes (`flags & O_ACCMODE`) that pass, as a bit per mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessModes(u32);

impl AccessModes {
    /// Every mode (no access-mode filter).
    pub const ANY: Self = Self(0b1111);
    /// Opens that can read: `O_RDONLY` and `O_RDWR` (Tracee's `IsFileRead`).
    pub const READ: Self = Self(0b0101);
    /// Opens that can write: `O_WRONLY` and `O_RDWR` (Tracee's `IsFileWrite`).
    pub const WRITE: Self = Self(0b0110);

    /// The modes either lets through.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The bits as `file_config.open_access` holds them (`1 << mode`).
    pub fn bits(self) -> u32 {
        self.0
    }
}

/// Paths an open may have: any that starts with a prefix, or equals an
/// exact path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathSet {
    /// Prefixes (`/etc/cron.d/`).
    pub prefixes: BTreeSet<String>,
    /// Whole paths (`/etc/shadow`).
    pub exact: BTreeSet<String>,
}

/// The opens one selector (or a union of them) may accept; `None` means
/// "any" for that test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFileFilter {
    /// The access modes that pass.
    pub access: AccessModes,
    /// The file names (last path component) that pass.
    pub basenames: Option<BTreeSet<String>>,
    /// The paths that pass.
    pub paths: Option<PathSet>,
}

impl KernelFileFilter {
    /// Every open.
    pub const ANY: Self = Self {
        access: AccessModes::ANY,
        basenames: None,
        paths: None,
    };

    /// The filter of a selector with exact-match filters on `pathname`
    /// (contract 0.2 `field-filter`s; several on one field must all hold).
    /// Filters on other fields are left to the host.
    pub fn from_selector(selector: &EventSelector) -> Self {
        let mut exact: Option<BTreeSet<String>> = None;
        for filter in selector.filters.iter().filter(|f| f.field == "pathname") {
            let values: BTreeSet<String> = filter.any_of.iter().cloned().collect();
            exact = Some(match exact {
                None => values,
                Some(known) => known.intersection(&values).cloned().collect(),
            });
        }
        let Some(exact) = exact else {
            return Self::ANY;
        };
        Self {
            access: AccessModes::ANY,
            basenames: basenames_of(&exact),
            paths: Some(PathSet {
                prefixes: BTreeSet::new(),
                exact,
            }),
        }
    }

    /// What either lets through, test by test.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self {
            access: self.access.union(other.access),
            basenames: union_or_any(self.basenames, other.basenames),
            paths: match (self.paths, other.paths) {
                (Some(mut a), Some(b)) => {
                    a.prefixes.extend(b.prefixes);
                    a.exact.extend(b.exact);
                    Some(a)
                }
                _ => None,
            },
        }
    }
}

/// The basenames of exact paths, or `None` (any) when one has no name the
/// kernel would see as its dentry's (a path ending in `/`, or empty).
fn basenames_of(paths: &BTreeSet<String>) -> Option<BTreeSet<String>> {
    paths
        .iter()
        .map(|path| {
            let name = path.rsplit('/').next().unwrap_or(path);
            (!name.is_empty()).then(|| name.to_owned())
        })
        .collect()
}

fn union_or_any(
    a: Option<BTreeSet<String>>,
    b: Option<BTreeSet<String>>,
) -> Option<BTreeSet<String>> {
    let (mut a, b) = (a?, b?);
    a.extend(b);
    Some(a)
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
                let filter = KernelFileFilter::from_selector(selector);
                plan.open = Some(match plan.open.take() {
                    None => filter,
                    Some(known) => known.union(filter),
                });
            } else if selector.name == RENAME_EVENT {
                plan.rename = true;
            }
        }
        plan
    }
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

impl PathSet {
    /// The LPM entries of the set.
    pub fn keys(&self) -> Vec<PathKey> {
        self.prefixes
            .iter()
            .map(|p| PathKey::prefix(p))
            .chain(self.exact.iter().map(|p| PathKey::exact(p)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{FieldFilter, OriginFilter};

    fn selector(name: &str, filters: &[(&str, &[&str])]) -> EventSelector {
        EventSelector {
            name: name.to_owned(),
            origin: OriginFilter::Any,
            filters: filters
                .iter()
                .map(|(field, values)| FieldFilter {
                    field: (*field).to_owned(),
                    any_of: values.iter().map(|v| (*v).to_owned()).collect(),
                })
                .collect(),
            fields: Vec::new(),
        }
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn nothing_selected_switches_everything_off() {
        let exec = selector("sched_process_exec", &[]);
        assert_eq!(KernelPlan::for_selectors([&exec]), KernelPlan::OFF);
    }

    #[test]
    fn an_unfiltered_open_selector_takes_every_open() {
        let open = selector(OPEN_EVENT, &[("process-name", &["cat"])]);
        let plan = KernelPlan::for_selectors([&open]);
        assert_eq!(plan.open, Some(KernelFileFilter::ANY));
        assert!(!plan.rename);
    }

    #[test]
    fn exact_pathnames_become_exact_paths_and_basenames() {
        let open = selector(
            OPEN_EVENT,
            &[("pathname", &["/etc/shadow", "/etc/sudoers", "/root/x"])],
        );
        let filter = KernelPlan::for_selectors([&open]).open.unwrap();
        assert_eq!(filter.access, AccessModes::ANY);
        assert_eq!(filter.basenames, Some(set(&["shadow", "sudoers", "x"])));
        let paths = filter.paths.unwrap();
        assert_eq!(
            paths.exact,
            set(&["/etc/shadow", "/etc/sudoers", "/root/x"])
        );
        assert!(paths.prefixes.is_empty());
    }

    #[test]
    fn filters_on_one_field_intersect() {
        let open = selector(
            OPEN_EVENT,
            &[("pathname", &["/a", "/b"]), ("pathname", &["/b", "/c"])],
        );
        let filter = KernelPlan::for_selectors([&open]).open.unwrap();
        assert_eq!(filter.paths.unwrap().exact, set(&["/b"]));
    }

    #[test]
    fn the_union_is_per_test_and_any_wins() {
        let a = selector(OPEN_EVENT, &[("pathname", &["/etc/shadow"])]);
        let b = selector(OPEN_EVENT, &[("pathname", &["/etc/passwd"])]);
        let both = KernelPlan::for_selectors([&a, &b]).open.unwrap();
        assert_eq!(both.basenames, Some(set(&["passwd", "shadow"])));
        assert_eq!(
            both.paths.unwrap().exact,
            set(&["/etc/passwd", "/etc/shadow"])
        );

        let any = selector(OPEN_EVENT, &[]);
        let rename = selector(RENAME_EVENT, &[("new_path", &["/x"])]);
        let plan = KernelPlan::for_selectors([&a, &any, &rename]);
        assert_eq!(plan.open, Some(KernelFileFilter::ANY));
        assert!(plan.rename);
    }

    #[test]
    fn a_hand_written_union_keeps_modes_prefixes_and_basenames() {
        let reads = KernelFileFilter {
            access: AccessModes::READ,
            basenames: None,
            paths: Some(PathSet {
                prefixes: set(&["/etc/kubernetes/pki/"]),
                exact: BTreeSet::new(),
            }),
        };
        let writes = KernelFileFilter {
            access: AccessModes::WRITE,
            basenames: Some(set(&["release_agent"])),
            paths: Some(PathSet {
                prefixes: set(&["/etc/cron.d/"]),
                exact: set(&["/etc/crontab"]),
            }),
        };
        let union = reads.union(writes);
        assert_eq!(union.access, AccessModes::READ.union(AccessModes::WRITE));
        assert_eq!(union.access.bits(), 0b0111);
        assert_eq!(union.basenames, None, "one side takes any name");
        let paths = union.paths.unwrap();
        assert_eq!(
            paths.prefixes,
            set(&["/etc/cron.d/", "/etc/kubernetes/pki/"])
        );
        assert_eq!(paths.exact, set(&["/etc/crontab"]));
    }

    #[test]
    fn a_directory_path_leaves_basenames_open() {
        let open = selector(OPEN_EVENT, &[("pathname", &["/etc/", "/etc/x"])]);
        let filter = KernelPlan::for_selectors([&open]).open.unwrap();
        assert_eq!(filter.basenames, None);
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
