//! Live `sched_process_exec` events, field by field, against what the kernel
//! says: each test runs `sigbox run` with TEST-EXEC-ECHO (a finding for every
//! exec, carrying the event in `detectedFrom`), makes an exec of a known
//! shape, and compares the event with `stat`, `readlink` and `/proc`.
//! Needs root (CI is root); skipped otherwise.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{Daemon, is_root, temp_dir, test_module};

use crate::live::start_live_with;

/// A live daemon echoing every exec.
struct Echo {
    daemon: Daemon,
}

impl Echo {
    /// Starts `sigbox run` with TEST-EXEC-ECHO and `extra` options; None
    /// (and a note) when not root.
    fn start(extra: &[&str]) -> Option<Self> {
        let dir = signatures_dir_with_echo();
        let (daemon, _) = start_live_with(&dir, extra)?;
        Some(Self { daemon })
    }

    /// The first echoed exec for which `matches` holds, waiting up to a
    /// minute (a busy machine may be slow, never wrong).
    fn find(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let mut found = None;
        self.daemon
            .wait_for_stdout(Duration::from_secs(60), |lines| {
                found = lines
                    .iter()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .find(|f| matches(f));
                found.is_some()
            });
        found.unwrap_or_else(|| {
            panic!(
                "no exec event {what}; daemon log:\n{}",
                self.daemon.stderr_text()
            )
        })
    }

    /// The echoed exec made by host pid `pid` whose new name is `comm`.
    fn exec_of(&self, pid: u32, comm: &str) -> Value {
        self.find(&format!("of pid {pid} ({comm})"), |f| {
            f["hostProcessId"] == pid && f["processName"] == comm
        })
    }
}

/// A signatures directory holding TEST-EXEC-ECHO.
fn signatures_dir_with_echo() -> PathBuf {
    let dir = temp_dir("exec-fields");
    std::fs::copy(test_module("exec-echo"), dir.join("exec-echo.wasm")).unwrap();
    dir
}

/// An argument of the event a finding was detected from; `Null` if absent.
fn arg<'a>(finding: &'a Value, name: &str) -> &'a Value {
    finding["args"]
        .as_array()
        .and_then(|args| args.iter().find(|a| a["name"] == "detectedFrom"))
        .and_then(|from| from["value"]["args"].as_array())
        .and_then(|args| args.iter().find(|a| a["name"] == name))
        .map_or(&Value::Null, |a| &a["value"])
}

/// Runs `command` to completion and returns its pid.
pub fn run(command: &mut Command) -> u32 {
    let mut child = command.spawn().expect("spawning a test program");
    let pid = child.id();
    let status = child.wait().expect("waiting for a test program");
    assert!(status.success(), "{command:?} failed: {status}");
    pid
}

/// The kernel's own encoding of a device number (`MKDEV`: major << 20 |
/// minor), which Tracee reports, from `stat`'s userspace `st_dev`.
fn kernel_dev(st_dev: u64) -> u64 {
    let major = ((st_dev >> 8) & 0xfff) | ((st_dev >> 32) & !0xfff);
    let minor = (st_dev & 0xff) | ((st_dev >> 12) & !0xff);
    (major << 20) | minor
}

fn ctime_ns(metadata: &std::fs::Metadata) -> u64 {
    metadata.ctime() as u64 * 1_000_000_000 + metadata.ctime_nsec() as u64
}

