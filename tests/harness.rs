//! Harness for the end-to-end tests: runs the real `sigbox` binary built by
//! `make` (target/release/sigbox) on the real signature modules
//! (target/signatures/*.wasm) and the fixtures in tests/fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// The release `sigbox` binary; panics with a hint when it was not built,
/// or was built before a change to its sources.
pub fn sigbox_bin() -> PathBuf {
    static CHECKED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let root = repo_root();
            let bin = root.join("target/release/sigbox");
            if let Some(problem) = binary_problem(&root, &bin) {
                panic!("{problem}");
            }
            bin
        })
        .clone()
}

/// What the binary is built from, relative to the repository root.
const BINARY_SOURCES: &[&str] = &[
    "host/src",
    "host/build.rs",
    "host/Cargo.toml",
    "Cargo.lock",
    "bpf",
    "wit",
];

/// Why `bin` cannot be tested: missing, or older than a file among
/// [`BINARY_SOURCES`] under `root` (a run would test old code). Cheap: a
/// few hundred `stat`s. A fresh clone's files date from the checkout, which
/// `make all` follows; `make all` also touches the binary, so an edit cargo
/// ignores (a comment in Cargo.toml) does not leave it stale forever.
pub fn binary_problem(root: &Path, bin: &Path) -> Option<String> {
    fn newer(path: &Path, built: std::time::SystemTime) -> Option<PathBuf> {
        let meta = std::fs::metadata(path).ok()?;
        if meta.is_dir() {
            std::fs::read_dir(path)
                .ok()?
                .filter_map(Result::ok)
                .find_map(|entry| newer(&entry.path(), built))
        } else {
            (meta.modified().ok()? > built).then(|| path.to_owned())
        }
    }
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return Some(format!(
            "{} is missing: run `make all` first",
            bin.display()
        ));
    };
    let source = BINARY_SOURCES
        .iter()
        .find_map(|source| newer(&root.join(source), built))?;
    Some(format!(
        "{} is older than {}: run `make all` to rebuild it (and the signatures) \
         before the end-to-end tests",
        bin.display(),
        source.display()
    ))
}

/// The directory the build writes signature modules to.
pub fn signatures_dir() -> PathBuf {
    repo_root().join("target/signatures")
}

/// A signature module built from guest-signatures/<name>; panics when missing.
pub fn module(name: &str) -> PathBuf {
    let path = signatures_dir().join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `make` (or `make test`) first",
        path.display()
    );
    path
}

/// A file in tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(name)
}

/// The root of this test run's directories: `$TMPDIR/sigbox-e2e-<pid>`,
/// mode 0755, so the daemon can still reach the files after switching to
/// another user (`--user nobody`) even when the checkout is in a private
/// (0700) directory such as `/root` or a `mktemp -d`. Never under the
/// checkout, so nothing depends on where it lives.
fn run_root() -> &'static Path {
    use std::os::unix::fs::PermissionsExt;
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        remove_roots_of_ended_runs();
        let root = std::env::temp_dir().join(format!("sigbox-e2e-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("creating the test run directory");
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))
            .expect("making the test run directory traversable");
        root
    })
}

/// Removes the directories earlier runs left (a run's modules, caches and
/// logs take hundreds of MB, and a test binary has no hook at exit): those
/// of a pid no longer running. Runs going on beside this one keep theirs.
fn remove_roots_of_ended_runs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("sigbox-e2e-"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// This run's compile cache (mode 0700, as sigbox requires), so no test
/// depends on what an earlier run left in the machine's cache.
pub fn cache_dir() -> &'static Path {
    use std::os::unix::fs::PermissionsExt;
    static CACHE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| {
        let cache = run_root().join("compile-cache");
        std::fs::create_dir_all(&cache).expect("creating the test compile cache");
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700))
            .expect("making the test compile cache private");
        cache
    })
}

/// The development key `make` signs every built module with (secret half).
pub fn dev_key() -> PathBuf {
    let key = repo_root().join("target/dev-key/sigbox-dev.key");
    assert!(
        key.is_file(),
        "{} is missing: run `make` first",
        key.display()
    );
    key
}

/// A copy of `make`'s trust policy (trusting the development key for any
/// id) and its public key in this run's directory, which a daemon that
/// switched to `--user nobody` can still read on SIGHUP.
pub fn dev_trust() -> &'static Path {
    static TRUST: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    TRUST.get_or_init(|| {
        let dir = run_root().join("trust");
        std::fs::create_dir_all(dir.join("dev-key")).expect("creating the trust directory");
        let target = repo_root().join("target");
        for file in ["dev-trust.toml", "dev-key/sigbox-dev.pub"] {
            std::fs::copy(target.join(file), dir.join(file)).unwrap_or_else(|e| {
                panic!("{}: {e}: run `make` first", target.join(file).display())
            });
        }
        dir.join("dev-trust.toml")
    })
}

