//! `sigbox keygen`, `sign`, `verify`: embedded Ed25519 signatures on real
//! modules, checked against a trust policy. (Enforcement in `run`/`replay`
//! is not built yet.)

use std::path::Path;

use sigbox_e2e::{module, sigbox, temp_dir, text};

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
            out.contains("rejected") && out.contains(reason),
            "{module}: {out}"
        );
    };
    refused(&unsigned, "not signed by any trusted key", &trusted);
    refused(
        &s("by-other.wasm"),
        "not signed by any trusted key",
        &trusted,
    );
    let mut bytes = std::fs::read(s("signed.wasm")).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(s("tampered.wasm"), bytes).unwrap();
    refused(
        &s("tampered.wasm"),
        "not signed by any trusted key",
        &trusted,
    );

    // A key limited to another team's ids cannot ship TRC-1016.
    let other_team = write_policy(
        &dir,
        "[[key]]\nname = \"team\"\npublic_key = \"team.pub\"\nids = [\"ACME-*\"]\n",
    );
    refused(
        &s("signed.wasm"),
        "signature id TRC-1016 is not allowed for key(s) team",
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
