//! What every command shares: how it ends on a closed stdout, and what its
//! usage line says.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use sigbox_e2e::{dev_key, dev_trust, module, repo_root, signatures_dir, temp_dir, text};

/// SIGPIPE: how a Unix filter ends when its reader has gone.
const SIGPIPE: i32 = 13;

/// Each command, with stdout a pipe whose reader is already closed (so its
/// first write fails, whenever it comes), ends without a panic: status 0,
/// its usual status, or SIGPIPE's, as `cmd | head` expects.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let dir = temp_dir("closed-stdout");
    let (project, stem, signed) = (
        dir.join("project"),
        dir.join("key"),
        dir.join("signed.wasm"),
    );
    let key = dev_key();
    let signatures = signatures_dir();
    let events = sigbox_e2e::fixture("exec-pack-cases.jsonl");
    let trc_1016 = module("trc-1016");
    let vectors = repo_root().join("guest-signatures/trc-1016/vectors/trc-1016.jsonl");
    let commands: Vec<Vec<&str>> = vec![
        vec!["inspect", signatures.to_str().unwrap()],
        vec!["inspect", trc_1016.to_str().unwrap()],
        vec![
            "test",
            trc_1016.to_str().unwrap(),
            vectors.to_str().unwrap(),
        ],
        vec!["bench", trc_1016.to_str().unwrap(), "100"],
        vec![
            "verify",
            "--trust",
            dev_trust().to_str().unwrap(),
            trc_1016.to_str().unwrap(),
        ],
        vec!["new", "closed", "--dir", project.to_str().unwrap()],
        vec!["keygen", stem.to_str().unwrap()],
        vec![
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--out",
            signed.to_str().unwrap(),
            trc_1016.to_str().unwrap(),
        ],
        vec!["--help"],
        vec![
            "replay",
            "--signatures",
            signatures.to_str().unwrap(),
            "--trust",
            dev_trust().to_str().unwrap(),
            events.to_str().unwrap(),
        ],
    ];
    for args in &commands {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = sigbox_e2e::sigbox_command(args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "sigbox {args:?}: {stderr}"
        );
        let quiet = out.status.success() || out.status.signal() == Some(SIGPIPE);
        assert!(quiet, "sigbox {args:?}: {:?}\n{stderr}", out.status);
    }
}

/// `run`, `replay` and `pull` refuse to start without a trust decision, and
/// their usage lines say so.
#[test]
fn usage_lines_show_the_required_trust_decision() {
    for (command, usage) in [
        (
            "run",
            "Usage: sigbox run --signatures DIR <--trust POLICY|--allow-unsigned>",
        ),
        (
            "replay",
            "Usage: sigbox replay --signatures DIR <--trust POLICY|--allow-unsigned>",
        ),
        (
            "pull",
            "Usage: sigbox pull <REFERENCE> --into DIR <--trust POLICY|--allow-unsigned>",
        ),
    ] {
        let out = sigbox_e2e::sigbox(&[command, "--help"]);
        let help = text(&out.stdout);
        assert!(out.status.success() && help.contains(usage), "{help}");
        // And in the short usage an argument error prints.
        let out = sigbox_e2e::sigbox(&[command, "--no-such-option"]);
        let stderr = text(&out.stderr);
        assert!(stderr.contains(usage), "{stderr}");
    }
}
