//! Hot swap: watches the signatures directory and sends prepared changes to
//! the dispatch thread.
//!
//! A background thread waits for file-system notifications (debounced, so a
//! burst of writes becomes one scan) or SIGHUP (a full rescan that also
//! retries rejected files, for filesystems where notifications are
//! unreliable), scans with the [`Catalog`] — which compiles and instantiates
//! new versions on this thread — and sends the resulting [`Change`]s.

use std::time::Duration;

use anyhow::Context;
use notify::RecursiveMode;
use notify_debouncer_mini::new_debouncer;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use std::path::Path;

use notify_debouncer_mini::Debouncer;

use super::catalog::{Catalog, Found};
use super::runtime::Runtime;
use super::set::Change;
use crate::error_chain;

/// How long the directory must be quiet before a scan.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Logs every file a scan rejected. The running version, if any, stays.
pub fn log_rejections(rejected: &[super::LoadError]) {
    for error in rejected {
        tracing::error!("rejected signature: {}", error_chain(error));
    }
}

/// Starts the reload thread: it rescans `catalog`'s directory on SIGHUP and,
/// with `file_watch`, on file-system notifications; changes go to `changes`. The thread ends when `changes` is closed.
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

    std::thread::Builder::new()
        .name("sigbox-reload".into())
        .spawn(move || {
            // Keep the watcher and a sender alive as long as this thread runs.
            let _watch = (debouncer, wake_tx);
            let tokio = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(tokio) => tokio,
                Err(error) => {
                    tracing::error!("hot reload disabled: cannot start its runtime: {error}");
                    return;
                }
            };
            let mut hangup = tokio.block_on(async {
                signal(SignalKind::hangup())
                    .inspect_err(|error| tracing::warn!("SIGHUP rescans unavailable: {error}"))
                    .ok()
            });
            loop {
                // Wait inside the runtime, scan outside it: loading calls into
                // signatures, whose synchronous WASI calls start their own
                // runtime (which panics inside another one).
                // Files that failed while still being written are looked at
                // again once quiet, even if nothing else happens meanwhile.
                let recheck = catalog.recheck_in();
                let wake = tokio.block_on(async {
                    tokio::select! {
                        woke = wake.recv() => woke.map(|()| Rescan::Changed),
                        () = async {
                            match recheck {
                                Some(wait) => tokio::time::sleep(wait).await,
                                None => std::future::pending().await,
                            }
                        } => Some(Rescan::Changed),
                        Some(()) = async {
                            match hangup.as_mut() {
                                Some(h) => h.recv().await,
                                None => std::future::pending().await,
                            }
                        } => Some(Rescan::Hangup),
                    }
                });
                match wake {
                    None => return,
                    Some(Rescan::Hangup) => {
                        catalog.reload_trust();
                        tracing::info!("SIGHUP: rescanning {}", catalog.dir().display());
                        catalog.forget_rejections();
                    }
                    Some(Rescan::Changed) => {}
                }
                // Each change goes to the dispatch thread as soon as it is
                // ready; a bug while loading one module must not end hot swap
                // for every later one: catch it, log it, keep watching.
                let mut receiver_gone = false;
                let scanned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    catalog.scan_each(&runtime, false, |found| {
                        let change = match found {
                            Found::Change(change) => change,
                            Found::Rejected(error, sha256) => {
                                log_rejections(std::slice::from_ref(&error));
                                // A rejected new version of a running signature
                                // is a coverage change: the pipeline reports it
                                // with the findings.
                                Change::Rejected {
                                    path: error.path().to_owned(),
                                    reason: error_chain(&error),
                                    file_sha256: sha256,
                                }
                            }
                        };
                        receiver_gone |= changes.send(change).is_err();
                    })
                }));
                match scanned {
                    Ok(Ok(())) if receiver_gone => return,
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => tracing::error!(
                        "cannot list the signatures directory {}: {error}",
                        catalog.dir().display()
                    ),
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

/// Why the reload thread woke.
enum Rescan {
    /// The directory changed (debounced notification).
    Changed,
    /// SIGHUP: rescan and retry rejected files.
    Hangup,
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
