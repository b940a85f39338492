//! Container names and images from a real runtime: podman's Docker-API
//! service on a socket of the test's own, a container of an image built
//! here from the host's binaries (no registry), and the live daemon asking
//! that socket.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{
    Daemon, dir_with, free_port, http_get, is_root, metric, module, temp_dir, test_module, text,
};

use crate::live::READY;

const WAIT: Duration = Duration::from_secs(120);

fn podman() -> Command {
    let mut command = Command::new("podman");
    // runc: crun refuses this machine's hybrid cgroup hierarchy (see deploy.rs).
    command.args(["--runtime", "runc"]);
    command
}

/// An image of `/bin/sh` (dash), `sleep` and a copy of the shell named
/// `nginx`, with the libraries they link; removed on drop.
struct Image(String);

impl Image {
    fn import(dir: &Path) -> Self {
        let root = dir.join("rootfs");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        for (from, to) in [
            ("/bin/sh", "bin/sh"),
            ("/bin/sleep", "bin/sleep"),
            ("/bin/sh", "bin/nginx"),
        ] {
            copy_with_libraries(Path::new(from), &root, &root.join(to));
        }
        let tag = format!("localhost/sigbox-containers-e2e:{}", std::process::id());
        let tarball = dir.join("rootfs.tar");
        let tar = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tarball)
            .arg(".")
            .status()
            .expect("running tar");
        assert!(tar.success());
        let out = podman()
            .args(["import", "-q"])
            .arg(&tarball)
            .arg(&tag)
            .output()
            .expect("running podman (Debian package podman; `make` installs it)");
        assert!(out.status.success(), "{}", text(&out.stderr));
        Self(tag)
    }
}

