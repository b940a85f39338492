//! Hot swap: watches the signatures directory and sends prepared changes to
//! the dispatch thread.
//!
//! A background thread waits for file-system notifications (debounced, so a
//! burst of writes becomes one scan) or SIGHUP (a full rescan that also
//! retries rejected files, for filesystems where notifications are
//! unreliable), scans with the [`Catalog`] — which compiles and instantiates
//! new versions on this thread — and sends the resulting [`Change`]s.
//!
//! A scan that cannot list the directory (e.g. out of descriptors) is
//! logged, counted and shown on `/healthz`, and retried with backoff until
//! one succeeds.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use notify::RecursiveMode;
use notify_debouncer_mini::new_debouncer;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use std::path::Path;

use notify_debouncer_mini::Debouncer;

use super::catalog::{Catalog, Found, LOAD_THREADS, Loaded};
use super::load_pool::LoadPool;
use super::scan_health::ScanHealth;
use crate::engine::set::signature_set::Change;
use crate::engine::wasm::runtime::Runtime;
use crate::error_chain;

/// How long the directory must be quiet before a scan.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Waits between retries of a failed scan: doubling from the first to the
/// longest, so a lasting failure costs little and a brief one is short.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_LONGEST: Duration = Duration::from_secs(30);

/// When to retry a failed scan.
#[derive(Debug, Default)]
struct ScanRetry {
    /// The wait before the next retry; none while scans succeed.
    next: Option<Duration>,
}

impl ScanRetry {
    /// A scan failed: the wait before retrying (longer each time in a row).
    fn failed(&mut self) -> Duration {
        let wait = self
            .next
            .map_or(RETRY_FIRST, |last| (last * 2).min(RETRY_LONGEST));
        self.next = Some(wait);
        wait
    }

    /// A scan succeeded; true if earlier ones had failed.
    fn succeeded(&mut self) -> bool {
        self.next.take().is_some()
    }
}

/// Logs every file a scan rejected. The running version, if any, stays.
pub fn log_rejections(rejected: &[crate::engine::LoadError]) {
    for error in rejected {
        tracing::error!("rejected signature: {}", error_chain(error));
    }
}

/// How the reload thread begins.
pub enum Startup {
    /// The caller loaded the directory already (replay): watch for changes.
    Loaded,
    /// Load the directory first, without waiting for any one module; `ready`
    /// is told once every module loaded or failed, or once none did for
    /// [`STARTUP_QUIET`] (those still loading are added as they finish).
    LoadFirst(tokio::sync::oneshot::Sender<()>),
}

/// How long startup waits for modules while none of them finishes.
/// Generous, so a good module compiling on a busy machine is still there
/// for the first event; short next to the compile and load limits a
/// hostile module can use up.
pub const STARTUP_QUIET: Duration = Duration::from_secs(5);

/// Startup's wait for the first modules.
struct StartupWait {
    ready: tokio::sync::oneshot::Sender<()>,
    /// When to stop waiting if no module finishes before.
    until: tokio::time::Instant,
}