/// The inode number of one of this process's namespaces.
fn own_namespace(kind: &str) -> u64 {
    std::fs::metadata(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .ino()
}

fn readlink(path: impl AsRef<Path>) -> String {
    std::fs::read_link(path)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Tracee's e2e case (a program renames itself, then execs true), with the
/// file, loader, working directory and stdin fields of the same exec.
#[test]
fn context_file_loader_pwd_and_stdin_match_the_kernel() {
    let Some(echo) = Echo::start(&[]) else {
        return;
    };
    let dir = temp_dir("exec-pwd");
    let input = dir.join("stdin.txt");
    std::fs::write(&input, "input\n").unwrap();
    let mut command = Command::new("/usr/bin/true");
    command.current_dir(&dir).stdin(File::open(&input).unwrap());
    // SAFETY: prctl is async-signal-safe, as pre_exec requires.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_NAME, c"e2e_rename_test".as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let pid = run(&mut command);
    let finding = echo.exec_of(pid, "true");

    // Context: ids in our (the host's) pid namespace, equal to host ids.
    assert_eq!(arg(&finding, "prev_comm"), "e2e_rename_test");
    assert_eq!(finding["processId"], pid);
    assert_eq!(finding["threadId"], pid);
    assert_eq!(finding["parentProcessId"], std::process::id());
    assert_eq!(finding["hostParentProcessId"], std::process::id());
    assert_eq!(finding["pidNamespace"], own_namespace("pid"));
    assert_eq!(finding["mountNamespace"], own_namespace("mnt"));

    // The file run: as given, resolved, and its inode.
    let resolved = std::fs::canonicalize("/usr/bin/true").unwrap();
    let file = std::fs::metadata(&resolved).unwrap();
    assert_eq!(arg(&finding, "cmdpath"), "/usr/bin/true");
    assert_eq!(arg(&finding, "pathname"), resolved.to_str().unwrap());
    assert_eq!(finding["executable"]["path"], resolved.to_str().unwrap());
    assert_eq!(arg(&finding, "dev"), kernel_dev(file.dev()));
    assert_eq!(arg(&finding, "inode"), file.ino());
    assert_eq!(arg(&finding, "ctime"), ctime_ns(&file));
    assert_eq!(arg(&finding, "inode_mode"), file.mode());
    assert_eq!(arg(&finding, "interp"), "/usr/bin/true");
    assert_eq!(arg(&finding, "argv"), &serde_json::json!(["/usr/bin/true"]));
    assert_eq!(arg(&finding, "invoked_from_kernel"), false);

    // The loader (ld.so): the file the kernel mapped for the program.
    let loader_path = arg(&finding, "interpreter_pathname")
        .as_str()
        .expect("a dynamically linked program has a loader");
    let loader = std::fs::metadata(loader_path).unwrap();
    assert!(
        loader_path.contains("ld-"),
        "loader {loader_path} is not ld.so"
    );
    assert_eq!(arg(&finding, "interpreter_inode"), loader.ino());
    assert_eq!(arg(&finding, "interpreter_dev"), kernel_dev(loader.dev()));
    assert_eq!(arg(&finding, "interpreter_ctime"), ctime_ns(&loader));

    // Working directory and stdin (a regular file).
    let dir = std::fs::canonicalize(&dir).unwrap();
    assert_eq!(arg(&finding, "pwd"), dir.to_str().unwrap());
    assert_eq!(arg(&finding, "stdin_type"), libc::S_IFREG);
    assert_eq!(
        arg(&finding, "stdin_path"),
        std::fs::canonicalize(&input).unwrap().to_str().unwrap()
    );
    // The environment is only collected with --exec-env.
    assert_eq!(arg(&finding, "env"), &Value::Null);
    echo.daemon.stop();
}

/// stdin from a pipe and from a terminal, named as `/proc/<pid>/fd/0` names them.
#[test]
fn stdin_from_a_pipe_and_a_terminal() {
    let Some(echo) = Echo::start(&[]) else {
        return;
    };
    let mut piped = Command::new("/usr/bin/true")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe_pid = piped.id();
    // Our end of the pipe names the same inode as the child's.
    let our_end = piped.stdin.as_ref().unwrap().as_raw_fd();
    let pipe_name = readlink(format!("/proc/self/fd/{our_end}"));
    assert!(piped.wait().unwrap().success());

    let (_master, terminal) = open_terminal();
    let terminal_name = readlink(format!("/proc/self/fd/{}", terminal.as_raw_fd()));
    let tty_pid = run(Command::new("/usr/bin/true").stdin(Stdio::from(terminal)));

    let from_pipe = echo.exec_of(pipe_pid, "true");
    assert_eq!(arg(&from_pipe, "stdin_type"), libc::S_IFIFO);
    assert_eq!(arg(&from_pipe, "stdin_path"), pipe_name.as_str());
    assert!(pipe_name.starts_with("pipe:["), "{pipe_name}");

    let from_tty = echo.exec_of(tty_pid, "true");
    assert_eq!(arg(&from_tty, "stdin_type"), libc::S_IFCHR);
    assert_eq!(arg(&from_tty, "stdin_path"), terminal_name.as_str());
    assert!(terminal_name.starts_with("/dev/pts/"), "{terminal_name}");
    echo.daemon.stop();
}

/// A new pseudo-terminal: (master, slave).
fn open_terminal() -> (OwnedFd, File) {
    // SAFETY: plain libc calls on a descriptor we own; ptsname_r writes at
    // most buf.len() bytes into buf.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(master >= 0, "posix_openpt: {}", io::Error::last_os_error());
        let master = OwnedFd::from_raw_fd(master);
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0);
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0);
        let mut buf = [0u8; 128];
        assert_eq!(
            libc::ptsname_r(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()),
            0
        );
        let end = buf.iter().position(|&b| b == 0).unwrap();
        let path = std::str::from_utf8(&buf[..end]).unwrap().to_owned();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&path)
            .unwrap();
        (master, slave)
    }
}

