//! The flat batch of the sigbox contract (`wit/signature.wit`, interface
//! `flat-detector`): a batch of events as one byte buffer, so it crosses
//! into the sandbox with one allocation and one copy. The host encodes
//! ([`encode`]); the guest SDK reads it in place ([`Batch`]), checking every
//! offset and length: a buffer that does not follow the layout gives
//! errors, never a panic or a read out of bounds.
//!
//! Layout (little-endian, offsets from the buffer's start, as the WIT says):
//! a header (magic, event count), one 80-byte record per event (the
//! context's 64 canonical-ABI bytes, selector, field slots' offset, field
//! count, reserved), 16-byte field slots (tag, payload), then the bytes of
//! strings and the (offset, length) pairs of text lists.

#![no_std]
#![deny(missing_docs)]

extern crate alloc;

use alloc::vec::Vec;

/// The header's first four bytes: `SBF1`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"SBF1");
/// Header size: magic, count.
pub const HEADER: usize = 8;
/// Size of one event record.
pub const EVENT: usize = 80;
/// Size of one field slot.
pub const SLOT: usize = 16;
/// Size of the context at the start of an event record.
pub const CONTEXT: usize = 64;

/// Byte offsets within an event record.
pub mod event {
    /// The selector that accepted the event.
    pub const SELECTOR: usize = 64;
    /// The offset of its field slots.
    pub const FIELDS: usize = 68;
    /// The number of its field slots.
    pub const FIELD_COUNT: usize = 72;
}

/// Byte offsets of the context's fields: the canonical ABI's layout of the
/// WIT `context` record (each field at the next multiple of its alignment).
pub mod context {
    /// `timestamp-ns`, u64.
    pub const TIMESTAMP_NS: usize = 0;
    /// `origin`, u8: 0 host, 1 container, 2 container-init.
    pub const ORIGIN: usize = 8;
    /// `pid`, u32.
    pub const PID: usize = 12;
    /// `tid`, u32.
    pub const TID: usize = 16;
    /// `ppid`, u32.
    pub const PPID: usize = 20;
    /// `host-pid`, u32.
    pub const HOST_PID: usize = 24;
    /// `host-tid`, u32.
    pub const HOST_TID: usize = 28;
    /// `host-ppid`, u32.
    pub const HOST_PPID: usize = 32;
    /// `uid`, u32.
    pub const UID: usize = 36;
    /// `mount-ns`, u32.
    pub const MOUNT_NS: usize = 40;
    /// `pid-ns`, u32.
    pub const PID_NS: usize = 44;
    /// `cgroup-id`, u64.
    pub const CGROUP_ID: usize = 48;
    /// `return-value`, s64.
    pub const RETURN_VALUE: usize = 56;
}

/// The tags of field slots: the WIT `value`'s cases, in order.
pub mod tag {
    /// `none`.
    pub const NONE: u8 = 0;
    /// `boolean`.
    pub const BOOLEAN: u8 = 1;
    /// `signed`.
    pub const SIGNED: u8 = 2;
    /// `unsigned`.
    pub const UNSIGNED: u8 = 3;
    /// `float`.
    pub const FLOAT: u8 = 4;
    /// `text`.
    pub const TEXT: u8 = 5;
    /// `text-list`.
    pub const TEXT_LIST: u8 = 6;
    /// `json`.
    pub const JSON: u8 = 7;
}

