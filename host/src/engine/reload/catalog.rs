//! The signatures directory and which of its files run: each scan decides
//! what to load, replace, unload or reject.
//!
//! Rules: every `*.wasm` file directly in the directory is a candidate
//! (hidden files and other names are ignored). A file runs once it loads
//! cleanly; when it changes, the new bytes are loaded first and replace the
//! running version only if they load — otherwise the old version keeps
//! running. Two files may not claim the same signature id: the one already
//! running keeps it, unless the trust policy ties the id to the other; of new
//! files, the one the policy ties the id to runs, and an untied contest runs
//! none (see [`super::id_claims`]: never decided by file name). The losers
//! are rejected until a rival disappears or their bytes change. A rejected
//! file is not retried until its bytes change (or on SIGHUP).
//!
//! A file that fails to load while something is still writing it (its
//! fingerprint moved while it was read, or it changed within
//! [`module_file::QUIET`]) is no verdict: it is examined again once it is
//! quiet, and only then rejected (as truncated, if it still ends early).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use sha2::{Digest, Sha256};

use super::id_claims::{self, Claim, ClaimBoard, Verdict};
use super::load_pool::LoadPool;
use super::pull_refusal::{self, PullRefusal};
use crate::engine::set::signature_set::Change;
use crate::engine::signature::error::LoadError;
use crate::engine::signature::finding_ids::FindingIds;
use crate::engine::signature::loaded::{LoadedSignature, Unstarted};
use crate::engine::signature::module_file::{self, Fingerprint};
use crate::engine::wasm::limits::Policy;
use crate::engine::wasm::runtime::Runtime;
use crate::trust::{Admission, Gate};

/// Modules loaded at once by one scan: one slow compile (bounded by the
/// compile limits) never holds up the others' changes.
pub(super) const LOAD_THREADS: usize = 4;

/// A file whose signature runs.
struct Running {
    fingerprint: Fingerprint,
    sha256: String,
    id: String,
    /// A pack's other detectors' ids (see [`Claim::others`]).
    others: Vec<String>,
    /// Admitted on a detached `NAME.wasm.sig`, which names the file: such
    /// a signature does not follow its module to another name.
    detached: bool,
    /// The trust policy ties its id to it (see [`Claim::tied`]).
    tied: bool,
}

/// A file that failed to load.
struct Rejected {
    fingerprint: Option<Fingerprint>,
    sha256: Option<String>,
    /// Rejected only because another file claims its id (its claim, which
    /// still counts against rivals): retried when a file goes away.
    claim: Option<Claim>,
}

/// A module whose claim to its id was decided for it and that was started.
struct Decided {
    signature: LoadedSignature,
    tied: bool,
    /// The running file it took the id from.
    displaces: Option<PathBuf>,
}

/// Why a module does not run, and its claim when it lost one.
type Refused = (LoadError, Option<Box<Claim>>);

/// The result of one scan: changes for the dispatch thread, and the files
/// rejected (each error names the file and the reason).
#[derive(Default)]
pub struct Scan {
    /// Loads, replacements and unloads, in the order to apply them.
    pub changes: Vec<Change>,
    /// Files that could not be loaded this time.
    pub rejected: Vec<LoadError>,
}

/// What a scan reports, as it happens.
pub enum Found {
    /// A change for the dispatch thread.
    Change(Change),
    /// A file that could not be loaded this time, and the sha256 of the
    /// bytes rejected (none when they could not be read).
    Rejected(LoadError, Option<String>),
}

/// A module [`Catalog::scan_async`] loads off the reload thread, at one of
/// its two stages, waiting to be settled ([`Catalog::settle_loaded`]).
pub struct Loaded {
    job: Job,
    stage: Stage,
}

/// How far a module loaded off the reload thread got.
enum Stage {
    /// Loaded up to `init`: its claim to its id is decided next.
    Prepared(Result<Unstarted, LoadError>),
    /// Its claim won and `init` ran (or failed).
    Started(Result<Decided, Refused>),
}

