//! Which module gets a signature id that several files claim.
//!
//! An id decides which configuration (`[signature."ID"] config`, secrets
//! included) a module's `init` is given and under which id its findings are
//! written, so it is never won by something whoever writes the directory
//! chooses (a file name, a load that finishes first). The decision is made
//! after a module's metadata is read and before its `init` runs:
//!
//! - the module already running under the id keeps it (a new version of
//!   that same file is its update), unless the trust policy ties the id to
//!   the newcomer and not to it: then the newcomer takes over;
//! - otherwise, of the files claiming a free id, the one the trust policy
//!   ties the id to runs ([`Claim::tied`]); identical bytes are one module
//!   (the first name runs); any other contest is refused for every claimant,
//!   so none runs and none is given the id's configuration.
//!
//! A file that lost stays held back (the catalog remembers its claim) until
//! a rival goes or its bytes change: a held-back claim still counts, so
//! touching or rewriting a file never wins a contest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A file's claim to a signature id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The file.
    pub path: PathBuf,
    /// The id its metadata claims.
    pub id: String,
    /// A pack's other detectors' ids (empty for a signature). No other file
    /// may run under any of them: they are decided with the pack's first id,
    /// and a clash on one refuses the newcomer (see [`Verdict::Overlaps`]).
    pub others: Vec<String>,
    /// Hex sha256 of its bytes.
    pub sha256: String,
    /// The trust policy ties the id to this module: a signer's `ids` name
    /// it (not just `*`), or `[pins]` lists its digest for the id.
    pub tied: bool,
}

/// What a claim comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It runs under the id (and is given its configuration); `displaces`
    /// names the running file it takes the id from.
    Runs {
        /// The running file that loses the id to it.
        displaces: Option<PathBuf>,
    },
    /// Another file keeps the id.
    Loses {
        /// The file that has it.
        to: PathBuf,
        /// Because the trust policy ties the id to that one (otherwise it
        /// was there first, or holds the same bytes).
        tied: bool,
    },
    /// Other files claim the id too and the trust policy ties it to none of
    /// them, or to several: none runs.
    Contested {
        /// The other claimants.
        with: Vec<PathBuf>,
    },
    /// One of its ids is a detector id of a pack, or it is a pack one of
    /// whose detectors another file runs or claims under: it does not run.
    /// (Only a file's first id is weighed by ties and order; a pack's other
    /// ids are never shared.)
    Overlaps {
        /// The id both claim.
        id: String,
        /// The other file.
        with: PathBuf,
    },
}

/// The claims of one scan of the signatures directory, against the files
/// already running and those held back by earlier scans.
#[derive(Debug, Default)]
pub struct ClaimBoard {
    state: Mutex<Board>,
}

#[derive(Debug, Default)]
struct Board {
    /// Who has each id: running before the scan (`true`), or won during it.
    holders: HashMap<String, (Claim, bool)>,
    /// Claims of this scan and held-back ones, by path.
    claims: HashMap<PathBuf, Claim>,
}

impl ClaimBoard {
    /// A board where `running` files hold their ids and `held_back` files
    /// (refused by an earlier scan for a rival claim) still claim theirs.
    pub fn new(
        running: impl IntoIterator<Item = Claim>,
        held_back: impl IntoIterator<Item = Claim>,
    ) -> Self {
        let board = Board {
            holders: running
                .into_iter()
                .map(|c| (c.id.clone(), (c, true)))
                .collect(),
            claims: held_back.into_iter().map(|c| (c.path.clone(), c)).collect(),
        };
        Self {
            state: Mutex::new(board),
        }
    }

    /// Records `claim` without deciding it, so claims decided later in the
    /// same scan see it as a rival (a scan that has every claim before it
    /// decides any: start-up).
    pub fn register(&self, claim: &Claim) {
        let mut board = self.lock();
        board.claims.insert(claim.path.clone(), claim.clone());
    }

