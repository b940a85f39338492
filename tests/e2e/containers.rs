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

/// An image of `/bin/sh` (dash), `sleep` and copies of the shell named
/// `nginx` and `ancestry-top`, with the libraries they link; removed on drop.
struct Image(String);

impl Image {
    /// The image `localhost/sigbox-containers-e2e-<name>:<pid>`: a name per
    /// test, as tests run at once.
    fn import(dir: &Path, name: &str) -> Self {
        let root = dir.join("rootfs");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        for (from, to) in [
            ("/bin/sh", "bin/sh"),
            ("/bin/sleep", "bin/sleep"),
            ("/bin/sh", "bin/nginx"),
            ("/bin/sh", "bin/ancestry-top"),
        ] {
            copy_with_libraries(Path::new(from), &root, &root.join(to));
        }
        let tag = format!(
            "localhost/sigbox-containers-e2e-{name}:{}",
            std::process::id()
        );
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

/// The findings of an `nginx -c 'sh -c …'` run in the container `id`:
/// TRC-1016's for nginx's `sh`, and TEST-CONTAINER-ECHO's for the exec of
/// nginx itself (after the lookup answered).
fn shell_and_echo(daemon: &Daemon, id: &str) -> (Value, Value) {
    let (mut shell, mut echo) = (None, None);
    daemon.wait_for_stdout(WAIT, |lines| {
        let ours = |signature: &str, process: &str| {
            lines
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|f| {
                    f["metadata"]["Properties"]["signatureID"] == signature
                        && f["containerId"] == id
                        && f["processName"] == process
                })
        };
        shell = ours("TRC-1016", "sh");
        echo = ours("TEST-CONTAINER-ECHO", "nginx");
        shell.is_some() && echo.is_some()
    });
    let stderr = || daemon.stderr_text();
    (
        shell.unwrap_or_else(|| panic!("no TRC-1016 finding: {}", stderr())),
        echo.unwrap_or_else(|| panic!("no echo finding: {}", stderr())),
    )
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
    let image = Image::import(&dir, "podman");
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
    let (shell, echo) = shell_and_echo(&daemon, &container.id);
    assert_eq!(shell["container"]["id"], container.id.as_str());
    assert_eq!(shell["container"]["name"], container.name.as_str());
    assert_eq!(shell["container"]["image"], image.0.as_str());
    // podman gives even a local image a repository digest, as Docker's
    // API shape has it (`RepoDigests`); Tracee prints the first.
    let digest = image.repo_digest();
    assert!(digest.contains("@sha256:"), "{digest}");
    assert_eq!(shell["container"]["imageDigest"], digest.as_str());

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

/// containerd on a socket, root and state of the test's own (its CRI
/// plugin off: nothing here needs it); stopped on drop, its directory
/// removed.
struct Containerd {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

/// The namespace kubelet's containers are in.
const K8S_NAMESPACE: &str = "k8s.io";

impl Containerd {
    fn start(dir: &Path) -> Self {
        let dir = dir.join("containerd");
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("c.sock");
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = {root:?}\nstate = {state:?}\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = {socket:?}\n[ttrpc]\n  address = {ttrpc:?}\n",
                root = dir.join("root"),
                state = dir.join("state"),
                ttrpc = dir.join("c.sock.ttrpc"),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("running containerd (Debian package containerd; `make` installs it)");
        let containerd = Self { child, dir, socket };
        let deadline = std::time::Instant::now() + WAIT;
        while !containerd.socket.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "containerd did not create {}: {}",
                containerd.socket.display(),
                containerd.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        containerd
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// `ctr` against this containerd, in Kubernetes' namespace.
    fn ctr(&self) -> Command {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", K8S_NAMESPACE]);
        command
    }

    fn ctr_ok(&self, args: &[&str]) -> String {
        let out = self.ctr().args(args).output().expect("running ctr");
        assert!(
            out.status.success(),
            "ctr {args:?}: {}\n{}",
            text(&out.stderr),
            self.log()
        );
        text(&out.stdout)
    }

    /// Imports `image` (saved by podman as an OCI archive); its manifest
    /// digest, which containerd's image store gives as the target.
    fn import(&self, image: &Image, dir: &Path) -> String {
        let archive = dir.join("image.oci.tar");
        let out = podman()
            .args(["save", "--format", "oci-archive", "-o"])
            .arg(&archive)
            .arg(&image.0)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        self.ctr_ok(&["images", "import", archive.to_str().unwrap()]);
        let listed = self.ctr_ok(&["images", "ls"]);
        let line = listed
            .lines()
            .find(|line| line.starts_with(&format!("{} ", image.0)))
            .unwrap_or_else(|| panic!("{} not imported: {listed}", image.0));
        line.split_whitespace()
            .find(|word| word.starts_with("sha256:"))
            .unwrap_or_else(|| panic!("no digest: {line}"))
            .to_owned()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A container `ctr run` started with kubelet's labels, as a pod's
/// container would have; its task killed and it removed on drop.
struct PodContainer<'a> {
    containerd: &'a Containerd,
    id: String,
}

impl<'a> PodContainer<'a> {
    fn run(containerd: &'a Containerd, image: &Image, labels: &[(&str, &str)]) -> Self {
        // A 64-hex id, as Kubernetes' are: the cgroup (/k8s.io/<id>) names it.
        let id = sigbox_e2e::sha256_hex(format!("sigbox-e2e-{}", std::process::id()).as_bytes());
        let mut args = vec!["run".to_owned(), "-d".to_owned()];
        for (key, value) in labels {
            args.extend(["--label".to_owned(), format!("{key}={value}")]);
        }
        args.extend([
            image.0.clone(),
            id.clone(),
            "/bin/sleep".into(),
            "600".into(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        containerd.ctr_ok(&args);
        Self { containerd, id }
    }

    fn exec(&self, name: &str, args: &[&str]) {
        let mut all = vec!["tasks", "exec", "--exec-id", name, &self.id];
        all.extend_from_slice(args);
        self.containerd.ctr_ok(&all);
    }
}

impl Drop for PodContainer<'_> {
    fn drop(&mut self) {
        let ctr = |args: &[&str]| {
            let _ = self.containerd.ctr().args(args).output();
        };
        ctr(&["tasks", "kill", "--signal", "SIGKILL", &self.id]);
        ctr(&["tasks", "delete", "--force", &self.id]);
        ctr(&["containers", "delete", &self.id]);
    }
}

/// containerd, asked over its gRPC API, names a pod's container as Tracee
/// does: the name kubelet's label gives, the image from containerd's image
/// store with its digest, and the pod from kubelet's labels, in the
/// finding's `container` and `kubernetes` objects and as filterable
/// fields. The container runs in namespace `k8s.io` of a containerd the
/// test starts on its own socket.
#[test]
fn findings_name_a_containerd_pods_container_image_and_pod() {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    let dir = temp_dir("containerd");
    let image = Image::import(&dir, "containerd");
    let containerd = Containerd::start(&dir);
    let digest = containerd.import(&image, &dir);
    let pod_uid = format!("5f1c0de0-0000-4000-8000-{:012x}", std::process::id());
    let signatures = dir_with(
        "containerd-sigs",
        &[module("trc-1016"), test_module("container-echo")],
    );
    let daemon = Daemon::start(
        &[
            "run",
            "--signatures",
            signatures.to_str().unwrap(),
            "--container-runtime-socket",
            &format!("containerd:{}", containerd.socket.display()),
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
    let container = PodContainer::run(
        &containerd,
        &image,
        &[
            ("io.kubernetes.container.name", "web"),
            ("io.kubernetes.pod.name", "web-7d9f"),
            ("io.kubernetes.pod.namespace", "shop"),
            ("io.kubernetes.pod.uid", &pod_uid),
            ("io.cri-containerd.kind", "container"),
        ],
    );
    assert!(
        daemon.wait_for_stderr_line(WAIT, |line| line.contains("container resolved")
            && line.contains(&container.id)),
        "the container was not resolved: {}\n{}",
        daemon.stderr_text(),
        containerd.log()
    );
    container.exec("web-shell", &["/bin/nginx", "-c", "/bin/sh -c true"]);
    let (shell, echo) = shell_and_echo(&daemon, &container.id);
    assert_eq!(shell["container"]["id"], container.id.as_str());
    assert_eq!(shell["container"]["name"], "web", "kubelet's label");
    assert_eq!(shell["container"]["image"], image.0.as_str());
    assert_eq!(shell["container"]["imageDigest"], digest.as_str());
    assert_eq!(
        shell["kubernetes"],
        serde_json::json!({"podName": "web-7d9f", "podNamespace": "shop", "podUID": pod_uid}),
        "podSandbox is omitted when false, as Tracee's omitempty"
    );

    assert_eq!(arg(&echo, "name"), Some("web"));
    assert_eq!(arg(&echo, "image"), Some(image.0.as_str()));
    assert_eq!(arg(&echo, "image_digest"), Some(digest.as_str()));
    assert_eq!(arg(&echo, "pod_name"), Some("web-7d9f"));
    assert_eq!(arg(&echo, "pod_namespace"), Some("shop"));
    assert_eq!(arg(&echo, "pod_uid"), Some(pod_uid.as_str()));
    let sandbox = echo["args"]
        .as_array()
        .and_then(|args| args.iter().find(|a| a["name"] == "pod_sandbox"))
        .map(|a| a["value"].clone());
    assert_eq!(sandbox, Some(Value::Bool(false)), "{echo}");
    drop(container);
    let stopped = daemon.stop();
    assert!(stopped.stderr.contains("summary:"), "{}", stopped.stderr);
}

/// The ancestor chain of an exec inside a podman container (the host call
/// `ancestors`, through TEST-ANCESTRY-ECHO) holds its in-container
/// ancestors, each with the container's id, its pid in the container's pid
/// namespace and its host pid; the chain goes on above the container to
/// the processes that started it, on the host.
#[test]
fn ancestors_inside_a_podman_container_carry_its_id() {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    let dir = temp_dir("container-ancestry");
    let image = Image::import(&dir, "ancestry");
    let signatures = dir_with("container-ancestry-sigs", &[test_module("ancestry-echo")]);
    let daemon = Daemon::start(
        &[
            "run",
            "--signatures",
            signatures.to_str().unwrap(),
            "--no-container-lookup",
        ],
        READY,
    );
    assert!(
        daemon.wait_for_stderr(WAIT, "loaded signature TEST-ANCESTRY-ECHO"),
        "{}",
        daemon.stderr_text()
    );
    let container = Container::run(
        &image,
        format!("sigbox-e2e-ancestry-{}", std::process::id()),
    );
    // ancestry-top → sh → sleep, all in the container: sleep's grandparent
    // is ancestry-top (the `; true`s keep each shell from exec'ing its last
    // command in place).
    container.exec(&[
        "/bin/ancestry-top",
        "-c",
        "/bin/sh -c '/bin/sleep 0; true'; true",
    ]);
    let mut chain = Vec::new();
    let found = daemon.wait_for_stdout(WAIT, |lines| {
        let finding = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|f| {
                f["metadata"]["Properties"]["signatureID"] == "TEST-ANCESTRY-ECHO"
                    && f["containerId"] == container.id.as_str()
                    && f["processName"] == "sleep"
            });
        if let Some(finding) = finding {
            // A JSON datum: the ancestors as a list.
            chain = finding["args"]
                .as_array()
                .and_then(|args| args.iter().find(|a| a["name"] == "chain"))
                .and_then(|chain| chain["value"].as_array())
                .cloned()
                .unwrap_or_default();
        }
        !chain.is_empty()
    });
    assert!(found, "no finding for sleep: {}", daemon.stderr_text());
    let (sh, top) = (&chain[0], &chain[1]);
    assert_eq!(sh["processName"], "sh", "{chain:#?}");
    assert_eq!(top["processName"], "ancestry-top", "{chain:#?}");
    for ancestor in [sh, top] {
        assert_eq!(ancestor["containerId"], container.id.as_str(), "{ancestor}");
        assert_ne!(
            ancestor["pid"], ancestor["hostPid"],
            "the container's pid namespace: {ancestor}"
        );
        assert!(ancestor["startNs"].as_u64().unwrap() > 0, "{ancestor}");
    }
    // Above the exec'd process: the runtime's processes that started it,
    // on the host, then the host's init.
    let outside = chain[2..]
        .iter()
        .find(|a| a["containerId"] != container.id.as_str());
    assert!(
        outside.is_some_and(|a| a["containerId"] == ""),
        "the chain leaves the container for the host: {chain:#?}"
    );
    drop(container);
    let stopped = daemon.stop();
    assert!(stopped.stderr.contains("summary:"), "{}", stopped.stderr);
}