impl Image {
    /// The image's first repository digest, as podman reports it.
    fn repo_digest(&self) -> String {
        let out = podman()
            .args([
                "image",
                "inspect",
                "--format",
                "{{index .RepoDigests 0}}",
                &self.0,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = podman().args(["rmi", "-f", &self.0]).output();
    }
}

/// Copies `binary` to `to` and the libraries `ldd` finds for it under `root`.
fn copy_with_libraries(binary: &Path, root: &Path, to: &Path) {
    std::fs::copy(binary, to).unwrap();
    let ldd = Command::new("ldd").arg(binary).output().unwrap();
    for lib in text(&ldd.stdout)
        .split_whitespace()
        .filter(|word| word.starts_with('/'))
    {
        let target = root.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(lib, target).unwrap();
    }
}

/// `podman system service` on a socket in `dir`; stopped on drop.
struct Service {
    child: Child,
    socket: PathBuf,
}

impl Service {
    fn start(dir: &Path) -> Self {
        let socket = dir.join("podman.sock");
        let child = Command::new("podman")
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("running podman system service");
        let service = Self { child, socket };
        let deadline = std::time::Instant::now() + WAIT;
        while !service.socket.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "podman's service did not create {}",
                service.socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        service
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A detached container, removed on drop.
struct Container {
    name: String,
    id: String,
}

impl Container {
    fn run(image: &Image, name: String) -> Self {
        let out = podman()
            .args(["run", "-d", "--name", &name])
            .args([
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=4096:4096",
            ])
            .args([&image.0, "/bin/sleep", "600"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let id = text(&out.stdout).trim().to_owned();
        Self { name, id }
    }

    fn exec(&self, args: &[&str]) {
        let out = podman()
            .args(["exec", &self.name])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman().args(["rm", "-f", "-t", "0", &self.name]).output();
    }
}

/// The value of the finding argument `name` (a signature's data key).
fn arg<'a>(finding: &'a Value, name: &str) -> Option<&'a str> {
    finding["args"]
        .as_array()?
        .iter()
        .find(|arg| arg["name"] == name)?["value"]
        .as_str()
}

/// TRC-1016 fires in a podman container, and its finding names the
/// container and its image as podman does; TEST-CONTAINER-ECHO, whose
/// selector's host filter matches the image's name, reads the same name and
/// image as fields. The container's first events, before the lookup
/// answered, went on and were counted; a socket that does not exist, asked
/// first, is logged once and changes nothing else.
#[test]
fn findings_name_a_podman_containers_name_and_image() {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    let dir = temp_dir("containers");
    let image = Image::import(&dir);
    let service = Service::start(&dir);
    let missing = dir.join("missing.sock");
    let signatures = dir_with(
        "containers-sigs",
        &[module("trc-1016"), test_module("container-echo")],
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let daemon = Daemon::start(
        &[
            "run",
            "--signatures",
            signatures.to_str().unwrap(),
            "--listen",
            &listen,
            "--container-runtime-socket",
            missing.to_str().unwrap(),
            "--container-runtime-socket",
            service.socket.to_str().unwrap(),
        ],
        READY,
    );
    for id in ["TRC-1016", "TEST-CONTAINER-ECHO"] {
        assert!(
            daemon.wait_for_stderr(WAIT, &format!("loaded signature {id}")),
            "{}",
            daemon.stderr_text()
        );
    }

    // The container's first exec (its sleep) has the daemon look it up;
    // the resolver logs the answer once the event path can take it, so
    // every later event of the container has its name.
    let container = Container::run(&image, format!("sigbox-e2e-web-{}", std::process::id()));
    assert!(
        daemon.wait_for_stderr_line(WAIT, |line| line.contains("container resolved")
            && line.contains(&container.id)),
        "the container was not resolved: {}",
        daemon.stderr_text()
    );
    container.exec(&["/bin/nginx", "-c", "/bin/sh -c true"]);
    let (mut shell, mut echo) = (None, None);
    daemon.wait_for_stdout(WAIT, |lines| {
        let ours = |id: &str, process: &str| {
            lines
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|f| {
                    f["metadata"]["Properties"]["signatureID"] == id
                        && f["containerId"] == container.id.as_str()
                        && f["processName"] == process
                })
        };
        // nginx's `sh`, and the exec of nginx itself (after the answer).
        shell = ours("TRC-1016", "sh");
        echo = ours("TEST-CONTAINER-ECHO", "nginx");
        shell.is_some() && echo.is_some()
    });
    let shell = shell.unwrap_or_else(|| panic!("no TRC-1016 finding: {}", daemon.stderr_text()));
    assert_eq!(shell["container"]["id"], container.id.as_str());
    assert_eq!(shell["container"]["name"], container.name.as_str());
    assert_eq!(shell["container"]["image"], image.0.as_str());
    // podman gives even a local image a repository digest, as Docker's
    // API shape has it (`RepoDigests`); Tracee prints the first.
    let digest = image.repo_digest();
    assert!(digest.contains("@sha256:"), "{digest}");
    assert_eq!(shell["container"]["imageDigest"], digest.as_str());

    let echo = echo.unwrap_or_else(|| panic!("no echo finding: {}", daemon.stderr_text()));
    assert_eq!(arg(&echo, "id"), Some(container.id.as_str()));
    assert_eq!(arg(&echo, "name"), Some(container.name.as_str()));
    assert_eq!(arg(&echo, "image"), Some(image.0.as_str()));
    assert_eq!(arg(&echo, "image_digest"), Some(digest.as_str()));

    let stderr = daemon.stderr_text();
    let missing_lines = stderr
        .lines()
        .filter(|l| l.contains(missing.to_str().unwrap()))
        .count();
    assert_eq!(missing_lines, 1, "logged once: {stderr}");
    let (_, metrics) = http_get(&listen, "/metrics").expect("metrics");
    assert!(
        metric(
            &metrics,
            "sigbox_container_lookups_total{result=\"resolved\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    // The container's first exec reached the daemon before its lookup was
    // even asked: it went on without a name, and was counted.
    assert!(
        metric(&metrics, "sigbox_container_unresolved_events_total").is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    drop(container);
    let stopped = daemon.stop();
    assert!(stopped.stderr.contains("summary:"), "{}", stopped.stderr);
}