/// A file to load: its bytes were read because they are new.
struct Job {
    path: PathBuf,
    bytes: Vec<u8>,
    sha256: String,
    fingerprint: Fingerprint,
    /// `NAME.wasm.sig` beside it, if there is one.
    detached: Option<Vec<u8>>,
}

/// What the catalog knows of the signatures directory.
pub struct Catalog {
    dir: PathBuf,
    policy: Arc<Policy>,
    gate: Gate,
    running: HashMap<PathBuf, Running>,
    rejected: HashMap<PathBuf, Rejected>,
    /// One registry for the whole daemon, so a signature's findings carry
    /// the same event id whichever worker runs it.
    finding_ids: FindingIds,
    /// When to scan again for files that failed while still being written.
    recheck_at: Option<std::time::Instant>,
    /// Judge every file now, written to or not (the last round of a scan
    /// that cannot wait longer).
    judge_now: bool,
    /// Files that hold their running version's bytes again after a
    /// rejected update, to report.
    restored: Vec<PathBuf>,
    /// Refusal records `sigbox pull` left (`NAME.wasm.refused`) already
    /// reported, with their bytes: each is reported once.
    refusals: HashMap<PathBuf, Vec<u8>>,
    /// Files being loaded off the reload thread, with the sha256 of the
    /// bytes being loaded: a later scan does not load them again.
    loading: HashMap<PathBuf, String>,
    /// Of those, the ones whose claim won and whose `init` runs: they hold
    /// their id against newcomers as a running file does.
    starting: HashMap<PathBuf, Claim>,
    /// While set (the first load of `sigbox run`), loaded modules wait in
    /// `held` until every other has loaded, so their claims are decided
    /// together, never by which loads first.
    holding: bool,
    held: Vec<(Job, Unstarted)>,
}

impl Catalog {
    /// A catalog of `dir`; signatures load under `policy`'s limits and
    /// configuration, if `gate`'s trust policy admits them.
    pub fn new(dir: &Path, policy: Arc<Policy>, gate: Gate) -> Self {
        Self {
            dir: dir.to_owned(),
            policy,
            gate,
            running: HashMap::new(),
            rejected: HashMap::new(),
            finding_ids: FindingIds::default(),
            recheck_at: None,
            judge_now: false,
            restored: Vec::new(),
            refusals: HashMap::new(),
            loading: HashMap::new(),
            starting: HashMap::new(),
            holding: false,
            held: Vec::new(),
        }
    }

