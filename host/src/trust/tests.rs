//! Each verdict and message of the trust policy, on a tiny module signed
//! with real keys through `sigbox sign`'s code.

use std::path::{Path, PathBuf};

use super::keys;
use super::policy::{TrustError, TrustPolicy};

/// A module header, a custom section `a` of one byte, an empty type section.
const MODULE: &[u8] = b"\0asm\x01\0\0\0\x00\x03\x01a\x01\x01\x01\x00";

/// A fresh directory with keys `team` (may sign `TRC-*`), `acme`
/// (`ACME-*`) and `stranger` (not in the policy), the policy, and the
/// unsigned module `m.wasm`.
struct Setup {
    dir: PathBuf,
    policy: TrustPolicy,
}

impl Setup {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("sigbox-trust-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        for stem in ["team", "acme", "stranger"] {
            keys::generate(&dir.join(stem)).unwrap();
        }
        std::fs::write(dir.join("m.wasm"), MODULE).unwrap();
        let policy = policy_in(
            &dir,
            "[[key]]\nname = \"team\"\npublic_key = \"team.pub\"\nids = [\"TRC-*\"]\n\
             [[key]]\nname = \"acme\"\npublic_key = \"acme.pub\"\nids = [\"ACME-*\"]\n",
        )
        .unwrap();
        Self { dir, policy }
    }

    /// `m.wasm` signed by each of `signers`, as a new file.
    fn signed(&self, signers: &[&str], name: &str) -> Vec<u8> {
        let out = self.dir.join(name);
        std::fs::copy(self.dir.join("m.wasm"), &out).unwrap();
        for signer in signers {
            keys::sign(&self.key(signer, "key"), &out, &out).unwrap();
        }
        std::fs::read(out).unwrap()
    }

    fn key(&self, stem: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{stem}.{ext}"))
    }

    fn fingerprint(&self, stem: &str) -> String {
        keys::fingerprint_of_file(&self.key(stem, "pub"))
            .unwrap()
            .to_string()
    }

    fn refusal(&self, bytes: &[u8], detached: Option<&[u8]>) -> TrustError {
        self.policy.verify(bytes, detached).unwrap_err()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn policy_in(dir: &Path, text: &str) -> anyhow::Result<TrustPolicy> {
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).unwrap();
    TrustPolicy::load(&path)
}

#[test]
fn a_module_signed_by_a_listed_key_verifies_and_names_it_with_its_fingerprint() {
    let setup = Setup::new("valid");
    let signers = setup
        .policy
        .verify(&setup.signed(&["team"], "s.wasm"), None)
        .unwrap();
    let labels: Vec<String> = signers.iter().map(|k| k.label()).collect();
    assert_eq!(labels, [format!("team ({})", setup.fingerprint("team"))]);
}

#[test]
fn unsigned_unknown_key_modified_truncated_and_not_wasm_are_told_apart() {
    let setup = Setup::new("verdicts");
    assert_eq!(setup.refusal(MODULE, None), TrustError::Unsigned);

    let stranger = setup.fingerprint("stranger");
    match setup.refusal(&setup.signed(&["stranger"], "x.wasm"), None) {
        TrustError::UnknownKey { keys } => assert_eq!(keys, stranger),
        other => panic!("{other:?}"),
    }

    let mut modified = setup.signed(&["team"], "t.wasm");
    let last = modified.len() - 1;
    modified[last] ^= 1; // inside the type section, after signing
    let error = setup.refusal(&modified, None);
    assert_eq!(
        error,
        TrustError::Modified {
            keys: format!("team ({})", setup.fingerprint("team"))
        }
    );
    assert!(error.to_string().starts_with("modified after signing"));

    let signed = setup.signed(&["team"], "t2.wasm");
    let error = setup.refusal(&signed[..signed.len() - 1], None);
    assert_eq!(
        error,
        TrustError::Truncated {
            size: signed.len() as u64 - 1,
            needed: signed.len() as u64
        }
    );
    assert!(error.to_string().starts_with("truncated: the file is"));

    let error = setup.refusal(b"#!/bin/sh\necho hi\n", None);
    assert!(
        error
            .to_string()
            .starts_with("not a WebAssembly module (starts with 23 21 2f 62"),
        "{error}"
    );
}

#[test]
fn a_detached_signature_is_judged_the_same_way() {
    let setup = Setup::new("detached");
    let sig = setup.dir.join("m.wasm.sig");
    keys::sign_detached(&setup.key("team", "key"), &setup.dir.join("m.wasm"), &sig).unwrap();
    let signature = std::fs::read(&sig).unwrap();
    setup.policy.verify(MODULE, Some(&signature)).unwrap();
    let mut modified = MODULE.to_vec();
    modified[12] ^= 1;
    assert!(matches!(
        setup.refusal(&modified, Some(&signature)),
        TrustError::Modified { .. }
    ));
    keys::sign_detached(
        &setup.key("stranger", "key"),
        &setup.dir.join("m.wasm"),
        &sig,
    )
    .unwrap();
    let signature = std::fs::read(&sig).unwrap();
    assert_eq!(
        setup.refusal(MODULE, Some(&signature)),
        TrustError::UnknownKey {
            keys: setup.fingerprint("stranger")
        }
    );
}