    /// Decides `claim` (registering it first) against the holder of its id
    /// and every other claim registered so far. A claim that runs holds the
    /// id for the rest of the scan.
    pub fn decide(&self, claim: &Claim) -> Verdict {
        let mut board = self.lock();
        board.claims.insert(claim.path.clone(), claim.clone());
        let verdict = board.verdict(claim);
        if let Verdict::Runs { displaces } = &verdict {
            board
                .holders
                .insert(claim.id.clone(), (claim.clone(), false));
            if let Some(displaced) = displaces {
                board.claims.remove(displaced);
            }
        }
        verdict
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Board> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Board {
    fn verdict(&self, me: &Claim) -> Verdict {
        if let Some((id, with)) = self.overlap(me) {
            return Verdict::Overlaps { id, with };
        }
        if let Some((holder, running)) = self.holders.get(&me.id) {
            // A new version of the running file is its update.
            if holder.path == me.path {
                return Verdict::Runs { displaces: None };
            }
            if me.tied && !holder.tied && *running {
                return Verdict::Runs {
                    displaces: Some(holder.path.clone()),
                };
            }
            return Verdict::Loses {
                to: holder.path.clone(),
                tied: holder.tied && !me.tied,
            };
        }
        let mut claimants: Vec<&Claim> = self.claims.values().filter(|c| c.id == me.id).collect();
        claimants.sort_by(|a, b| a.path.cmp(&b.path));
        let tied: Vec<&Claim> = claimants.iter().copied().filter(|c| c.tied).collect();
        let (candidates, by_tie) = if tied.is_empty() {
            (claimants.clone(), false)
        } else {
            (tied, true)
        };
        // Identical bytes are one module, whatever its names: the first runs.
        let first = candidates[0];
        if candidates.iter().all(|c| c.sha256 == first.sha256) {
            return if first.path == me.path {
                Verdict::Runs { displaces: None }
            } else {
                Verdict::Loses {
                    to: first.path.clone(),
                    tied: by_tie && !me.tied,
                }
            };
        }
        Verdict::Contested {
            with: claimants
                .iter()
                .filter(|c| c.path != me.path)
                .map(|c| c.path.clone())
                .collect(),
        }
    }
}

impl Board {
    /// The first id (by the other file's path) that `me` shares with another
    /// file through a pack's other detectors. Files with the same first id
    /// are left to the ordinary contest [`Board::verdict`] decides (a copy
    /// or another version of the same pack, a tied one displacing it): the
    /// winner runs all its detectors, the loser none.
    fn overlap(&self, me: &Claim) -> Option<(String, PathBuf)> {
        let holders = self.holders.values().map(|(claim, _)| claim);
        let mut others: Vec<&Claim> = holders
            .chain(self.claims.values())
            .filter(|c| c.path != me.path && c.id != me.id)
            .collect();
        others.sort_by(|a, b| a.path.cmp(&b.path));
        others.into_iter().find_map(|other| {
            let shared = me
                .others
                .iter()
                .find(|id| **id == other.id || other.others.contains(id))
                .or_else(|| other.others.iter().find(|id| **id == me.id))?;
            Some((shared.clone(), other.path.clone()))
        })
    }
}

/// Why `path` does not run under `id`, as the rejection says it (both files
/// named, and what the operator can do).
pub fn refusal(path: &Path, id: &str, verdict: &Verdict) -> Option<String> {
    let names = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match verdict {
        Verdict::Runs { .. } => None,
        Verdict::Loses { to, tied: false } => Some(format!(
            "{}: signature id {id} is already loaded from {}",
            path.display(),
            to.display()
        )),
        Verdict::Loses { to, tied: true } => Some(format!(
            "{}: signature id {id} is tied by the trust policy to {} (a signer's ids or [pins]) \
             and not to this module, which does not run and is not given the id's configuration",
            path.display(),
            to.display()
        )),
        Verdict::Overlaps { id, with } => Some(format!(
            "{}: signature id {id} is also claimed by {}, and one of the two is a pack that \
             runs a detector under it: a pack's detectors share no id with another module. \
             This file does not run; remove or rename one of the two",
            path.display(),
            with.display()
        )),
        Verdict::Contested { with } => Some(format!(
            "{}: signature id {id} is also claimed by {}, and the trust policy ties it to none of \
             them (or to several): none runs and none is given the id's configuration. Remove \
             the file that should not claim {id}, or tie the id to one module in the trust \
             policy (a [[key]] whose ids name it, or [pins])",
            path.display(),
            names(with)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(path: &str, sha256: &str, tied: bool) -> Claim {
        Claim {
            path: PathBuf::from(path),
            id: "TRC-1016".to_owned(),
            others: Vec::new(),
            sha256: sha256.to_owned(),
            tied,
        }
    }

    fn pack(path: &str, ids: &[&str]) -> Claim {
        Claim {
            path: PathBuf::from(path),
            id: ids[0].to_owned(),
            others: ids[1..].iter().map(|id| (*id).to_owned()).collect(),
            sha256: path.to_owned(),
            tied: false,
        }
    }

    #[test]
    fn a_pack_and_a_module_never_share_a_detector_id() {
        let signature = claim("/d/trc-1016.wasm", "a", false);
        let packed = pack("/d/pack.wasm", &["PACK-1", "TRC-1016"]);
        // The pack comes while the signature runs, and the other way round.
        for (running, newcomer) in [(&signature, &packed), (&packed, &signature)] {
            let board = ClaimBoard::new([running.clone()], []);
            assert_eq!(board.decide(running), Verdict::Runs { displaces: None });
            assert_eq!(
                board.decide(newcomer),
                Verdict::Overlaps {
                    id: "TRC-1016".to_owned(),
                    with: running.path.clone(),
                }
            );
        }
        // Two packs sharing a later detector, at start: neither runs.
        let other = pack("/d/other.wasm", &["PACK-2", "TRC-1016"]);
        let verdicts = start_up(&[packed.clone(), other.clone()]);
        assert!(
            verdicts
                .iter()
                .all(|v| matches!(v, Verdict::Overlaps { id, .. } if id == "TRC-1016")),
            "{verdicts:?}"
        );
        let message = refusal(&other.path, &other.id, &verdicts[1]).unwrap();
        assert!(
            message.contains("TRC-1016") && message.contains("/d/pack.wasm"),
            "{message}"
        );
        // A copy of the pack (same first id): one module, the first runs.
        let copy = Claim {
            path: PathBuf::from("/d/packz-copy.wasm"),
            ..packed.clone()
        };
        assert_eq!(
            start_up(&[packed.clone(), copy.clone()]),
            [
                Verdict::Runs { displaces: None },
                Verdict::Loses {
                    to: packed.path.clone(),
                    tied: false
                }
            ]
        );
        // Distinct ids: both run.
        let apart = pack("/d/apart.wasm", &["PACK-3", "PACK-4"]);
        assert!(
            start_up(&[packed, apart])
                .iter()
                .all(|v| *v == Verdict::Runs { displaces: None })
        );
    }

    /// Start-up: every claim is registered before any is decided.
    fn start_up(claims: &[Claim]) -> Vec<Verdict> {
        let board = ClaimBoard::default();
        claims.iter().for_each(|c| board.register(c));
        claims.iter().map(|c| board.decide(c)).collect()
    }

    #[test]
    fn a_lone_claim_runs() {
        let verdicts = start_up(&[claim("/d/trc-1016.wasm", "a", false)]);
        assert_eq!(verdicts, [Verdict::Runs { displaces: None }]);
    }

    #[test]
    fn an_untied_contest_at_start_runs_neither_whatever_the_names() {
        let impostor = claim("/d/aaa.wasm", "bad", false);
        let real = claim("/d/trc-1016.wasm", "good", false);
        for order in [[&impostor, &real], [&real, &impostor]] {
            let verdicts = start_up(&order.map(Clone::clone));
            assert!(
                verdicts
                    .iter()
                    .all(|v| matches!(v, Verdict::Contested { .. })),
                "{verdicts:?}"
            );
        }
        let verdicts = start_up(&[impostor.clone(), real.clone()]);
        assert_eq!(
            verdicts[0],
            Verdict::Contested {
                with: vec![real.path.clone()]
            }
        );
    }

    #[test]
    fn the_tied_claim_wins_whatever_the_names() {
        let impostor = claim("/d/aaa.wasm", "bad", false);
        let real = claim("/d/zzz.wasm", "good", true);
        let verdicts = start_up(&[impostor, real.clone()]);
        assert_eq!(
            verdicts,
            [
                Verdict::Loses {
                    to: real.path,
                    tied: true
                },
                Verdict::Runs { displaces: None }
            ]
        );
    }

    #[test]
    fn two_tied_different_modules_run_neither() {
        let verdicts = start_up(&[claim("/d/a.wasm", "1", true), claim("/d/b.wasm", "2", true)]);
        assert!(
            verdicts
                .iter()
                .all(|v| matches!(v, Verdict::Contested { .. }))
        );
    }

    #[test]
    fn identical_bytes_are_one_module() {
        let verdicts = start_up(&[
            claim("/d/b.wasm", "same", false),
            claim("/d/a.wasm", "same", false),
        ]);
        assert_eq!(
            verdicts,
            [
                Verdict::Loses {
                    to: PathBuf::from("/d/a.wasm"),
                    tied: false
                },
                Verdict::Runs { displaces: None }
            ]
        );
    }

    #[test]
    fn the_running_module_keeps_its_id_unless_the_newcomer_is_tied_and_it_is_not() {
        let running = claim("/d/trc-1016.wasm", "good", false);
        let board = ClaimBoard::new([running.clone()], []);
        assert_eq!(
            board.decide(&claim("/d/aaa.wasm", "bad", false)),
            Verdict::Loses {
                to: running.path.clone(),
                tied: false
            }
        );
        // Its own update is no rival.
        assert_eq!(
            board.decide(&claim("/d/trc-1016.wasm", "good2", false)),
            Verdict::Runs { displaces: None }
        );
        let board = ClaimBoard::new([running.clone()], []);
        assert_eq!(
            board.decide(&claim("/d/pinned.wasm", "pinned", true)),
            Verdict::Runs {
                displaces: Some(running.path.clone())
            }
        );
        let tied_running = claim("/d/trc-1016.wasm", "good", true);
        let board = ClaimBoard::new([tied_running.clone()], []);
        assert!(matches!(
            board.decide(&claim("/d/other.wasm", "other", true)),
            Verdict::Loses { .. }
        ));
    }

    #[test]
    fn a_held_back_claim_still_counts_when_a_rival_changes() {
        let held = claim("/d/aaa.wasm", "bad", false);
        let board = ClaimBoard::new([], [held.clone()]);
        assert_eq!(
            board.decide(&claim("/d/trc-1016.wasm", "good-v2", false)),
            Verdict::Contested {
                with: vec![held.path]
            }
        );
    }

    #[test]
    fn a_claim_decided_as_it_finishes_loses_to_one_that_won_earlier_in_the_scan() {
        let board = ClaimBoard::default();
        let first = claim("/d/b.wasm", "1", false);
        assert_eq!(board.decide(&first), Verdict::Runs { displaces: None });
        // Not running before the scan: no take-over, even by a tied claim.
        assert!(matches!(
            board.decide(&claim("/d/a.wasm", "2", true)),
            Verdict::Loses { .. }
        ));
    }

    #[test]
    fn refusals_name_both_files() {
        let text = refusal(
            Path::new("/d/aaa.wasm"),
            "TRC-1016",
            &Verdict::Contested {
                with: vec![PathBuf::from("/d/trc-1016.wasm")],
            },
        )
        .unwrap();
        assert!(text.contains("/d/aaa.wasm") && text.contains("/d/trc-1016.wasm"));
        assert!(text.contains("none runs"));
    }
}
