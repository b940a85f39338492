//! PROTOTYPE: TRC-1016's logic behind a batched, flat-buffer `on-events`.
//!
//! Buffer layout, per event (all integers little-endian):
//!   u32 total length of this event's record (including this field)
//!   u32 number of string slots S
//!   S × (u32 offset from the record start, u32 length; length u32::MAX = none)
//!   the scalar context (u64 timestamp, u32 ids ..., u64 cgroup, i64 return)
//!   string bytes
//! Slots: 0 name, 1 process_name, 2 executable_path, 3 host_name,
//! 4 container_id, 5 pathname, 6 cmdpath, 7 interpreter_pathname, 8 prev_comm,
//! 9 stdin_path, 10 pwd, then argv, then extra (name, text) pairs.

wit_bindgen::generate!({ path: "wit", world: "proto" });

use exports::sigbox::proto::batch_detector::Guest;
use sigbox::proto::types::{EventResult, Finding};

const SHELL_NAMES: [&str; 8] = ["ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash"];
const WEB_SERVER_NAMES: [&str; 7] = [
    "nginx",
    "httpd",
    "httpd-foregroun",
    "http-nio",
    "lighttpd",
    "apache",
    "apache2",
];

/// A zero-copy view of one encoded event.
struct EventView<'a>(&'a [u8]);

impl<'a> EventView<'a> {
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.0[at..at + 4].try_into().unwrap())
    }
    fn slot(&self, i: usize) -> Option<&'a str> {
        if i >= self.u32_at(4) as usize {
            return None;
        }
        let (offset, len) = (self.u32_at(8 + 8 * i), self.u32_at(12 + 8 * i));
        if len == u32::MAX {
            return None;
        }
        let bytes = &self.0[offset as usize..(offset + len) as usize];
        std::str::from_utf8(bytes).ok()
    }
}

fn trc1016(event: &EventView<'_>) -> Result<Vec<Finding>, String> {
    let name = event.slot(0).unwrap_or("");
    if name != "sched_process_exec" {
        return Ok(vec![]);
    }
    let prev_comm = event
        .slot(8)
        .ok_or_else(|| format!("event {name}: argument prev_comm is missing or not a string"))?;
    let comm = event.slot(1).unwrap_or("");
    if WEB_SERVER_NAMES.contains(&prev_comm) && SHELL_NAMES.contains(&comm) {
        Ok(vec![Finding { data: vec![] }])
    } else {
        Ok(vec![])
    }
}

struct Proto;

impl Guest for Proto {
    fn on_events(events: Vec<u8>) -> Vec<EventResult> {
        let mut results = Vec::new();
        let (mut pos, mut index) = (0usize, 0u32);
        while pos + 8 <= events.len() {
            let len = u32::from_le_bytes(events[pos..pos + 4].try_into().unwrap()) as usize;
            let view = EventView(&events[pos..pos + len]);
            match trc1016(&view) {
                Ok(findings) if findings.is_empty() => {}
                outcome => results.push(EventResult { index, outcome }),
            }
            pos += len;
            index += 1;
        }
        results
    }
}

export!(Proto);
