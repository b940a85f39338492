//! The finding writer: any metadata, finding values and event strings give
//! one valid JSON line and one text line without control characters.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    let (Ok(metadata), Ok(finding), Ok(event)) = (
        sigbox_fuzz::metadata(&mut u),
        sigbox_fuzz::finding(&mut u),
        sigbox_fuzz::event(&mut u),
    ) else {
        return;
    };
    sigbox_fuzz::check_finding_lines(metadata, finding, &event, None);
});