/// `fexecve` of a memfd (how TRC-105's trigger runs a program that is in no
/// directory): pathname is the memfd's name, cmdpath the `/dev/fd/N` exec
/// was given. Also a `#!` script, and a process in a new pid namespace.
#[test]
fn memfd_script_and_pid_namespace() {
    let Some(echo) = Echo::start(&[]) else {
        return;
    };
    let fileless = run_from_memfd("sigbox-fileless");

    // A script run through its interpreter.
    let dir = std::fs::canonicalize(temp_dir("exec-script")).unwrap();
    let script = dir.join("script.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script_pid = run(&mut Command::new(&script));

    // A program deeper than the walk follows (64 components).
    let mut deep = dir.clone();
    for _ in 0..70 {
        deep.push("d");
    }
    std::fs::create_dir_all(&deep).unwrap();
    let deep_program = deep.join("deep-true");
    std::fs::copy("/usr/bin/true", &deep_program).unwrap();
    let deep_pid = run(&mut Command::new(&deep_program));

    // unshare forks a child that is pid 1 of a new pid namespace, which execs true.
    let unshare_pid = run(Command::new("unshare").args(["-p", "-f", "/usr/bin/true"]));

    let event = echo.find("of the memfd", |f| {
        f["hostProcessId"] == fileless.pid && arg(f, "pathname") == "memfd:sigbox-fileless"
    });
    let cmdpath = arg(&event, "cmdpath").as_str().unwrap();
    assert_eq!(cmdpath, format!("/dev/fd/{}", fileless.fd));
    assert_eq!(arg(&event, "inode"), fileless.inode);
    assert_eq!(arg(&event, "argv"), &serde_json::json!(["fileless"]));

    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    let run_script = echo.find("of the script", |f| {
        f["hostProcessId"] == script_pid && arg(f, "cmdpath") == script.to_str().unwrap()
    });
    assert_eq!(arg(&run_script, "pathname"), sh.to_str().unwrap());
    assert_eq!(arg(&run_script, "interp"), "/bin/sh");
    assert_eq!(
        arg(&run_script, "inode"),
        std::fs::metadata(&sh).unwrap().ino()
    );
    assert_eq!(
        arg(&run_script, "argv"),
        &serde_json::json!(["/bin/sh", script.to_str().unwrap()])
    );

    let deep_event = echo.exec_of(deep_pid, "deep-true");
    assert_eq!(arg(&deep_event, "pathname_truncated"), true);
    let kept = arg(&deep_event, "pathname").as_str().unwrap();
    assert_eq!(kept.matches('/').count(), 64, "{kept}");
    assert!(deep_program.to_str().unwrap().ends_with(kept), "{kept}");
    assert_eq!(arg(&deep_event, "cmdpath"), deep_program.to_str().unwrap());

    let namespaced = echo.find("in the new pid namespace", |f| {
        f["hostParentProcessId"] == unshare_pid && f["processName"] == "true"
    });
    assert_eq!(namespaced["processId"], 1);
    assert_eq!(namespaced["threadId"], 1);
    assert_eq!(namespaced["parentProcessId"], 0, "the parent is outside");
    assert_ne!(namespaced["hostProcessId"], 1);
    assert_ne!(namespaced["pidNamespace"], own_namespace("pid"));
    echo.daemon.stop();
}

/// A program run from a memfd, as fileless malware runs one.
pub struct Fileless {
    /// Its host pid.
    pub pid: u32,
    /// The memfd's descriptor number when it was executed.
    pub fd: i32,
    /// The memfd's inode.
    pub inode: u64,
}

/// Copies /usr/bin/true into a memfd named `name` and runs it with
/// `fexecve` (argv `["fileless"]`), as TRC-105's trigger does.
pub fn run_from_memfd(name: &str) -> Fileless {
    let name = CString::new(name).unwrap();
    // SAFETY: memfd_create with a valid name; the fd is owned right away.
    let memfd = unsafe {
        let fd = libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC);
        assert!(fd >= 0, "memfd_create: {}", io::Error::last_os_error());
        File::from_raw_fd(fd)
    };
    std::io::copy(&mut File::open("/usr/bin/true").unwrap(), &mut &memfd).unwrap();
    let inode = memfd.metadata().unwrap().ino();
    let fd = memfd.as_raw_fd();
    let mut command = Command::new("/usr/bin/true");
    // SAFETY: fexecve is async-signal-safe; the argv and envp arrays live on
    // this stack frame until the call, which only returns on failure.
    unsafe {
        command.pre_exec(move || {
            let argv = [c"fileless".as_ptr(), std::ptr::null()];
            let envp = [std::ptr::null()];
            libc::fexecve(fd, argv.as_ptr(), envp.as_ptr());
            Err(io::Error::last_os_error())
        });
    }
    let pid = run(&mut command);
    Fileless { pid, fd, inode }
}

