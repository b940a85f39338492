//! Tracee's entity ids (`processEntityId`, `parentEntityId`,
//! `threadEntityId`): a hash of a task's host id and its start time, as
//! Tracee v0.24.1 computes them (`pkg/datastores/process/taskid.go`
//! `HashTaskID`, `common/murmur`), so the same process gets the same id in
//! sigbox's findings and in Tracee's.

/// Tracee's seed ("same as in eBPF kernel code").
const SEED: u32 = 0x1827_3645;

/// Start times are rounded down to 0.1 s first, so a start time read from
/// `/proc` (in clock ticks) and one from the kernel give the same id.
const START_ROUNDING_NS: u64 = 100_000_000;

/// The entity id of task `pid` (host pid namespace) started at
/// `start_epoch_ns` (ns since the epoch).
pub fn entity_id(pid: u32, start_epoch_ns: u64) -> u32 {
    let rounded = start_epoch_ns / START_ROUNDING_NS * START_ROUNDING_NS;
    let mut key = [0u8; 12];
    key[..4].copy_from_slice(&pid.to_be_bytes());
    key[4..].copy_from_slice(&rounded.to_be_bytes());
    murmur3_32(&key)
}

/// MurmurHash3 x86 32-bit with Tracee's seed, blocks read little-endian as
/// Tracee's Go code reads them on x86_64.
fn murmur3_32(data: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let scramble = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = SEED;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        h = (h ^ scramble(k))
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |k, &byte| (k << 8) | u32::from(byte));
        h ^= scramble(k);
    }
    h ^= u32::try_from(data.len()).unwrap_or(u32::MAX);
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tracee v0.24.1's own expected values
    /// (`common/murmur/murmur_test.go`, `TestHashU32AndU64`): the hash of
    /// a pid and an already rounded start time.
    #[test]
    fn matches_tracees_hash_of_pid_and_start_time() {
        let hash = |pid: u32, start: u64| {
            let mut key = [0u8; 12];
            key[..4].copy_from_slice(&pid.to_be_bytes());
            key[4..].copy_from_slice(&start.to_be_bytes());
            murmur3_32(&key)
        };
        assert_eq!(hash(0, 0), 0xf6c5_6b4a);
        assert_eq!(hash(1, 2), 0xd25f_0e74);
        assert_eq!(hash(0x1234_5678, 0x1234_5678_9ABC_DEF0), 0xb065_052c);
        assert_eq!(hash(0xFFFF_FFFF, 0), 0x6d04_5877);
        assert_eq!(hash(0, u64::MAX), 0xece9_8cf5);
        assert_eq!(hash(u32::MAX, u64::MAX), 0xffa2_82fc);
        assert_eq!(
            entity_id(1, 2),
            hash(1, 0),
            "start times round down to 0.1 s"
        );
    }

    #[test]
    fn start_times_within_the_same_tenth_of_a_second_give_one_id() {
        let start = 1_765_000_000_123_456_789;
        assert_eq!(entity_id(42, start), entity_id(42, start + 50_000_000));
        assert_ne!(entity_id(42, start), entity_id(42, start + 100_000_000));
        assert_ne!(entity_id(42, start), entity_id(43, start));
    }
}
