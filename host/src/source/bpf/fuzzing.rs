//! The record decoder's entry for fuzzing (see `crate::fuzzing`): records
//! decoded as live, with a fixed clock and host name and no /proc lookups.

use std::io;

use super::containers::Containers;
use super::decode::{Decoder, RawExec};
use super::record::{ExecRecord, c};
use crate::event::Event;

thread_local! {
    /// One decoder per thread, made once: making one scans /proc for
    /// running containers, which would dominate each fuzz iteration.
    static DECODER: std::cell::RefCell<Decoder> = std::cell::RefCell::new(Decoder::with_parts(
        0,
        "fuzz".to_owned(),
        Containers::with_parts(no_cgroup, None),
    ));
}

/// Decodes `bytes` as one ring-buffer record; `None` when malformed.
pub fn decode(bytes: &[u8]) -> Option<Event> {
    let raw = RawExec::parse(bytes).ok()?;
    Some(DECODER.with(|decoder| decoder.borrow_mut().decode(&raw)))
}

fn no_cgroup(_pid: u32) -> io::Result<String> {
    Err(io::ErrorKind::NotFound.into())
}

/// A well-formed record with every tail section filled.
pub fn sample() -> Vec<u8> {
    let sections: [&[u8]; 8] = [
        b"/usr/bin/sh",
        b"/usr/bin/sh",
        b"sh\0-c\0id\0",
        b"/usr/bin/dash",
        b"/tmp",
        b"pipe:[1234]",
        b"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        b"PATH=/bin\0LD_PRELOAD=/x.so\0",
    ];
    let mut comm = [0u8; 16];
    comm[..2].copy_from_slice(b"sh");
    let mut prev_comm = [0u8; 16];
    prev_comm[..5].copy_from_slice(b"nginx");
    let [
        filename,
        interp,
        argv,
        pathname,
        pwd,
        stdin_path,
        loader,
        env,
    ] = sections.map(|s| s.len() as u16);
    let record = ExecRecord {
        ts_boot_ns: 5_000,
        cgroup_id: 42,
        pid: 100,
        tid: 100,
        old_tid: 100,
        ppid: 1,
        ns_pid: 100,
        ns_tid: 100,
        ns_ppid: 1,
        uid: 1000,
        start_boot_ns: 4_000,
        comm,
        prev_comm,
        flags: (c::EXEC_FLAG_PREV_COMM) as u16,
        filename_len: filename,
        interp_len: interp,
        argv_len: argv,
        pathname_len: pathname,
        pwd_len: pwd,
        stdin_path_len: stdin_path,
        loader_len: loader,
        env_len: env,
        ..ExecRecord::default()
    };
    let mut bytes = record.to_bytes();
    for section in sections {
        bytes.extend_from_slice(section);
    }
    bytes
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sample_decodes() {
        let event = super::decode(&super::sample()).expect("a valid record");
        assert_eq!(event.context.host_pid, 100);
        if let Some(path) = std::env::var_os("SIGBOX_WRITE_RING_SEED") {
            std::fs::write(path, super::sample()).unwrap();
        }
    }
}
