//! Where every worker writes: findings and coverage records go through one
//! writer, one record at a time, and the counts of what was written.

use std::io::{self, Write};
use std::sync::Mutex;

use super::report::log_notice;
use crate::engine::{Detection, SignatureSet};
use crate::event::Event;
use crate::sink::FindingWriter;
use crate::sink::coverage::CoverageRecord;

/// The finding writer shared by the workers, with its counts.
pub struct Output<W: Write> {
    inner: Mutex<Inner<W>>,
}

struct Inner<W: Write> {
    writer: FindingWriter<W>,
    findings: u64,
    signature_errors: u64,
    coverage_records: u64,
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
    pub fn new(writer: FindingWriter<W>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                writer,
                findings: 0,
                signature_errors: 0,
                coverage_records: 0,
                error: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<W>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes one finding (nothing after a write error).
    pub fn write_finding(&self, detection: &Detection<'_>, event: &Event, raw: Option<&str>) {
        let mut inner = self.lock();
        if inner.error.is_some() {
            return;
        }
        match inner.writer.write(detection, event, raw) {
            Ok(()) => inner.findings += 1,
            Err(error) => inner.error = Some(error),
        }
    }

    /// Writes a coverage record and logs nothing (the caller logs).
    pub fn write_record(&self, record: &CoverageRecord) {
        let mut inner = self.lock();
        match inner.writer.write_coverage(record) {
            Ok(()) => inner.coverage_records += 1,
            Err(error) => tracing::error!("cannot write a coverage record: {error}"),
        }
    }

    /// Logs and writes the coverage changes `set` noted.
    pub fn write_notices(&self, set: &mut SignatureSet) {
        for notice in set.take_notices() {
            log_notice(&notice);
            self.write_record(&CoverageRecord::from_notice(&notice));
        }
    }

    /// Counts signature failures on single events.
    pub fn count_errors(&self, failures: u64) {
        if failures > 0 {
            self.lock().signature_errors += failures;
        }
    }

    /// The write error that stopped writing, if one did (a copy: it stays,
    /// and nothing more is written).
    pub fn write_error(&self) -> Option<io::Error> {
        let inner = self.lock();
        let error = inner.error.as_ref()?;
        Some(io::Error::new(error.kind(), error.to_string()))
    }

    /// Flushes the writer.
    pub fn flush(&self) -> io::Result<()> {
        self.lock().writer.flush()
    }

    /// The counts so far.
    pub fn written(&self) -> Written {
        let inner = self.lock();
        Written {
            findings: inner.findings,
            signature_errors: inner.signature_errors,
            coverage_records: inner.coverage_records,
        }
    }
}