/// Starts the reload thread: it rescans `catalog`'s directory on SIGHUP and,
/// with `file_watch`, on file-system notifications; changes go to `changes`.
/// Modules load on a pool of threads, so a slow one never holds up a
/// later change. The thread ends when `changes` is closed. Failed scans are
/// reported to `telemetry` and retried.
///
/// If the directory cannot be watched (e.g. inotify limits), a warning says
/// so and SIGHUP rescans still work.
///
/// # Errors
/// The thread cannot be started.
pub fn spawn(
    mut catalog: Catalog,
    runtime: Runtime,
    changes: UnboundedSender<Change>,
    file_watch: bool,
    scan_health: Arc<ScanHealth>,
    startup: Startup,
) -> anyhow::Result<()> {
    let (wake_tx, mut wake) = unbounded_channel::<()>();
    let debouncer = if file_watch {
        match watch_dir(catalog.dir(), wake_tx.clone()) {
            Ok(debouncer) => Some(debouncer),
            Err(error) => {
                tracing::warn!("{error:#}; send SIGHUP to rescan the directory instead");
                None
            }
        }
    } else {
        None
    };
    let pool = LoadPool::new(LOAD_THREADS).context("cannot start the module loading threads")?;

    let tokio = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(tokio) => tokio,
        Err(error) => {
            tracing::error!("hot reload disabled: cannot start its runtime: {error}");
            return Ok(());
        }
    };
    // Handled from before this returns: a SIGHUP sent once the daemon says
    // it is ready must not find the default action (exit) in place.
    let mut hangup = tokio.block_on(async {
        signal(SignalKind::hangup())
            .inspect_err(|error| tracing::warn!("SIGHUP rescans unavailable: {error}"))
            .ok()
    });
    std::thread::Builder::new()
        .name("sigbox-reload".into())
        .spawn(move || {
            // Keep the watcher and a sender alive as long as this thread runs.
            let _watch = (debouncer, wake_tx);
            let (loaded_tx, mut loaded) = unbounded_channel::<Loaded>();
            let mut startup = match startup {
                Startup::Loaded => None,
                Startup::LoadFirst(ready) => Some(tokio.block_on(async {
                    StartupWait {
                        ready,
                        until: tokio::time::Instant::now() + STARTUP_QUIET,
                    }
                })),
            };
            let mut scan_now = startup.is_some();
            if scan_now {
                // The first load decides claims to an id together.
                catalog.hold_claims();
            }
            let mut retry = ScanRetry::default();
            let mut retry_in: Option<Duration> = None;
            loop {
                // Wait inside the runtime, scan outside it: loading calls into
                // signatures, whose synchronous WASI calls start their own
                // runtime (which panics inside another one).
                // Files that failed while still being written are looked at
                // again once quiet, even if nothing else happens meanwhile.
                let recheck = match (catalog.recheck_in(), retry_in.take()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let startup_until = startup.as_ref().map(|s| s.until);
                let wake = if std::mem::take(&mut scan_now) {
                    Some(Rescan::Changed)
                } else {
                    tokio.block_on(async {
                        tokio::select! {
                            woke = wake.recv() => woke.map(|()| Rescan::Changed),
                            Some(done) = loaded.recv() => Some(Rescan::Loaded(Box::new(done))),
                            () = async {
                                match recheck {
                                    Some(wait) => tokio::time::sleep(wait).await,
                                    None => std::future::pending().await,
                                }
                            } => Some(Rescan::Changed),
                            () = async {
                                match startup_until {
                                    Some(until) => tokio::time::sleep_until(until).await,
                                    None => std::future::pending().await,
                                }
                            } => Some(Rescan::StartupQuiet),
                            Some(()) = async {
                                match hangup.as_mut() {
                                    Some(h) => h.recv().await,
                                    None => std::future::pending().await,
                                }
                            } => Some(Rescan::Hangup),
                        }
                    })
                };
                let mut receiver_gone = false;
                let mut forward = |found| receiver_gone |= !forward(&changes, found);
                match wake {
                    None => return,
                    Some(Rescan::Hangup) => {
                        catalog.reload_trust();
                        tracing::info!("SIGHUP: rescanning {}", catalog.dir().display());
                        catalog.forget_rejections();
                    }
                    Some(Rescan::Changed) => {}
                    Some(Rescan::Loaded(done)) => {
                        // As for a scan: a bug here must not end hot swap.
                        let settled =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                catalog.settle_loaded(*done, &pool, &loaded_tx, &mut forward);
                            }));
                        if settled.is_err() {
                            tracing::error!(
                                "settling a loaded module panicked; the reload thread goes on"
                            );
                        }
                        if let Some(wait) = startup.as_mut() {
                            // Progress: wait on for the others.
                            wait.until = tokio::time::Instant::now() + STARTUP_QUIET;
                        }
                        startup = finish_startup(startup, &catalog);
                        if receiver_gone {
                            return;
                        }
                        continue;
                    }
                    Some(Rescan::StartupQuiet) => {
                        let still: Vec<String> =
                            catalog.loading().map(|p| p.display().to_string()).collect();
                        tracing::warn!(
                            "detection starts without {} (still loading after {} s in which no \
                             module finished); each is added as soon as it loads",
                            still.join(", "),
                            STARTUP_QUIET.as_secs()
                        );
                        // Those loaded so far run; the rest are decided
                        // against them as they come.
                        catalog.release_held(&pool, &loaded_tx, &mut forward);
                        if let Some(wait) = startup.take() {
                            let _ = wait.ready.send(());
                        }
                        if receiver_gone {
                            return;
                        }
                        continue;
                    }
                }
                // Each change goes to the dispatch thread as soon as it is
                // ready; a bug while scanning must not end hot swap for every
                // later change: catch it, log it, keep watching.
                let scanned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    catalog.scan_async(&runtime, &pool, &loaded_tx, &mut forward)
                }));
                startup = finish_startup(startup, &catalog);
                match scanned {
                    Ok(Ok(())) if receiver_gone => return,
                    Ok(Ok(())) => {
                        if retry.succeeded() {
                            tracing::info!(
                                "the signatures directory {} can be listed again",
                                catalog.dir().display()
                            );
                            scan_health.succeeded();
                        }
                    }
                    Ok(Err(error)) => {
                        let wait = retry.failed();
                        retry_in = Some(wait);
                        tracing::error!(
                            "cannot list the signatures directory {}: {error}; retrying in {} ms",
                            catalog.dir().display(),
                            wait.as_millis()
                        );
                        scan_health.failed(error.to_string());
                    }
                    Err(_) => tracing::error!(
                        "scanning {} panicked; the reload thread goes on",
                        catalog.dir().display()
                    ),
                }
            }
        })
        .context("cannot start the reload thread")?;
    Ok(())
}

