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
    // then the first 5 cases, 3 of which match.
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(columns[columns.len() - 2], "383", "{row}");
    assert_eq!(columns[columns.len() - 1], "0", "{row}");
    assert!(!stdout.contains("(synthetic)"), "{stdout}");

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
