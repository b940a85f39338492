//! The tape against serde_json: it accepts only what serde_json accepts,
//! and records each value where serde_json reads it.

use super::*;

fn scan(text: &str) -> Option<Tape> {
    let mut tape = Tape::default();
    tape.scan(text).then_some(tape)
}

/// The tape's promise: whatever it accepts, serde_json accepts too.
fn sure_means_serde_accepts(text: &str) -> bool {
    let accepted = scan(text).is_some();
    if accepted {
        assert!(
            serde_json::from_str::<serde_json::Value>(text).is_ok(),
            "tape accepted what serde_json refuses: {text:?}"
        );
    }
    accepted
}

#[test]
fn accepts_plain_json_and_records_every_value() {
    let text = r#" {"a":1,"b":[true,false,null,"x\"y",-2.5],"c":{},"d":[]} "#;
    let tape = scan(text).unwrap();
    let root = tape.node(0);
    assert_eq!(root.kind, Kind::Object);
    assert_eq!(&text[root.start as usize..root.end as usize], text.trim());
    let members: Vec<(String, Kind, &str)> = tape
        .members(0)
        .map(|(key, value)| {
            let key = tape.node(key);
            let node = tape.node(value);
            (
                text[key.start as usize + 1..key.end as usize - 1].to_owned(),
                node.kind,
                &text[node.start as usize..node.end as usize],
            )
        })
        .collect();
    assert_eq!(
        members,
        [
            ("a".to_owned(), Kind::Integer, "1"),
            (
                "b".to_owned(),
                Kind::Array,
                r#"[true,false,null,"x\"y",-2.5]"#
            ),
            ("c".to_owned(), Kind::Object, "{}"),
            ("d".to_owned(), Kind::Array, "[]"),
        ]
    );
    let b = tape.members(0).nth(1).unwrap().1;
    let kinds: Vec<Kind> = tape.children(b).map(|i| tape.node(i).kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::True,
            Kind::False,
            Kind::Null,
            Kind::EscapedString,
            Kind::Decimal
        ]
    );
}

#[test]
fn refuses_what_is_not_json() {
    for text in [
        "",
        "   ",
        "{",
        "}",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "[1,]",
        "[,1]",
        "{,}",
        "{\"a\":1 \"b\":2}",
        "{a:1}",
        "{'a':1}",
        "[1 2]",
        "[1}",
        "{\"a\":1]",
        "\"open",
        "\"tab\there\"",
        "\"nl\nhere\"",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\u12g4\"",
        "\"trailing\\\"",
        "01",
        "-",
        "-a",
        "1.",
        ".5",
        "+1",
        "1.e3",
        "tru",
        "nul",
        "True",
        "NaN",
        "1 2",
        "{} x",
        "{}}",
        "[]]",
        "\u{feff}{}",
        "{\"a\":1}\u{a0}",
    ] {
        assert!(!sure_means_serde_accepts(text), "accepted {text:?}");
    }
}

#[test]
fn leaves_to_serde_json_what_it_is_not_sure_of() {
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    assert!(scan(&deep(MAX_DEPTH)).is_some());
    assert!(scan(&format!("[{}1]", "1,".repeat(MAX_NODES - 2))).is_some());
    for text in [
        deep(MAX_DEPTH + 1),
        deep(10_000),
        // Surrogates: serde_json refuses lone ones where it keeps strings.
        r#""\ud83d\ude00""#.to_owned(),
        r#""\udc00""#.to_owned(),
        // Exponents and very long numbers may be out of f64's range.
        "1e5".to_owned(),
        "1E500".to_owned(),
        "-2.5e-3".to_owned(),
        "1".repeat(MAX_NUMBER_LEN),
        format!("[{}1]", "1,".repeat(MAX_NODES)),
    ] {
        assert!(scan(&text).is_none(), "{text:.80}");
    }
}

