//! The active list: what runs right now, readable by an operator while the
//! daemon runs (`sigbox status`), through a JSON file the daemon rewrites.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::{Value, json};

use crate::engine::{SignatureStats, SignatureStatus};

/// How often the status file is rewritten.
const REFRESH: Duration = Duration::from_secs(1);

/// How often an unchanged status file is rewritten (its `updated` time).
const HEARTBEAT: Duration = Duration::from_secs(10);

/// The running signatures, shared between the dispatch workers (which
/// replace the list on every change they apply) and the status writer.
#[derive(Clone, Default)]
pub struct StatusBoard {
    active: Arc<Mutex<Vec<SignatureStatus>>>,
    /// Where the writer writes, once started.
    file: Arc<Mutex<Option<PathBuf>>>,
    /// Set on exit: the writer stops and the file says the daemon stopped.
    stopped: Arc<std::sync::atomic::AtomicBool>,
    /// Held while the file is written, so the writer's last periodic write
    /// can never land after (and undo) the final "stopped" one.
    writing: Arc<Mutex<()>>,
    /// The events the source can produce, when it cannot produce every kind
    /// (the live source: exec only); selectors of others are listed as unserved.
    served: Arc<Mutex<Option<Vec<String>>>>,
    /// Fields the source leaves out of its events unless asked (the live
    /// source's `env`), with the option that turns each on.
    withheld: Arc<Mutex<Vec<(String, String)>>>,
    /// Signature file → the sha256 of a rejected version it now holds while
    /// an older version runs from it.
    rejected_files: Arc<Mutex<HashMap<PathBuf, String>>>,
    /// Signature id → what its replaced or unloaded versions counted, so
    /// metrics stay monotonic per id across hot swaps.
    retired: Arc<Mutex<HashMap<String, Retired>>>,
}

/// What the versions of one signature id that no longer run counted.
#[derive(Debug, Clone, Default)]
pub struct Retired {
    /// Their counters, summed.
    pub stats: SignatureStats,
    /// Their evaluation-time histograms, summed: `(sum s, count, cumulative
    /// buckets)`, as `EvaluationTimes::cumulative` gives them.
    pub evaluation: (f64, u64, Vec<(f64, u64)>),
}

/// What status, metrics and rejection records say of a file that holds a
/// rejected version while an older one runs from it.
pub fn file_holds_rejected(sha256: &str) -> String {
    format!(
        "running an older version; the file now holds a rejected version (sha256 {sha256}); \
         a restart would not load it"
    )
}

