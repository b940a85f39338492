//! `sigbox test`: signatures on test vectors through the real host and
//! sandbox. One vector file for TRC-1016 runs against every implementation.

use sigbox_e2e::{module, repo_root, sigbox, temp_dir, test_module, text};

fn trc_1016_vectors() -> String {
    repo_root()
        .join("guest-signatures/trc-1016/vectors/trc-1016.jsonl")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Cases in the TRC-1016 vector file (non-comment, non-blank lines).
fn case_count() -> usize {
    std::fs::read_to_string(trc_1016_vectors())
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
        .count()
}

#[test]
fn rust_python_and_0_1_trc_1016_pass_the_same_vectors() {
    let cases = case_count();
    assert!(cases >= 15, "{cases}");
    for wasm in [
        module("trc-1016"),
        test_module("trc-1016-py"),
        test_module("legacy-v0-1"),
    ] {
        let out = sigbox(&["test", wasm.to_str().unwrap(), &trc_1016_vectors()]);
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {stdout}{}",
            wasm.display(),
            text(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("{cases} passed, 0 failed")),
            "{stdout}"
        );
        assert_eq!(stdout.matches("\nok   ").count() + 1, cases, "{stdout}");
    }
}

/// Each default-set crate's vector files (`guest-signatures/<crate>/vectors/`).
fn default_set_vectors() -> Vec<(String, Vec<std::path::PathBuf>)> {
    let mut crates = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("guest-signatures")).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(files) = std::fs::read_dir(dir.join("vectors")) else {
            continue;
        };
        let mut files: Vec<_> = files.map(|f| f.unwrap().path()).collect();
        files.sort();
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        crates.push((name, files));
    }
    crates.sort();
    crates
}

#[test]
fn every_default_signature_passes_its_vectors() {
    let crates = default_set_vectors();
    // TRC-1016, the file-event ports, the three with file branches and the
    // eight network, process and kernel ones.
    assert!(crates.len() >= 24, "{crates:?}");
    for (name, files) in crates {
        let mut args = vec![
            "test".to_owned(),
            module(&name).to_str().unwrap().to_owned(),
        ];
        args.extend(files.iter().map(|f| f.to_str().unwrap().to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = sigbox(&args);
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {stdout}{}",
            text(&out.stderr)
        );
        assert!(stdout.contains(" passed, 0 failed"), "{name}: {stdout}");
    }
}

#[test]
fn a_wrong_signature_fails_with_a_diff_per_case() {
    // TEST-EXEC-ECHO reports every exec: wrong for every "none" case.
    let out = sigbox(&[
        "test",
        test_module("exec-echo").to_str().unwrap(),
        &trc_1016_vectors(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let failure = stdout
        .split("FAIL ")
        .find(|block| block.starts_with("bash runs ls"))
        .unwrap_or_else(|| panic!("no failure for 'bash runs ls':\n{stdout}"));
    assert!(failure.contains("trc-1016.jsonl:"), "{failure}");
    assert!(failure.contains("- expected: \"none\""), "{failure}");
    assert!(
        failure.contains(r#"+ got:      {"findings":[{"pid":"#),
        "{failure}"
    );
    assert!(stdout.contains(" failed"), "{stdout}");
}

#[test]
fn a_trap_never_passes_and_bad_vector_files_name_the_line() {
    let dir = temp_dir("vectors");
    // trap-on-marker traps on a process named "trapme"; "none" and
    // "error" must not be satisfied by a trap.
    let event = r#"{"eventName":"sched_process_exec","processName":"trapme","args":[{"name":"prev_comm","type":"const char*","value":"x"}]}"#;
    let file = dir.join("trap.jsonl");
    std::fs::write(
        &file,
        format!(
            "{{\"case\":\"trap is not none\",\"event\":{event},\"expect\":\"none\"}}\n\
             {{\"case\":\"trap is not an error\",\"event\":{event},\"expect\":\"error\"}}\n"
        ),
    )
    .unwrap();
    let out = sigbox(&[
        "test",
        test_module("trap-on-marker").to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert_eq!(
        stdout.matches("+ got:      {\"fault\":").count(),
        2,
        "{stdout}"
    );

    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "// ok\n{\"case\":\"x\",\"event\":{\"eventName\":\"x\"},\"expect\":\"maybe\"}\n",
    )
    .unwrap();
    let out = sigbox(&[
        "test",
        module("trc-1016").to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.jsonl:2") && stderr.contains("\"maybe\""),
        "{stderr}"
    );
}