/// Co-signed by a key allowed the id and one that is not: the refusal
/// names only the one not allowed, its entry and the ids it allows.
#[test]
fn a_co_signer_not_allowed_the_id_is_named_with_its_rule() {
    let setup = Setup::new("cosigned");
    let bytes = setup.signed(&["team", "acme"], "both.wasm");
    let signers = setup.policy.verify(&bytes, None).unwrap();
    let error = setup
        .policy
        .check_id(&signers, "TRC-1016", "00")
        .unwrap_err()
        .to_string();
    let acme = setup.fingerprint("acme");
    let team = setup.fingerprint("team");
    let policy = setup.dir.join("policy.toml");
    assert_eq!(
        error,
        format!(
            "signature id TRC-1016 is not allowed for key acme ({acme}): its [[key]] entry in \
             {} allows only ids ACME-*; also signed by team ({team}), which may (add the id to \
             its ids, or sign without that key)",
            policy.display()
        )
    );
}

#[test]
fn policy_files_name_a_secret_key_a_missing_key_and_a_toml_error_plainly() {
    let setup = Setup::new("policy-errors");
    let listed_secret = policy_in(
        &setup.dir,
        "[[key]]\nname = \"team\"\npublic_key = \"team.key\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        listed_secret.contains("[[key]] \"team\": public_key ")
            && listed_secret.contains("team.key: this is a secret key: list the public key"),
        "{listed_secret}"
    );
    let missing = policy_in(
        &setup.dir,
        "[[key]]\nname = \"team\"\npublic_key = \"gone.pub\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        missing.contains("gone.pub: cannot read it: No such file or directory (os error 2)"),
        "{missing}"
    );
    let toml = policy_in(&setup.dir, "[[key]\n").unwrap_err().to_string();
    assert!(
        toml.contains("(format: `sigbox verify --help`): TOML parse error at line 1")
            && toml.contains("\n1 | [[key]\n"),
        "{toml}"
    );
}

#[test]
fn signing_names_a_public_key_a_missing_key_and_a_file_that_is_not_wasm() {
    let setup = Setup::new("sign-errors");
    let module = setup.dir.join("m.wasm");
    let error = keys::sign(&setup.key("team", "pub"), &module, &module)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!(
            "{} is a public key ({}): --key needs the secret key, the .key `sigbox keygen` \
             wrote beside it",
            setup.key("team", "pub").display(),
            setup.fingerprint("team")
        )
    );
    let error = keys::sign(&setup.key("gone", "key"), &module, &module)
        .unwrap_err()
        .to_string();
    assert!(
        error.ends_with("gone.key (--key): No such file or directory (os error 2)"),
        "{error}"
    );
    let script = setup.dir.join("build.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let error = keys::sign(&setup.key("team", "key"), &script, &script)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("build.sh is not a WebAssembly module (starts with 23 21 2f 62 69 6e 2f 73 \"#!/bin/s\")"),
        "{error}"
    );
}

/// The format `--help` shows parses as a policy (with its key file there).
#[test]
fn the_help_texts_policy_example_is_a_valid_policy() {
    let setup = Setup::new("help");
    let example: String = super::POLICY_HELP
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::create_dir(setup.dir.join("keys")).unwrap();
    std::fs::copy(setup.key("team", "pub"), setup.dir.join("keys/team.pub")).unwrap();
    let policy = policy_in(&setup.dir, &example).unwrap_or_else(|e| panic!("{e:#}\n{example}"));
    assert_eq!(policy.key_count(), 1);
}

/// A key whose `ids` name the id ties it to the module; a key allowed
/// every id (no `ids`, or a bare `*`) ties nothing; a pinned id is tied.
#[test]
fn an_id_is_tied_by_a_scoped_key_or_a_pin_never_by_a_key_allowed_everything() {
    let setup = Setup::new("ties");
    let policy = policy_in(
        &setup.dir,
        "[[key]]\nname = \"team\"\npublic_key = \"team.pub\"\nids = [\"TRC-*\"]\n\
         [[key]]\nname = \"acme\"\npublic_key = \"acme.pub\"\nids = [\"*\"]\n\
         [[key]]\nname = \"stranger\"\npublic_key = \"stranger.pub\"\n\
         [pins]\n\"PINNED-1\" = [\"sha256:00\"]\n",
    )
    .unwrap();
    let signers_of = |stem: &str| {
        let bytes = setup.signed(&[stem], &format!("{stem}-signed.wasm"));
        policy.verify(&bytes, None).unwrap()
    };
    assert!(policy.ties(&signers_of("team"), "TRC-1016"));
    assert!(!policy.ties(&signers_of("team"), "OTHER-1"));
    assert!(!policy.ties(&signers_of("acme"), "TRC-1016"));
    assert!(!policy.ties(&signers_of("stranger"), "TRC-1016"));
    assert!(policy.ties(&signers_of("stranger"), "PINNED-1"));
}
