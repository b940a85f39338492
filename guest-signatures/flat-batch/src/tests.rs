//! The encoder and the decoder against each other, and the decoder against
//! buffers that do not follow the layout.

use super::*;
use alloc::string::{String, ToString};
use alloc::vec;

fn context(seed: u8) -> [u8; CONTEXT] {
    core::array::from_fn(|i| seed.wrapping_add(i as u8))
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Every item round-trips, in every event, with its selector and context.
#[test]
fn what_the_host_encodes_the_guest_reads_back() {
    let argv = owned(&["sh", "-c", "", "ünïcode"]);
    let empty: Vec<String> = Vec::new();
    let events: Vec<(u32, [u8; CONTEXT], Vec<Item<'_>>)> = vec![
        (
            3,
            context(1),
            vec![
                Item::None,
                Item::Boolean(true),
                Item::Signed(-7),
                Item::Unsigned(u64::MAX),
                Item::Float(1.5),
                Item::Text("nginx"),
                Item::TextList(&argv),
                Item::Json("{\"a\":1}"),
                Item::Text(""),
                Item::TextList(&empty),
            ],
        ),
        (0, context(9), vec![]),
        (
            1,
            context(200),
            vec![Item::Boolean(false), Item::Text("sh")],
        ),
    ];
    let mut buffer = vec![0xAA; 3]; // reused: cleared first
    encode(
        &mut buffer,
        events.iter().map(|(s, c, f)| (*s, *c, f.iter().cloned())),
    )
    .unwrap();
    let batch = Batch::new(&buffer).unwrap();
    assert_eq!(batch.len(), 3);
    for (index, (selector, context, fields)) in events.iter().enumerate() {
        let view = batch.event(index).unwrap();
        assert_eq!(view.selector(), *selector);
        assert_eq!(view.context(), context);
        assert_eq!(view.len(), fields.len());
        for (position, item) in fields.iter().enumerate() {
            let read = view.field(position).unwrap().unwrap();
            let expected = match item {
                Item::None => FieldRef::None,
                Item::Boolean(b) => FieldRef::Boolean(*b),
                Item::Signed(n) => FieldRef::Signed(*n),
                Item::Unsigned(n) => FieldRef::Unsigned(*n),
                Item::Float(f) => FieldRef::Float(*f),
                Item::Text(t) => FieldRef::Text(t),
                Item::Json(t) => FieldRef::Json(t),
                Item::TextList(list) => {
                    let FieldRef::TextList(texts) = read else {
                        panic!("{read:?} is not a list");
                    };
                    let back: Vec<&str> = texts.iter().map(Result::unwrap).collect();
                    assert_eq!(back, list.iter().map(String::as_str).collect::<Vec<_>>());
                    continue;
                }
            };
            assert_eq!(read, expected);
        }
        assert!(view.field(fields.len()).is_none());
    }
    assert_eq!(batch.event(3).unwrap_err(), Malformed::OutOfBounds);
    assert_eq!(
        batch.event(0).unwrap().context_u32(context::PID),
        u32::from_le_bytes([13, 14, 15, 16])
    );
}

#[test]
fn an_empty_batch_is_a_header() {
    let mut buffer = Vec::new();
    let none: [(u32, [u8; CONTEXT], core::iter::Empty<Item<'_>>); 0] = [];
    encode(&mut buffer, none.into_iter()).unwrap();
    assert_eq!(buffer.len(), HEADER);
    assert!(Batch::new(&buffer).unwrap().is_empty());
}

/// A one-event batch with one text field, and where its parts are.
fn one_text() -> Vec<u8> {
    let mut buffer = Vec::new();
    let fields = [Item::<String>::Text("bash"), Item::TextList(&[])];
    encode(
        &mut buffer,
        [(0, context(0), fields.iter().cloned())].into_iter(),
    )
    .unwrap();
    buffer
}

const SLOTS: usize = HEADER + EVENT;

fn set_u32(buffer: &mut [u8], at: usize, value: u32) {
    buffer[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn bad_headers_and_counts_are_refused() {
    assert_eq!(Batch::new(&[]).unwrap_err(), Malformed::Header);
    assert_eq!(Batch::new(b"SBF1").unwrap_err(), Malformed::Header);
    assert_eq!(Batch::new(b"XXXX\0\0\0\0").unwrap_err(), Malformed::Header);
    let mut buffer = one_text();
    for count in [2, u32::MAX] {
        set_u32(&mut buffer, 4, count);
        assert_eq!(Batch::new(&buffer).unwrap_err(), Malformed::OutOfBounds);
    }
}

#[test]
fn lengths_and_offsets_past_the_end_are_errors_not_panics() {
    let fresh = one_text();
    fn field(buffer: &[u8], index: usize) -> Result<FieldRef<'_>, Malformed> {
        Batch::new(buffer)
            .and_then(|b| b.event(0))
            .and_then(|e| e.field(index).unwrap())
    }
    assert_eq!(field(&fresh, 0), Ok(FieldRef::Text("bash")));

    // The event's slots: beyond the end, and a count that overflows.
    for (offset, value) in [
        (event::FIELDS, u32::MAX),
        (event::FIELD_COUNT, u32::MAX),
        (event::FIELD_COUNT, 1_000),
    ] {
        let mut buffer = fresh.clone();
        set_u32(&mut buffer, HEADER + offset, value);
        let batch = Batch::new(&buffer).unwrap();
        assert_eq!(batch.event(0).unwrap_err(), Malformed::OutOfBounds);
    }

    // A text's offset and length: past the end, and wrapping around.
    for (at, value) in [(8, u32::MAX), (12, u32::MAX), (12, 1_000), (8, 0xFFFF_FFF0)] {
        let mut buffer = fresh.clone();
        set_u32(&mut buffer, SLOTS + at, value);
        assert_eq!(
            field(&buffer, 0),
            Err(Malformed::OutOfBounds),
            "{at} {value}"
        );
    }

    // A list whose pairs run past the end, or whose strings do.
    let mut buffer = fresh.clone();
    set_u32(&mut buffer, SLOTS + SLOT + 12, u32::MAX);
    assert_eq!(field(&buffer, 1), Err(Malformed::OutOfBounds));
    let mut buffer = fresh.clone();
    set_u32(&mut buffer, SLOTS + SLOT + 12, 1);
    set_u32(&mut buffer, SLOTS + SLOT + 8, 0); // the pair is the header's bytes
    let Ok(FieldRef::TextList(texts)) = field(&buffer, 1) else {
        panic!("a list of one");
    };
    // (MAGIC, count=1): offset 0x31464253, far past the end.
    assert_eq!(texts.get(0), Some(Err(Malformed::OutOfBounds)));
    assert_eq!(texts.get(1), None);

    // An unknown tag, and bytes that are not UTF-8.
    let mut buffer = fresh.clone();
    buffer[SLOTS] = 8;
    assert_eq!(field(&buffer, 0), Err(Malformed::Tag(8)));
    let mut buffer = fresh.clone();
    let text_at = buffer.len() - 4;
    buffer[text_at] = 0xFF;
    assert_eq!(field(&buffer, 0), Err(Malformed::Utf8));

    // Every truncation of a valid buffer: errors or values, never a panic.
    for length in 0..fresh.len() {
        let cut = &fresh[..length];
        if let Ok(batch) = Batch::new(cut)
            && let Ok(view) = batch.event(0)
        {
            for index in 0..view.len() {
                let _ = view.field(index);
            }
        }
    }
}
