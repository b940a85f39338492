//! Command-line arguments, turned into a validated [`sigbox::Command`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use sigbox::config::{DEFAULT_STATUS_FILE, Reload};
use sigbox::engine::Limits;
use sigbox::sink::OutputFormat;
use sigbox::{Command, DaemonOptions, Input, ReplayOptions};

/// Runtime-security detections ("signatures") as sandboxed WebAssembly components.
///
/// sigbox evaluates process events against every `*.wasm` signature in a
/// directory and prints findings as JSON lines in Tracee's format on stdout.
/// Logs and the end-of-run summary go to stderr (set RUST_LOG=debug for more).
#[derive(Parser, Debug)]
#[command(name = "sigbox", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Subcommand, Debug)]
enum CliCommand {
    /// Watch every exec on this machine (eBPF) until SIGINT or SIGTERM. Needs root
    /// (or CAP_BPF and CAP_PERFMON).
    ///
    /// The signatures directory is watched: a new `*.wasm` is loaded, a changed
    /// one replaces the running version (only if the new one loads), a deleted
    /// one is unloaded. SIGHUP rescans the directory.
    Run {
        #[command(flatten)]
        common: Common,
        /// File where the active signatures are listed (see `sigbox status`).
        #[arg(long, value_name = "FILE", default_value = DEFAULT_STATUS_FILE)]
        status_file: PathBuf,
    },
    /// Evaluate Tracee `--output json` events from a file or stdin, then print a summary.
    ///
    /// When the events come from a stream (stdin or a FIFO), the signatures
    /// directory is watched as with `run`.
    Replay {
        #[command(flatten)]
        common: Common,
        /// File of Tracee JSON events, one per line; `-` or nothing reads stdin.
        file: Option<PathBuf>,
        /// File where the active signatures are listed (see `sigbox status`); none by default.
        #[arg(long, value_name = "FILE")]
        status_file: Option<PathBuf>,
    },
    /// List the signatures a running daemon has active: id, version, digest,
    /// file, events seen, findings, errors.
    Status {
        /// The daemon's status file.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_STATUS_FILE)]
        status_file: PathBuf,
    },
    /// Print a signature module's metadata and selected events as JSON, or why it is invalid.
    Inspect {
        /// The `.wasm` module.
        module: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct Common {
    /// Directory of `*.wasm` signatures; every module in it is loaded.
    #[arg(long, short = 's', value_name = "DIR", env = "SIGBOX_SIGNATURES")]
    signatures: PathBuf,
    /// How findings are printed on stdout.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Json)]
    output: Format,
    /// CPU time a signature may spend on one event before the call is aborted, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10)]
    cpu_limit_ms: u64,
    /// Do not watch the signatures directory for changes; reload only on
    /// SIGHUP (for network filesystems or when inotify watches run out).
    #[arg(long)]
    no_file_watch: bool,
    /// Linear memory one signature may use, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    memory_limit_mib: usize,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Format {
    /// One finding per line in Tracee's JSON finding format.
    Json,
    /// One readable line per finding.
    Text,
}

impl Common {
    fn output(&self) -> OutputFormat {
        match self.output {
            Format::Json => OutputFormat::Json,
            Format::Text => OutputFormat::Text,
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            cpu_per_event: Duration::from_millis(self.cpu_limit_ms.max(1)),
            memory_bytes: self.memory_limit_mib.max(1) << 20,
            ..Limits::default()
        }
    }
}

/// Whether replay input is a stream (stdin, a FIFO) rather than a regular file.
fn is_stream(input: &Input) -> bool {
    match input {
        Input::Stdin => true,
        Input::File(path) => std::fs::metadata(path).is_ok_and(|m| !m.is_file()),
    }
}

impl Common {
    fn daemon(self, stream: bool, status_file: Option<PathBuf>) -> DaemonOptions {
        let reload = match (stream, self.no_file_watch) {
            (false, _) => Reload::Off,
            (true, true) => Reload::OnSighup,
            (true, false) => Reload::Watch,
        };
        DaemonOptions {
            output: self.output(),
            limits: self.limits(),
            signatures: self.signatures,
            reload,
            status_file,
        }
    }
}

impl Cli {
    /// The command to run.
    pub fn into_command(self) -> Command {
        match self.command {
            CliCommand::Run {
                common,
                status_file,
            } => Command::Run(common.daemon(true, Some(status_file))),
            CliCommand::Replay {
                common,
                file,
                status_file,
            } => {
                let input = match file {
                    Some(path) if path.as_os_str() != "-" => Input::File(path),
                    _ => Input::Stdin,
                };
                let stream = is_stream(&input);
                Command::Replay(ReplayOptions {
                    daemon: common.daemon(stream, status_file),
                    input,
                })
            }
            CliCommand::Inspect { module } => Command::Inspect { module },
            CliCommand::Status { status_file } => Command::Status { status_file },
        }
    }
}