/// Signs `module` in place with the development key (as `make` signs what
/// it builds), for modules a test writes itself.
pub fn sign(module: &Path) {
    let output = sigbox(&[
        "sign",
        "--key",
        dev_key().to_str().unwrap(),
        module.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// `sigbox` with `args`, its compile cache and, unless `args` choose
/// otherwise (`--trust`, `--allow-unsigned`), `make`'s trust policy, as
/// `make run` uses it.
pub fn sigbox_command(args: &[&str]) -> Command {
    let mut command = Command::new(sigbox_bin());
    command
        .args(args)
        .env("RUST_LOG", "info")
        .env("SIGBOX_CACHE_DIR", cache_dir())
        .env_remove("SIGBOX_TRUST");
    let daemon = matches!(args.first(), Some(&"run" | &"replay"));
    if daemon
        && !args
            .iter()
            .any(|a| *a == "--trust" || *a == "--allow-unsigned")
    {
        command.env("SIGBOX_TRUST", dev_trust());
    }
    // Each daemon its own status file: two on the default one (a test's
    // and another test's, or another run's) refuse to start.
    if args.first() == Some(&"run") && !args.contains(&"--status-file") {
        let status_file = temp_dir("status").join("status.json");
        command.arg("--status-file").arg(status_file);
    }
    command
}

/// A fresh, empty directory (mode 0755) for one test, under [`run_root`].
pub fn temp_dir(label: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = run_root().join(format!("{label}-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a test directory");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .expect("making a test directory traversable");
    dir
}

/// A directory holding copies of the named built modules.
pub fn signatures_with(label: &str, modules: &[&str]) -> PathBuf {
    let paths: Vec<PathBuf> = modules.iter().map(|name| module(name)).collect();
    dir_with(label, &paths)
}

/// A new temporary directory holding copies of `files`, under their names.
pub fn dir_with(label: &str, files: &[PathBuf]) -> PathBuf {
    let dir = temp_dir(label);
    for file in files {
        let name = file.file_name().expect("a file name");
        std::fs::copy(file, dir.join(name)).expect("copying a module");
    }
    dir
}

/// The findings (JSON lines) of signature `id`.
pub fn findings_of<'a>(findings: &'a [Value], id: &str) -> Vec<&'a Value> {
    findings
        .iter()
        .filter(|f| f["metadata"]["Properties"]["signatureID"] == id)
        .collect()
}

/// The summary line (stderr at exit) of signature `id`; panics without one.
pub fn summary_of<'a>(stderr: &'a str, id: &str) -> &'a str {
    stderr
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{id} v")))
        .unwrap_or_else(|| panic!("no summary for {id}:\n{stderr}"))
}

/// Runs `sigbox` with `args` to completion.
pub fn sigbox(args: &[&str]) -> Output {
    sigbox_command(args).output().expect("running sigbox")
}

/// The JSON lines of `stdout`, parsed; panics on a line that is not JSON.
pub fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
        })
        .collect()
}

/// `stderr` as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A test-only signature module (guest-signatures/test-signatures/<name>);
/// the build writes these to target/signatures-test so they never join the
/// default set. Panics when missing.
pub fn test_module(name: &str) -> PathBuf {
    let path = repo_root()
        .join("target/signatures-test")
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `make` (or `make test`) first",
        path.display()
    );
    path
}

/// True when running as root, which the live eBPF tests need. Tests that need
/// it print why they skip otherwise.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// A `sigbox` process running in the background, its stdout and stderr
/// collected line by line.
pub struct Daemon {
    child: std::process::Child,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// What a stopped daemon printed.
pub struct Stopped {
    /// Its exit status.
    pub status: std::process::ExitStatus,
    /// Lines on stdout (findings).
    pub stdout: Vec<String>,
    /// stderr (logs and summary).
    pub stderr: String,
}

impl Daemon {
    /// Starts `sigbox` with `args`, then waits (up to 300 s) until a stderr
    /// line contains `ready` — panicking with the log if it exits first.
    pub fn start(args: &[&str], ready: &str) -> Self {
        Self::start_with_stdin(args, ready, std::process::Stdio::null()).0
    }

    /// Like [`Daemon::start`], with a pipe to its stdin returned too.
    pub fn start_piped(args: &[&str], ready: &str) -> (Self, std::process::ChildStdin) {
        let (daemon, stdin) = Self::start_with_stdin(args, ready, std::process::Stdio::piped());
        (daemon, stdin.expect("stdin was piped"))
    }

    /// Like [`Daemon::start`], for a command built by the caller (another
    /// binary, such as an installed copy, or its own environment).
    pub fn start_command(command: Command, ready: &str) -> Self {
        Self::spawn(command, ready, std::process::Stdio::null()).0
    }

    /// Like [`Daemon::start_command`], with a pipe to its stdin returned too.
    pub fn start_piped_command(command: Command, ready: &str) -> (Self, std::process::ChildStdin) {
        let (daemon, stdin) = Self::spawn(command, ready, std::process::Stdio::piped());
        (daemon, stdin.expect("stdin was piped"))
    }

    fn start_with_stdin(
        args: &[&str],
        ready: &str,
        stdin: std::process::Stdio,
    ) -> (Self, Option<std::process::ChildStdin>) {
        Self::spawn(sigbox_command(args), ready, stdin)
    }

