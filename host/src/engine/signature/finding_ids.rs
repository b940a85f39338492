//! The event id a signature's findings carry (`eventId` in Tracee JSON).
//!
//! Pipelines key on it, so it must name one signature and never change with
//! the number of workers, a restart or a hot swap. Tracee numbers signature
//! events from 6000 in load order; for its built-in set (the order of
//! `signatures/golang/export.go` at v0.24.1) that gives the ids below, and a
//! sigbox port of those signatures carries the same id. Any other signature
//! id is hashed (FNV-1a, 64 bit) into 6100..=6998: a function of the id
//! alone. Two ids that hash to the same number are told apart by the
//! [`FindingIds`] registry: the one that loaded first keeps it, the other
//! takes the next free number, and the daemon logs both.

use std::collections::HashMap;

/// Tracee v0.24.1's built-in signatures, in the order Tracee loads them:
/// the first gets 6000, the next 6001, and so on.
const TRACEE_BUILTIN_ORDER: [&str; 30] = [
    "TRC-101", "TRC-1013", "TRC-109", "TRC-1024", "TRC-1019", "TRC-1027", "TRC-107", "TRC-106",
    "TRC-1012", "TRC-1028", "TRC-1029", "TRC-1031", "TRC-1010", "TRC-1026", "TRC-1011", "TRC-1021",
    "TRC-1023", "TRC-1015", "TRC-102", "TRC-103", "TRC-1025", "TRC-1014", "TRC-104", "TRC-105",
    "TRC-1016", "TRC-1017", "TRC-1018", "TRC-1020", "TRC-1030", "TRC-1022",
];
/// Tracee's first signature event id (`events.StartSignatureID`).
const TRACEE_FIRST: u32 = 6000;
/// Where hashed ids go: clear of Tracee's built-in block and of 6999, which
/// sigbox's coverage records carry.
const HASHED_FIRST: u32 = 6100;
const HASHED_LAST: u32 = 6998;

/// The id a signature's findings carry when nothing else holds it.
pub fn preferred(signature_id: &str) -> u32 {
    if let Some(index) = TRACEE_BUILTIN_ORDER
        .iter()
        .position(|id| *id == signature_id)
    {
        return TRACEE_FIRST + index as u32;
    }
    HASHED_FIRST
        + (fnv1a(signature_id.as_bytes()) % u64::from(HASHED_LAST - HASHED_FIRST + 1)) as u32
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The ids handed out in this run. An id, once given to a signature id,
/// stays with it for the life of the process (unloads and hot swaps
/// included), so a number never moves from one signature to another.
#[derive(Debug, Default)]
pub struct FindingIds {
    by_signature: HashMap<String, u32>,
    by_event: HashMap<u32, String>,
}

/// A signature whose preferred id another signature already held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// The number both hash to.
    pub preferred: u32,
    /// The signature that holds it.
    pub holder: String,
    /// The number given instead.
    pub given: u32,
}

impl FindingIds {
    /// The event id for `signature_id`, and the collision if it could not
    /// have its preferred one.
    pub fn assign(&mut self, signature_id: &str) -> (u32, Option<Collision>) {
        if let Some(given) = self.by_signature.get(signature_id) {
            return (*given, None);
        }
        let preferred = preferred(signature_id);
        let mut given = preferred;
        // Built-in ids are never taken by another id (the table is one id
        // per number, and hashed ids live in their own block), so only the
        // hashed block is probed.
        while self.by_event.contains_key(&given) {
            given = if given == HASHED_LAST {
                HASHED_FIRST
            } else {
                given + 1
            };
            assert_ne!(given, preferred, "more than 899 signature ids in one run");
        }
        self.by_signature.insert(signature_id.to_owned(), given);
        self.by_event.insert(given, signature_id.to_owned());
        let collision = (given != preferred).then(|| Collision {
            preferred,
            holder: self.by_event[&preferred].clone(),
            given,
        });
        (given, collision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracee_builtins_carry_tracee_v0_24_1_ids() {
        // export.go order: StdioOverSocket first, IllegitimateShell 25th,
        // DroppedExecutable last.
        assert_eq!(preferred("TRC-101"), 6000);
        assert_eq!(preferred("TRC-1016"), 6024);
        assert_eq!(preferred("TRC-105"), 6023);
        assert_eq!(preferred("TRC-107"), 6006);
        assert_eq!(preferred("TRC-1026"), 6013);
        assert_eq!(preferred("TRC-1027"), 6005);
        assert_eq!(preferred("TRC-1022"), 6029);
        let mut seen = std::collections::HashSet::new();
        assert!(
            TRACEE_BUILTIN_ORDER
                .iter()
                .all(|id| seen.insert(preferred(id)))
        );
    }

    #[test]
    fn other_ids_hash_into_their_own_block_and_never_onto_coverage() {
        for n in 0..5000 {
            let id = preferred(&format!("ACME-{n}"));
            assert!((HASHED_FIRST..=HASHED_LAST).contains(&id), "{id}");
        }
        assert_eq!(preferred("ACME-7"), preferred("ACME-7"));
        assert_ne!(preferred("ACME-7"), preferred("ACME-8"));
    }

    #[test]
    fn a_collision_gives_the_next_free_number_and_names_the_holder() {
        // Find two ids with the same hashed number.
        let mut first_by_number = HashMap::new();
        let (a, b) = (0..)
            .map(|n| format!("X-{n}"))
            .find_map(|id| {
                let number = preferred(&id);
                match first_by_number.get(&number) {
                    Some(first) => Some((String::clone(first), id)),
                    None => {
                        first_by_number.insert(number, id);
                        None
                    }
                }
            })
            .expect("the pigeonhole principle");
        let mut ids = FindingIds::default();
        let (for_a, none) = ids.assign(&a);
        assert_eq!((for_a, none), (preferred(&a), None));
        let (for_b, collision) = ids.assign(&b);
        assert_ne!(for_b, for_a);
        assert_eq!(
            collision,
            Some(Collision {
                preferred: for_a,
                holder: a.clone(),
                given: for_b
            })
        );
        // Sticky: asking again (a reload, a hot swap) gives the same numbers.
        assert_eq!(ids.assign(&b), (for_b, None));
        assert_eq!(ids.assign(&a), (for_a, None));
    }
}
