//! The container image (built with podman from a root filesystem the
//! build assembles, no registry involved) running replay and the live
//! daemon, and the Kubernetes manifest checked against the binary's flags,
//! the image and the systemd unit.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use serde_yaml::Value as Yaml;
use sigbox_e2e::{Daemon, fixture, free_port, http_get, is_root, repo_root, temp_dir, text};

use crate::live::{READY, run_as};

/// The capabilities attaching needs, as the unit and the manifest grant them.
const ATTACH_CAPABILITIES: [&str; 4] = ["BPF", "PERFMON", "SYS_ADMIN", "SYS_RESOURCE"];

/// A podman image built for this test, removed on drop.
struct Image(String);

impl Image {
    fn build() -> Self {
        let tag = format!("localhost/sigbox-e2e:{}", std::process::id());
        let context = temp_dir("image");
        let root = repo_root();
        let status = Command::new("bash")
            .arg(root.join("deploy/container/rootfs.sh"))
            .arg(context.join("rootfs"))
            .arg(root.join("target/release/sigbox"))
            .arg(root.join("target/signatures"))
            .arg(root.join("target/dev-trust.toml"))
            .status()
            .expect("running rootfs.sh");
        assert!(status.success());
        std::fs::copy(
            root.join("deploy/container/Containerfile"),
            context.join("Containerfile"),
        )
        .unwrap();
        let out = Command::new("podman")
            .args(["build", "-q", "-t", &tag])
            .arg(&context)
            .output()
            .expect("running podman (Debian package podman; `make` installs it)");
        assert!(out.status.success(), "{}", text(&out.stderr));
        Self(tag)
    }

    /// `podman run` with what this machine needs: runc (crun refuses hybrid
    /// cgroup hierarchies) and limits no higher than ours (we may not
    /// raise them without CAP_SYS_RESOURCE).
    fn run(&self, options: &[&str], args: &[&str]) -> Command {
        let mut command = Command::new("podman");
        command
            .args(["--runtime", "runc", "run", "--rm"])
            .args([
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=4096:4096",
            ])
            .args(options)
            .arg(&self.0)
            .args(args);
        command
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rmi", "-f", &self.0]).output();
    }
}

#[test]
fn the_image_builds_and_detects_live_from_a_container() {
    let image = Image::build();
    // Replay inside the image: its signatures and trust policy work.
    let events = std::fs::File::open(fixture("sample-events.jsonl")).unwrap();
    let out = image
        .run(
            &["-i"],
            &[
                "replay",
                "--signatures",
                "/var/lib/sigbox/signatures",
                "--trust",
                "/etc/sigbox/trust.toml",
                "-",
            ],
        )
        .stdin(events)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("\"signatureID\":\"TRC-1016\"")
            && stdout.contains("\"hostProcessId\":4002,"),
        "{stdout}\n{}",
        text(&out.stderr)
    );

    // The image's own command, live: the host's pids, only the attach
    // capabilities, bpf(2) allowed; a web server on the host spawning a
    // shell is detected from inside the container.
    if !is_root() {
        eprintln!("skipped: the live container needs root");
        return;
    }
    let listen = format!("127.0.0.1:{}", free_port());
    let name = format!("sigbox-e2e-{}", std::process::id());
    let caps = ATTACH_CAPABILITIES.join(",");
    let mut command = image.run(
        &[
            "--name",
            &name,
            "--pid=host",
            "--network=host",
            "--cap-drop=all",
            "--cap-add",
            &caps,
            "--security-opt",
            "seccomp=unconfined",
        ],
        &[
            "run",
            "--signatures",
            "/var/lib/sigbox/signatures",
            "--trust",
            "/etc/sigbox/trust.toml",
            "--status-file",
            "/run/sigbox/status.json",
            "--listen",
            &listen,
        ],
    );
    command.env("RUST_LOG", "info");
    let daemon = Daemon::start_command(command, READY);
    let pid = run_as("nginx", "exec /bin/sh -c true");
    assert!(
        daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
            !crate::pack_live::findings(lines, "TRC-1016", pid).is_empty()
        }),
        "no finding from the container: {}",
        daemon.stderr_text()
    );
    assert_eq!(
        http_get(&listen, "/healthz").map(|(status, _)| status),
        Some(200)
    );
    let _ = Command::new("podman")
        .args(["stop", "-t", "5", &name])
        .output();
    let stopped = daemon.wait();
    assert!(stopped.stderr.contains("summary:"), "{}", stopped.stderr);
}

