//! Replay's parser on any line: its one-scan tape must read it as
//! serde_json alone does, and a line it accepts must also give a valid
//! one-line finding through the writer's raw-line fast path.
//! The body is `sigbox_fuzz::targets::tracee_json`, which `make test` also replays
//! on every saved input (host/src/fuzz_replay.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sigbox_fuzz::targets::tracee_json(data));
