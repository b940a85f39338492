//! Whether a file is a whole WebAssembly module or component, judged from
//! its section headers alone: a file that ends before its sections say it
//! should is truncated (still being copied, or cut short), which is not the
//! same verdict as modified after signing.

/// What the bytes of a module file are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Every section the file declares is there (it may still be invalid).
    Complete,
    /// Not WebAssembly at all: these are its first bytes.
    NotWasm {
        /// Up to the first 8 bytes.
        head: Vec<u8>,
    },
    /// The file ends before its last section does.
    Truncated {
        /// The file's size in bytes.
        size: u64,
        /// The size its sections need, at least.
        needed: u64,
    },
}

const MAGIC: &[u8] = b"\0asm";
const HEADER_BYTES: usize = 8;

/// Classifies `bytes` (a whole file as read): the check the daemon can make
/// on a file before judging its signatures.
pub fn of(bytes: &[u8]) -> Shape {
    let magic = &bytes[..bytes.len().min(MAGIC.len())];
    // An empty file is one whose copy has not started writing yet.
    if magic != &MAGIC[..magic.len()] {
        return Shape::NotWasm {
            head: bytes[..bytes.len().min(8)].to_vec(),
        };
    }
    let truncated = |needed: usize| Shape::Truncated {
        size: bytes.len() as u64,
        needed: needed as u64,
    };
    if bytes.len() < HEADER_BYTES {
        return truncated(HEADER_BYTES);
    }
    let mut at = HEADER_BYTES;
    while at < bytes.len() {
        at += 1; // section id
        let Some((size, leb_bytes)) = read_leb_u32(&bytes[at..]) else {
            // The file ends inside the section's size: one byte more at least.
            return truncated(bytes.len() + 1);
        };
        at += leb_bytes;
        let Some(end) = size.and_then(|size| at.checked_add(size as usize)) else {
            // Not a size at all: the parser that follows says why.
            return Shape::Complete;
        };
        if end > bytes.len() {
            return truncated(end);
        }
        at = end;
    }
    Shape::Complete
}

/// An unsigned LEB128 u32 at the start of `bytes` and its length: None when
/// `bytes` ends inside it, `Some((None, _))` when it is too long for a u32.
fn read_leb_u32(bytes: &[u8]) -> Option<(Option<u32>, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if i == 5 {
            return Some((None, i));
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((u32::try_from(value).ok(), i + 1));
        }
    }
    None
}

/// `head` for a message: hex, then the bytes as text with escapes.
pub fn describe_head(head: &[u8]) -> String {
    let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
    format!("{} \"{}\"", hex.join(" "), head.escape_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module header, a custom section of 3 bytes, a type section of 1.
    const MODULE: &[u8] = b"\0asm\x01\0\0\0\x00\x03\x01a\x01\x01\x00";

    #[test]
    fn a_whole_module_is_complete() {
        assert_eq!(of(MODULE), Shape::Complete);
    }

    #[test]
    fn every_cut_of_a_module_is_truncated_with_the_size_it_needs() {
        for cut in 1..MODULE.len() {
            // Ending between sections is a smaller whole module.
            if [8, 13].contains(&cut) {
                assert_eq!(of(&MODULE[..cut]), Shape::Complete);
                continue;
            }
            match of(&MODULE[..cut]) {
                Shape::Truncated { size, needed } => {
                    assert_eq!(size, cut as u64);
                    assert!(needed > size, "cut {cut}: needs {needed}");
                }
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        assert_eq!(
            of(&MODULE[..10]),
            Shape::Truncated {
                size: 10,
                needed: 13
            }
        );
    }

    #[test]
    fn other_files_are_not_wasm_and_show_their_first_bytes() {
        let elf = b"\x7fELF\x02\x01\x01\0rest";
        assert_eq!(
            of(elf),
            Shape::NotWasm {
                head: elf[..8].to_vec()
            }
        );
        assert_eq!(
            describe_head(&elf[..4]),
            "7f 45 4c 46 \"\\x7fELF\"".to_owned()
        );
        assert!(matches!(of(b""), Shape::Truncated { size: 0, .. }));
        assert!(matches!(of(b"[[key]]"), Shape::NotWasm { .. }));
    }
}
