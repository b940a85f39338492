//! The ring-buffer record decoder on any bytes and length; a record it
//! decodes must give a valid one-line finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(event) = sigbox::fuzzing::ring_record(data) {
        let mut u = arbitrary::Unstructured::new(b"");
        let metadata = sigbox_fuzz::metadata(&mut u).expect("defaults");
        sigbox_fuzz::check_finding_lines(
            metadata,
            sigbox::wit::Finding { data: Vec::new() },
            &event,
            None,
        );
    }
});