    /// Reads the trust policy file again (SIGHUP); it applies to the
    /// modules loaded from then on.
    pub fn reload_trust(&mut self) {
        self.gate.reload();
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long until files that failed while still being written are
    /// quiet and should be scanned again, if there are any.
    pub fn recheck_in(&self) -> Option<std::time::Duration> {
        self.recheck_at
            .map(|at| at.saturating_duration_since(std::time::Instant::now()))
    }

    /// Forgets past rejections so the next scan retries every file (SIGHUP).
    /// Claims held back still count against rivals while they are decided
    /// again, so no reload lets the module that loads fastest win an id.
    pub fn forget_rejections(&mut self) {
        self.rejected.retain(|_, r| r.claim.is_some());
        self.reexamine_held_back();
    }

    /// Has every file held back for a rival claim read and decided again,
    /// its claim counting meanwhile.
    fn reexamine_held_back(&mut self) {
        for held in self.rejected.values_mut().filter(|r| r.claim.is_some()) {
            held.fingerprint = None;
            held.sha256 = None;
        }
    }

    /// Compares the directory with what runs and prepares every change,
    /// returned together in file-name order; every file's claim to its id
    /// is in before any is decided (see [`super::id_claims`]). Files still
    /// being written are waited for (until quiet, a few rounds at most),
    /// so they are loaded or judged complete.
    ///
    /// # Errors
    /// The directory cannot be listed.
    pub fn scan(&mut self, runtime: &Runtime) -> std::io::Result<Scan> {
        const ROUNDS: usize = 5;
        let mut found = Vec::new();
        for round in 1..=ROUNDS {
            self.judge_now = round == ROUNDS;
            self.scan_each(runtime, |item| found.push(item))?;
            match self.recheck_in() {
                Some(wait) if round < ROUNDS => std::thread::sleep(wait),
                _ => break,
            }
        }
        self.judge_now = false;
        let mut scan = Scan::default();
        for item in found {
            match item {
                Found::Change(change) => scan.changes.push(change),
                Found::Rejected(error, _) => scan.rejected.push(error),
            }
        }
        Ok(scan)
    }

    /// One round of [`Catalog::scan`], reporting each change or rejection
    /// through `report`. Loading up to `init` (reading, compiling,
    /// instantiating) happens on up to [`LOAD_THREADS`] threads of the
    /// caller's, never on the dispatch path; results are then handled in
    /// file-name order, and claims to an id are decided once every file's
    /// is in (`init` then runs on the calling thread).
    ///
    /// # Errors
    /// The directory cannot be listed.
    fn scan_each(
        &mut self,
        runtime: &Runtime,
        mut report: impl FnMut(Found),
    ) -> std::io::Result<()> {
        let jobs = self.prepare_jobs(runtime, &mut report)?;
        let order: Vec<PathBuf> = jobs.iter().map(|j| j.path.clone()).collect();
        let threads = jobs.len().min(LOAD_THREADS);
        let jobs = Mutex::new(jobs);
        let policy = self.policy.clone();
        let admission = self.gate.admission();
        let board = self.claim_board();
        std::thread::scope(|scope| {
            let (done, results) = mpsc::channel();
            for _ in 0..threads {
                let (jobs, done, policy, admission) = (&jobs, done.clone(), &policy, &admission);
                scope.spawn(move || {
                    while let Some(job) = next_job(jobs) {
                        let prepared = prepare(runtime, &job, policy, admission);
                        if done.send((job, prepared)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(done);
            let mut all: Vec<_> = results.iter().collect();
            all.sort_by_key(|(job, _)| order.iter().position(|p| *p == job.path));
            for (job, prepared) in &all {
                if let Ok(unstarted) = prepared {
                    board.register(&claim_of(job, unstarted));
                }
            }
            for (job, prepared) in all {
                let decided = match prepared {
                    Ok(unstarted) => claim_and_start(&board, &job, unstarted),
                    Err(error) => Err((error, None)),
                };
                if !self.defer_if_written(&job, failed_to_load(&decided)) {
                    self.settle(job, decided, &mut report);
                }
            }
        });
        Ok(())
    }

    /// Like [`Catalog::scan`] without waiting for any module: each
    /// new file is loaded on `pool` and its outcome sent to `done`, to be
    /// settled with [`Catalog::settle_loaded`]. Unloads, moves and
    /// rejections found without loading are reported at once. A file
    /// already loading with the same bytes is not loaded twice.
    ///
    /// # Errors
    /// The directory cannot be listed.
    pub fn scan_async(
        &mut self,
        runtime: &Runtime,
        pool: &LoadPool,
        done: &tokio::sync::mpsc::UnboundedSender<Loaded>,
        mut report: impl FnMut(Found),
    ) -> std::io::Result<()> {
        let jobs = self.prepare_jobs(runtime, &mut report)?;
        // Loads of files that went away are stale.
        self.loading.retain(|path, _| path.exists());
        let admission = self.gate.admission();
        for job in jobs {
            if self.loading.get(&job.path) == Some(&job.sha256) {
                continue;
            }
            // Said, so an operator (and a test) knows what is still loading.
            tracing::info!("loading {} (sha256 {})", job.path.display(), job.sha256);
            self.loading.insert(job.path.clone(), job.sha256.clone());
            let (runtime, policy, admission) =
                (runtime.clone(), self.policy.clone(), admission.clone());
            let done = done.clone();
            pool.run(Box::new(move || {
                let prepared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    prepare(&runtime, &job, &policy, &admission)
                }))
                .unwrap_or_else(|_| Err(host_panicked(&job.path)));
                let _ = done.send(Loaded {
                    job,
                    stage: Stage::Prepared(prepared),
                });
            }));
        }
        Ok(())
    }

    /// Settles a module [`Catalog::scan_async`] loaded, unless the file
    /// changed or went away meanwhile (the newer version, or its removal,
    /// is settled instead): once loaded up to `init`, its claim to its id
    /// is decided and, if it won, its `init` runs on `pool`; once started,
    /// the change or rejection is reported.
    pub fn settle_loaded(
        &mut self,
        loaded: Loaded,
        pool: &LoadPool,
        done: &tokio::sync::mpsc::UnboundedSender<Loaded>,
        mut report: impl FnMut(Found),
    ) {
        let Loaded { job, stage } = loaded;
        let current = self.loading.get(&job.path) == Some(&job.sha256);
        if !current || !job.path.exists() {
            if current {
                self.loading.remove(&job.path);
            }
            if self
                .starting
                .get(&job.path)
                .is_some_and(|c| c.sha256 == job.sha256)
            {
                self.starting.remove(&job.path);
            }
            tracing::info!(
                "{} changed or went away while loading (sha256 {}): that load is dropped",
                job.path.display(),
                job.sha256
            );
            return;
        }
        match stage {
            Stage::Prepared(Ok(unstarted)) if self.holding => self.held.push((job, unstarted)),
            Stage::Prepared(Ok(unstarted)) => {
                let board = self.claim_board();
                self.decide(&board, job, unstarted, pool, done, &mut report);
            }
            Stage::Prepared(Err(error)) => self.finish(job, Err((error, None)), &mut report),
            Stage::Started(decided) => {
                self.starting.remove(&job.path);
                self.finish(job, decided, &mut report);
            }
        }
        // Every module of the first load is in (or failed): decide together.
        if self.holding && self.preparing() == 0 && !self.held.is_empty() {
            self.release_held(pool, done, &mut report);
        }
    }

    /// Holds the claims of modules loaded from now on until
    /// [`Catalog::release_held`], so a first load decides them together.
    pub fn hold_claims(&mut self) {
        self.holding = true;
    }

    /// Decides the held claims together (each against all the others) and
    /// stops holding: modules still loading are decided as they come.
    pub fn release_held(
        &mut self,
        pool: &LoadPool,
        done: &tokio::sync::mpsc::UnboundedSender<Loaded>,
        report: &mut impl FnMut(Found),
    ) {
        self.holding = false;
        let held = std::mem::take(&mut self.held);
        let board = self.claim_board();
        for (job, unstarted) in &held {
            board.register(&claim_of(job, unstarted));
        }
        for (job, unstarted) in held {
            self.decide(&board, job, unstarted, pool, done, report);
        }
    }

    /// Files whose loading has not been settled yet.
    pub fn loading(&self) -> impl Iterator<Item = &Path> {
        self.loading.keys().map(PathBuf::as_path)
    }

    /// Files still loading up to `init` (neither held nor starting).
    fn preparing(&self) -> usize {
        self.loading
            .keys()
            .filter(|p| {
                !self.starting.contains_key(*p) && !self.held.iter().any(|(j, _)| j.path == **p)
            })
            .count()
    }

    /// Decides `unstarted`'s claim on `board`: a winner's `init` runs on
    /// `pool` (and comes back as [`Stage::Started`]), a loser is rejected.
    fn decide(
        &mut self,
        board: &ClaimBoard,
        job: Job,
        unstarted: Unstarted,
        pool: &LoadPool,
        done: &tokio::sync::mpsc::UnboundedSender<Loaded>,
        report: &mut impl FnMut(Found),
    ) {
        let claim = claim_of(&job, &unstarted);
        match board.decide(&claim) {
            Verdict::Runs { displaces } => {
                self.starting.insert(job.path.clone(), claim.clone());
                let done = done.clone();
                pool.run(Box::new(move || {
                    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        unstarted.start()
                    }))
                    .unwrap_or_else(|_| Err(host_panicked(&job.path)));
                    let decided = started
                        .map(|signature| Decided {
                            signature,
                            tied: claim.tied,
                            displaces,
                        })
                        .map_err(|error| (error, None));
                    let _ = done.send(Loaded {
                        job,
                        stage: Stage::Started(decided),
                    });
                }));
            }
            verdict => self.finish(job, Err(refused_claim(claim, &verdict)), report),
        }
    }

