//! Command-line arguments, turned into a validated [`sigbox::Command`].

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use std::sync::Arc;

use sigbox::config::PullOptions;
use sigbox::config::{DEFAULT_STATUS_FILE, Reload};
use sigbox::policy_file::{self, LimitOverrides};
use sigbox::registry::Connection;
use sigbox::sink::OutputFormat;
use sigbox::trust::TrustMode;
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
    /// Log records as text lines, or as JSON objects (one per line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log records are written to stderr.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One readable line per record.
    Text,
    /// One JSON object per record.
    Json,
}

#[derive(Subcommand, Debug)]
enum CliCommand {
    /// Watch every exec on this machine (eBPF) until SIGINT or SIGTERM. Needs root
    /// (or CAP_BPF and CAP_PERFMON).
    ///
    /// The signatures directory is watched: a new `*.wasm` is loaded, a changed
    /// one replaces the running version (only if the new one loads), a deleted
    /// one is unloaded. SIGHUP rescans the directory.
    #[command(
        override_usage = "sigbox run --signatures DIR <--trust POLICY|--allow-unsigned> [OPTIONS]",
        after_long_help = sigbox::trust::POLICY_HELP
    )]
    Run {
        #[command(flatten)]
        common: Common,
        /// File where the active signatures are listed (see `sigbox status`).
        #[arg(long, value_name = "FILE", default_value = DEFAULT_STATUS_FILE)]
        status_file: PathBuf,
        /// After the eBPF programs are attached, switch to this user (and its
        /// primary group). Every capability is dropped either way.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Read each exec's environment into the `env` argument (at most 8 KiB,
        /// like argv), for signatures such as TRC-107 (LD_PRELOAD). Off by
        /// default: environments often carry secrets, and findings show them.
        #[arg(long)]
        exec_env: bool,
        /// Processes the process tree keeps (for entity ids and ancestry),
        /// exited ones included; the least recently used are evicted past it.
        #[arg(long, value_name = "N",
              default_value_t = sigbox::source::process_tree::DEFAULT_MAX_PROCESSES,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        process_tree_max: usize,
        /// Serve /metrics (Prometheus) and /healthz on ADDR:PORT, or `off`.
        #[arg(long, value_name = "ADDR|off", default_value = sigbox::telemetry::DEFAULT_LISTEN)]
        listen: String,
        #[command(flatten)]
        outputs: Outputs,
        #[command(flatten)]
        containers: Containers,
    },
    /// Evaluate Tracee `--output json` events from a file or stdin, then print a summary.
    ///
    /// When the events come from a stream (stdin or a FIFO), the signatures
    /// directory is watched as with `run`.
    #[command(
        override_usage = "sigbox replay --signatures DIR <--trust POLICY|--allow-unsigned> [OPTIONS] [FILE]",
        after_long_help = sigbox::trust::POLICY_HELP
    )]
    Replay {
        #[command(flatten)]
        common: Common,
        /// File of Tracee JSON events, one per line; `-` or nothing reads stdin.
        file: Option<PathBuf>,
        /// File where the active signatures are listed (see `sigbox status`); none by default.
        #[arg(long, value_name = "FILE")]
        status_file: Option<PathBuf>,
    },
    /// Measure a signature module: compile and load time, memory per
    /// instance, and ns/event for each event it selects (one pinned core).
    Bench {
        /// The `.wasm` module.
        module: PathBuf,
        /// Events per measurement.
        #[arg(default_value_t = 20_000)]
        events: usize,
        /// Measure on these recorded events (Tracee `--output json` lines,
        /// e.g. from your own hosts), cycled to EVENTS, instead of synthetic ones.
        #[arg(long = "events", value_name = "FILE")]
        recorded: Option<PathBuf>,
    },
    /// Create a signature project anywhere on disk: a working example
    /// signature in Rust, its test vectors, a README and a Makefile (`make`,
    /// `make test`). The contract and the SDK come from this binary.
    New {
        /// The project's name: lowercase letters, digits and '-'.
        name: String,
        /// The language of the example and SDK.
        #[arg(long, value_enum, default_value_t = Lang::Rust)]
        lang: Lang,
        /// The project's directory, created if missing (it must be empty)
        /// [default: ./NAME].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Create an Ed25519 key pair for signing modules: STEM.key (secret,
    /// mode 0600, never overwritten) and STEM.pub.
    Keygen {
        /// Path without extension, e.g. `keys/detections`.
        stem: PathBuf,
    },
    /// Sign a module: the signature is embedded in it (the WebAssembly
    /// tool-conventions format), so the file carries its own proof.
    Sign {
        /// The secret key (from `sigbox keygen`).
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// The `.wasm` module.
        module: PathBuf,
        /// Write the signed module here instead of replacing MODULE.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Leave the module as it is and write the signature beside it, to
        /// `MODULE.wasm.sig` (or `OUT.sig`), where `sigbox run` looks for it.
        #[arg(long)]
        detached: bool,
    },
    /// Print the fingerprint (sha256:…) of each key, a `.pub` or a `.key`:
    /// the name keygen, sign, verify and refusals give it.
    Fingerprint {
        /// Key files.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<PathBuf>,
    },
    /// Check a module against a trust policy: signed by enough trusted keys,
    /// each allowed to sign the id the module claims, and its digest pinned
    /// if its id is. Exit status 1 when not trusted (the reason on stderr:
    /// not WebAssembly, truncated, unsigned, signed by a key not in the
    /// policy, modified after signing, or a rule of the policy).
    #[command(after_long_help = sigbox::trust::POLICY_HELP)]
    Verify {
        /// The trust policy (TOML; its format is below, in --help).
        #[arg(long, value_name = "POLICY")]
        trust: PathBuf,
        /// The `.wasm` module.
        module: PathBuf,
    },
    /// Push a module to an OCI registry as a CNCF wasm artifact (with its
    /// detached signature MODULE.sig as a second layer, if it has one).
    /// Credentials come from the Docker config file; plain HTTP is used
    /// only for a loopback registry or with --plain-http.
    Push {
        /// The `.wasm` module (it must load as a signature).
        module: PathBuf,
        /// REGISTRY/REPOSITORY:TAG, e.g. `registry.example/detections/trc-1016:v1`.
        reference: String,
        /// Use plain HTTP even for a registry that is not on loopback.
        #[arg(long)]
        plain_http: bool,
    },
    /// Pull a module from an OCI registry into a signatures directory: it
    /// is verified against the trust policy first, then renamed into place
    /// (the running daemon picks it up). With --follow, keeps polling the
    /// tag and installs each new version that verifies.
    #[command(
        override_usage = "sigbox pull <REFERENCE> --into DIR <--trust POLICY|--allow-unsigned> [OPTIONS]",
        after_long_help = sigbox::trust::POLICY_HELP
    )]
    Pull {
        /// REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST].
        reference: String,
        /// The daemon's signatures directory.
        #[arg(long, value_name = "DIR")]
        into: PathBuf,
        /// File name to install as (NAME.wasm) [default: the repository's last part].
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Trust policy the module must verify against (as `sigbox run --trust`;
        /// format: `sigbox verify --help`).
        #[arg(long, value_name = "POLICY", env = "SIGBOX_TRUST")]
        trust: Option<PathBuf>,
        /// Install modules without verifying their signatures.
        #[arg(long)]
        allow_unsigned: bool,
        /// Keep polling the tag and install each new digest that verifies.
        #[arg(long)]
        follow: bool,
        /// How often --follow polls, e.g. 30s, 1m, 1h [default: 1m; at least 1s].
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        every: Option<std::time::Duration>,
        /// Use plain HTTP even for a registry that is not on loopback.
        #[arg(long)]
        plain_http: bool,
        #[command(flatten)]
        timeouts: PullTimeouts,
    },
    /// Run a signature module on test vectors through the real host and
    /// sandbox: each case is a Tracee-format event and the findings it must
    /// produce, or none, or an error (format: README, "Test vectors").
    /// Prints a line per case, a diff per failure; exit status 1 if any failed.
    Test {
        /// The `.wasm` module.
        module: PathBuf,
        /// Vector files (JSON Lines).
        #[arg(required = true, value_name = "VECTORS")]
        vectors: Vec<PathBuf>,
    },
    /// List the signatures a running daemon has active: id, version, digest,
    /// file, events seen, findings, errors.
    Status {
        /// The daemon's status file.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_STATUS_FILE)]
        status_file: PathBuf,
    },
    /// Print signature modules' metadata and selected events as JSON, or why
    /// each is invalid (exit status 1 if any is).
    ///
    /// One file prints one JSON object; several files, or a directory (its
    /// `*.wasm` files), print a JSON array.
    Inspect {
        /// `.wasm` modules or directories of them.
        #[arg(required = true, value_name = "FILE|DIR")]
        modules: Vec<PathBuf>,
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
    /// TOML file with default limits and per-signature limits and
    /// configuration (see README, "Security model").
    #[arg(long, short = 'c', value_name = "FILE", env = "SIGBOX_CONFIG")]
    config: Option<PathBuf>,
    /// Time a signature may spend on one event before the call is aborted,
    /// in milliseconds: a deadline, enforced only while the call is using
    /// the CPU (see README) [default: 10, or the config file's].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    cpu_limit_ms: Option<u64>,
    /// Linear memory one signature may use, in MiB [default: 64, or the config file's].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    memory_limit_mib: Option<u64>,
    /// Do not watch the signatures directory for changes; reload only on
    /// SIGHUP (for network filesystems or when inotify watches run out).
    #[arg(long)]
    no_file_watch: bool,
    /// Dispatch threads; each signature runs on one of them [default: one
    /// per core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    workers: Option<u64>,
    /// Events each dispatch thread's queue holds. Live, a full queue drops
    /// events for that thread's signatures (counted and reported); replay
    /// waits instead.
    #[arg(long, value_name = "N", default_value_t = sigbox::pipeline::DEFAULT_QUEUE_EVENTS as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    queue_events: u64,
    /// Trust policy (TOML: trusted public keys, the signature ids each may
    /// sign, pinned digests; format: `sigbox verify --help`). Every module
    /// must verify against it before it is compiled. Reloaded on SIGHUP.
    #[arg(long, value_name = "POLICY", env = "SIGBOX_TRUST")]
    trust: Option<PathBuf>,
    /// Load modules without verifying their signatures (each load is
    /// warned about). Without it, `--trust` is required.
    #[arg(long)]
    allow_unsigned: bool,
}

/// Container names and images from the runtime's API.
#[derive(clap::Args, Debug)]
struct Containers {
    /// Ask the container runtime at this socket for container names,
    /// images and pods; repeatable, all asked at once, the first in order
    /// that knows a container answers. PATH alone is a Docker-API socket
    /// (Docker, `podman system service`); `crio:PATH` is CRI-O's,
    /// `containerd:PATH` containerd's [default: those of /run/docker.sock,
    /// /run/podman/podman.sock, crio:/run/crio/crio.sock and
    /// containerd:/run/containerd/containerd.sock that are sockets].
    #[arg(long = "container-runtime-socket", value_name = "[RUNTIME:]PATH")]
    sockets: Vec<sigbox::source::RuntimeSocketPath>,
    /// Ask no container runtime: findings carry the container id only.
    #[arg(long, conflicts_with = "sockets")]
    no_container_lookup: bool,
    /// Containers whose name and image are remembered (the least recently
    /// seen are forgotten first).
    #[arg(long, value_name = "N", default_value_t = sigbox::source::DEFAULT_CONTAINER_CACHE as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    container_cache: u64,
}

impl Containers {
    fn options(self) -> sigbox::source::ContainerLookupOptions {
        sigbox::source::ContainerLookupOptions {
            enabled: !self.no_container_lookup,
            sockets: self.sockets,
            cache_containers: self.container_cache as usize,
        }
    }
}

/// Finding outputs besides stdout.
#[derive(clap::Args, Debug)]
struct Outputs {
    /// Also append findings (JSON lines) to FILE, rotated by size; SIGUSR1
    /// reopens it (for logrotate).
    #[arg(long, value_name = "FILE")]
    output_file: Option<PathBuf>,
    /// Rotate the findings file before it grows past this size.
    #[arg(long, value_name = "MIB", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    output_file_max_mib: u64,
    /// Rotated findings files kept (FILE.1 … FILE.N).
    #[arg(long, value_name = "N", default_value_t = 5)]
    output_file_keep: u32,
    /// Also POST findings to URL, as JSON arrays, from a bounded queue
    /// (a slow receiver drops findings there, counted; it never slows collection).
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
    /// Findings per POST at most.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    webhook_batch: u64,
    /// Findings the webhook queue holds; more are dropped (counted).
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    webhook_queue: u64,
    /// Time one POST may take.
    #[arg(long, value_name = "MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    webhook_timeout_ms: u64,
    /// Retries of a POST answered with 5xx or a redirect (never followed),
    /// timed out or not connected.
    #[arg(long, value_name = "N", default_value_t = 3)]
    webhook_retries: u32,
    /// Also send findings to the local syslog (/dev/log).
    #[arg(long)]
    syslog: bool,
    /// The syslog socket to use instead of /dev/log (implies --syslog).
    #[arg(long, value_name = "PATH")]
    syslog_socket: Option<PathBuf>,
}

impl Outputs {
    fn options(self) -> sigbox::sink::OutputOptions {
        use sigbox::sink::{FileOptions, WebhookOptions};
        sigbox::sink::OutputOptions {
            file: self.output_file.map(|path| FileOptions {
                path,
                max_bytes: self.output_file_max_mib.saturating_mul(1 << 20),
                keep: self.output_file_keep,
            }),
            webhook: self.webhook.map(|url| WebhookOptions {
                url,
                batch: self.webhook_batch as usize,
                queue: self.webhook_queue as usize,
                timeout: std::time::Duration::from_millis(self.webhook_timeout_ms),
                retries: self.webhook_retries,
            }),
            syslog: self
                .syslog_socket
                .or_else(|| self.syslog.then(|| PathBuf::from(sigbox::sink::DEV_LOG))),
        }
    }
}

/// `--listen`: an address, or `off`.
fn listen_address(text: &str) -> anyhow::Result<Option<std::net::SocketAddr>> {
    if text == "off" {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        anyhow::anyhow!("--listen {text:?}: expected ADDRESS:PORT (e.g. 127.0.0.1:9479) or off")
    })
}

