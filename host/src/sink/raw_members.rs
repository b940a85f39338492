//! The top-level members of a Tracee line the replay parser already
//! accepted, split without parsing it again: keys borrowed (decoded only
//! when escaped), values as written. A finding copies its event's context
//! from them; re-parsing the line with serde_json cost about as much as
//! parsing it the first time.
//!
//! The split trusts the line to be valid JSON (the parser said so) and
//! only finds where members begin and end: strings are skipped with
//! `memchr`, containers by counting brackets outside strings. It still
//! refuses (returns `None`) anything whose top level is not an object of
//! `"key": value` members, so the caller can fall back to serde_json.

use std::borrow::Cow;

/// Members in their order; a repeated key keeps its first place and takes
/// its last value, as an `IndexMap` does.
pub(crate) type Split<'a> = Vec<(Cow<'a, str>, &'a str)>;

/// Splits `raw` (a JSON object the parser accepted, no control
/// characters) into its members, or `None` where it is not that.
pub(crate) fn split(raw: &str) -> Option<Split<'_>> {
    let bytes = raw.as_bytes();
    let mut at = skip_spaces(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    at = skip_spaces(bytes, at + 1);
    let mut members: Split<'_> = Vec::with_capacity(32);
    let mut keys_seen = 0u64;
    if bytes.get(at) == Some(&b'}') {
        at += 1;
    } else {
        loop {
            if bytes.get(at) != Some(&b'"') {
                return None;
            }
            let key_end = string_end(bytes, at)?;
            let key = key(raw, at, key_end)?;
            at = skip_spaces(bytes, key_end);
            if bytes.get(at) != Some(&b':') {
                return None;
            }
            let start = skip_spaces(bytes, at + 1);
            let end = value_end(bytes, start)?;
            let value = raw.get(start..end)?;
            // Keys are searched for a repeat only when one with the same
            // length and ends was seen (a line's keys are all different,
            // and a search per key made the split quadratic).
            let seen = key_bit(&key);
            match (keys_seen & seen != 0)
                .then(|| members.iter_mut().find(|(k, _)| *k == key))
                .flatten()
            {
                Some(member) => member.1 = value,
                None => members.push((key, value)),
            }
            keys_seen |= seen;
            at = skip_spaces(bytes, end);
            match bytes.get(at) {
                Some(b',') => at = skip_spaces(bytes, at + 1),
                Some(b'}') => {
                    at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_spaces(bytes, at) == bytes.len()).then_some(members)
}

/// One of 64 bits for `key`, from its length and its first and last
/// bytes: equal keys share it.
fn key_bit(key: &str) -> u64 {
    let bytes = key.as_bytes();
    let (first, last) = (bytes.first().copied(), bytes.last().copied());
    let mix =
        bytes.len() as u32 * 31 + u32::from(first.unwrap_or(0)) * 7 + u32::from(last.unwrap_or(0));
    1 << (mix % 64)
}

/// A key from its quoted text `raw[open..end]`: borrowed unless escaped.
fn key(raw: &str, open: usize, end: usize) -> Option<Cow<'_, str>> {
    let inner = raw.get(open + 1..end - 1)?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(raw.get(open..end)?)
            .ok()
            .map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// The end (one past the closing quote) of the string opening at `open`.
fn string_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut at = open + 1;
    loop {
        at += memchr::memchr2(b'"', b'\\', bytes.get(at..)?)?;
        if bytes[at] == b'"' {
            return Some(at + 1);
        }
        // An escape: the next byte is escaped, whatever it is.
        at += 2;
    }
}

/// The end of the value starting at `start`.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => string_end(bytes, start),
        b'{' | b'[' => container_end(bytes, start),
        // A number, `true`, `false` or `null`.
        _ => {
            let len = bytes[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' '))
                .unwrap_or(bytes.len() - start);
            (len > 0).then_some(start + len)
        }
    }
}

/// The end of the array or object opening at `start`: brackets counted
/// outside strings. Sixteen bytes at a time: each block's quotes,
/// backslashes and brackets as a bit mask, taken in order with the walk's
/// state (in a string or not; a backslash's next byte skipped), so a
/// string costs no call of its own (the args of an exec line hold
/// hundreds).
fn container_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    // Bytes before `at` are already taken (or escaped).
    let mut at = start;
    let mut base = start;
    while base < bytes.len() {
        let block = &bytes[base..bytes.len().min(base + 16)];
        let mut mask = stops(block);
        while mask != 0 {
            let i = base + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if i < at {
                continue;
            }
            at = i + 1;
            match (in_string, bytes[i]) {
                (_, b'"') => in_string = !in_string,
                (true, b'\\') => at = i + 2,
                (true, _) | (false, b'\\') => {}
                (false, b'{' | b'[') => depth += 1,
                (false, _) => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
            }
        }
        base += 16;
    }
    None
}

