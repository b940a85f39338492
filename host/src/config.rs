//! The validated configuration the daemon runs with, built from the CLI.

use std::path::PathBuf;

use std::sync::Arc;

use crate::engine::Policy;
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
    /// Resource limits and `init` configuration per signature.
    pub policy: Arc<Policy>,
    /// After the eBPF programs are attached, switch to this user (`run` only).
    pub user: Option<String>,
    /// How the running signatures follow the directory (hot swap).
    pub reload: Reload,
    /// Where to keep the active list for `sigbox status`; none to skip it.
    pub status_file: Option<PathBuf>,
    /// Dispatch worker threads.
    pub workers: usize,
    /// Events each worker's queue holds.
    pub queue_events: usize,
    /// Collect each exec's environment (`run` only).
    pub exec_env: bool,
    /// Processes the process tree keeps at most (`run` only).
    pub process_tree_max: usize,
    /// Which modules may load: those a trust policy admits, or any.
    pub trust: crate::trust::TrustMode,
    /// Finding outputs besides stdout (`run` only).
    pub outputs: crate::sink::OutputOptions,
    /// Where `/metrics` and `/healthz` are served (`run` only; None: off).
    pub listen: Option<std::net::SocketAddr>,
    /// How container names and images are looked up (`run` only).
    pub containers: crate::source::ContainerLookupOptions,
}

/// How the daemon notices changes to the signatures directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// Never: the signatures loaded at start run until exit.
    Off,
    /// Only when sent SIGHUP (for filesystems where notifications are
    /// unreliable, or when inotify watches are exhausted).
    OnSighup,
    /// On file-system notifications, and on SIGHUP.
    Watch,
}

/// `sigbox replay`.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// What `run` and `replay` share.
    pub daemon: DaemonOptions,
    /// The events.
    pub input: Input,
}

/// `sigbox pull`.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST].
    pub reference: String,
    /// The signatures directory to install into.
    pub into: PathBuf,
    /// The module's file name (without `.wasm`); default the repository's last part.
    pub name: Option<String>,
    /// Which modules may be installed.
    pub trust: crate::trust::TrustMode,
    /// Poll the tag this often and install each new version (`--follow`).
    pub follow: Option<std::time::Duration>,
    /// How to reach the registry.
    pub connection: crate::registry::Connection,
}

/// What sigbox was asked to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Evaluate Tracee JSON events from a file or stdin.
    Replay(ReplayOptions),
    /// Watch the kernel's exec events until SIGINT/SIGTERM.
    Run(DaemonOptions),
    /// Print modules' metadata, or why each is not a valid signature.
    Inspect {
        /// Modules, or directories of them.
        modules: Vec<PathBuf>,
    },
    /// Measure one signature module.
    Bench {
        /// The module.
        module: PathBuf,
        /// Events per measurement.
        events: usize,
        /// Tracee JSON events to measure on (cycled to `events`), instead of
        /// synthetic ones.
        recorded: Option<PathBuf>,
    },
    /// Create a signature project.
    New {
        /// Its name (crate, module, signature id).
        name: String,
        /// Its language.
        language: crate::scaffold::Language,
        /// The project's directory (created if missing; must be empty).
        dir: PathBuf,
    },
    /// Create a signing key pair.
    Keygen {
        /// Written as STEM.key and STEM.pub.
        stem: PathBuf,
    },
    /// Embed a signature in a module.
    Sign {
        /// The secret key.
        key: PathBuf,
        /// The module.
        module: PathBuf,
        /// Where to write the signed module (default: in place).
        out: Option<PathBuf>,
        /// Write the signature to `MODULE.wasm.sig` instead of embedding it.
        detached: bool,
    },
    /// Print key fingerprints.
    Fingerprint {
        /// `.pub` or `.key` files.
        keys: Vec<PathBuf>,
    },
    /// Check a module against a trust policy.
    Verify {
        /// The policy file.
        trust: PathBuf,
        /// The module.
        module: PathBuf,
    },
    /// Push a module to an OCI registry.
    Push {
        /// The module.
        module: PathBuf,
        /// Where: REGISTRY/REPOSITORY:TAG.
        reference: String,
        /// How to reach the registry.
        connection: crate::registry::Connection,
    },
    /// Pull a module from an OCI registry into a signatures directory.
    Pull(PullOptions),
    /// Run a signature module on test vectors.
    Test {
        /// The module.
        module: PathBuf,
        /// Vector files (see `vectors`).
        vectors: Vec<PathBuf>,
    },
    /// Print a running daemon's active signatures.
    Status {
        /// The status file the daemon writes.
        status_file: PathBuf,
    },
}
