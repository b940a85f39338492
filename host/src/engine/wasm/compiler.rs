//! Compiling a module is work a hostile module can make expensive (many
//! functions, deep nesting): seconds of CPU and gigabytes of memory. The
//! daemon therefore compiles in a child process — the `sigbox` binary
//! itself, as `sigbox __compile-worker` — with an address-space and a CPU
//! limit set in the child (CPU time, so a busy machine does not fail good
//! modules) and a wall-clock backstop enforced here; the child hands back
//! wasmtime's precompiled artefact, which this process loads.
//!
//! The child is started through `/proc/self/exe`, so it works after the
//! daemon dropped its privileges or switched users, even when the binary's
//! directory is not reachable by that user, and after the binary on disk was
//! replaced (the running version compiles).

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::Component;

/// How many times the compile time limit (CPU time) a worker may take in
/// wall-clock time before it is killed anyway.
const WALL_CLOCK_FACTOR: u32 = 10;

/// The hidden subcommand that runs [`run_worker`].
pub const WORKER_COMMAND: &str = "__compile-worker";

/// Where and how modules are compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileMode {
    /// In this process, unbounded (library use, tests, benchmarks).
    InProcess,
    /// In a child process of the `sigbox` binary, bounded (the daemon).
    Child(CompileLimits),
}

/// Bounds on compiling one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileLimits {
    /// Wall-clock time; the child is killed after it.
    pub time: Duration,
    /// Address space of the child, in bytes.
    pub memory_bytes: u64,
}

impl Default for CompileLimits {
    fn default() -> Self {
        Self {
            // An 18 MB componentize-py module compiles in ~5-15 s on two
            // busy cores; leave room.
            time: Duration::from_secs(60),
            memory_bytes: 2 << 30,
        }
    }
}

/// Compiles `bytes` in a bounded child process and loads the result.
/// `stack_bytes` is the engine's wasm stack setting (the child's engine must
/// be configured like `engine`).
///
/// # Errors
/// The module is invalid, or compiling hit a limit (the message names it,
/// its value and the config key that raises it), or the child could not run.
pub(crate) fn compile_in_child(
    engine: &Engine,
    bytes: &[u8],
    stack_bytes: usize,
    limits: &CompileLimits,
) -> wasmtime::Result<Component> {
    let mut child = Command::new("/proc/self/exe")
        .arg(WORKER_COMMAND)
        .arg(stack_bytes.to_string())
        .arg(limits.memory_bytes.to_string())
        .arg(limits.time.as_secs().max(1).to_string())
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| wasmtime::format_err!("cannot start the compile worker: {e}"))?;
    let (mut stdin, mut stdout, mut stderr) = (
        child.stdin.take().expect("piped"),
        child.stdout.take().expect("piped"),
        child.stderr.take().expect("piped"),
    );
    // The child's own CPU limit (RLIMIT_CPU, set from `limits.time`) is the
    // real bound: wall-clock time depends on how busy the machine is. The
    // wall-clock deadline here is a backstop for a starved or stuck worker.
    let deadline = Instant::now() + limits.time * WALL_CLOCK_FACTOR;
    let (status, artefact, message) = std::thread::scope(|scope| {
        // Feed, drain and wait at once: each may block on the others.
        scope.spawn(move || {
            let _ = stdin.write_all(bytes);
        });
        let out = scope.spawn(move || {
            let mut artefact = Vec::new();
            let _ = stdout.read_to_end(&mut artefact);
            artefact
        });
        let err = scope.spawn(move || {
            let mut message = Vec::new();
            let _ = (&mut stderr).take(4096).read_to_end(&mut message);
            // Drain the rest so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            String::from_utf8_lossy(&message).into_owned()
        });
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break None,
            }
        };
        (
            status,
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
        )
    });
    let Some(status) = status else {
        wasmtime::bail!(
            "compiling took more than {:?} of wall-clock time, {WALL_CLOCK_FACTOR} times the compile time limit of {:?} (raise with compile_s in the config file's [limits])",
            limits.time * WALL_CLOCK_FACTOR,
            limits.time
        );
    };
    if !status.success() {
        let why = match status.signal() {
            Some(libc::SIGXCPU | libc::SIGKILL) if message.is_empty() => format!(
                "compiling used more than the compile time limit of {:?} of CPU time (raise with compile_s in the config file's [limits])",
                limits.time
            ),
            Some(_) if message.contains("memory allocation") => format!(
                "compiling needed more than the compile memory limit of {} MiB (raise with compile_memory_mib in the config file's [limits])",
                limits.memory_bytes >> 20
            ),
            _ => message
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("the compile worker failed")
                .trim()
                .to_owned(),
        };
        wasmtime::bail!("{}", crate::printable(&why));
    }
    // SAFETY: the artefact was produced just now by this same binary's
    // `Engine::precompile_component`, with the engine configured by the same
    // function from the same settings; wasmtime also checks its header.
    unsafe { Component::deserialize(engine, &artefact) }
}

/// The child side: limits itself, reads a module on stdin, writes the
/// precompiled artefact on stdout. Arguments: wasm stack bytes, address
/// space bytes, CPU seconds.
pub fn run_worker(args: &[String]) -> ExitCode {
    let parse = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let (Some(stack), Some(memory), Some(cpu)) = (parse(0), parse(1), parse(2)) else {
        eprintln!("usage: sigbox {WORKER_COMMAND} STACK_BYTES MEMORY_BYTES CPU_SECONDS");
        return ExitCode::from(2);
    };
    // Die with the daemon, and leave the CPU to its dispatch thread first.
    // SAFETY: prctl and setpriority on this process only.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
    // RLIMIT_CPU: SIGXCPU at the soft limit (the hard one, a second later,
    // is SIGKILL for a worker that ignores it).
    for (resource, soft, hard) in [
        (libc::RLIMIT_AS, memory, memory),
        (libc::RLIMIT_CPU, cpu, cpu + 1),
        (libc::RLIMIT_CORE, 0, 0),
    ] {
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: setrlimit with a valid pointer to a local struct.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            eprintln!(
                "cannot set a resource limit: {}",
                std::io::Error::last_os_error()
            );
            return ExitCode::from(2);
        }
    }
    let mut bytes = Vec::new();
    if let Err(error) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("cannot read the module: {error}");
        return ExitCode::from(2);
    }
    let stack = usize::try_from(stack).unwrap_or(usize::MAX);
    let result = Engine::new(&super::runtime::engine_config(stack))
        .and_then(|engine| engine.precompile_component(&bytes));
    match result {
        Ok(artefact) => match std::io::stdout().lock().write_all(&artefact) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("cannot write the artefact: {error}");
                ExitCode::from(2)
            }
        },
        Err(error) => {
            // The first line is what the daemon reports.
            eprintln!("{}", crate::error_chain(&*error.into_boxed_dyn_error()));
            ExitCode::from(1)
        }
    }
}
