//! The active list: what runs right now, readable by an operator while the
//! daemon runs (`sigbox status`), through a JSON file the daemon rewrites.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::{Value, json};

use crate::engine::SignatureStatus;

/// How often the status file is rewritten.
const REFRESH: Duration = Duration::from_secs(1);

/// The running signatures, shared between the dispatch thread (which
/// replaces the list on every change) and the status writer.
#[derive(Clone, Default)]
pub struct StatusBoard {
    active: Arc<Mutex<Vec<SignatureStatus>>>,
}

impl StatusBoard {
    /// Replaces the list (counters inside stay live).
    pub fn set(&self, active: Vec<SignatureStatus>) {
        *self.active.lock().unwrap_or_else(|e| e.into_inner()) = active;
    }

    /// The list as JSON: one object per running signature.
    pub fn to_json(&self) -> Value {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signatures: Vec<Value> = active
            .iter()
            .map(|s| {
                let stats = s.counters.snapshot();
                json!({
                    "id": s.info.metadata.id,
                    "version": s.info.metadata.version,
                    "name": s.info.metadata.name,
                    "sha256": s.info.sha256,
                    "file": s.info.path,
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
                    "droppedLogBytes": stats.dropped_log_bytes,
                })
            })
            .collect();
        json!({"pid": std::process::id(), "updated": now, "signatures": signatures})
    }

    /// Rewrites `path` every second (atomically: temp file, then rename) on a
    /// background thread, for as long as the process runs.
    ///
    /// # Errors
    /// The file's directory cannot be created or the thread cannot start.
    pub fn spawn_writer(&self, path: PathBuf) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let board = self.clone();
        std::thread::Builder::new()
            .name("sigbox-status".into())
            .spawn(move || {
                let mut warned = false;
                loop {
                    let written = write_atomically(&path, &board.to_json());
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

fn write_atomically(path: &Path, value: &Value) -> std::io::Result<()> {
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, serde_json::to_vec_pretty(value)?)?;
    std::fs::rename(&temp, path)
}

/// Prints the status file a running daemon writes, as a table.
///
/// # Errors
/// The file is missing or not a sigbox status file.
pub fn print_status(path: &Path) -> anyhow::Result<()> {
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
    println!(
        "sigbox pid {} (status updated {age}s ago)",
        status["pid"].as_u64().unwrap_or(0)
    );
    println!(
        "{:<20} {:<8} {:<14} {:>10} {:>9} {:>7} {:>6} {:>7} {:<11}  FILE",
        "ID", "VERSION", "SHA256", "EVENTS", "FINDINGS", "ERRORS", "TRAPS", "LIMITS", "STATE"
    );
    for s in status["signatures"].as_array().into_iter().flatten() {
        let sha = s["sha256"].as_str().unwrap_or("");
        let state = match s["quarantinedUntil"].as_str() {
            Some(until) => format!("quarantined until {}", crate::printable(until)),
            None if s["quarantined"].as_bool() == Some(true) => "quarantined".to_owned(),
            None => "active".to_owned(),
        };
        println!(
            "{:<20} {:<8} {:<14} {:>10} {:>9} {:>7} {:>6} {:>7} {:<11}  {}",
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
    Ok(())
}