    /// Settles a module loaded off the reload thread: it is no longer
    /// loading.
    fn finish(
        &mut self,
        job: Job,
        decided: Result<Decided, Refused>,
        report: &mut impl FnMut(Found),
    ) {
        self.loading.remove(&job.path);
        if !self.defer_if_written(&job, failed_to_load(&decided)) {
            self.settle(job, decided, report);
        }
    }

    /// Lists the directory: reports files gone (unloaded, or moved to a
    /// new name), restored and refused; returns the files to load.
    fn prepare_jobs(
        &mut self,
        runtime: &Runtime,
        report: &mut impl FnMut(Found),
    ) -> std::io::Result<VecDeque<Job>> {
        let files = wasm_files(&self.dir)?;
        self.recheck_at = None;
        let gone: Vec<PathBuf> = self
            .running
            .keys()
            .filter(|p| !files.contains(p))
            .cloned()
            .collect();
        let rival_gone = !gone.is_empty()
            || self
                .rejected
                .iter()
                .any(|(p, r)| r.claim.is_some() && !files.contains(p));
        self.rejected.retain(|p, _| files.contains(p));
        if rival_gone {
            // An id may be free, or no longer contested.
            self.reexamine_held_back();
        }

        let mut jobs = VecDeque::new();
        for path in files {
            match self.read_if_new(runtime, &path) {
                Ok(Some(job)) => jobs.push_back(job),
                Ok(None) => {}
                Err(error) => report(Found::Rejected(error, None)),
            }
        }
        for path in gone {
            let running = self.running.remove(&path).expect("listed as running");
            match self.take_other_name(&running, &mut jobs) {
                Some((to, fingerprint)) => {
                    tracing::info!(
                        "{} now runs from {} (same bytes, moved or linked): kept running",
                        path.display(),
                        to.display()
                    );
                    self.running.insert(
                        to.clone(),
                        Running {
                            fingerprint,
                            ..running
                        },
                    );
                    report(Found::Change(Change::Moved { from: path, to }));
                }
                None => report(Found::Change(Change::Remove(path))),
            }
        }
        for path in std::mem::take(&mut self.restored) {
            report(Found::Change(Change::Restored(path)));
        }
        self.report_pull_refusals(report)?;
        Ok(jobs)
    }