/// Ends startup's wait once no module is loading any more.
fn finish_startup(startup: Option<StartupWait>, catalog: &Catalog) -> Option<StartupWait> {
    match startup {
        Some(wait) if catalog.loading().next().is_none() => {
            let _ = wait.ready.send(());
            None
        }
        other => other,
    }
}

/// Sends what a scan found to the dispatch thread (a rejection is logged,
/// and sent as a coverage change); false when nobody receives any more.
fn forward(changes: &UnboundedSender<Change>, found: Found) -> bool {
    let change = match found {
        Found::Change(change) => change,
        Found::Rejected(error, sha256) => {
            log_rejections(std::slice::from_ref(&error));
            // A rejected new version of a running signature is a coverage
            // change: the pipeline reports it with the findings.
            Change::Rejected {
                path: error.path().to_owned(),
                reason: error_chain(&error),
                file_sha256: sha256,
            }
        }
    };
    changes.send(change).is_ok()
}

/// Why the reload thread woke.
enum Rescan {
    /// The directory changed (debounced notification).
    Changed,
    /// SIGHUP: rescan and retry rejected files.
    Hangup,
    /// A module finished loading.
    Loaded(Box<Loaded>),
    /// Startup waited [`STARTUP_QUIET`] without a module finishing.
    StartupQuiet,
}

/// Watches `dir` (not its subdirectories), waking `wake` after each quiet period.
fn watch_dir(
    dir: &Path,
    wake: UnboundedSender<()>,
) -> anyhow::Result<Debouncer<notify::RecommendedWatcher>> {
    let mut debouncer = new_debouncer(DEBOUNCE, move |result| {
        if let Err(error) = result {
            tracing::warn!("watching the signatures directory: {error:?}");
        }
        let _ = wake.send(());
    })
    .context("cannot create a file watcher")?;
    debouncer
        .watcher()
        .watch(dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("cannot watch {}", dir.display()))?;
    Ok(debouncer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_scans_are_retried_sooner_first_then_at_most_every_30_s() {
        let mut retry = ScanRetry::default();
        assert!(!retry.succeeded());
        let waits: Vec<_> = (0..10).map(|_| retry.failed()).collect();
        assert_eq!(waits[0], RETRY_FIRST);
        assert_eq!(waits[1], RETRY_FIRST * 2);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(waits[9], RETRY_LONGEST);
        assert!(retry.succeeded());
        assert!(!retry.succeeded());
        assert_eq!(retry.failed(), RETRY_FIRST);
    }
}
