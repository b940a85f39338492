//! The ring-buffer record decoder on any bytes and length; a record it
//! decodes must give a valid one-line finding.
//! The body is `sigbox_fuzz::targets::ring_record`, which `make test` also replays
//! on every saved input (host/src/fuzz_replay.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sigbox_fuzz::targets::ring_record(data));
