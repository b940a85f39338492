//! Signed modules and the trust policy: `sigbox keygen`, `sign`, `verify`
//! on real modules, and enforcement by `replay` and the live daemon (every
//! forged or unsigned variant refused with its reason, the running version
//! still detecting, the policy reloaded on SIGHUP only).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sigbox_e2e::{findings_of, fixture, json_lines, module, sigbox, temp_dir, text};

fn run(args: &[&str]) -> (bool, String) {
    let out = sigbox(args);
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

fn write_policy(dir: &Path, body: &str) -> String {
    let path = dir.join("policy.toml");
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn signed_modules_verify_and_every_forgery_is_refused_with_its_reason() {
    let dir = temp_dir("trust");
    let s = |p: &str| dir.join(p).to_str().unwrap().to_owned();
    assert!(run(&["keygen", &s("team")]).0);
    assert!(run(&["keygen", &s("other")]).0);
    // A key is never overwritten.
    let (ok, out) = run(&["keygen", &s("team")]);
    assert!(!ok && out.contains("never overwritten"), "{out}");

    let unsigned = s("trc-1016.wasm");
    std::fs::copy(module("trc-1016"), &unsigned).unwrap();
    let (ok, out) = run(&[
        "sign",
        "--key",
        &s("team.key"),
        &unsigned,
        "--out",
        &s("signed.wasm"),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = run(&[
        "sign",
        "--key",
        &s("other.key"),
        &unsigned,
        "--out",
        &s("by-other.wasm"),
    ]);
    assert!(ok, "{out}");
    // The signed component still loads under the host's wasmtime.
    let (ok, out) = run(&["inspect", &s("signed.wasm")]);
    assert!(ok && out.contains("\"TRC-1016\""), "{out}");

    let trusted = write_policy(
        &dir,
        "[[key]]\nname = \"team\"\npublic_key = \"team.pub\"\nids = [\"TRC-*\"]\n",
    );
    let (ok, out) = run(&["verify", "--trust", &trusted, &s("signed.wasm")]);
    assert!(
        ok && out.contains("trusted: TRC-1016 v1") && out.contains("signed by team"),
        "{out}"
    );

    let refused = |module: &str, reason: &str, policy: &str| {
        let (ok, out) = run(&["verify", "--trust", policy, module]);
        assert!(!ok, "{module} verified under {policy}: {out}");
        assert!(
            out.contains("refused by the trust policy") && out.contains(reason),
            "{module}: {out}"
        );
    };
    refused(
        &unsigned,
        "signed only by a key not in the policy",
        &trusted,
    );
    refused(
        &s("by-other.wasm"),
        "signed only by a key not in the policy",
        &trusted,
    );
    let mut bytes = std::fs::read(s("signed.wasm")).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(s("tampered.wasm"), bytes).unwrap();
    refused(
        &s("tampered.wasm"),
        "modified after signing: the signature of team (sha256:",
        &trusted,
    );

    // A key limited to another team's ids cannot ship TRC-1016.
    let other_team = write_policy(
        &dir,
        "[[key]]\nname = \"team\"\npublic_key = \"team.pub\"\nids = [\"ACME-*\"]\n",
    );
    refused(
        &s("signed.wasm"),
        "signature id TRC-1016 is not allowed for key team (sha256:",
        &other_team,
    );
    // A pin that no longer matches.
    let pinned = write_policy(
        &dir,
        &format!(
            "[[key]]\nname = \"team\"\npublic_key = \"team.pub\"\n[pins]\n\"TRC-1016\" = [\"sha256:{}\"]\n",
            "0".repeat(64)
        ),
    );
    refused(&s("signed.wasm"), "pinned to other digests", &pinned);
    // Two signatures required, one given.
    let two = write_policy(
        &dir,
        "signatures_required = 2\n[[key]]\nname = \"team\"\npublic_key = \"team.pub\"\n\
         [[key]]\nname = \"other\"\npublic_key = \"other.pub\"\n",
    );
    refused(&s("signed.wasm"), "the policy requires 2", &two);
    // Both sign: accepted.
    let (ok, out) = run(&[
        "sign",
        "--key",
        &s("other.key"),
        &s("signed.wasm"),
        "--out",
        &s("both.wasm"),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["verify", "--trust", &two, &s("both.wasm")]);
    assert!(ok, "{out}");
}

/// Two teams' keys, `team` trusted for `TRC-*` and `acme` for `ACME-*`, in
/// a fresh directory; returns it and its policy file.
fn two_team_policy(label: &str) -> (PathBuf, String) {
    let dir = temp_dir(label);
    for stem in ["team", "acme"] {
        assert!(run(&["keygen", dir.join(stem).to_str().unwrap()]).0);
    }
    let policy = write_policy(
        &dir,
        "[[key]]\nname = \"team\"\npublic_key = \"team.pub\"\nids = [\"TRC-*\"]\n\
         [[key]]\nname = \"acme\"\npublic_key = \"acme.pub\"\nids = [\"ACME-*\"]\n",
    );
    (dir, policy)
}

/// Copies built module `name` to `to`, signed with `key` (a path under
/// `keys`), and returns `to`.
fn signed_copy(name: &str, keys: &Path, key: &str, to: &Path) -> PathBuf {
    let key = keys.join(format!("{key}.key"));
    let (ok, out) = run(&[
        "sign",
        "--key",
        key.to_str().unwrap(),
        module(name).to_str().unwrap(),
        "--out",
        to.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    to.to_owned()
}

/// The `reason` argument of a coverage record.
fn reason_of(record: &Value) -> &str {
    record["args"]
        .as_array()
        .and_then(|args| args.iter().find(|a| a["name"] == "reason"))
        .and_then(|a| a["value"].as_str())
        .unwrap_or_default()
}

#[test]
fn the_daemon_will_not_start_without_a_trust_decision() {
    let dir = temp_dir("trust-none");
    for command in ["replay", "run"] {
        let out = sigbox_e2e::sigbox_command(&[command, "-s", dir.to_str().unwrap()])
            .env_remove("SIGBOX_TRUST")
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--trust POLICY") && stderr.contains("--allow-unsigned"),
            "{stderr}"
        );
    }
    let out = sigbox(&[
        "replay",
        "-s",
        dir.to_str().unwrap(),
        "--trust",
        dir.join("missing.toml").to_str().unwrap(),
        "-",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read trust policy"),
        "{}",
        text(&out.stderr)
    );
}

/// Replay under a two-team policy: the trusted module (embedded or
/// detached signature) runs; every other variant is refused with its
/// reason, in the log and on the findings stream.
#[test]
fn replay_runs_only_what_the_policy_admits() {
    let (keys, policy) = two_team_policy("trust-replay-keys");
    let dir = temp_dir("trust-replay");
    signed_copy("trc-1016", &keys, "team", &dir.join("trc-1016.wasm"));
    // Signed by make's development key only: not trusted here.
    std::fs::copy(module("trc-105"), dir.join("trc-105.wasm")).unwrap();
    // Signed by a trusted key, but one limited to ACME-* ids.
    signed_copy("trc-107", &keys, "acme", &dir.join("trc-107.wasm"));
    // Signed, then one byte changed.
    let tampered = signed_copy("trc-1026", &keys, "team", &dir.join("trc-1026.wasm"));
    let mut bytes = std::fs::read(&tampered).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(&tampered, bytes).unwrap();
    // A detached signature beside an unchanged module.
    std::fs::copy(module("trc-1027"), dir.join("trc-1027.wasm")).unwrap();
    let (ok, out) = run(&[
        "sign",
        "--detached",
        "--key",
        keys.join("team.key").to_str().unwrap(),
        dir.join("trc-1027.wasm").to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read(dir.join("trc-1027.wasm")).unwrap(),
        std::fs::read(module("trc-1027")).unwrap(),
        "a detached signature leaves the module as it is"
    );

    let out = sigbox(&[
        "replay",
        "--trust",
        &policy,
        "-s",
        dir.to_str().unwrap(),
        fixture("sample-events.jsonl").to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("2 signatures loaded, 3 failed to load"),
        "{stderr}"
    );
    assert!(stderr.contains("loaded signature TRC-1016 v1"), "{stderr}");
    assert!(stderr.contains("loaded signature TRC-1027"), "{stderr}");
    let lines = json_lines(&out.stdout);
    assert_eq!(findings_of(&lines, "TRC-1016").len(), 1, "{stderr}");
    let records = findings_of(&lines, "SIGBOX-COVERAGE");
    let expected = [
        ("trc-105.wasm", "signed only by a key not in the policy"),
        (
            "trc-107.wasm",
            "signature id TRC-107 is not allowed for key acme (sha256:",
        ),
        ("trc-1026.wasm", "modified after signing"),
    ];
    assert_eq!(records.len(), expected.len(), "{records:#?}");
    for (file, reason) in expected {
        let record = records
            .iter()
            .find(|r| r["args"].to_string().contains(file))
            .unwrap_or_else(|| panic!("no record for {file}: {records:#?}"));
        assert_eq!(record["eventName"], "sigbox_module_rejected");
        assert!(
            reason_of(record).contains("refused by the trust policy")
                && reason_of(record).contains(reason),
            "{file}: {record}"
        );
    }
}

/// What the compile cache holds never stands in for verification: a module
/// compiled (and cached) while unsigned modules were allowed is refused
/// once a policy is in force.
#[test]
fn the_compile_cache_cannot_skip_verification() {
    let (_, policy) = two_team_policy("trust-cache-keys");
    let dir = sigbox_e2e::signatures_with("trust-cache", &["trc-1016"]);
    let events = fixture("sample-events.jsonl");
    let out = sigbox(&[
        "replay",
        "--allow-unsigned",
        "-s",
        dir.to_str().unwrap(),
        events.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("without verifying who signed it (--allow-unsigned)"),
        "each unverified load is warned about: {stderr}"
    );
    let out = sigbox(&[
        "replay",
        "--trust",
        &policy,
        "-s",
        dir.to_str().unwrap(),
        events.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refused by the trust policy: signed only by a key not in the policy"),
        "{stderr}"
    );
    assert!(findings_of(&json_lines(&out.stdout), "TRC-1016").is_empty());
}

/// The live daemon: forged and unsigned updates of a running signature are
/// refused, each reported with its reason where findings go, while the
/// running version keeps detecting real execs; a policy change takes effect
/// on SIGHUP, not before.
#[test]
fn live_updates_must_verify_and_the_policy_reloads_on_sighup() {
    let (keys, policy) = two_team_policy("trust-live-keys");
    let dir = temp_dir("trust-live");
    signed_copy("trc-1016", &keys, "team", &dir.join("trc-1016.wasm"));
    let Some((daemon, _)) = crate::live::start_live_with(&dir, &["--trust", &policy]) else {
        return;
    };
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), "loaded signature TRC-1016"),
        "{}",
        daemon.stderr_text()
    );
    let staging = temp_dir("trust-live-staging");
    let publish = |file: &Path| {
        let temp = dir.join(".trc-1016.wasm.tmp");
        std::fs::copy(file, &temp).unwrap();
        std::fs::rename(&temp, dir.join("trc-1016.wasm")).unwrap();
    };
    let update_records = |lines: &[String]| {
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["eventName"] == "sigbox_signature_update_rejected")
            .collect::<Vec<_>>()
    };
    let tampered = signed_copy("trc-1016", &keys, "team", &staging.join("tampered.wasm"));
    let mut bytes = std::fs::read(&tampered).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&tampered, bytes).unwrap();
    let variants = [
        // make's development key: not in this policy.
        (module("trc-1016"), "signed only by a key not in the policy"),
        (tampered, "modified after signing"),
        (
            signed_copy("trc-1016", &keys, "acme", &staging.join("acme.wasm")),
            "signature id TRC-1016 is not allowed for key acme (sha256:",
        ),
    ];
    for (n, (file, reason)) in variants.iter().enumerate() {
        publish(file);
        let reported = daemon.wait_for_stdout(Duration::from_secs(120), |lines| {
            update_records(lines).len() > n
        });
        assert!(reported, "{file:?} not refused: {}", daemon.stderr_text());
        let record = &update_records(&daemon.stdout_lines())[n];
        assert!(reason_of(record).contains(reason), "{record}");
        // The version that verified is still the one running, and detects.
        let pid = crate::live::run_as("nginx", "exec /bin/sh -c true");
        assert!(
            daemon.wait_for_stdout(Duration::from_secs(60), |lines| {
                !crate::pack_live::findings(lines, "TRC-1016", pid).is_empty()
            }),
            "no finding for pid {pid} after refusing {file:?}: {}",
            daemon.stderr_text()
        );
    }

    // Trusting acme for TRC-* too takes effect on SIGHUP, and only then.
    std::fs::write(
        &policy,
        "[[key]]\nname = \"team\"\npublic_key = \"team.pub\"\nids = [\"TRC-*\"]\n\
         [[key]]\nname = \"acme\"\npublic_key = \"acme.pub\"\nids = [\"ACME-*\", \"TRC-*\"]\n",
    )
    .unwrap();
    // A TRC-* module signed by acme, published now, is still judged by the
    // policy in force: refused. That proves a scan ran after the edit.
    let marker = signed_copy("trc-105", &keys, "acme", &staging.join("acme-105.wasm"));
    std::fs::copy(&marker, dir.join(".marker.wasm.tmp")).unwrap();
    std::fs::rename(dir.join(".marker.wasm.tmp"), dir.join("marker.wasm")).unwrap();
    assert!(
        daemon.wait_for_stderr(
            Duration::from_secs(120),
            "signature id TRC-105 is not allowed for key acme"
        ),
        "{}",
        daemon.stderr_text()
    );
    assert!(!daemon.stderr_text().contains("replaced signature"));
    daemon.signal("HUP");
    assert!(
        daemon.wait_for_stderr(Duration::from_secs(120), "replaced signature TRC-1016"),
        "{}",
        daemon.stderr_text()
    );
    assert!(
        daemon.stderr_text().contains("reloaded trust policy"),
        "{}",
        daemon.stderr_text()
    );
    // A policy that no longer parses leaves the one in force.
    std::fs::write(&policy, "[[key]\n").unwrap();
    daemon.signal("HUP");
    assert!(
        daemon.wait_for_stderr(
            Duration::from_secs(60),
            "the previous trust policy stays in force"
        ),
        "{}",
        daemon.stderr_text()
    );
    let stopped = daemon.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// The fingerprint `keygen` prints (and `sigbox fingerprint` repeats for
/// the `.pub`) is the one `sign`, `verify` and refusals quote.
fn keygen_fingerprint(stem: &Path) -> String {
    let (ok, out) = run(&["keygen", stem.to_str().unwrap()]);
    assert!(ok, "{out}");
    let fingerprint = out
        .split("fingerprint ")
        .nth(1)
        .map(str::trim)
        .unwrap_or_else(|| panic!("keygen printed no fingerprint: {out}"))
        .to_owned();
    assert!(
        fingerprint.starts_with("sha256:") && fingerprint.len() == "sha256:".len() + 16,
        "{out}"
    );
    let public = stem.with_extension("pub");
    let (ok, out) = run(&["fingerprint", public.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        format!("{fingerprint}  {}", public.display()),
        "sigbox fingerprint"
    );
    fingerprint
}

/// `module` without its embedded signature section: really unsigned.
fn unsigned_copy(name: &str, to: &Path) -> PathBuf {
    let bytes = std::fs::read(module(name)).unwrap();
    let mut at = 9; // past the header and the first section's id
    let mut size = 0usize;
    for shift in (0..).step_by(7) {
        let byte = bytes[at];
        at += 1;
        size |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let name_len = usize::from(bytes[at]);
    let mut out = bytes[..8].to_vec();
    if bytes[8] == 0 && &bytes[at + 1..at + 1 + name_len] == b"signature" {
        out.extend_from_slice(&bytes[at + size..]);
    } else {
        out.extend_from_slice(&bytes[8..]);
    }
    std::fs::write(to, out).unwrap();
    to.to_owned()
}

#[test]
fn keygen_prints_a_fingerprint_that_sign_verify_and_refusals_quote() {
    let dir = temp_dir("trust-fingerprints");
    let team = keygen_fingerprint(&dir.join("team"));
    let stranger = keygen_fingerprint(&dir.join("stranger"));
    assert_ne!(team, stranger);
    let signed = dir.join("signed.wasm");
    for (key, fingerprint, to) in [
        ("team", &team, &signed),
        ("stranger", &stranger, &dir.join("x.wasm")),
    ] {
        let key = dir.join(format!("{key}.key"));
        let (ok, out) = run(&[
            "sign",
            "--key",
            key.to_str().unwrap(),
            module("trc-1016").to_str().unwrap(),
            "--out",
            to.to_str().unwrap(),
        ]);
        assert!(
            ok && out.contains(&format!("with key {fingerprint}")),
            "{out}"
        );
        // The secret key names the same key.
        let (ok, out) = run(&["fingerprint", key.to_str().unwrap()]);
        assert!(ok && out.starts_with(fingerprint.as_str()), "{out}");
    }
    let policy = write_policy(
        &dir,
        "[[key]]\nname = \"team\"\npublic_key = \"team.pub\"\n",
    );
    let (ok, out) = run(&["verify", "--trust", &policy, signed.to_str().unwrap()]);
    assert!(
        ok && out.contains(&format!("signed by team ({team})")),
        "{out}"
    );
    let (ok, out) = run(&[
        "verify",
        "--trust",
        &policy,
        dir.join("x.wasm").to_str().unwrap(),
    ]);
    // The built module also carries make's development key.
    assert!(
        !ok && out.contains("signed only by a key not in the policy: ") && out.contains(&stranger),
        "{out}"
    );
}

/// Item 9: co-signed by a key allowed the id and one that is not, the
/// refusal names the one that is not, its policy entry and the ids it may
/// sign, not both keys.
#[test]
fn a_co_signed_module_is_refused_naming_the_key_not_allowed_and_its_rule() {
    let (keys, policy) = two_team_policy("trust-cosigned");
    let both = signed_copy("trc-1016", &keys, "team", &keys.join("both.wasm"));
    let (ok, out) = run(&[
        "sign",
        "--key",
        keys.join("acme.key").to_str().unwrap(),
        both.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let acme = run(&["fingerprint", keys.join("acme.pub").to_str().unwrap()]).1;
    let acme = acme.split_whitespace().next().unwrap();
    let (ok, out) = run(&["verify", "--trust", &policy, both.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "signature id TRC-1016 is not allowed for key acme ({acme}): its [[key]] entry in \
             {policy} allows only ids ACME-*; also signed by team (sha256:"
        )),
        "{out}"
    );
    assert!(!out.contains("team, acme"), "{out}");
}

/// Unsigned, an unknown key, modified after signing and truncated each get
/// their own reason, from `sigbox verify` and in the daemon's rejection
/// record.
#[test]
fn unsigned_unknown_key_modified_and_truncated_each_have_their_own_reason() {
    let (keys, policy) = two_team_policy("trust-verdict-keys");
    let stranger = keygen_fingerprint(&keys.join("stranger"));
    let dir = temp_dir("trust-verdicts");
    unsigned_copy("trc-105", &dir.join("unsigned.wasm"));
    signed_copy("trc-107", &keys, "stranger", &dir.join("unknown.wasm"));
    let modified = signed_copy("trc-1026", &keys, "team", &dir.join("modified.wasm"));
    let mut bytes = std::fs::read(&modified).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(&modified, bytes).unwrap();
    let truncated = signed_copy("trc-1027", &keys, "team", &dir.join("truncated.wasm"));
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let half = bytes.len() / 2;
    let expected = [
        ("unsigned.wasm", "unsigned: no signature".to_owned()),
        (
            "unknown.wasm",
            "signed only by a key not in the policy: sha256:".to_owned(),
        ),
        (
            "modified.wasm",
            "modified after signing: the signature of team (sha256:".to_owned(),
        ),
        (
            "truncated.wasm",
            format!("truncated: the file is {half} bytes, its sections need at least"),
        ),
    ];
    for (file, reason) in &expected {
        let (ok, out) = run(&[
            "verify",
            "--trust",
            &policy,
            dir.join(file).to_str().unwrap(),
        ]);
        assert!(!ok && out.contains(reason.as_str()), "{file}: {out}");
    }
    let (_, out) = run(&[
        "verify",
        "--trust",
        &policy,
        dir.join("unknown.wasm").to_str().unwrap(),
    ]);
    assert!(out.contains(&stranger), "the stranger's fingerprint: {out}");
    let out = sigbox(&[
        "replay",
        "--trust",
        &policy,
        "-s",
        dir.to_str().unwrap(),
        fixture("sample-events.jsonl").to_str().unwrap(),
    ]);
    let lines = json_lines(&out.stdout);
    let records = findings_of(&lines, "SIGBOX-COVERAGE");
    for (file, reason) in &expected {
        let record = records
            .iter()
            .find(|r| r["args"].to_string().contains(file))
            .unwrap_or_else(|| panic!("no record for {file}: {records:#?}"));
        assert_eq!(record["eventName"], "sigbox_module_rejected");
        assert!(
            reason_of(record).contains(reason.as_str()),
            "{file}: {record}"
        );
    }
}

/// Each bad input names what is wrong, where, and what to give instead;
/// the policy format is in `--help`.
#[test]
fn bad_keys_files_and_policies_are_named_plainly_and_help_shows_the_format() {
    let dir = temp_dir("trust-bad-inputs");
    let s = |p: &str| dir.join(p).to_str().unwrap().to_owned();
    let team = keygen_fingerprint(&dir.join("team"));
    std::fs::copy(module("trc-1016"), s("m.wasm")).unwrap();
    let (ok, out) = run(&["sign", "--key", &s("team.pub"), &s("m.wasm")]);
    assert!(
        !ok && out.contains(&format!(
            "{} is a public key ({team}): --key needs the secret key",
            s("team.pub")
        )),
        "{out}"
    );
    let (ok, out) = run(&["sign", "--key", &s("gone.key"), &s("m.wasm")]);
    assert!(
        !ok && out.contains(&format!(
            "cannot read secret key {} (--key): No such file or directory",
            s("gone.key")
        )),
        "{out}"
    );
    std::fs::write(s("notes.txt"), "hello\n").unwrap();
    let (ok, out) = run(&["sign", "--key", &s("team.key"), &s("notes.txt")]);
    assert!(
        !ok && out.contains(&format!(
            "{} is not a WebAssembly module (starts with 68 65 6c 6c 6f 0a \"hello\\n\")",
            s("notes.txt")
        )),
        "{out}"
    );
    let secret_listed = write_policy(
        &dir,
        "[[key]]\nname = \"team\"\npublic_key = \"team.key\"\n",
    );
    let (ok, out) = run(&["verify", "--trust", &secret_listed, &s("m.wasm")]);
    assert!(
        !ok && out.contains("team.key: this is a secret key: list the public key"),
        "{out}"
    );
    let broken = write_policy(&dir, "[[key]\nname = \"team\"\n");
    let (ok, out) = run(&["verify", "--trust", &broken, &s("m.wasm")]);
    assert!(
        !ok && out.contains("TOML parse error at line 1") && out.contains("\n1 | [[key]\n"),
        "{out}"
    );
    assert!(!out.contains("\\n"), "literal \\n: {out}");
    for command in ["verify", "run", "replay", "pull"] {
        let (ok, out) = run(&[command, "--help"]);
        assert!(ok, "{out}");
        assert!(
            out.contains("[[key]]")
                && out.contains("public_key = \"keys/team.pub\"")
                && out.contains("ids = [\"TRC-*\"]")
                && out.contains("signatures_required"),
            "{command} --help: {out}"
        );
    }
}