/// Languages `sigbox new` scaffolds.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum Lang {
    /// Rust (cargo, wasm32-wasip2).
    Rust,
    /// Python (componentize-py 0.25.1).
    Python,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Format {
    /// One finding per line in Tracee's JSON finding format.
    Json,
    /// One readable line per finding.
    Text,
}

/// Whether replay input is a stream (stdin, a FIFO) rather than a regular file.
fn is_stream(input: &Input) -> bool {
    match input {
        Input::Stdin => true,
        Input::File(path) => std::fs::metadata(path).is_ok_and(|m| !m.is_file()),
    }
}

/// How long `sigbox pull` waits for a registry.
#[derive(clap::Args, Debug)]
struct PullTimeouts {
    /// Time to open a connection to the registry.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    connect_timeout: std::time::Duration,
    /// Time the registry may send nothing while answering.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    read_timeout: std::time::Duration,
    /// Time for one whole pull (or poll): the tag, the manifest and its layers.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pull_timeout: std::time::Duration,
}

impl From<PullTimeouts> for sigbox::registry::Timeouts {
    fn from(t: PullTimeouts) -> Self {
        Self {
            connect: t.connect_timeout,
            read: t.read_timeout,
            total: t.pull_timeout,
        }
    }
}

/// The shortest `pull --follow --every`: each poll is a request to the
/// registry, and a shorter period only loads it.
pub const MIN_FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How often `pull --follow` polls (`None`: pull once). `--every` means
/// nothing without `--follow`, and below [`MIN_FOLLOW_EVERY`] it would
/// hammer the registry: both are errors.
fn follow_every(
    follow: bool,
    every: Option<std::time::Duration>,
) -> anyhow::Result<Option<std::time::Duration>> {
    match (follow, every) {
        (false, None) => Ok(None),
        (false, Some(_)) => anyhow::bail!(
            "--every only applies with --follow (pull once without it, or add --follow)"
        ),
        (true, Some(every)) if every < MIN_FOLLOW_EVERY => anyhow::bail!(
            "--every {} is too short: the minimum is {} (each poll is a request to the registry)",
            humantime::format_duration(every),
            humantime::format_duration(MIN_FOLLOW_EVERY)
        ),
        (true, every) => Ok(Some(every.unwrap_or(std::time::Duration::from_secs(60)))),
    }
}