/// The DaemonSet's flags exist, its ports, probes and mounts match the
/// flags it passes, it grants exactly the unit's capabilities, and it runs
/// what the image runs by default.
#[test]
fn the_daemonset_matches_the_binary_the_image_and_the_unit() {
    let root = repo_root();
    let manifest = std::fs::read_to_string(root.join("deploy/kubernetes/sigbox.yaml")).unwrap();
    let documents: Vec<Yaml> = serde_yaml::Deserializer::from_str(&manifest)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML"))
        .collect();
    let kind = |k: &str| {
        documents
            .iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let pod = &kind("DaemonSet")["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], Yaml::Bool(true));
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "run");
    let flag = |name: &str| -> &str {
        let at = args
            .iter()
            .position(|a| *a == name)
            .unwrap_or_else(|| panic!("no {name}"));
        args[at + 1]
    };

    // Every flag it passes is one `sigbox run` has.
    let help = sigbox_e2e::sigbox(&["run", "--help"]);
    let help = text(&help.stdout);
    for arg in args.iter().filter(|a| a.starts_with("--")) {
        assert!(help.contains(&format!("{arg} ")), "sigbox run has no {arg}");
    }
    // The metrics port, the probes and --listen agree.
    let port: u64 = flag("--listen")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(container["ports"][0]["containerPort"].as_u64(), Some(port));
    let port_name = &container["ports"][0]["name"];
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["path"], "/healthz");
        assert_eq!(&container[probe]["httpGet"]["port"], port_name);
    }
    // The directories it names are the volumes it mounts.
    let mounts = container["volumeMounts"].as_sequence().unwrap();
    let volume_of = |path: &str| -> String {
        mounts
            .iter()
            .find(|m| m["mountPath"] == path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}"))["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let volumes = pod["volumes"].as_sequence().unwrap();
    let volume = |name: &str| volumes.iter().find(|v| v["name"] == name).unwrap();
    let signatures = volume_of(flag("--signatures"));
    assert!(volume(&signatures)["configMap"]["name"].is_string());
    let trust_dir = std::path::Path::new(flag("--trust")).parent().unwrap();
    let trust = volume_of(trust_dir.to_str().unwrap());
    let trust_map = volume(&trust)["configMap"]["name"].as_str().unwrap();
    let policy = &kind("ConfigMap")["data"]["trust.toml"];
    assert_eq!(kind("ConfigMap")["metadata"]["name"], trust_map);
    assert!(policy.as_str().unwrap().contains("[[key]]"));
    volume_of(
        std::path::Path::new(flag("--status-file"))
            .parent()
            .unwrap()
            .to_str()
            .unwrap(),
    );
    let cache = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "SIGBOX_CACHE_DIR")
        .unwrap()["value"]
        .as_str()
        .unwrap();
    volume_of(cache);
    assert_eq!(
        volume(&volume_of("/sys/fs/cgroup"))["hostPath"]["path"],
        "/sys/fs/cgroup"
    );
    // The runtimes' sockets: the node's directory holding each socket the
    // daemon probes is mounted where it probes, read-only.
    for (dir, socket) in [
        ("/run/containerd", "containerd.sock"),
        ("/run/crio", "crio.sock"),
        ("/run/podman", "podman.sock"),
    ] {
        assert!(
            help.contains(&format!("{dir}/{socket}")),
            "sigbox run no longer probes {dir}/{socket}"
        );
        let mount = mounts.iter().find(|m| m["mountPath"] == dir).unwrap();
        assert_eq!(mount["readOnly"], Yaml::Bool(true), "{dir}");
        let host = &volume(mount["name"].as_str().unwrap())["hostPath"];
        assert_eq!(host["path"], dir);
        assert_eq!(host["type"], "DirectoryOrCreate", "{dir}");
    }

    // Capabilities: all dropped, then exactly what the unit keeps.
    let security = &container["securityContext"];
    assert_eq!(security["capabilities"]["drop"][0], "ALL");
    let granted: BTreeSet<&str> = security["capabilities"]["add"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(granted, ATTACH_CAPABILITIES.into_iter().collect());
    let unit = std::fs::read_to_string(root.join("deploy/systemd/sigbox.service")).unwrap();
    let bounding: BTreeSet<String> = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .unwrap()
        .split_whitespace()
        .map(|c| c.trim_start_matches("CAP_").to_owned())
        .collect();
    assert_eq!(bounding, granted.iter().map(|c| (*c).to_owned()).collect());
    assert_eq!(security["privileged"], Yaml::Bool(false));

    // It runs what the image runs by default.
    let containerfile =
        std::fs::read_to_string(root.join("deploy/container/Containerfile")).unwrap();
    let cmd: Vec<String> = containerfile
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .and_then(|json| serde_json::from_str(json).ok())
        .expect("a JSON CMD");
    assert_eq!(cmd, args);
}
