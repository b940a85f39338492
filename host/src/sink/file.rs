//! A JSON-lines file of findings with size rotation (`PATH` → `PATH.1` →
//! … → `PATH.KEEP`) and reopening on SIGUSR1, for logrotate: it renames
//! the file, signals, and the next record goes to a new file at `PATH`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use super::fanout::LineOutput;
use crate::telemetry::OutputCounters;

/// Where and how findings are written to a file.
#[derive(Debug, Clone)]
pub struct FileOptions {
    /// The file.
    pub path: PathBuf,
    /// Rotate before a record would take it past this size.
    pub max_bytes: u64,
    /// Rotated files kept (`PATH.1` … `PATH.KEEP`); 0 rotates by truncating.
    pub keep: u32,
}

/// The file output.
pub(crate) struct RotatingFile {
    options: FileOptions,
    file: File,
    size: u64,
    reopen: Arc<AtomicBool>,
    counters: Arc<OutputCounters>,
    failing: bool,
    /// A failed write left part of a record that could not be cut back:
    /// the next record starts on a fresh line, so the file stays JSON lines.
    partial_line: bool,
}

impl RotatingFile {
    /// Opens (appends to) the file; `reopen` set means "reopen before the
    /// next record" (SIGUSR1).
    ///
    /// # Errors
    /// The file cannot be opened (the message names it and the option).
    pub(crate) fn open(
        options: FileOptions,
        reopen: Arc<AtomicBool>,
        counters: Arc<OutputCounters>,
    ) -> anyhow::Result<Self> {
        let file = open_append(&options.path).with_context(|| {
            format!(
                "cannot open the findings file {} (--output-file)",
                options.path.display()
            )
        })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self {
            options,
            file,
            size,
            reopen,
            counters,
            failing: false,
            partial_line: false,
        })
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let path = &self.options.path;
        if self.options.keep > 0 {
            for n in (1..self.options.keep).rev() {
                let from = numbered(path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(path, n + 1))?;
                }
            }
            std::fs::rename(path, numbered(path, 1))?;
        } else {
            std::fs::remove_file(path)?;
        }
        self.reopen_now()
    }

    fn reopen_now(&mut self) -> std::io::Result<()> {
        self.file = open_append(&self.options.path)?;
        self.size = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(())
    }

    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        if self.reopen.swap(false, Ordering::Relaxed) {
            self.reopen_now()?;
            tracing::info!("reopened {}", self.options.path.display());
        }
        let needed = line.len() as u64 + 1;
        if self.size > 0 && self.size + needed > self.options.max_bytes {
            self.rotate()?;
        }
        // One write of the whole record to a file opened for appending.
        let mut record = Vec::with_capacity(line.len() + 2);
        if self.partial_line {
            record.push(b'\n');
        }
        record.extend_from_slice(line);
        record.push(b'\n');
        self.append_whole(&record)?;
        self.partial_line = false;
        self.size += record.len() as u64;
        Ok(())
    }

    /// Appends `record` whole, or not at all: a short write (ENOSPC, EFBIG,
    /// a quota) is cut back, so no half record stays in the file to be
    /// glued to the next one.
    fn append_whole(&mut self, record: &[u8]) -> std::io::Result<()> {
        let mut written = 0;
        while written < record.len() {
            match self.file.write(&record[written..]) {
                Ok(0) => {
                    return Err(self.cut_back(written, std::io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => written += n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(self.cut_back(written, error)),
            }
        }
        Ok(())
    }

    /// Removes the `written` bytes of a record that failed part way;
    /// returns `error` for the caller.
    fn cut_back(&mut self, written: usize, error: std::io::Error) -> std::io::Error {
        if written == 0 {
            return error;
        }
        let cut = self
            .file
            .metadata()
            .and_then(|m| self.file.set_len(m.len().saturating_sub(written as u64)));
        if let Err(cut_error) = cut {
            tracing::warn!(
                "{}: cannot cut back a partly written record ({cut_error}); the next record \
                 starts on a new line",
                self.options.path.display()
            );
            self.partial_line = true;
        }
        error
    }
}

impl LineOutput for RotatingFile {
    fn line(&mut self, line: &[u8]) {
        match self.write_line(line) {
            Ok(()) => {
                OutputCounters::add(&self.counters.sent, 1);
                if self.failing {
                    tracing::info!("writing {} again", self.options.path.display());
                    self.failing = false;
                }
            }
            Err(error) => {
                OutputCounters::add(&self.counters.dropped, 1);
                if !self.failing {
                    tracing::error!(
                        "cannot write findings to {}: {error}; records are counted as dropped \
                         (sigbox_output_dropped_total{{output=\"file\"}}) until it works again",
                        self.options.path.display()
                    );
                    self.failing = true;
                }
            }
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_record_boundaries_and_keeps_the_newest() {
        let dir = std::env::temp_dir().join(format!("sigbox-file-output-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("findings.jsonl");
        let reopen = Arc::new(AtomicBool::new(false));
        let counters = OutputCounters::new("file");
        let mut file = RotatingFile::open(
            FileOptions {
                path: path.clone(),
                max_bytes: 100,
                keep: 2,
            },
            reopen.clone(),
            counters,
        )
        .unwrap();
        for n in 0..20 {
            file.line(format!("{{\"n\":{n:02},\"pad\":\"xxxxxxxxxxxx\"}}").as_bytes());
        }
        let mut all = Vec::new();
        for name in ["findings.jsonl.2", "findings.jsonl.1", "findings.jsonl"] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(text.len() <= 100, "{name}: {}", text.len());
            assert!(text.ends_with('\n'));
            all.extend(text.lines().map(str::to_owned));
        }
        assert!(!dir.join("findings.jsonl.3").exists());
        // The newest records, whole and in order.
        let numbers: Vec<u32> = all.iter().map(|l| l[5..7].parse().unwrap()).collect();
        assert_eq!(numbers, (20 - numbers.len() as u32..20).collect::<Vec<_>>());

        // logrotate: rename, signal, the next record starts a new file.
        std::fs::rename(&path, dir.join("moved")).unwrap();
        reopen.store(true, Ordering::Relaxed);
        file.line(b"{\"after\":1}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"after\":1}\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