/// The operator's trust decision: a policy, or explicitly none.
fn trust_mode(policy: Option<PathBuf>, allow_unsigned: bool) -> anyhow::Result<TrustMode> {
    match (policy, allow_unsigned) {
        (Some(policy), false) => Ok(TrustMode::Policy(policy)),
        (None, true) => Ok(TrustMode::AllowUnsigned),
        (Some(_), true) => anyhow::bail!(
            "--trust (or SIGBOX_TRUST) and --allow-unsigned exclude each other: verify \
             modules against the policy, or do not verify them"
        ),
        (None, false) => anyhow::bail!(
            "signature modules are verified before they load: name a trust policy with \
             --trust POLICY (or SIGBOX_TRUST; README, \"Shipping signatures\"), or pass \
             --allow-unsigned to load unsigned modules"
        ),
    }
}

impl Common {
    fn daemon(
        self,
        stream: bool,
        status_file: Option<PathBuf>,
        user: Option<String>,
    ) -> anyhow::Result<DaemonOptions> {
        let reload = match (stream, self.no_file_watch) {
            (false, _) => Reload::Off,
            (true, true) => Reload::OnSighup,
            (true, false) => Reload::Watch,
        };
        let flags = LimitOverrides {
            cpu_ms: self.cpu_limit_ms,
            memory_mib: self
                .memory_limit_mib
                .map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
            ..LimitOverrides::default()
        };
        let policy = policy_file::load(self.config.as_deref(), &flags)?;
        let trust = trust_mode(self.trust, self.allow_unsigned)?;
        Ok(DaemonOptions {
            trust,
            outputs: sigbox::sink::OutputOptions::default(),
            listen: None,
            workers: self
                .workers
                .map_or_else(sigbox::pipeline::default_workers, |n| n as usize),
            queue_events: self.queue_events as usize,
            output: match self.output {
                Format::Json => OutputFormat::Json,
                Format::Text => OutputFormat::Text,
            },
            policy: Arc::new(policy),
            signatures: self.signatures,
            reload,
            status_file,
            user,
            exec_env: false,
            process_tree_max: sigbox::source::process_tree::DEFAULT_MAX_PROCESSES,
            containers: sigbox::source::ContainerLookupOptions::default(),
        })
    }
}