    /// Reports each new refusal record `sigbox pull` left in the directory
    /// as a rejection of the module it was meant for (see
    /// [`super::pull_refusal`]).
    fn report_pull_refusals(&mut self, report: &mut impl FnMut(Found)) -> std::io::Result<()> {
        let mut records = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if let Some(module) = pull_refusal::module_of(&path) {
                records.push((path, module));
            }
        }
        records.sort();
        self.refusals
            .retain(|path, _| records.iter().any(|(p, _)| p == path));
        for (path, module) in records {
            match PullRefusal::read(&path) {
                Ok((refusal, bytes)) => {
                    if self.refusals.get(&path) != Some(&bytes) {
                        self.refusals.insert(path, bytes);
                        report(Found::Rejected(refusal.into_error(&module), None));
                    }
                }
                // Said once, like an unreadable module.
                Err(error) => {
                    if self.refusals.insert(path, Vec::new()).is_none() {
                        tracing::warn!("ignoring {}", crate::error_chain(&error));
                    }
                }
            }
        }
        Ok(())
    }

    /// A file that failed to load while it was still being written (it
    /// changed since it was read, or within [`module_file::QUIET`]) is not
    /// judged: neither rejected nor reported, it is read again on a later
    /// scan, at the latest once quiet ([`Self::recheck_in`]). True when
    /// `job` was deferred so.
    fn defer_if_written(&mut self, job: &Job, failed: bool) -> bool {
        if !failed || self.judge_now {
            return false;
        }
        let now = module_file::fingerprint_now(&job.path);
        let wait = match now {
            Some(now) if now != job.fingerprint => now.quiet_in().unwrap_or_default(),
            _ => match job.fingerprint.quiet_in() {
                Some(wait) => wait,
                None => return false,
            },
        };
        tracing::debug!(
            "{}: does not load yet, but is still being written; examined again in {} ms",
            job.path.display(),
            wait.as_millis()
        );
        // Scanned again once quiet (a little after, so the times compare).
        let at = std::time::Instant::now() + wait + std::time::Duration::from_millis(50);
        self.recheck_at = Some(self.recheck_at.map_or(at, |t| t.min(at)));
        true
    }

    /// Opens `path`; `None` when it is the version already running or
    /// already rejected (same fingerprint, or same bytes), otherwise its
    /// bytes to load.
    fn read_if_new(&mut self, runtime: &Runtime, path: &Path) -> Result<Option<Job>, LoadError> {
        let opened = match module_file::open(path) {
            Ok(opened) => opened,
            // Deleted between listing and opening: the next scan sees it
            // gone. (A symlink pointing nowhere is still listed: reported.)
            Err(LoadError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound
                    && std::fs::symlink_metadata(path).is_err() =>
            {
                return Ok(None);
            }
            // Already rejected for what it is (a FIFO, unreadable): said once.
            Err(_)
                if self
                    .rejected
                    .get(path)
                    .is_some_and(|r| r.fingerprint.is_none()) =>
            {
                return Ok(None);
            }
            Err(error) => {
                self.reject(path, None, None, None);
                return Err(error);
            }
        };
        let fingerprint = opened.fingerprint;
        let seen = fingerprint.settled()
            && (self.running.get(path).map(|r| r.fingerprint) == Some(fingerprint)
                || self.rejected.get(path).and_then(|r| r.fingerprint) == Some(fingerprint));
        if seen {
            return Ok(None);
        }
        let bytes = match opened.read(path, runtime.limits().module_bytes) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.reject(path, Some(fingerprint), None, None);
                return Err(error);
            }
        };
        let sha256 = hex::encode(Sha256::digest(&bytes));
        // Touched but not changed: remember the new fingerprint only.
        if let Some(running) = self.running.get_mut(path)
            && running.sha256 == sha256
        {
            running.fingerprint = fingerprint;
            if self.rejected.remove(path).is_some() {
                self.restored.push(path.to_owned());
            }
            return Ok(None);
        }
        if let Some(rejected) = self.rejected.get_mut(path)
            && rejected.sha256.as_deref() == Some(sha256.as_str())
        {
            rejected.fingerprint = Some(fingerprint);
            return Ok(None);
        }
        let detached = read_detached_signature(path).inspect_err(|_| {
            self.reject(path, Some(fingerprint), Some(sha256.clone()), None);
        })?;
        Ok(Some(Job {
            path: path.to_owned(),
            bytes,
            sha256,
            fingerprint,
            detached,
        }))
    }

    /// Records the outcome of loading `job`: a change to run it, or a
    /// rejection (it failed, or another running file holds its id).
    /// Another name in the directory for the bytes `running` was loaded
    /// from, whose file just went: a new file (`mv a.wasm b.wasm`) or a
    /// hard link held back as a duplicate of its id. The signature moves
    /// there without a reload, so no event falls in a gap between an unload
    /// and a load. Not for a module admitted on a detached signature (the
    /// `.sig` names the old file).
    fn take_other_name(
        &mut self,
        running: &Running,
        jobs: &mut VecDeque<Job>,
    ) -> Option<(PathBuf, Fingerprint)> {
        if running.detached {
            return None;
        }
        if let Some(at) = jobs.iter().position(|j| j.sha256 == running.sha256) {
            let job = jobs.remove(at).expect("found");
            self.rejected.remove(&job.path);
            return Some((job.path, job.fingerprint));
        }
        let (path, fingerprint) = self.rejected.iter().find_map(|(path, r)| {
            (r.claim.is_some() && r.sha256.as_deref() == Some(running.sha256.as_str()))
                .then_some((path.clone(), r.fingerprint?))
        })?;
        self.rejected.remove(&path);
        Some((path, fingerprint))
    }

    /// The claims this scan's modules are decided against: the running
    /// files' and those held back for a rival claim.
    fn claim_board(&self) -> ClaimBoard {
        let running = self.running.iter().map(|(path, r)| Claim {
            path: path.clone(),
            id: r.id.clone(),
            others: r.others.clone(),
            sha256: r.sha256.clone(),
            tied: r.tied,
        });
        // A module whose `init` runs holds its id as a running one does.
        let running = running.chain(self.starting.values().cloned());
        let held_back = self.rejected.values().filter_map(|r| r.claim.clone());
        ClaimBoard::new(running, held_back)
    }

    /// Records the outcome of loading `job` and reports it: a change to run
    /// it (after unloading the file it took the id from, if any), or a
    /// rejection (it failed, or lost its claim to the id).
    fn settle(
        &mut self,
        job: Job,
        decided: Result<Decided, Refused>,
        report: &mut impl FnMut(Found),
    ) {
        let Job {
            path,
            sha256,
            fingerprint,
            detached,
            ..
        } = job;
        let Decided {
            mut signature,
            tied,
            displaces,
        } = match decided {
            Ok(decided) => decided,
            Err((error, claim)) => {
                self.reject(
                    &path,
                    Some(fingerprint),
                    Some(sha256.clone()),
                    claim.map(|c| *c),
                );
                return report(Found::Rejected(error, Some(sha256)));
            }
        };
        let id = signature.metadata().id.clone();
        if let Some(displaced) = displaces
            && let Some(old) = self.running.remove(&displaced)
        {
            let reason = format!(
                "{}: no longer runs: the trust policy ties signature id {id} to {} (a signer's \
                 ids or [pins]) and not to this module",
                displaced.display(),
                path.display()
            );
            let claim = Claim {
                path: displaced.clone(),
                id: id.clone(),
                others: old.others.clone(),
                sha256: old.sha256.clone(),
                tied: old.tied,
            };
            self.reject(
                &displaced,
                Some(old.fingerprint),
                Some(old.sha256.clone()),
                Some(claim),
            );
            report(Found::Change(Change::Remove(displaced.clone())));
            let error = LoadError::IdClaimed {
                path: displaced,
                reason,
            };
            report(Found::Rejected(error, Some(old.sha256)));
        }
        if self.gate.admission().allows_unsigned() {
            tracing::warn!(
                "{}: loaded {id} without verifying who signed it (--allow-unsigned)",
                path.display()
            );
        }
        let (event_id, collision) = self.finding_ids.assign(&id);
        if let Some(collision) = collision {
            tracing::warn!(
                "{}: {id}'s findings carry event id {} ({} holds {}, the number {id} hashes to)",
                path.display(),
                collision.given,
                collision.holder,
                collision.preferred
            );
        }
        signature.set_event_id(event_id);
        // A pack's other detectors: each id its own event id.
        let others: Vec<String> = (signature.members().iter().skip(1))
            .map(|member| member.info.metadata.id.clone())
            .collect();
        for (index, other) in others.iter().enumerate() {
            let (event_id, _) = self.finding_ids.assign(other);
            signature.set_member_event_id(index + 1, event_id);
        }
        self.rejected.remove(&path);
        self.running.insert(
            path,
            Running {
                fingerprint,
                sha256,
                id,
                others,
                detached: detached.is_some(),
                tied,
            },
        );
        report(Found::Change(Change::Upsert(Box::new(signature))));
    }

    fn reject(
        &mut self,
        path: &Path,
        fingerprint: Option<Fingerprint>,
        sha256: Option<String>,
        claim: Option<Claim>,
    ) {
        self.rejected.insert(
            path.to_owned(),
            Rejected {
                fingerprint,
                sha256,
                claim,
            },
        );
    }
}

