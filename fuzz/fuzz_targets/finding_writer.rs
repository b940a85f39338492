//! The finding writer: any metadata, finding values and event strings give
//! one valid JSON line and one text line without control characters.
//! The body is `sigbox_fuzz::targets::finding_writer`, which `make test` also replays
//! on every saved input (host/src/fuzz_replay.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sigbox_fuzz::targets::finding_writer(data));
