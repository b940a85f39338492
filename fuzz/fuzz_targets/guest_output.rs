//! The host's checks of what a guest returns across the WIT boundary: any
//! metadata and selectors, any findings; whatever the checks accept must
//! then be written as valid one-line findings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigbox::engine::guest_values::{check_finding, check_metadata, finding_bytes};

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(metadata) = sigbox_fuzz::metadata(&mut u) else {
        return;
    };
    let Ok(selectors) = sigbox_fuzz::list(&mut u, sigbox_fuzz::selector) else {
        return;
    };
    let Ok(findings) = sigbox_fuzz::list(&mut u, sigbox_fuzz::finding) else {
        return;
    };
    let Ok(event) = sigbox_fuzz::event(&mut u) else {
        return;
    };
    if check_metadata(&metadata, &selectors).is_err() {
        return;
    }
    for finding in findings {
        let _ = finding_bytes(&finding);
        if check_finding(&finding).is_ok() {
            sigbox_fuzz::check_finding_lines(metadata.clone(), finding, &event, None);
        }
    }
});