impl Cli {
    /// Whether the command writes to pipes or sockets besides stdout that
    /// may close under it (the daemon's outputs and compile workers, the
    /// registry's credential helpers), so it must see EPIPE as an error
    /// rather than be ended by SIGPIPE.
    pub fn handles_broken_pipes(&self) -> bool {
        matches!(
            self.command,
            CliCommand::Run { .. }
                | CliCommand::Replay { .. }
                | CliCommand::Push { .. }
                | CliCommand::Pull { .. }
        )
    }

    /// The command to run.
    ///
    /// # Errors
    /// The config file cannot be read or is invalid.
    pub fn into_command(self) -> anyhow::Result<Command> {
        Ok(match self.command {
            CliCommand::Run {
                common,
                status_file,
                user,
                exec_env,
                process_tree_max,
                listen,
                outputs,
                containers,
            } => Command::Run(DaemonOptions {
                exec_env,
                process_tree_max,
                listen: listen_address(&listen)?,
                outputs: outputs.options(),
                containers: containers.options(),
                ..common.daemon(true, Some(status_file), user)?
            }),
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
                    daemon: common.daemon(stream, status_file, None)?,
                    input,
                })
            }
            CliCommand::Inspect { modules } => Command::Inspect { modules },
            CliCommand::Push {
                module,
                reference,
                plain_http,
            } => Command::Push {
                module,
                reference,
                connection: Connection {
                    plain_http,
                    ..Connection::default()
                },
            },
            CliCommand::Pull {
                reference,
                into,
                name,
                trust,
                allow_unsigned,
                follow,
                every,
                plain_http,
                timeouts,
            } => Command::Pull(PullOptions {
                reference,
                into,
                name,
                trust: trust_mode(trust, allow_unsigned)?,
                follow: follow_every(follow, every)?,
                connection: Connection {
                    plain_http,
                    timeouts: timeouts.into(),
                },
            }),
            CliCommand::Status { status_file } => Command::Status { status_file },
            CliCommand::Test { module, vectors } => Command::Test { module, vectors },
            CliCommand::Keygen { stem } => Command::Keygen { stem },
            CliCommand::Sign {
                key,
                module,
                out,
                detached,
            } => Command::Sign {
                key,
                module,
                out,
                detached,
            },
            CliCommand::Verify { trust, module } => Command::Verify { trust, module },
            CliCommand::Fingerprint { keys } => Command::Fingerprint { keys },
            CliCommand::New { name, lang, dir } => Command::New {
                dir: dir.unwrap_or_else(|| PathBuf::from(&name)),
                name,
                language: match lang {
                    Lang::Rust => sigbox::scaffold::Language::Rust,
                    Lang::Python => sigbox::scaffold::Language::Python,
                },
            },
            CliCommand::Bench {
                module,
                events,
                recorded,
            } => Command::Bench {
                module,
                events,
                recorded,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn follow_polling_needs_follow_and_a_minimum() {
        assert_eq!(follow_every(false, None).unwrap(), None);
        assert_eq!(
            follow_every(true, None).unwrap(),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            follow_every(true, Some(MIN_FOLLOW_EVERY)).unwrap(),
            Some(MIN_FOLLOW_EVERY)
        );
        let short = follow_every(true, Some(Duration::ZERO)).unwrap_err();
        assert!(
            short.to_string().contains("--every 0s is too short")
                && short.to_string().contains("minimum is 1s"),
            "{short}"
        );
        let alone = follow_every(false, Some(Duration::from_secs(60))).unwrap_err();
        assert!(alone.to_string().contains("--follow"), "{alone}");
    }
}
