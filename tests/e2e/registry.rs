//! `sigbox push` / `pull` / `pull --follow` against a real registry:
//! Debian's `docker-registry` (the CNCF distribution registry), started on
//! 127.0.0.1 with its storage in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sigbox_e2e::{Daemon, module, sigbox, temp_dir, text};

/// A registry process, killed on drop.
struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    address: String,
}

impl Registry {
    fn start() -> Self {
        let dir = temp_dir("registry");
        let address = format!("127.0.0.1:{}", sigbox_e2e::free_port());
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {address}\n  secret: sigbox-e2e\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let log = dir.join("registry.log");
        let child = Command::new("docker-registry")
            .args(["serve", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect(
                "starting docker-registry (Debian package docker-registry; `make` installs it)",
            );
        let mut registry = Self { child, address };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !registry.answers() {
            let exited = registry.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "docker-registry did not start ({exited:?}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// Whether `GET /v2/` answers 200.
    fn answers(&self) -> bool {
        sigbox_e2e::http_get(&self.address, "/v2/").is_some_and(|(status, _)| status == 200)
    }

    fn reference(&self, path: &str) -> String {
        format!("{}/{path}", self.address)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(args: &[&str]) -> (bool, String) {
    let out = sigbox(args);
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

/// Keys `team` and `ops` trusted for `TRC-*`, `acme` only for `ACME-*`.
struct Keys {
    dir: PathBuf,
    policy: String,
}

impl Keys {
    fn new(label: &str) -> Self {
        let dir = temp_dir(label);
        for stem in ["team", "ops", "acme"] {
            assert!(run(&["keygen", dir.join(stem).to_str().unwrap()]).0);
        }
        let policy = dir.join("policy.toml");
        std::fs::write(
            &policy,
            "[[key]]\nname = \"team\"\npublic_key = \"team.pub\"\nids = [\"TRC-*\"]\n\
             [[key]]\nname = \"ops\"\npublic_key = \"ops.pub\"\nids = [\"TRC-*\"]\n\
             [[key]]\nname = \"acme\"\npublic_key = \"acme.pub\"\nids = [\"ACME-*\"]\n",
        )
        .unwrap();
        Self {
            policy: policy.to_str().unwrap().to_owned(),
            dir,
        }
    }

    /// `module` signed by each of `keys` in turn, written to `to`.
    fn sign(&self, module: &Path, keys: &[&str], to: &Path) -> PathBuf {
        std::fs::copy(module, to).unwrap();
        for key in keys {
            let key = self.dir.join(format!("{key}.key"));
            let (ok, out) = run(&["sign", "--key", key.to_str().unwrap(), to.to_str().unwrap()]);
            assert!(ok, "{out}");
        }
        to.to_owned()
    }
}

/// A copy of `module` without its embedded signatures: the custom section
/// named `signature` that wasmsign2 writes first after the header.
fn without_signatures(module: &Path, to: &Path) -> PathBuf {
    let bytes = std::fs::read(module).unwrap();
    let (header, sections) = bytes.split_at(8);
    assert_eq!(
        sections[0], 0,
        "a signed module starts with a custom section"
    );
    let (mut size, mut at) = (0usize, 1);
    loop {
        let byte = sections[at];
        size |= usize::from(byte & 0x7f) << (7 * (at - 1));
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
    }
    assert_eq!(&sections[at..at + 10], b"\x09signature");
    std::fs::write(to, [header, &sections[at + size..]].concat()).unwrap();
    to.to_owned()
}

/// A copy of `module` with one byte of its metadata changed after signing:
/// it still loads, but no signature covers it.
fn tampered(module: &Path, to: &Path) -> PathBuf {
    let mut bytes = std::fs::read(module).unwrap();
    let needle = b"Web server spawned a shell";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("TRC-1016's name in its module");
    bytes[at] = b'w';
    std::fs::write(to, bytes).unwrap();
    to.to_owned()
}

/// Variants of TRC-1016 the policy of [`Keys`] must refuse, each with the
/// reason: signed by make's development key only (not in the policy),
/// `signed` with a byte changed, and signed by a key not allowed for the id.
fn forgeries(keys: &Keys, signed: &Path, staging: &Path) -> [(PathBuf, &'static str); 3] {
    [
        (
            keys.sign(&module("trc-1016"), &[], &staging.join("dev.wasm")),
            "signed only by a key not in the policy: sha256:",
        ),
        (
            tampered(signed, &staging.join("tampered.wasm")),
            "modified after signing: the signature of team (sha256:",
        ),
        (
            keys.sign(&module("trc-1016"), &["acme"], &staging.join("acme.wasm")),
            "signature id TRC-1016 is not allowed for key acme (sha256:",
        ),
    ]
}

/// The `sigbox_signature_update_rejected` records among `lines`.
fn update_rejections(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["eventName"] == "sigbox_signature_update_rejected")
        .collect()
}

/// `--every` below the minimum, or without `--follow`, is an error naming
/// the option, before any registry is contacted.
#[test]
fn follow_polling_has_a_minimum_and_needs_follow() {
    let into = temp_dir("registry-every");
    let into = into.to_str().unwrap();
    let reference = "127.0.0.1:9/detections/trc-1016:stable";
    for every in ["0s", "100ms"] {
        let (ok, out) = run(&[
            "pull",
            reference,
            "--into",
            into,
            "--allow-unsigned",
            "--follow",
            "--every",
            every,
        ]);
        assert!(!ok, "{out}");
        assert!(
            out.contains(&format!("--every {every} is too short"))
                && out.contains("the minimum is 1s"),
            "{out}"
        );
    }
    let (ok, out) = run(&[
        "pull",
        reference,
        "--into",
        into,
        "--allow-unsigned",
        "--every",
        "1m",
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("--every only applies with --follow"), "{out}");
}

fn push(file: &Path, reference: &str) {
    let (ok, out) = run(&["push", file.to_str().unwrap(), reference]);
    assert!(ok && out.contains("pushed"), "{out}");
}

#[test]
fn push_then_pull_by_tag_and_digest_with_embedded_or_detached_signatures() {
    let registry = Registry::start();
    let keys = Keys::new("registry-pull-keys");
    let staging = temp_dir("registry-pull-staging");
    let signed = keys.sign(
        &module("trc-1016"),
        &["team"],
        &staging.join("trc-1016.wasm"),
    );
    let reference = registry.reference("detections/trc-1016:v1");
    let (ok, out) = run(&["push", signed.to_str().unwrap(), &reference]);
    assert!(ok, "{out}");
    // Two digests, each named: the module file's and the OCI manifest's.
    let module_sha256 = sigbox_e2e::sha256_hex(&std::fs::read(&signed).unwrap());
    assert!(
        out.contains(&format!("(module sha256 {module_sha256}, manifest sha256:")),
        "{out}"
    );
    assert!(!out.contains("not signed"), "{out}");
    let digest = out
        .split("manifest sha256:")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .map(|hex| format!("sha256:{hex}"))
        .unwrap_or_else(|| panic!("no digest in {out:?}"));
    let (ok, out) = run(&["verify", "--trust", &keys.policy, signed.to_str().unwrap()]);
    assert!(
        ok && out.contains(&format!("(module sha256 {module_sha256})")),
        "{out}"
    );

    // An unsigned module is pushed, with a warning that policies refuse it.
    let unsigned = without_signatures(&signed, &staging.join("unsigned.wasm"));
    let (ok, out) = run(&[
        "push",
        unsigned.to_str().unwrap(),
        &registry.reference("detections/unsigned:v1"),
    ]);
    assert!(ok && out.contains("unsigned.wasm is not signed"), "{out}");

    // By tag, then by digest into another directory: the same bytes.
    for (label, source) in [
        ("tag", reference.clone()),
        (
            "digest",
            format!("{}@{digest}", registry.reference("detections/trc-1016")),
        ),
    ] {
        let into = temp_dir(&format!("registry-pull-{label}"));
        let (ok, out) = run(&[
            "pull",
            &source,
            "--into",
            into.to_str().unwrap(),
            "--trust",
            &keys.policy,
        ]);
        assert!(ok && out.contains("installed TRC-1016 v1"), "{out}");
        assert!(out.contains("signed by team"), "{out}");
        assert_eq!(
            std::fs::read(into.join("trc-1016.wasm")).unwrap(),
            std::fs::read(&signed).unwrap()
        );
        // Only the module: no temporary file is left behind.
        assert_eq!(std::fs::read_dir(&into).unwrap().count(), 1);
    }

    // A detached signature travels as a second layer and is installed
    // beside the module.
    let plain = staging.join("detached.wasm");
    std::fs::copy(module("trc-1016"), &plain).unwrap();
    let key = keys.dir.join("team.key");
    let (ok, out) = run(&[
        "sign",
        "--detached",
        "--key",
        key.to_str().unwrap(),
        plain.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    push(&plain, &registry.reference("detections/detached:v1"));
    let into = temp_dir("registry-pull-detached");
    let (ok, out) = run(&[
        "pull",
        &registry.reference("detections/detached:v1"),
        "--into",
        into.to_str().unwrap(),
        "--name",
        "trc-1016",
        "--trust",
        &keys.policy,
    ]);
    assert!(ok && out.contains("signed by team"), "{out}");
    assert_eq!(
        std::fs::read(into.join("trc-1016.wasm.sig")).unwrap(),
        std::fs::read(staging.join("detached.wasm.sig")).unwrap()
    );
    let (ok, out) = run(&[
        "verify",
        "--trust",
        &keys.policy,
        into.join("trc-1016.wasm").to_str().unwrap(),
    ]);
    assert!(ok, "{out}");

    // Refused, each with its reason, and nothing written.
    for (n, (file, reason)) in forgeries(&keys, &signed, &staging).iter().enumerate() {
        let reference = registry.reference(&format!("detections/refused-{n}:v1"));
        push(file, &reference);
        let into = temp_dir("registry-pull-refused");
        let (ok, out) = run(&[
            "pull",
            &reference,
            "--into",
            into.to_str().unwrap(),
            "--trust",
            &keys.policy,
        ]);
        assert!(!ok, "{file:?} installed: {out}");
        assert!(
            out.contains("refused by the trust policy")
                && out.contains(reason)
                && out.contains("nothing installed"),
            "{file:?}: {out}"
        );
        // No module; only the refusal record a daemon watching `into`
        // reports where findings and metrics go.
        let names: Vec<String> = std::fs::read_dir(&into)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [format!("refused-{n}.wasm.refused")], "{file:?}");
        let record = std::fs::read_to_string(into.join(&names[0])).unwrap();
        assert!(record.contains(reason), "{record}");
    }
    // A digest pin that no longer matches.
    let pinned = keys.dir.join("pinned.toml");
    std::fs::write(
        &pinned,
        format!(
            "{}[pins]\n\"TRC-1016\" = [\"sha256:{}\"]\n",
            std::fs::read_to_string(&keys.policy).unwrap(),
            "0".repeat(64)
        ),
    )
    .unwrap();
    let into = temp_dir("registry-pull-pinned");
    let (ok, out) = run(&[
        "pull",
        &reference,
        "--into",
        into.to_str().unwrap(),
        "--trust",
        pinned.to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("pinned to other digests"), "{out}");
    let record = std::fs::read_dir(&into)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<Vec<_>>();
    assert!(
        record.len() == 1 && record[0].to_string_lossy().ends_with(".wasm.refused"),
        "{record:?}"
    );
    // Nothing is pulled without a trust decision.
    let (ok, out) = run(&["pull", &reference, "--into", into.to_str().unwrap()]);
    assert!(!ok && out.contains("--allow-unsigned"), "{out}");
}

/// The end-to-end path: a module signed by a trusted key goes from
/// `sigbox push` to a live finding on a daemon whose directory `sigbox pull
/// --follow` keeps in step with a tag; every forged or unsigned version
/// pushed to the tag later is refused while the old version keeps
/// detecting; a new trusted version replaces it.
#[test]
fn a_followed_tag_brings_trusted_versions_to_the_live_daemon_and_nothing_else() {
    let registry = Registry::start();
    let keys = Keys::new("registry-follow-keys");
    let staging = temp_dir("registry-follow-staging");
    let signatures = temp_dir("registry-follow-signatures");
    let listen = format!("127.0.0.1:{}", sigbox_e2e::free_port());
    let Some((daemon, _)) =
        crate::live::start_live_with(&signatures, &["--trust", &keys.policy, "--listen", &listen])
    else {
        return;
    };
    let tag = registry.reference("detections/trc-1016:stable");
    let v1 = keys.sign(&module("trc-1016"), &["team"], &staging.join("v1.wasm"));
    push(&v1, &tag);
    let follower = Daemon::start(
        &[
            "pull",
            &tag,
            "--into",
            signatures.to_str().unwrap(),
            "--trust",
            &keys.policy,
            "--follow",
            "--every",
            "1s",
        ],
        "following",
    );
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), "loaded signature TRC-1016 v1"),
        "{}\nfollower:\n{}",
        daemon.stderr_text(),
        follower.stderr_text()
    );
    let detects = |what: &str| {
        let pid = crate::live::run_as("nginx", "exec /bin/sh -c true");
        assert!(
            daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
                !crate::pack_live::findings(lines, "TRC-1016", pid).is_empty()
            }),
            "no live finding for pid {pid} {what}:\n{}",
            daemon.stderr_text()
        );
    };
    detects("after the first install");

    for (n, (file, reason)) in forgeries(&keys, &v1, &staging).iter().enumerate() {
        push(file, &tag);
        let deadline = Instant::now() + Duration::from_secs(60);
        let refusal = loop {
            let log = follower.stderr_text();
            if let Some(line) = log
                .lines()
                .filter(|l| l.contains("nothing installed"))
                .nth(n)
            {
                break line.to_owned();
            }
            assert!(Instant::now() < deadline, "{file:?} not refused:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            refusal.contains("refused by the trust policy") && refusal.contains(reason),
            "{file:?}: {refusal}"
        );
        // The refusal reaches monitoring through the daemon: a record on
        // the findings stream (the running version stays) and a metric.
        let reported = daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
            update_rejections(lines).len() > n
        });
        assert!(
            reported,
            "{file:?}: no record:
{}",
            daemon.stderr_text()
        );
        let record = &update_rejections(&daemon.stdout_lines())[n];
        let text = record.to_string();
        assert!(
            text.contains("sigbox pull refused") && text.contains(reason),
            "{record}"
        );
        let (_, metrics) = sigbox_e2e::http_get(&listen, "/metrics").unwrap();
        assert!(
            sigbox_e2e::metric(&metrics, "sigbox_reloads_total{result=\"rejected\"}")
                >= Some((n + 1) as f64),
            "{metrics}"
        );
        detects(&format!("after refusing {file:?}"));
    }
    let refusal_record = signatures.join("trc-1016.wasm.refused");
    assert!(refusal_record.exists());
    assert_eq!(
        std::fs::read(signatures.join("trc-1016.wasm")).unwrap(),
        std::fs::read(&v1).unwrap(),
        "the first version is still the one installed"
    );

    // A new version signed by two trusted keys: installed and swapped in.
    let v2 = keys.sign(
        &module("trc-1016"),
        &["team", "ops"],
        &staging.join("v2.wasm"),
    );
    push(&v2, &tag);
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), "replaced signature TRC-1016"),
        "{}\nfollower:\n{}",
        daemon.stderr_text(),
        follower.stderr_text()
    );
    // Signers are named with their fingerprints: `team (sha256:…), ops (sha256:…)`.
    let both =
        |text: String| text.contains("signed by team (sha256:") && text.contains("), ops (sha256:");
    assert!(
        both(daemon.stderr_text()) || both(follower.stderr_text()),
        "{}",
        follower.stderr_text()
    );
    detects("after the trusted update");
    // A version that verifies clears the refusal.
    assert!(!refusal_record.exists());
    let stopped = follower.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert!(
        stopped.stderr.contains("stopped following"),
        "{}",
        stopped.stderr
    );
}