impl StatusBoard {
    /// The signatures running now, with their counters.
    pub fn active(&self) -> Vec<SignatureStatus> {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the list (counters inside stay live).
    pub fn set(&self, active: Vec<SignatureStatus>) {
        *self.active.lock().unwrap_or_else(|e| e.into_inner()) = active;
    }

    /// Records that `path`'s running signature is older than the file,
    /// which now holds the rejected version `sha256`.
    pub fn mark_file_rejected(&self, path: &Path, sha256: &str) {
        lock(&self.rejected_files).insert(path.to_owned(), sha256.to_owned());
    }

    /// `path` runs what it holds again (a new version loaded, the old bytes
    /// put back, or the signature unloaded).
    pub fn clear_file_rejected(&self, path: &Path) {
        lock(&self.rejected_files).remove(path);
    }

    /// The sha256 of the rejected version `path` holds, if it holds one.
    pub fn file_rejected(&self, path: &Path) -> Option<String> {
        lock(&self.rejected_files).get(path).cloned()
    }

    /// Adds what a replaced or unloaded version counted to its id's
    /// retired totals.
    pub fn retire(&self, old: &SignatureStatus) {
        let mut retired = lock(&self.retired);
        let entry = retired.entry(old.info.metadata.id.clone()).or_default();
        entry.stats.add_counts(&old.counters.snapshot());
        let (sum, count, buckets) = old.counters.evaluation.cumulative();
        let e = &mut entry.evaluation;
        e.0 += sum;
        e.1 += count;
        if e.2.is_empty() {
            e.2 = buckets;
        } else {
            for (mine, (_, more)) in e.2.iter_mut().zip(buckets) {
                mine.1 += more;
            }
        }
    }

    /// What the retired versions of signature `id` counted.
    pub fn retired(&self, id: &str) -> Option<Retired> {
        lock(&self.retired).get(id).cloned()
    }

    /// Records which events the source produces (see [`Self::unserved`]).
    pub fn set_served_events(&self, served: &[&str]) {
        *self.served.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(served.iter().map(|s| (*s).to_owned()).collect());
    }

    /// Records fields the source leaves out, each with the option that
    /// turns it on (see [`Self::withheld`]).
    pub fn set_withheld_fields(&self, fields: &[(&str, &str)]) {
        *self.withheld.lock().unwrap_or_else(|e| e.into_inner()) = fields
            .iter()
            .map(|(field, option)| ((*field).to_owned(), (*option).to_owned()))
            .collect();
    }

    /// The withheld fields `status` reads or filters on, each with the
    /// option that would fill it: the signature runs, but cannot match on
    /// what it never gets.
    pub fn withheld(&self, status: &SignatureStatus) -> Vec<(String, String)> {
        let withheld = self.withheld.lock().unwrap_or_else(|e| e.into_inner());
        let mut found: Vec<(String, String)> = Vec::new();
        for selector in &status.info.selected_events {
            let used = selector
                .fields
                .iter()
                .chain(selector.filters.iter().map(|f| &f.field));
            for field in used {
                if let Some(entry) = withheld.iter().find(|(name, _)| name == field)
                    && !found.contains(entry)
                {
                    found.push(entry.clone());
                }
            }
        }
        found
    }

    /// The events `status` selects that the source never produces.
    pub fn unserved(&self, status: &SignatureStatus) -> Vec<String> {
        let served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        let Some(served) = served.as_ref() else {
            return Vec::new();
        };
        let mut unserved: Vec<String> = status
            .info
            .selected_events
            .iter()
            .map(|s| s.name.clone())
            .filter(|name| !served.contains(name))
            .collect();
        unserved.dedup();
        unserved
    }

    /// Marks the daemon stopped: the writer ends and the status file, if
    /// any, says so (with the final counters).
    pub fn mark_stopped(&self) {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let file = self.file.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(path) = file
            && let Err(error) = write_atomically(&path, &self.to_json())
        {
            tracing::warn!(
                "cannot mark status file {} stopped: {error}",
                path.display()
            );
        }
    }

    /// The list as JSON: one object per running signature.
    pub fn to_json(&self) -> Value {
        let (unserved, withheld): (Vec<Vec<String>>, Vec<Vec<String>>) = {
            let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
            active
                .iter()
                .map(|s| {
                    let withheld = self.withheld(s).into_iter().map(|(f, _)| f).collect();
                    (self.unserved(s), withheld)
                })
                .unzip()
        };
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signatures: Vec<Value> = active
            .iter()
            .zip(unserved.into_iter().zip(withheld))
            .map(|(s, (unserved, withheld))| {
                let stats = s.counters.snapshot();
                let file_rejected = self.file_rejected(&s.info.path);
                json!({
                    "id": s.info.metadata.id,
                    "version": s.info.metadata.version,
                    "name": s.info.metadata.name,
                    "sha256": s.info.sha256,
                    "file": s.info.path,
                    "signedBy": s.info.signed_by,
                    "events": stats.events,
                    "findings": stats.findings,
                    "errors": stats.errors,
                    "traps": stats.traps,
                    "limitHits": stats.limit_hits,
                    "quarantines": stats.quarantines,
                    "quarantined": stats.quarantined,
                    "quarantinedUntil": (stats.quarantined_until_ms != 0)
                        .then(|| crate::utc_time(stats.quarantined_until_ms)),
                    "missedEvents": stats.missed_events,
                    "droppedEvents": stats.dropped_events,
                    "droppedLogBytes": stats.dropped_log_bytes,
                    "evaluationSeconds": s.counters.evaluation.cumulative().0,
                    "hostSeconds": stats.host_ns as f64 / 1e9,
                    "memoryBytes": stats.memory_bytes,
                    "unservedEvents": unserved,
                    "withheldFields": withheld,
                    "fileRejectedSha256": file_rejected,
                })
            })
            .collect();
        let stopped = self.stopped.load(std::sync::atomic::Ordering::SeqCst);
        json!({
            "pid": std::process::id(),
            "updated": now,
            "stopped": stopped,
            "signatures": signatures,
        })
    }

    /// Rewrites `path` (atomically: temp file, then rename) on a background
    /// thread, for as long as the process runs: within a second of a change,
    /// and every ten seconds when nothing changed.
    ///
    /// # Errors
    /// The file's directory cannot be created or the thread cannot start.
    pub fn spawn_writer(&self, path: PathBuf) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let lock = lock_status_file(&path)?;
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(path.clone());
        let board = self.clone();
        std::thread::Builder::new()
            .name("sigbox-status".into())
            .spawn(move || {
                // Held for as long as the process runs (the kernel releases
                // it on exit, however the process ends).
                let _lock = lock;
                let mut warned = false;
                // An idle daemon rewrites the file only as a heartbeat: what
                // changed is written within REFRESH, the rest every HEARTBEAT.
                let mut last: Option<(Value, std::time::Instant)> = None;
                loop {
                    let writing = board.writing.lock().unwrap_or_else(|e| e.into_inner());
                    if board.stopped.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let json = board.to_json();
                    let mut content = json.clone();
                    content["updated"] = Value::Null;
                    let due = last.as_ref().is_none_or(|(previous, at)| {
                        *previous != content || at.elapsed() >= HEARTBEAT
                    });
                    let written = if due {
                        last = Some((content, std::time::Instant::now()));
                        write_atomically(&path, &json)
                    } else {
                        Ok(())
                    };
                    drop(writing);
                    if let Err(error) = written
                        && !warned
                    {
                        tracing::warn!("cannot write status file {}: {error}", path.display());
                        warned = true;
                    }
                    std::thread::sleep(REFRESH);
                }
            })
            .context("cannot start the status thread")?;
        Ok(())
    }
}