    fn spawn(
        mut command: Command,
        ready: &str,
        stdin: std::process::Stdio,
    ) -> (Self, Option<std::process::ChildStdin>) {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting sigbox");
        let stdin = child.stdin.take();
        let collect = |stream: Box<dyn std::io::Read + Send>| {
            let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let sink = lines.clone();
            let handle = std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    sink.lock().unwrap().push(line);
                }
            });
            (lines, handle)
        };
        let (stdout, out_reader) = collect(Box::new(child.stdout.take().unwrap()));
        let (stderr, err_reader) = collect(Box::new(child.stderr.take().unwrap()));
        let mut daemon = Self {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        };
        // Generous: loading compiles every module (each run has its own
        // cache) and the machine may be busy; only a failure waits this long.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        loop {
            if daemon.stderr_text().contains(ready) {
                return (daemon, stdin);
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!(
                    "sigbox exited ({status}) before {ready:?}:\n{}",
                    daemon.stderr_text()
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "sigbox not ready after 300 s:\n{}",
                daemon.stderr_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// The stdout lines so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits up to `timeout` for `condition` on the stdout lines so far.
    pub fn wait_for_stdout(
        &self,
        timeout: std::time::Duration,
        mut condition: impl FnMut(&[String]) -> bool,
    ) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if condition(&self.stdout.lock().unwrap()) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        condition(&self.stdout.lock().unwrap())
    }

    /// Waits up to `timeout` for a stderr line containing `text`.
    pub fn wait_for_stderr(&self, timeout: std::time::Duration, text: &str) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.stderr_text().contains(text) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// Waits up to `timeout` for a stderr line for which `condition` holds.
    pub fn wait_for_stderr_line(
        &self,
        timeout: std::time::Duration,
        mut condition: impl FnMut(&str) -> bool,
    ) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.stderr_text().lines().any(&mut condition) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Sends `signal` (e.g. "HUP") to the daemon.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Stops every thread of it (SIGSTOP) and waits until each is stopped,
    /// as a daemon descheduled on a busy machine; `signal("CONT")` resumes.
    pub fn pause(&self) {
        self.signal("STOP");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !all_threads_stopped(self.pid()) {
            assert!(Instant::now() < deadline, "the daemon did not stop");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops it with SIGINT (unless it already exited) and collects its output.
    pub fn stop(mut self) -> Stopped {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal("INT");
        }
        self.wait()
    }

    /// Waits up to `timeout` for it to exit by itself and collects its
    /// output; the daemon back if it is still running then (dropping it
    /// kills it).
    pub fn wait_within(mut self, timeout: std::time::Duration) -> Result<Stopped, Self> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return Ok(self.wait());
            }
            if std::time::Instant::now() >= deadline {
                return Err(self);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Waits for it to exit by itself and collects its output.
    pub fn wait(mut self) -> Stopped {
        let status = self.child.wait().expect("waiting for sigbox");
        for reader in self.readers.drain(..) {
            reader.join().expect("output reader");
        }
        Stopped {
            status,
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr_text(),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A port on 127.0.0.1 that was free a moment ago (the kernel picks it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a free port")
        .port()
}

/// `GET path` from `address` (HTTP/1.0): the status code and the body.
pub fn http_get(address: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// The value of the sample `name{labels}` (labels as written, in order)
/// in a Prometheus text exposition.
pub fn metric(exposition: &str, sample: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        line.strip_prefix(sample)?
            .strip_prefix(' ')?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

/// Hex sha256 of `bytes` (what sigbox logs and lists for each module).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let output = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("running sha256sum");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Peak resident memory of a process, in KiB (VmHWM).
pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

/// Whether every thread of `pid` is stopped (state `T`).
fn all_threads_stopped(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
        .all(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn file_at(path: &Path, modified: SystemTime) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(path).unwrap();
        file.set_modified(modified).unwrap();
    }

    #[test]
    fn a_binary_older_than_a_source_is_refused_with_the_command_to_run() {
        let root = temp_dir("stale-binary");
        let bin = root.join("target/release/sigbox");
        let then = SystemTime::now() - Duration::from_secs(3600);
        assert!(
            binary_problem(&root, &bin)
                .unwrap()
                .contains("missing: run `make all`")
        );

        // A checkout, then a build: fine.
        file_at(&root.join("host/src/engine/mod.rs"), then);
        file_at(&root.join("Cargo.lock"), then);
        file_at(&bin, then + Duration::from_secs(60));
        assert_eq!(binary_problem(&root, &bin), None);

        // A source edited after the build, deep or at the top.
        for edited in ["host/src/engine/mod.rs", "Cargo.lock"] {
            file_at(&root.join(edited), then + Duration::from_secs(120));
            let problem = binary_problem(&root, &bin).expect("stale");
            assert!(problem.contains(edited), "{problem}");
            assert!(problem.contains("run `make all`"), "{problem}");
            file_at(&root.join(edited), then);
        }
    }
}
