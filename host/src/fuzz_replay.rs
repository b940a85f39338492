//! Every saved fuzz input replayed through its fuzz target's body, as plain
//! unit tests: the committed regressions (`fuzz/regressions/TARGET/`), the
//! seeds (`fuzz/seeds/TARGET/`, and each line of the Tracee fixtures for
//! `tracee_json`) and any crash a local `make fuzz` left in
//! `fuzz/artifacts/TARGET/`. So `make test` catches a fixed crash coming
//! back without the instrumented build (`make fuzz` / `make fuzz-ci`).

use std::path::{Path, PathBuf};

/// The fuzz crate's target bodies and generators, compiled into this test
/// build (`extern crate self as sigbox` in lib.rs resolves its paths).
#[path = "../../fuzz/src/lib.rs"]
mod fuzz_lib;

use fuzz_lib::targets;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_owned()
}

/// The files in `dir`, sorted; none when it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("reading a fuzz input directory").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Every saved input of `target`, each with a name to report it by.
fn saved_inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = repo_root();
    let mut inputs = Vec::new();
    for dir in ["fuzz/regressions", "fuzz/seeds", "fuzz/artifacts"] {
        for file in files_in(&root.join(dir).join(target)) {
            let bytes = std::fs::read(&file).expect("reading a fuzz input");
            inputs.push((file.display().to_string(), bytes));
        }
    }
    // fuzz/run.sh seeds replay's corpus with every fixture line.
    if target == "tracee_json" {
        for fixture in files_in(&root.join("tests/fixtures")) {
            if fixture.extension().is_some_and(|e| e == "jsonl") {
                let text = std::fs::read_to_string(&fixture).expect("reading a fixture");
                for (n, line) in text.lines().enumerate() {
                    let name = format!("{}:{}", fixture.display(), n + 1);
                    inputs.push((name, line.as_bytes().to_vec()));
                }
            }
        }
    }
    inputs
}

/// Runs `target` on each of its saved inputs; panics naming every input
/// that made it panic.
fn replay(target: &str) {
    let (_, body) = targets::ALL
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    let inputs = saved_inputs(target);
    assert!(!inputs.is_empty(), "no saved input for {target}");
    let failed: Vec<&str> = inputs
        .iter()
        .filter(|(_, bytes)| std::panic::catch_unwind(|| body(bytes)).is_err())
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "{target} panics again on {} of {} saved inputs: {failed:#?}",
        failed.len(),
        inputs.len()
    );
}

#[test]
fn tracee_json_survives_its_saved_inputs() {
    replay("tracee_json");
}

#[test]
fn ring_record_survives_its_saved_inputs() {
    replay("ring_record");
}

#[test]
fn config_file_survives_its_saved_inputs() {
    replay("config_file");
}

#[test]
fn trust_policy_survives_its_saved_inputs() {
    replay("trust_policy");
}

#[test]
fn guest_output_survives_its_saved_inputs() {
    replay("guest_output");
}

#[test]
fn finding_writer_survives_its_saved_inputs() {
    replay("finding_writer");
}

/// A directory of saved inputs must name a target, or its inputs would
/// silently never be replayed.
#[test]
fn every_saved_input_directory_names_a_target() {
    let known: Vec<&str> = targets::ALL.iter().map(|(name, _)| *name).collect();
    for dir in ["fuzz/regressions", "fuzz/seeds"] {
        for entry in std::fs::read_dir(repo_root().join(dir)).expect("reading fuzz inputs") {
            let name = entry.expect("a directory entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                known.contains(&name.as_ref()),
                "{dir}/{name} is no fuzz target"
            );
        }
    }
}
