//! The validated configuration the daemon runs with, built from the CLI.

use std::path::PathBuf;

use crate::engine::Limits;
use crate::sink::OutputFormat;

/// Where replayed events are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file of Tracee JSON lines.
    File(PathBuf),
}

/// What sigbox was asked to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Evaluate Tracee JSON events from a file or stdin.
    Replay {
        /// The directory of `*.wasm` signatures.
        signatures: PathBuf,
        /// The events.
        input: Input,
        /// How findings are printed.
        output: OutputFormat,
        /// Resource limits per signature.
        limits: Limits,
    },
    /// Watch the kernel's exec events until SIGINT/SIGTERM.
    Run {
        /// The directory of `*.wasm` signatures.
        signatures: PathBuf,
        /// How findings are printed.
        output: OutputFormat,
        /// Resource limits per signature.
        limits: Limits,
    },
    /// Print one module's metadata, or why it is not a valid signature.
    Inspect {
        /// The module.
        module: PathBuf,
    },
}