/// Where `block` (at most sixteen bytes) holds `"`, `\` or a bracket: bit
/// i for byte i.
fn stops(block: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if let Ok(block) = <&[u8; 16]>::try_from(block) {
        // SAFETY: every x86_64 processor has SSE2 (the target enables it).
        return unsafe { stops_sse2(block) };
    }
    block
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c, b'"' | b'\\' | b'{' | b'}' | b'[' | b']'))
        .fold(0, |mask, (i, _)| mask | 1 << i)
}

/// [`stops`] of a whole block with SSE2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn stops_sse2(block: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: the 16 bytes read are the array's; the load has no alignment
    // requirement.
    let block = unsafe { _mm_loadu_si128(block.as_ptr().cast()) };
    // `[` and `]` are `{` and `}` without the 0x20 bit.
    let folded = _mm_or_si128(block, _mm_set1_epi8(0x20));
    let stops = _mm_or_si128(
        _mm_or_si128(
            _mm_cmpeq_epi8(block, _mm_set1_epi8(b'"' as i8)),
            _mm_cmpeq_epi8(block, _mm_set1_epi8(b'\\' as i8)),
        ),
        _mm_or_si128(
            _mm_cmpeq_epi8(folded, _mm_set1_epi8(b'{' as i8)),
            _mm_cmpeq_epi8(folded, _mm_set1_epi8(b'}' as i8)),
        ),
    );
    _mm_movemask_epi8(stops) as u32
}

fn skip_spaces(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at) == Some(&b' ') {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    /// What serde_json makes of the same line: owned keys in an `IndexMap`
    /// (first place, last value) and raw values.
    fn by_serde(line: &str) -> Vec<(String, String)> {
        let map: indexmap::IndexMap<String, &RawValue> = serde_json::from_str(line).unwrap();
        map.into_iter()
            .map(|(k, v)| (k, v.get().to_owned()))
            .collect()
    }

    fn by_split(line: &str) -> Vec<(String, String)> {
        split(line)
            .unwrap_or_else(|| panic!("refused {line}"))
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.to_owned()))
            .collect()
    }

    /// Every fixture line and odd but valid shapes split as serde_json
    /// reads them.
    #[test]
    fn splits_as_serde_json_reads() {
        let mut lines: Vec<String> = crate::source::TRACEE_FIXTURES
            .iter()
            .flat_map(|f| f.lines())
            .map(|l| l.trim().to_owned())
            .filter(|l| crate::source::parse_event(l).is_ok())
            .collect();
        assert!(lines.len() > 85, "{}", lines.len());
        lines.extend(
            [
                r#"{}"#,
                r#"  { }  "#,
                r#"{ "a" : 1 , "b" :[ 1, {"c":"]}\"\\"} ] ,"d":{"e":[]} } "#,
                r#"{"a":-1.5e3,"b":true,"c":null,"d":"x\u0041\\","a":"last"}"#,
                r#"{"k\u0041":1,"kA":2,"\"q\"":[[[]]],"e":"\\\\"}"#,
                r#"{"eventName":"x","args":[{"name":"a","value":{"k":[1,-2.5,null,true]}}]}"#,
                // Brackets and quotes in strings, across sixteen-byte steps.
                r#"{"args":[{"name":"argv","value":["sh","-c","echo ]}]} \"[{\" \\","0123456789abcdef{"]},{"x":{}}],"b":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}"#,
                // Keys of the same length and ends, repeated or not.
                r#"{"ab":1,"ab":2,"aab":3,"acb":4,"ab":5,"acb":[6]}"#,
            ]
            .map(str::to_owned),
        );
        // Escapes and brackets at every place of a sixteen-byte block.
        for pad in 0..40 {
            let x = "x".repeat(pad);
            lines.push(format!(
                r#"{{"a":["{x}\"]\\",[{{"{x}":"\\\\"}}],"]"],"b":{{"{x}":[]}}}}"#
            ));
            lines.push(format!(r#"{{"{x}":[{x:?},"\"","[",{{}}],"z":1}}"#));
        }
        for line in &lines {
            assert_eq!(by_split(line), by_serde(line), "{line}");
        }
    }

    /// What is not an object of members is refused, never misread.
    #[test]
    fn refuses_what_is_no_object() {
        for line in [
            "",
            "[1]",
            "1",
            r#""s""#,
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":1,}"#,
            r#"{a:1}"#,
            r#"{"a":1} x"#,
            r#"{"a":[1}"#,
            r#"{"a":"open}"#,
        ] {
            assert!(split(line).is_none(), "{line}");
        }
    }
}