/// The cgroup2 mount (unified, or `unified` under a hybrid layout).
pub(crate) fn cgroup2_mount() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let mount_point = before.split_whitespace().nth(4)?;
        (after.split_whitespace().next()? == "cgroup2").then(|| PathBuf::from(mount_point))
    })
}

/// A cgroup named like Docker's (`docker-<64 hex>.scope`), removed on drop.
pub(crate) struct ContainerCgroup {
    parent: PathBuf,
    scope: PathBuf,
    pub(crate) id: String,
}

impl ContainerCgroup {
    pub(crate) fn create(root: &Path) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let id = format!("{:032x}{:032x}", std::process::id(), nanos);
        let parent = root.join(format!("sigbox-e2e-{}-{nanos}", std::process::id()));
        let scope = parent.join(format!("docker-{id}.scope"));
        std::fs::create_dir_all(&scope).unwrap();
        Self { parent, scope, id }
    }

    /// `command`, moved into this cgroup before it execs; waits for it.
    pub(crate) fn run_inside(&self, command: &mut Command) -> u32 {
        run(self.enter_on_exec(command))
    }

    /// `command` started in this cgroup, left running.
    pub(crate) fn spawn_inside(&self, command: &mut Command) -> std::process::Child {
        self.enter_on_exec(command)
            .spawn()
            .expect("spawning a test program")
    }

    /// Makes `command` move itself into this cgroup before it execs.
    fn enter_on_exec<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        let procs = CString::new(
            self.scope
                .join("cgroup.procs")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        // SAFETY: open, write and close are async-signal-safe; `procs` is
        // moved into the closure and outlives it.
        unsafe {
            command.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0\n".as_ptr().cast(), 2);
                libc::close(fd);
                if written != 2 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command
    }
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        // The last process may take a moment to leave after it is reaped.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.scope).is_ok() || !self.scope.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_dir(&self.parent);
    }
}

