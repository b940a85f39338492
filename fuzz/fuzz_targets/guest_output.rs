//! The host's checks of what a guest returns across the WIT boundary: any
//! metadata and selectors, any findings; whatever the checks accept must
//! then be written as valid one-line findings.
//! The body is `sigbox_fuzz::targets::guest_output`, which `make test` also replays
//! on every saved input (host/src/fuzz_replay.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sigbox_fuzz::targets::guest_output(data));
