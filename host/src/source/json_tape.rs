//! One validating pass over a JSON text that records every value's place
//! (a flat "tape"), so replay reads a Tracee line's members without
//! scanning it again, whether it only checks the line or builds its event.
//!
//! The scan is *sure or silent*: it accepts a text only when serde_json
//! would read it alike, and refuses whatever it is not sure of, leaving the
//! caller to ask serde_json (which then words the refusal as before). So it
//! refuses, besides what is not JSON:
//! - nesting deeper than [`MAX_DEPTH`] (serde_json's limit is 128 levels
//!   for typed values and none for ignored ones);
//! - `\u` escapes of surrogates (serde_json refuses lone ones in strings
//!   it keeps and accepts them in strings it ignores);
//! - numbers with an exponent or of [`MAX_NUMBER_LEN`] characters or more
//!   (serde_json refuses those out of `f64`'s range where it types them);
//! - texts of more than [`MAX_NODES`] values.
//!
//! Duplicate keys are recorded as given, in order: what they mean is the
//! reader's call (serde_json's derived structs refuse a known field twice,
//! its maps keep the last value at the first key's place).

/// Deepest nesting of arrays and objects the scan accepts.
pub(crate) const MAX_DEPTH: usize = 64;

/// Numbers this long or longer are left to serde_json (range checks).
pub(crate) const MAX_NUMBER_LEN: usize = 300;

/// Values a tape holds at most (a Tracee line has a few hundred): a huge
/// line is left to serde_json rather than grow a thread's tape to many
/// times its size (16 bytes per value, as short as two bytes of text).
pub(crate) const MAX_NODES: usize = 1 << 16;

/// A value's JSON type, as far as readers need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    /// A string with no backslash: its text is the bytes between quotes.
    String,
    /// A string with escapes (valid ones), to be decoded.
    EscapedString,
    /// Digits with an optional minus sign: no fraction, no exponent.
    Integer,
    /// A number with a fraction.
    Decimal,
    True,
    False,
    Null,
}

/// One value on the tape.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    /// The value's text in the scanned bytes, quotes and brackets included.
    pub start: u32,
    pub end: u32,
    /// The tape index after this value's own nodes: its next sibling's.
    pub next: u32,
}

/// The nodes of one scanned text, in text order: a container is followed
/// by its children (an object's alternate key and value).
#[derive(Default)]
pub(crate) struct Tape {
    nodes: Vec<Node>,
    open: Vec<usize>,
}

impl Tape {
    /// Scans `text` as one JSON value between optional whitespace. `false`
    /// when it is not JSON or the scan is not sure (see the module). A
    /// `str`, because the scan does not check UTF-8 (replay checks each
    /// line once, before anything reads it).
    pub(crate) fn scan(&mut self, text: &str) -> bool {
        self.nodes.clear();
        self.open.clear();
        // Offsets are u32: longer texts are left to serde_json.
        text.len() < u32::MAX as usize && self.scan_value(text.as_bytes()).is_some()
    }

    /// The node at `index`.
    pub(crate) fn node(&self, index: usize) -> Node {
        self.nodes[index]
    }

    /// The children of the container at `index`, as tape indices (an
    /// object's keys and values alternate).
    pub(crate) fn children(&self, index: usize) -> Children<'_> {
        Children {
            tape: self,
            at: index + 1,
            end: self.nodes[index].next as usize,
        }
    }

    /// An object's members, as (key, value) tape indices.
    pub(crate) fn members(&self, index: usize) -> Members<'_> {
        Members(self.children(index))
    }

    fn push(&mut self, kind: Kind, start: usize, end: usize) {
        let next = self.nodes.len() as u32 + 1;
        self.nodes.push(Node {
            kind,
            start: start as u32,
            end: end as u32,
            next,
        });
    }

    fn scan_value(&mut self, b: &[u8]) -> Option<()> {
        let mut i = 0;
        'value: loop {
            if self.nodes.len() >= MAX_NODES {
                return None;
            }
            i = skip_whitespace(b, i);
            let start = i;
            match *b.get(i)? {
                open @ (b'{' | b'[') => {
                    if self.open.len() == MAX_DEPTH {
                        return None;
                    }
                    let kind = if open == b'{' {
                        Kind::Object
                    } else {
                        Kind::Array
                    };
                    self.open.push(self.nodes.len());
                    self.push(kind, start, start);
                    i = skip_whitespace(b, i + 1);
                    let close = if open == b'{' { b'}' } else { b']' };
                    if *b.get(i)? == close {
                        i += 1;
                        self.close(i);
                    } else {
                        if open == b'{' {
                            i = self.key(b, i)?;
                        }
                        continue 'value;
                    }
                }
                b'"' => {
                    let (end, escaped) = string_end(b, i)?;
                    let kind = if escaped {
                        Kind::EscapedString
                    } else {
                        Kind::String
                    };
                    self.push(kind, start, end);
                    i = end;
                }
                b'-' | b'0'..=b'9' => {
                    let (end, kind) = number_end(b, i)?;
                    self.push(kind, start, end);
                    i = end;
                }
                b't' => i = self.literal(b, i, b"true", Kind::True)?,
                b'f' => i = self.literal(b, i, b"false", Kind::False)?,
                b'n' => i = self.literal(b, i, b"null", Kind::Null)?,
                _ => return None,
            }
            // After a complete value: a comma, a closing bracket, or the end.
            loop {
                i = skip_whitespace(b, i);
                let Some(&open) = self.open.last() else {
                    return (i == b.len()).then_some(());
                };
                let in_object = self.nodes[open].kind == Kind::Object;
                match *b.get(i)? {
                    b',' => {
                        i += 1;
                        if in_object {
                            i = self.key(b, skip_whitespace(b, i))?;
                        }
                        continue 'value;
                    }
                    b'}' if in_object => {}
                    b']' if !in_object => {}
                    _ => return None,
                }
                i += 1;
                self.close(i);
            }
        }
    }

    /// Ends the innermost open container at `end`.
    fn close(&mut self, end: usize) {
        let open = self.open.pop().expect("a container is open");
        let next = self.nodes.len() as u32;
        let node = &mut self.nodes[open];
        node.end = end as u32;
        node.next = next;
    }

    /// A member's key at `i` and its colon; returns where the value starts.
    fn key(&mut self, b: &[u8], i: usize) -> Option<usize> {
        if *b.get(i)? != b'"' {
            return None;
        }
        let (end, escaped) = string_end(b, i)?;
        let kind = if escaped {
            Kind::EscapedString
        } else {
            Kind::String
        };
        self.push(kind, i, end);
        let colon = skip_whitespace(b, end);
        (*b.get(colon)? == b':').then_some(colon + 1)
    }

    fn literal(&mut self, b: &[u8], i: usize, word: &[u8], kind: Kind) -> Option<usize> {
        let end = i + word.len();
        (b.get(i..end)? == word).then(|| {
            self.push(kind, i, end);
            end
        })
    }
}