/// A process in a `docker-<id>.scope` cgroup that lives a millisecond: the
/// container id, and Tracee's origin rule (`container-init` until the first
/// exec in a new mount namespace; that exec and all later ones `container`).
#[test]
fn container_id_and_origin_of_short_lived_processes() {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    let Some(root) = cgroup2_mount() else {
        eprintln!("skipped: no cgroup2 hierarchy mounted");
        return;
    };
    let Some(echo) = Echo::start(&[]) else {
        return;
    };
    // Created after the daemon started: a new container, not yet started.
    let cgroup = ContainerCgroup::create(&root);
    let init = cgroup.run_inside(&mut Command::new("/usr/bin/true"));
    let entry = cgroup.run_inside(Command::new("unshare").args(["-m", "/usr/bin/true"]));
    let after = cgroup.run_inside(&mut Command::new("/usr/bin/true"));
    let host = run(&mut Command::new("/usr/bin/true"));

    let origin = |finding: &Value| {
        let id = finding["containerId"].as_str().unwrap().to_owned();
        assert_eq!(finding["container"]["id"].as_str().unwrap_or(""), id);
        (
            id,
            finding["contextFlags"]["containerStarted"]
                .as_bool()
                .unwrap(),
        )
    };
    let id = cgroup.id.clone();
    assert_eq!(origin(&echo.exec_of(init, "true")), (id.clone(), false));
    // unshare itself runs in its parent's mount namespace: still init.
    assert_eq!(origin(&echo.exec_of(entry, "unshare")), (id.clone(), false));
    assert_eq!(origin(&echo.exec_of(entry, "true")), (id.clone(), true));
    assert_eq!(origin(&echo.exec_of(after, "true")), (id.clone(), true));
    assert_eq!(origin(&echo.exec_of(host, "true")), (String::new(), false));
    echo.daemon.stop();
}

/// `--exec-env` adds the environment (Tracee's `option:exec-env`).
#[test]
fn environment_only_with_exec_env() {
    let Some(echo) = Echo::start(&["--exec-env"]) else {
        return;
    };
    let pid = run(Command::new("/usr/bin/true")
        .env_clear()
        .env("SIGBOX_E2E_MARK", "fileless")
        .env("LD_PRELOAD", ""));
    let finding = echo.exec_of(pid, "true");
    assert_eq!(
        arg(&finding, "env"),
        // Command passes its variables sorted by name.
        &serde_json::json!(["LD_PRELOAD=", "SIGBOX_E2E_MARK=fileless"])
    );
    echo.daemon.stop();
}

/// Restores `/proc/sys/kernel/core_pattern` when dropped.
struct CorePattern {
    saved: String,
}

impl Drop for CorePattern {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/kernel/core_pattern", &self.saved);
    }
}

/// A program the kernel itself starts (a core-dump pipe helper, run by a
/// kernel worker thread when a process crashes) is `invoked_from_kernel`.
#[test]
fn a_core_dump_helper_is_invoked_from_kernel() {
    let Some(echo) = Echo::start(&[]) else {
        return;
    };
    // core_pattern holds at most 127 bytes: a short path outside the checkout.
    let dir = PathBuf::from(format!("/tmp/sigbox-core-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let helper = dir.join("sbx-core-helper");
    std::fs::copy("/usr/bin/true", &helper).unwrap();
    let saved = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let restore = CorePattern { saved };
    std::fs::write(
        "/proc/sys/kernel/core_pattern",
        format!("|{}", helper.display()),
    )
    .unwrap();
    // A process that crashes (its status is the signal, not success).
    let _ = Command::new("/bin/sh")
        .args(["-c", "kill -SEGV $$"])
        .status()
        .unwrap();
    let from_kernel = echo.find("of the core-dump helper", |f| {
        f["processName"] == "sbx-core-helper"
    });
    drop(restore);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(arg(&from_kernel, "invoked_from_kernel"), true);
    assert_eq!(arg(&from_kernel, "cmdpath"), helper.to_str().unwrap());
    echo.daemon.stop();
}