#[test]
fn escapes_and_utf8_are_read_as_serde_json_reads_them() {
    for text in [
        r#""\"\\\/\b\f\n\r\t""#,
        r#""\u0041\u00e9\u20ac\uFFFF\u0000""#,
        "\"caf\u{e9} \u{1f600} \u{7f}\"",
        r#"{"k\"ey":"v"}"#,
    ] {
        let tape = scan(text).unwrap_or_else(|| panic!("refused {text}"));
        let node = tape.node(0);
        assert_eq!(node.end as usize, text.len());
        serde_json::from_str::<serde_json::Value>(text).unwrap();
    }
    assert_eq!(scan(r#""abc""#).unwrap().node(0).kind, Kind::String);
    assert_eq!(scan(r#""a\nc""#).unwrap().node(0).kind, Kind::EscapedString);
}

#[test]
fn duplicate_keys_are_recorded_as_given() {
    let text = r#"{"a":1,"a":2}"#;
    let tape = scan(text).unwrap();
    let values: Vec<&str> = tape
        .members(0)
        .map(|(_, v)| {
            let node = tape.node(v);
            &text[node.start as usize..node.end as usize]
        })
        .collect();
    assert_eq!(values, ["1", "2"]);
}

#[test]
fn every_truncation_of_a_line_is_refused() {
    let line =
        r#"{"eventName":"x","args":[{"name":"a","value":{"k":[1,-2.5,null,true,"s\"t"]}}],"n":0}"#;
    assert!(scan(line).is_some());
    for end in 0..line.len() {
        // Only a prefix that is itself a whole value could pass: none is.
        assert!(!sure_means_serde_accepts(&line[..end]), "{}", &line[..end]);
    }
}

/// A small deterministic generator (xorshift), so no crate is needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random JSON-ish text: mostly valid, with Tracee's shapes and every
/// character class a scanner can trip on.
fn generate(rng: &mut Rng, depth: usize, out: &mut String) {
    const ATOMS: [&str; 22] = [
        "0",
        "-1",
        "12345678901234567890",
        "18446744073709551616",
        "-0",
        "3.25",
        "-0.5",
        "1e3",
        "true",
        "false",
        "null",
        "\"\"",
        "\"plain\"",
        r#""q\"uote""#,
        r#""\u00e9""#,
        r#""\ud800""#,
        "\"caf\u{e9}\"",
        "\"\u{1}\"",
        "\"\\\"",
        "01",
        "1.",
        "tru",
    ];
    match rng.below(if depth > 4 { 1 } else { 4 }) {
        0 => out.push_str(ATOMS[rng.below(ATOMS.len())]),
        1 => {
            out.push('[');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push_str([",", ", ", ",,"][rng.below(3)]);
                }
                generate(rng, depth + 1, out);
            }
            out.push_str(["]", "]", " ]", "}"][rng.below(4)]);
        }
        _ => {
            out.push('{');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                let key = ["\"name\"", "\"value\"", "\"k\\u0041\"", "\"a\"", "k"];
                out.push_str(key[rng.below(key.len())]);
                out.push_str([":", " : ", ""][rng.below(3)]);
                generate(rng, depth + 1, out);
            }
            out.push_str(["}", "}", "\t}", "]"][rng.below(4)]);
        }
    }
}

/// Differential: on generated texts the tape never accepts what serde_json
/// refuses, and refuses what serde_json accepts only for the reasons it
/// leaves to serde_json (exponents, surrogates, long numbers).
#[test]
fn agrees_with_serde_json_on_generated_texts() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let (mut accepted, mut both) = (0, 0);
    for _ in 0..50_000 {
        let mut text = String::new();
        generate(&mut rng, 0, &mut text);
        let sure = sure_means_serde_accepts(&text);
        let serde = serde_json::from_str::<serde_json::Value>(&text).is_ok();
        accepted += usize::from(sure);
        both += usize::from(serde);
        if serde && !sure {
            // Exponents are left to serde_json (lone surrogates it refuses).
            assert!(
                text.contains("1e3"),
                "refused what serde_json accepts: {text}"
            );
        }
    }
    // The generator must produce plenty of both.
    assert!(
        accepted > 5_000 && both - accepted < both,
        "{accepted} of {both}"
    );
}
