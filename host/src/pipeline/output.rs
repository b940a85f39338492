//! Where every worker writes: findings and coverage records go through one
//! writer, one record at a time, and the counts of what was written.
//!
//! Workers write their findings and notices themselves, in order. The
//! collector thread (drops, rejected modules) never waits for a worker's
//! write: it posts its records, and whoever holds the writer next writes
//! them (see [`Output::post_record`]).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use super::report::log_notice;
use crate::engine::{Detection, Notice};
use crate::event::Event;
use crate::sink::FindingWriter;
use crate::sink::coverage::CoverageRecord;
use crate::telemetry::{FindingLatency, now_ns};

/// The finding writer shared by the workers, with its counts.
pub struct Output<W: Write> {
    inner: Mutex<Inner<W>>,
    /// Records the collector posted while a worker held the writer.
    posted: Mutex<Vec<CoverageRecord>>,
    /// Set with the first write error, so the collector can check it
    /// without taking the writer.
    failed: AtomicBool,
    /// What was written, readable without taking the writer.
    findings: AtomicU64,
    signature_errors: AtomicU64,
    coverage_records: AtomicU64,
    /// Where each finding's event → finding time goes (live only).
    latency: Option<Arc<FindingLatency>>,
}

struct Inner<W: Write> {
    writer: FindingWriter<W>,
    /// The first write error; writing stops after it.
    error: Option<io::Error>,
}

/// What was written, for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    pub findings: u64,
    pub signature_errors: u64,
    pub coverage_records: u64,
}

impl<W: Write> Output<W> {
    /// An output writing with `writer`, recording each finding's latency
    /// in `latency` (live events: their timestamps are when they happened).
    pub fn new(writer: FindingWriter<W>, latency: Option<Arc<FindingLatency>>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                writer,
                error: None,
            }),
            posted: Mutex::new(Vec::new()),
            failed: AtomicBool::new(false),
            findings: AtomicU64::new(0),
            signature_errors: AtomicU64::new(0),
            coverage_records: AtomicU64::new(0),
            latency,
        }
    }

    /// Runs `write` holding the writer, then writes what was posted
    /// meanwhile (a panic elsewhere does not poison the writer for good:
    /// its state is consistent between records).
    fn with_writer<T>(&self, write: impl FnOnce(&mut Inner<W>) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let result = write(&mut inner);
        self.release(inner);
        result
    }

    /// Writes the posted records, then lets the writer go; a record posted
    /// after that is written by its poster or the next holder.
    fn release<'a>(&'a self, mut inner: MutexGuard<'a, Inner<W>>) {
        loop {
            for record in std::mem::take(&mut *lock(&self.posted)) {
                self.write_record_with(&mut inner, &record);
            }
            drop(inner);
            // A record posted between the take and the unlock found the
            // writer held: write it unless someone else holds it now.
            if lock(&self.posted).is_empty() {
                return;
            }
            inner = match self.inner.try_lock() {
                Ok(inner) => inner,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
        }
    }

    /// Writes one finding (nothing after a write error).
    pub fn write_finding(&self, detection: &Detection<'_>, event: &Event, raw: Option<&str>) {
        self.with_writer(|inner| {
            if inner.error.is_some() {
                return;
            }
            match inner.writer.write(detection, event, raw) {
                Ok(()) => {
                    self.findings.fetch_add(1, Ordering::Relaxed);
                    if let Some(latency) = &self.latency {
                        latency.record(event.context.timestamp_ns, now_ns());
                    }
                }
                Err(error) => {
                    inner.error = Some(error);
                    self.failed.store(true, Ordering::Release);
                }
            }
        });
    }

    /// Writes a coverage record and logs nothing (the caller logs).
    pub fn write_record(&self, record: &CoverageRecord) {
        self.with_writer(|inner| self.write_record_with(inner, record));
    }

    fn write_record_with(&self, inner: &mut Inner<W>, record: &CoverageRecord) {
        match inner.writer.write_coverage(record) {
            Ok(()) => {
                self.coverage_records.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => tracing::error!("cannot write a coverage record: {error}"),
        }
    }

    /// Writes a coverage record without waiting for the writer: at once
    /// when it is free, else as soon as its holder is done. The collector
    /// posts its records this way, so a worker's write never holds it up.
    pub fn post_record(&self, record: CoverageRecord) {
        lock(&self.posted).push(record);
        match self.inner.try_lock() {
            Ok(inner) => self.release(inner),
            Err(TryLockError::Poisoned(poisoned)) => self.release(poisoned.into_inner()),
            // Its holder writes the record before letting the writer go.
            Err(TryLockError::WouldBlock) => {}
        }
    }

    /// Logs and writes coverage changes a worker's set noted.
    pub fn write_notices(&self, notices: Vec<Notice>) {
        for notice in notices {
            log_notice(&notice);
            self.write_record(&CoverageRecord::from_notice(&notice));
        }
    }

    /// Counts signature failures on single events.
    pub fn count_errors(&self, failures: u64) {
        self.signature_errors.fetch_add(failures, Ordering::Relaxed);
    }

    /// The write error that stopped writing, if one did (a copy: it stays,
    /// and nothing more is written). Cheap until one did.
    pub fn write_error(&self) -> Option<io::Error> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.with_writer(|inner| {
            let error = inner.error.as_ref()?;
            Some(io::Error::new(error.kind(), error.to_string()))
        })
    }

    /// Writes what was posted and flushes the writer.
    pub fn flush(&self) -> io::Result<()> {
        self.with_writer(|_| ());
        self.with_writer(|inner| inner.writer.flush())
    }

    /// The counts so far.
    pub fn written(&self) -> Written {
        Written {
            findings: self.findings.load(Ordering::Relaxed),
            signature_errors: self.signature_errors.load(Ordering::Relaxed),
            coverage_records: self.coverage_records.load(Ordering::Relaxed),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
