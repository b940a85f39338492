//! The trust policy parser (`--trust`) on any text.
//! The body is `sigbox_fuzz::targets::trust_policy`, which `make test` also replays
//! on every saved input (host/src/fuzz_replay.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sigbox_fuzz::targets::trust_policy(data));