/// Checks that `job`'s bytes are whole (a file cut short is truncated, not
/// tampered with), verifies its signatures on them, then (only if they
/// verify) compiles and loads those same bytes up to `init`; the compile
/// cache is keyed by their digest, so nothing cached can stand in for
/// verification.
fn prepare(
    runtime: &Runtime,
    job: &Job,
    policy: &Policy,
    admission: &Admission,
) -> Result<Unstarted, LoadError> {
    module_file::check_complete(&job.path, &job.bytes)?;
    let admitted = admission
        .verify(&job.bytes, job.detached.as_deref())
        .map_err(|reason| LoadError::Untrusted {
            path: job.path.clone(),
            reason,
        })?;
    LoadedSignature::prepare(runtime, &job.path, &job.bytes, policy, &admitted)
}

fn claim_of(job: &Job, unstarted: &Unstarted) -> Claim {
    Claim {
        path: job.path.clone(),
        id: unstarted.info().metadata.id.clone(),
        others: unstarted.other_detector_ids(),
        sha256: job.sha256.clone(),
        tied: unstarted.tied(),
    }
}

/// Decides `unstarted`'s claim to its id on `board` and, only if it runs,
/// calls its `init` (with the id's configuration).
fn claim_and_start(
    board: &ClaimBoard,
    job: &Job,
    unstarted: Unstarted,
) -> Result<Decided, Refused> {
    let claim = claim_of(job, &unstarted);
    match board.decide(&claim) {
        Verdict::Runs { displaces } => match unstarted.start() {
            Ok(signature) => Ok(Decided {
                signature,
                tied: claim.tied,
                displaces,
            }),
            Err(error) => Err((error, None)),
        },
        verdict => Err(refused_claim(claim, &verdict)),
    }
}