/// A field value as the host hands it to [`encode`].
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a, S: AsRef<str> = alloc::string::String> {
    /// No value.
    None,
    /// A boolean.
    Boolean(bool),
    /// A signed integer.
    Signed(i64),
    /// An unsigned integer.
    Unsigned(u64),
    /// A float.
    Float(f64),
    /// A string.
    Text(&'a str),
    /// A list of strings.
    TextList(&'a [S]),
    /// JSON text.
    Json(&'a str),
}

/// The batch did not fit the layout's 32-bit offsets (4 GiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

/// Encodes `events` into `out` (cleared first; its allocation is reused).
///
/// # Errors
/// The batch is larger than 4 GiB ([`TooLarge`]); `out` is then left
/// holding a partial batch.
pub fn encode<'a, S, I, E>(out: &mut Vec<u8>, events: E) -> Result<(), TooLarge>
where
    S: AsRef<str> + 'a,
    I: ExactSizeIterator<Item = Item<'a, S>>,
    E: ExactSizeIterator<Item = (u32, [u8; CONTEXT], I)>,
{
    out.clear();
    let count = events.len();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&u32_of(count)?.to_le_bytes());
    out.resize(HEADER + count * EVENT, 0);
    for (index, (selector, context, fields)) in events.enumerate() {
        let record = HEADER + index * EVENT;
        let slots = out.len();
        let field_count = fields.len();
        out[record..record + CONTEXT].copy_from_slice(&context);
        put_u32(out, record + event::SELECTOR, selector);
        put_u32(out, record + event::FIELDS, u32_of(slots)?);
        put_u32(out, record + event::FIELD_COUNT, u32_of(field_count)?);
        out.resize(slots + field_count * SLOT, 0);
        for (position, item) in fields.enumerate() {
            let slot = slots + position * SLOT;
            let (tag, payload) = match item {
                Item::None => (tag::NONE, 0),
                Item::Boolean(b) => (tag::BOOLEAN, u64::from(b)),
                Item::Signed(n) => (tag::SIGNED, n as u64),
                Item::Unsigned(n) => (tag::UNSIGNED, n),
                Item::Float(f) => (tag::FLOAT, f.to_bits()),
                Item::Text(text) => (tag::TEXT, append(out, text.as_bytes())?),
                Item::Json(text) => (tag::JSON, append(out, text.as_bytes())?),
                Item::TextList(list) => (tag::TEXT_LIST, append_list(out, list)?),
            };
            out[slot] = tag;
            out[slot + 8..slot + 16].copy_from_slice(&payload.to_le_bytes());
        }
    }
    u32_of(out.len()).map(|_| ())
}

fn u32_of(n: usize) -> Result<u32, TooLarge> {
    u32::try_from(n).map_err(|_| TooLarge)
}

fn put_u32(out: &mut [u8], at: usize, value: u32) {
    out[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Appends `bytes`; the payload (offset, length) naming them.
fn append(out: &mut Vec<u8>, bytes: &[u8]) -> Result<u64, TooLarge> {
    let offset = u32_of(out.len())?;
    out.extend_from_slice(bytes);
    Ok(pair(offset, u32_of(bytes.len())?))
}

/// Appends a list's (offset, length) pairs, then its strings; the payload
/// (offset of the pairs, count).
fn append_list<S: AsRef<str>>(out: &mut Vec<u8>, list: &[S]) -> Result<u64, TooLarge> {
    let pairs = out.len();
    out.resize(pairs + list.len() * 8, 0);
    for (index, text) in list.iter().enumerate() {
        let payload = append(out, text.as_ref().as_bytes())?;
        out[pairs + index * 8..pairs + index * 8 + 8].copy_from_slice(&payload.to_le_bytes());
    }
    Ok(pair(u32_of(pairs)?, u32_of(list.len())?))
}

fn pair(low: u32, high: u32) -> u64 {
    u64::from(low) | (u64::from(high) << 32)
}

/// What is wrong with a buffer that does not follow the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Too short for its header, or the magic is not `SBF1`.
    Header,
    /// An event record, field slot, string or list lies (partly) outside
    /// the buffer.
    OutOfBounds,
    /// A field slot's tag is not one of [`tag`]'s.
    Tag(u8),
    /// A string's bytes are not UTF-8.
    Utf8,
}

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Header => f.write_str("malformed flat batch: bad header"),
            Self::OutOfBounds => f.write_str("malformed flat batch: a length runs past its end"),
            Self::Tag(tag) => write!(f, "malformed flat batch: unknown value tag {tag}"),
            Self::Utf8 => f.write_str("malformed flat batch: a string is not UTF-8"),
        }
    }
}

/// A flat batch, read in place.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> Batch<'a> {
    /// Checks the header and that every event record lies in `bytes`.
    ///
    /// # Errors
    /// [`Malformed::Header`], or [`Malformed::OutOfBounds`] when the
    /// records do not fit.
    pub fn new(bytes: &'a [u8]) -> Result<Self, Malformed> {
        if read_u32(bytes, 0) != Some(MAGIC) {
            return Err(Malformed::Header);
        }
        let count = read_u32(bytes, 4).ok_or(Malformed::Header)? as usize;
        let end = count
            .checked_mul(EVENT)
            .and_then(|n| n.checked_add(HEADER))
            .ok_or(Malformed::OutOfBounds)?;
        if end > bytes.len() {
            return Err(Malformed::OutOfBounds);
        }
        Ok(Self { bytes, count })
    }

    /// The number of events (as the header says; every record is in bounds).
    #[inline]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether it holds no event.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The event at `index`.
    ///
    /// # Errors
    /// [`Malformed::OutOfBounds`] for an index past the batch or field
    /// slots outside the buffer.
    #[inline]
    pub fn event(&self, index: usize) -> Result<EventView<'a>, Malformed> {
        if index >= self.count {
            return Err(Malformed::OutOfBounds);
        }
        let record = HEADER + index * EVENT;
        let bytes = self.bytes;
        let at = |offset| read_u32(bytes, record + offset).ok_or(Malformed::OutOfBounds);
        let slots = at(event::FIELDS)? as usize;
        let count = at(event::FIELD_COUNT)? as usize;
        let end = count
            .checked_mul(SLOT)
            .and_then(|n| n.checked_add(slots))
            .ok_or(Malformed::OutOfBounds)?;
        if end > bytes.len() {
            return Err(Malformed::OutOfBounds);
        }
        Ok(EventView {
            bytes,
            record,
            selector: at(event::SELECTOR)?,
            slots,
            count,
        })
    }
}

/// One event of a [`Batch`].
#[derive(Debug, Clone, Copy)]
pub struct EventView<'a> {
    bytes: &'a [u8],
    record: usize,
    selector: u32,
    slots: usize,
    count: usize,
}