/// The children of a container.
pub(crate) struct Children<'t> {
    tape: &'t Tape,
    at: usize,
    end: usize,
}

impl Iterator for Children<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        (self.at < self.end).then(|| {
            let index = self.at;
            self.at = self.tape.nodes[index].next as usize;
            index
        })
    }
}

/// An object's (key, value) pairs.
pub(crate) struct Members<'t>(Children<'t>);

impl Iterator for Members<'_> {
    type Item = (usize, usize);
    fn next(&mut self) -> Option<(usize, usize)> {
        Some((self.0.next()?, self.0.next()?))
    }
}

/// JSON's whitespace, as serde_json skips it.
fn skip_whitespace(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The end (after the closing quote) of the string whose opening quote is
/// at `i`, and whether it has escapes. `None` on a control character, a
/// bad or surrogate escape, or no closing quote.
fn string_end(b: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut i = i + 1;
    let mut escaped = false;
    loop {
        i += to_quote_backslash_or_control(&b[i.min(b.len())..]);
        match *b.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                match *b.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        let hex = std::str::from_utf8(b.get(i + 2..i + 6)?).ok()?;
                        if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                            return None;
                        }
                        let unit = u16::from_str_radix(hex, 16).ok()?;
                        if (0xD800..=0xDFFF).contains(&unit) {
                            return None;
                        }
                        i += 6;
                    }
                    _ => return None,
                }
            }
            _ => return None, // a control character
        }
    }
}

/// How many bytes of `rest` come before the first `"`, `\\` or control
/// character (all of `rest` when none).
fn to_quote_backslash_or_control(rest: &[u8]) -> usize {
    // SAFETY: every x86_64 processor has SSE2 (the target enables it).
    #[cfg(target_arch = "x86_64")]
    let at = unsafe { sixteen_at_a_time(rest) };
    #[cfg(not(target_arch = "x86_64"))]
    let at = 0;
    at + rest[at..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .unwrap_or(rest.len() - at)
}

/// [`to_quote_backslash_or_control`] sixteen bytes per step with SSE2
/// (part of every x86_64); stops at the first block holding a stop or at
/// the last whole block, and returns where it stopped.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn sixteen_at_a_time(rest: &[u8]) -> usize {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let (quote, backslash) = (_mm_set1_epi8(b'"' as i8), _mm_set1_epi8(b'\\' as i8));
    let below_space = _mm_set1_epi8(0x1f);
    let mut at = 0;
    while at + 16 <= rest.len() {
        // SAFETY: the 16 bytes read, from `at`, are within `rest` (checked
        // above); the load has no alignment requirement.
        let block = unsafe { _mm_loadu_si128(rest.as_ptr().add(at).cast()) };
        // A control character is one that min(c, 0x1f) leaves as it is.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(block, below_space), block);
        let stops = _mm_or_si128(
            _mm_or_si128(
                _mm_cmpeq_epi8(block, quote),
                _mm_cmpeq_epi8(block, backslash),
            ),
            control,
        );
        let mask = _mm_movemask_epi8(stops) as u32;
        if mask != 0 {
            return at + mask.trailing_zeros() as usize;
        }
        at += 16;
    }
    at
}

/// The end of the number starting at `i`, by JSON's grammar, and whether
/// it is an integer; `None` when it breaks the grammar or is one serde_json
/// may find out of range (an exponent, or very long).
fn number_end(b: &[u8], i: usize) -> Option<(usize, Kind)> {
    let digits = |mut j: usize| {
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        j
    };
    let mut j = i + usize::from(b[i] == b'-');
    match *b.get(j)? {
        b'0' => j += 1,
        b'1'..=b'9' => j = digits(j + 1),
        _ => return None,
    }
    let mut kind = Kind::Integer;
    if b.get(j) == Some(&b'.') {
        let end = digits(j + 1);
        if end == j + 1 {
            return None;
        }
        j = end;
        kind = Kind::Decimal;
    }
    // An exponent, or a digit after a leading zero, is left to serde_json.
    if matches!(b.get(j), Some(b'e' | b'E' | b'0'..=b'9')) || j - i >= MAX_NUMBER_LEN {
        return None;
    }
    Some((j, kind))
}

#[cfg(test)]
mod tests;