/// Whether a module failed to load (which may be a file still being
/// written); losing a claim to its id is a verdict on whole bytes.
fn failed_to_load(decided: &Result<Decided, Refused>) -> bool {
    matches!(decided, Err((_, None)))
}

/// The rejection of a claim that did not win its id.
fn refused_claim(claim: Claim, verdict: &Verdict) -> Refused {
    let reason = id_claims::refusal(&claim.path, &claim.id, verdict)
        .expect("a verdict other than Runs is a refusal");
    let error = LoadError::IdClaimed {
        path: claim.path.clone(),
        reason,
    };
    (error, Some(Box::new(claim)))
}

/// What loading a module off the reload thread comes to when the host
/// itself panics (a bug): the module is rejected, the thread goes on.
fn host_panicked(path: &Path) -> LoadError {
    LoadError::Trap {
        path: path.to_owned(),
        stage: "loading",
        source: "the host panicked while loading it".into(),
    }
}

/// Reads `NAME.wasm.sig` beside `module`, if it exists (bounded, and with
/// the same care as a module file).
fn read_detached_signature(module: &Path) -> Result<Option<Vec<u8>>, LoadError> {
    let path = crate::trust::detached_signature_path(module);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    module_file::read(&path, crate::trust::MAX_DETACHED_SIGNATURE_BYTES).map(Some)
}

fn next_job(jobs: &Mutex<VecDeque<Job>>) -> Option<Job> {
    jobs.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
}

/// The `*.wasm` files directly in `dir`, sorted by name.
///
/// # Errors
/// The directory cannot be listed.
pub fn wasm_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        // Not `is_file()`: a FIFO or device named *.wasm is opened (without
        // blocking) and rejected by name rather than silently skipped.
        if is_signature_file(&path) && !path.is_dir() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Whether `path` names a signature module (`*.wasm`, not hidden). Editor
/// and publishing temp files (`x.wasm.tmp`, `.x.wasm.swp`) are not.
pub fn is_signature_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    !hidden && path.extension().is_some_and(|ext| ext == "wasm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_files() {
        assert!(is_signature_file(Path::new("/d/trc-1016.wasm")));
        assert!(!is_signature_file(Path::new("/d/trc-1016.wasm.tmp")));
        assert!(!is_signature_file(Path::new("/d/.trc-1016.wasm")));
        assert!(!is_signature_file(Path::new("/d/.trc-1016.wasm.swp")));
        assert!(!is_signature_file(Path::new("/d/notes.txt")));
        assert!(!is_signature_file(Path::new("/d/wasm")));
    }
}
