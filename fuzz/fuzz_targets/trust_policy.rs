//! The trust policy parser (`--trust`) on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sigbox::fuzzing::trust_policy_text(text);
    }
});
