//! The tape's reading of Tracee lines against serde_json's: the same event
//! or the same refusal, on every fixture line and on lines broken on purpose.

/// The parse and the check give what serde_json alone gives.
fn agrees(line: &str) {
    crate::fuzzing::tracee_tape_agrees(line);
}

/// Whether the tape itself (not the fallback) read the line.
fn read_by_tape(line: &str) -> bool {
    super::with_fields(line, |_, _| Some(())).is_some()
}

fn fixture_lines() -> impl Iterator<Item = &'static str> {
    super::super::TRACEE_FIXTURES
        .iter()
        .flat_map(|f| f.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
}

#[test]
fn every_fixture_line_reads_as_with_serde_json() {
    let (mut lines, mut by_tape) = (0, 0);
    for line in fixture_lines() {
        agrees(line);
        lines += 1;
        by_tape += usize::from(read_by_tape(line));
    }
    // Nearly every real line takes the one-scan path.
    assert!(by_tape * 10 > lines * 9, "{by_tape} of {lines}");
}

#[test]
fn odd_lines_read_as_with_serde_json() {
    let deep = |n: usize| {
        format!(
            r#"{{"eventName":"openat","args":[{{"name":"x","value":{}1{}}}]}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    for line in [
        r#"{"eventName":"x","processId":1,"processId":2}"#,
        r#"{"eventName":"x","eventName":"y"}"#,
        r#"{"eventName":"x","unknown":1,"unknown":2}"#,
        r#"{"eventName":"x","processId":-0}"#,
        r#"{"eventName":"x","processId":-1}"#,
        r#"{"eventName":"x","processId":4294967296}"#,
        r#"{"eventName":"x","processId":1.0}"#,
        r#"{"eventName":"x","cgroupId":18446744073709551616}"#,
        r#"{"eventName":"x","returnValue":-9223372036854775808}"#,
        r#"{"eventName":"x","returnValue":9223372036854775808}"#,
        r#"{"eventName":"x","returnValue":-0}"#,
        r#"{"eventName":"x","processName":null}"#,
        r#"{"eventName":null}"#,
        r#"{"eventName":""}"#,
        r#"{"eventName":"a\u0062c","processName":"t\tab"}"#,
        r#"{"eventN\u0061me":"x"}"#,
        r#"{"eventName":"x","executable":["/bin/sh"]}"#,
        r#"{"eventName":"x","executable":{"path":"/a","path":"/b"}}"#,
        r#"{"eventName":"x","executable":{"p\u0061th":"/a"}}"#,
        r#"{"eventName":"x","container":{"id":"c","name":5}}"#,
        r#"{"eventName":"x","kubernetes":{"podSandbox":null}}"#,
        r#"{"eventName":"x","kubernetes":{"podSandbox":1}}"#,
        r#"{"eventName":"x","kubernetes":7,"containerId":"c"}"#,
        r#"{"eventName":"x","contextFlags":{"containerStarted":null}}"#,
        r#"{"eventName":"x","contextFlags":null,"args":null}"#,
        r#"{"eventName":"x","args":[null]}"#,
        r#"{"eventName":"x","args":[["a",1]]}"#,
        r#"{"eventName":"x","args":[{"name":"a","name":"b"}]}"#,
        r#"{"eventName":"x","args":[{"value":1}]}"#,
        r#"{"eventName":"security_file_open","args":[{"name":"flags","value":-0},{"name":"dev","value":1.5},{"name":"inode","value":-9223372036854775808}]}"#,
        r#"{"eventName":"openat","args":[{"name":"a","value":{"k":1,"k":2}},{"name":"b","value":[1,"x"]},{"name":"c","value":["x","y\n"]},{"name":"d","value":1e2}]}"#,
        r#"{"eventName":"openat","args":[{"name":"a","value":"\ud800"}]}"#,
        r#"{"eventName":"openat","args":[{"name":"a\u00e9","value":"\u00e9"}]}"#,
        r#"{"eventName":"x","unknown":1E500,"other":"\udc00"}"#,
        r#"{"eventName":"x"} trailing"#,
        "{\"eventName\":\"x\"}\u{a0}",
        r#"[{"eventName":"x"}]"#,
        &deep(60),
        &deep(200),
    ] {
        agrees(line);
    }
}

/// Every fixture line broken many ways (cut short, a byte dropped or
/// changed, a member repeated): the same event or the same reason.
#[test]
fn broken_fixture_lines_read_as_with_serde_json() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    const SWAPS: [&str; 12] = [
        "\"",
        "\\",
        ",",
        ":",
        "{",
        "}",
        "[",
        "]",
        "-",
        "0",
        "null",
        "\"\\u0041",
    ];
    for line in fixture_lines() {
        for _ in 0..40 {
            let mut broken = line.to_owned();
            let at = next(broken.len());
            let at = (0..=at)
                .rev()
                .find(|i| broken.is_char_boundary(*i))
                .unwrap();
            match next(4) {
                0 => broken.truncate(at),
                1 => {
                    broken.remove(at);
                }
                2 => broken.insert_str(at, SWAPS[next(SWAPS.len())]),
                _ => {
                    // Repeat the member at the first key after `at`.
                    if let Some(key) = broken[at..].find(",\"") {
                        let start = at + key;
                        let end = broken[start + 1..]
                            .find(",\"")
                            .map_or(broken.len() - 1, |e| start + 1 + e);
                        let member = broken[start..end].to_owned();
                        broken.insert_str(end, &member);
                    }
                }
            }
            agrees(&broken);
        }
    }
}