/// Takes an exclusive lock on `<status file>.lock`, so two daemons never
/// write one status file. The error names the other daemon and the option.
fn lock_status_file(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    let lock_path = path.with_extension("json.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    // SAFETY: flock on a descriptor this function owns; no memory involved.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !locked {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        anyhow::bail!(
            "another sigbox (pid {}) is writing the status file {}; give each daemon its own --status-file",
            holder.trim(),
            path.display()
        );
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}", std::process::id())?;
    Ok(file)
}

fn write_atomically(path: &Path, value: &Value) -> std::io::Result<()> {
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, serde_json::to_vec_pretty(value)?)?;
    std::fs::rename(&temp, path)
}

/// Prints the status file a running daemon writes, as a table.
///
/// # Errors
/// The file is missing or not a sigbox status file.
/// Returns whether the daemon is running (false when it stopped or died).
pub fn print_status(path: &Path) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {} (is sigbox running with this --status-file?)",
            path.display()
        )
    })?;
    let status: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a sigbox status file", path.display()))?;
    let age = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(status["updated"].as_u64().unwrap_or(0));
    let pid = status["pid"].as_u64().unwrap_or(0);
    let running = status["stopped"].as_bool() != Some(true) && process_alive(pid);
    if running {
        println!("sigbox pid {pid} (status updated {age}s ago)");
    } else if status["stopped"].as_bool() == Some(true) {
        println!("sigbox pid {pid} STOPPED {age}s ago; the last state it wrote:");
    } else {
        println!(
            "sigbox pid {pid} is NOT RUNNING (it did not stop cleanly); status last updated {age}s ago:"
        );
    }
    let rows: Vec<(&Value, String)> = status["signatures"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| (s, state_text(s)))
        .collect();
    // The STATE column is as wide as its longest entry ("quarantined until
    // <time>, never gets <events>" is long).
    let width = rows
        .iter()
        .map(|(_, state)| state.len())
        .max()
        .unwrap_or(0)
        .max(11);
    println!(
        "{:<20} {:<8} {:<14} {:>10} {:>9} {:>7} {:>6} {:>7} {:<width$}  FILE",
        "ID", "VERSION", "SHA256", "EVENTS", "FINDINGS", "ERRORS", "TRAPS", "LIMITS", "STATE"
    );
    for (s, state) in rows {
        let sha = s["sha256"].as_str().unwrap_or("");
        println!(
            "{:<20} {:<8} {:<14} {:>10} {:>9} {:>7} {:>6} {:>7} {:<width$}  {}",
            crate::printable(s["id"].as_str().unwrap_or("?")),
            crate::printable(s["version"].as_str().unwrap_or("?")),
            &sha[..sha.len().min(12)],
            s["events"].as_u64().unwrap_or(0),
            s["findings"].as_u64().unwrap_or(0),
            s["errors"].as_u64().unwrap_or(0),
            s["traps"].as_u64().unwrap_or(0),
            s["limitHits"].as_u64().unwrap_or(0),
            state,
            crate::printable(s["file"].as_str().unwrap_or("?")),
        );
    }
    Ok(running)
}

/// One signature's state for the table: active or quarantined (until
/// when), and the selected events the source never produces.
fn state_text(s: &Value) -> String {
    let state = match s["quarantinedUntil"].as_str() {
        Some(until) => format!("quarantined until {}", crate::printable(until)),
        None if s["quarantined"].as_bool() == Some(true) => "quarantined".to_owned(),
        None => "active".to_owned(),
    };
    let names = |key: &str| -> Vec<&str> {
        s[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    };
    let mut text = state;
    if let Some(sha256) = s["fileRejectedSha256"].as_str() {
        text.push_str(&format!(
            ", {}",
            crate::printable(&file_holds_rejected(sha256))
        ));
    }
    for (key, what) in [("unservedEvents", ""), ("withheldFields", "field ")] {
        let missing = names(key);
        if !missing.is_empty() {
            text.push_str(&format!(
                ", never gets {what}{}",
                crate::printable(&missing.join(","))
            ));
        }
    }
    text
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a process with this pid exists.
fn process_alive(pid: u64) -> bool {
    pid != 0 && Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_says_when_the_file_holds_a_rejected_version() {
        let row = json!({"fileRejectedSha256": "ab12"});
        assert_eq!(
            state_text(&row),
            "active, running an older version; the file now holds a rejected version \
             (sha256 ab12); a restart would not load it"
        );
        assert_eq!(state_text(&json!({"fileRejectedSha256": null})), "active");
    }
}
