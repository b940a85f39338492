//! HOSTILE-HUGE: a test-only hostile signature returning oversized results, for
//! the host's limits on what a call may return. It selects
//! `sched_process_exec`.
//!
//! For an event whose `pid` is even it returns one finding whose data field
//! `blob` is a text of [`HUGE_TEXT_BYTES`] bytes (`x`s), or, if that much
//! cannot be allocated, of the largest size that could be (halving down to
//! [`MIN_TEXT_BYTES`]; below that it returns an error); a second field
//! `blob_bytes` gives the size. For an odd `pid` it returns
//! [`HUGE_FINDING_COUNT`] findings with no data.

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature, Value};

/// The size of the text returned for even pids, in bytes: 64 MiB.
pub const HUGE_TEXT_BYTES: usize = 64 << 20;
/// The smallest text it settles for when memory is short, in bytes: 64 KiB.
pub const MIN_TEXT_BYTES: usize = 64 << 10;
/// The number of findings returned for odd pids.
pub const HUGE_FINDING_COUNT: usize = 1_000_000;

/// The signature. It keeps no state.
pub struct HostileHuge;

/// The sizes tried, largest first: `bytes`, `bytes / 2`, … down to `min_bytes`
/// (never 0).
pub fn sizes_to_try(bytes: usize, min_bytes: usize) -> impl Iterator<Item = usize> {
    std::iter::successors(Some(bytes), |size| Some(size / 2))
        .take_while(move |&size| size >= min_bytes && size > 0)
}

/// A text of `bytes` bytes, or of the largest of [`sizes_to_try`] that can be
/// allocated; `None` if not even `min_bytes` can be.
pub fn huge_text(bytes: usize, min_bytes: usize) -> Option<String> {
    sizes_to_try(bytes, min_bytes).find_map(|size| {
        let mut text = String::new();
        text.try_reserve_exact(size).ok()?;
        text.extend(std::iter::repeat_n('x', size));
        Some(text)
    })
}

/// What it returns for an event with pid `pid`, with the sizes as parameters.
pub fn respond(
    pid: u32,
    text_bytes: usize,
    min_text_bytes: usize,
    finding_count: usize,
) -> Result<Vec<Finding>, String> {
    if !pid.is_multiple_of(2) {
        return Ok((0..finding_count)
            .map(|_| Finding { data: vec![] })
            .collect());
    }
    let text = huge_text(text_bytes, min_text_bytes)
        .ok_or_else(|| format!("could not allocate even {min_text_bytes} bytes"))?;
    let size = text.len() as u64;
    Ok(vec![Finding {
        data: vec![
            Field {
                name: "blob".into(),
                value: Value::Text(text),
            },
            Field {
                name: "blob_bytes".into(),
                value: Value::Unsigned(size),
            },
        ],
    }])
}

impl Signature for HostileHuge {
    fn metadata() -> Metadata {
        Metadata {
            id: "HOSTILE-HUGE".into(),
            version: "1".into(),
            name: "Huge results (hostile test)".into(),
            event_name: "hostile_huge".into(),
            description: "Returns a 64 MiB string (even pids) or a million findings (odd pids). \
                For sandbox tests."
                .into(),
            tags: vec!["test".into(), "hostile".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::any_origin("sched_process_exec")]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(HostileHuge)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        respond(
            event.pid,
            HUGE_TEXT_BYTES,
            MIN_TEXT_BYTES,
            HUGE_FINDING_COUNT,
        )
    }
}

sigbox_sdk::export_signature!(HostileHuge);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_pid_gets_one_big_text() {
        let findings = respond(4, 1000, 10, 5).unwrap();
        assert_eq!(findings.len(), 1);
        let data = &findings[0].data;
        assert_eq!(data[0].name, "blob");
        match &data[0].value {
            Value::Text(text) => {
                assert_eq!(text.len(), 1000);
                assert!(text.bytes().all(|b| b == b'x'));
            }
            other => panic!("not text: {other:?}"),
        }
        assert_eq!(
            data[1],
            Field {
                name: "blob_bytes".into(),
                value: Value::Unsigned(1000)
            }
        );
    }

    #[test]
    fn odd_pid_gets_many_findings() {
        let findings = respond(5, 1000, 10, 1234).unwrap();
        assert_eq!(findings.len(), 1234);
        assert!(findings.iter().all(|f| f.data.is_empty()));
    }

    #[test]
    fn sizes_halve_down_to_the_minimum() {
        let sizes: Vec<usize> = sizes_to_try(1000, 100).collect();
        assert_eq!(sizes, [1000, 500, 250, 125]);
        assert_eq!(sizes_to_try(3, 0).collect::<Vec<_>>(), [3, 1]);
        assert_eq!(sizes_to_try(100, 200).count(), 0);
        assert_eq!(huge_text(100, 200), None);
        assert_eq!(huge_text(0, 0), None);
        // Sizes that cannot be allocated (2^63 bytes is a capacity overflow,
        // 2^62 more than any address space) are skipped, without aborting.
        assert_eq!(huge_text(1 << 63, 1 << 62), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(HUGE_TEXT_BYTES, 64 * 1024 * 1024);
        assert_eq!(HUGE_FINDING_COUNT, 1_000_000);
    }
}