impl<'a> EventView<'a> {
    /// The selector that accepted it.
    #[inline]
    pub fn selector(&self) -> u32 {
        self.selector
    }

    /// The context's 64 bytes (see [`context`]).
    #[inline]
    pub fn context(&self) -> &'a [u8; CONTEXT] {
        self.bytes[self.record..self.record + CONTEXT]
            .try_into()
            .expect("checked by Batch::new")
    }

    /// A u32 of the context at `offset` (one of [`context`]'s).
    #[inline]
    pub fn context_u32(&self, offset: usize) -> u32 {
        let c = self.context();
        u32::from_le_bytes([c[offset], c[offset + 1], c[offset + 2], c[offset + 3]])
    }

    /// A u64 of the context at `offset` (one of [`context`]'s).
    #[inline]
    pub fn context_u64(&self, offset: usize) -> u64 {
        let mut eight = [0; 8];
        eight.copy_from_slice(&self.context()[offset..offset + 8]);
        u64::from_le_bytes(eight)
    }

    /// The number of its fields.
    #[inline]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether it has no field.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Its field at `index`, borrowed from the buffer; `None` past its
    /// fields.
    ///
    /// # Errors
    /// The slot's tag is unknown, or its string or list lies outside the
    /// buffer or is not UTF-8.
    #[inline]
    pub fn field(&self, index: usize) -> Option<Result<FieldRef<'a>, Malformed>> {
        (index < self.count).then(|| self.read_slot(self.slots + index * SLOT))
    }

    #[inline]
    fn read_slot(&self, slot: usize) -> Result<FieldRef<'a>, Malformed> {
        let bytes = self.bytes;
        let payload = read_u64(bytes, slot + 8).ok_or(Malformed::OutOfBounds)?;
        let (low, high) = (payload as u32 as usize, (payload >> 32) as usize);
        Ok(match bytes[slot] {
            tag::NONE => FieldRef::None,
            tag::BOOLEAN => FieldRef::Boolean(payload != 0),
            tag::SIGNED => FieldRef::Signed(payload as i64),
            tag::UNSIGNED => FieldRef::Unsigned(payload),
            tag::FLOAT => FieldRef::Float(f64::from_bits(payload)),
            tag::TEXT => FieldRef::Text(text(bytes, low, high)?),
            tag::JSON => FieldRef::Json(text(bytes, low, high)?),
            tag::TEXT_LIST => {
                let end = high
                    .checked_mul(8)
                    .and_then(|n| n.checked_add(low))
                    .ok_or(Malformed::OutOfBounds)?;
                let pairs = bytes.get(low..end).ok_or(Malformed::OutOfBounds)?;
                FieldRef::TextList(Texts { bytes, pairs })
            }
            other => return Err(Malformed::Tag(other)),
        })
    }
}

/// A field value read from a [`Batch`], its strings borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldRef<'a> {
    /// No value.
    None,
    /// A boolean.
    Boolean(bool),
    /// A signed integer.
    Signed(i64),
    /// An unsigned integer.
    Unsigned(u64),
    /// A float.
    Float(f64),
    /// A string.
    Text(&'a str),
    /// A list of strings.
    TextList(Texts<'a>),
    /// JSON text.
    Json(&'a str),
}

/// A list of strings in a [`Batch`]; each string is checked when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Texts<'a> {
    bytes: &'a [u8],
    /// (offset, length) pairs, 8 bytes each, in bounds.
    pairs: &'a [u8],
}

impl<'a> Texts<'a> {
    /// The number of strings.
    pub fn len(&self) -> usize {
        self.pairs.len() / 8
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The string at `index`; `None` past the end.
    ///
    /// # Errors
    /// Out of the buffer, or not UTF-8.
    pub fn get(&self, index: usize) -> Option<Result<&'a str, Malformed>> {
        let pair = read_u64(self.pairs, index.checked_mul(8)?)?;
        Some(text(
            self.bytes,
            pair as u32 as usize,
            (pair >> 32) as usize,
        ))
    }

    /// The strings, in order.
    pub fn iter(&self) -> impl Iterator<Item = Result<&'a str, Malformed>> + 'a {
        let this = *self;
        (0..this.len()).filter_map(move |index| this.get(index))
    }
}

#[inline]
fn text(bytes: &[u8], offset: usize, length: usize) -> Result<&str, Malformed> {
    let end = offset.checked_add(length).ok_or(Malformed::OutOfBounds)?;
    let slice = bytes.get(offset..end).ok_or(Malformed::OutOfBounds)?;
    core::str::from_utf8(slice).map_err(|_| Malformed::Utf8)
}

#[inline]
fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let four = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([four[0], four[1], four[2], four[3]]))
}

#[inline]
fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let mut eight = [0; 8];
    eight.copy_from_slice(bytes.get(at..at.checked_add(8)?)?);
    Some(u64::from_le_bytes(eight))
}

#[cfg(test)]
mod tests;
