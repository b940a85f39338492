//! The validated configuration the daemon runs with, built from the CLI.

use std::path::PathBuf;

use crate::engine::Limits;
use crate::sink::OutputFormat;

/// Where a running daemon lists its active signatures by default.
pub const DEFAULT_STATUS_FILE: &str = "/run/sigbox/status.json";

/// Where replayed events are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file of Tracee JSON lines (or a FIFO).
    File(PathBuf),
}

/// What `run` and `replay` share.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The directory of `*.wasm` signatures.
    pub signatures: PathBuf,
    /// How findings are printed.
    pub output: OutputFormat,
    /// Resource limits per signature.
    pub limits: Limits,
    /// Keep the running signatures in step with the directory (hot swap).
    pub watch: bool,
    /// Where to keep the active list for `sigbox status`; none to skip it.
    pub status_file: Option<PathBuf>,
}

/// `sigbox replay`.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// What `run` and `replay` share.
    pub daemon: DaemonOptions,
    /// The events.
    pub input: Input,
}

/// What sigbox was asked to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Evaluate Tracee JSON events from a file or stdin.
    Replay(ReplayOptions),
    /// Watch the kernel's exec events until SIGINT/SIGTERM.
    Run(DaemonOptions),
    /// Print one module's metadata, or why it is not a valid signature.
    Inspect {
        /// The module.
        module: PathBuf,
    },
    /// Print a running daemon's active signatures.
    Status {
        /// The status file the daemon writes.
        status_file: PathBuf,
    },
}
