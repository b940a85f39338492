//! Decoded file records ([`FileActivity`]) → host events of kind
//! `security_file_open` or `security_inode_rename`, with Tracee v0.24.1's
//! arguments (`pkg/events/core.go`; the slots come from `event::table`).

use super::decode::{Decoder, comm_str};
use super::file_record::{FileActivity, FileArgs};
use crate::event::{Context, Event, Value};

impl Decoder {
    /// The event of one file record.
    pub(crate) fn decode_file(&mut self, activity: &FileActivity) -> Event {
        let r = &activity.record;
        let (container_id, origin) = self.container_of(r.cgroup_id, r.pid, r.mnt_ns);
        let context = Context {
            timestamp_ns: self.epoch_ns(r.ts_boot_ns),
            thread_start_ns: self.epoch_ns(r.start_boot_ns),
            pid: r.ns_pid,
            tid: r.ns_tid,
            ppid: r.ns_ppid,
            host_pid: r.pid,
            host_tid: r.tid,
            host_ppid: r.ppid,
            uid: r.uid,
            mount_ns: r.mnt_ns,
            pid_ns: r.pid_ns,
            cgroup_id: r.cgroup_id,
            process_name: comm_str(&r.comm),
            host_name: self.host_name(),
            container_id,
            origin,
            // executable_path: Tracee fills it from its process tree; sigbox
            // has none yet, so it stays empty.
            ..Context::default()
        };
        match &activity.args {
            FileArgs::Open {
                pathname,
                flags,
                dev,
                inode,
                ctime,
                syscall_pathname,
                pathname_truncated,
            } => {
                let mut event = Event::new(context, activity.kind());
                event.set("pathname", Value::Text(pathname.clone()));
                event.set("flags", Value::Signed((*flags).into()));
                event.set("dev", Value::Unsigned((*dev).into()));
                event.set("inode", Value::Unsigned(*inode));
                event.set("ctime", Value::Unsigned(*ctime));
                event.set("syscall_pathname", Value::Text(syscall_pathname.clone()));
                event.set("pathname_truncated", Value::Boolean(*pathname_truncated));
                event
            }
            FileArgs::Rename { old_path, new_path } => {
                let mut event = Event::new(context, activity.kind());
                event.set("old_path", Value::Text(old_path.clone()));
                event.set("new_path", Value::Text(new_path.clone()));
                event
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::bpf::containers::Containers;
    use crate::source::bpf::file_record::{FileRecord, c};

    fn activity(args: FileArgs) -> FileActivity {
        FileActivity {
            record: FileRecord {
                pid: 10,
                ns_pid: 1,
                ts_boot_ns: 5,
                comm: *b"cat\0\0\0\0\0\0\0\0\0\0\0\0\0",
                kind: c::FILE_KIND_OPEN as u16,
                ..FileRecord::default()
            },
            args,
        }
    }

    fn decoder() -> Decoder {
        Decoder::with_parts(
            1_000,
            "box".into(),
            Containers::with_parts(|_| Ok("0::/user.slice\n".into()), None),
        )
    }

    #[test]
    fn an_open_has_tracee_arguments_in_order_with_types() {
        let event = decoder().decode_file(&activity(FileArgs::Open {
            pathname: "/etc/passwd".into(),
            flags: 0o100_000,
            dev: 0x80_0001,
            inode: 42,
            ctime: 7,
            syscall_pathname: "passwd".into(),
            pathname_truncated: false,
        }));
        assert_eq!(event.name(), "security_file_open");
        assert_eq!(event.id(), 732);
        assert_eq!((event.context.pid, event.context.host_pid), (1, 10));
        assert_eq!(event.context.timestamp_ns, 1_005);
        assert_eq!(event.context.process_name, "cat");
        assert_eq!(&*event.context.host_name, "box");
        let listed: Vec<(&str, &str)> = event.tracee_args().map(|(n, t, _)| (n, t)).collect();
        assert_eq!(
            listed,
            [
                ("pathname", "string"),
                ("flags", "int32"),
                ("dev", "uint32"),
                ("inode", "uint64"),
                ("ctime", "uint64"),
                ("syscall_pathname", "string"),
            ]
        );
        assert_eq!(event.arg("flags"), Some(&Value::Signed(0o100_000)));
        assert_eq!(event.arg("dev"), Some(&Value::Unsigned(0x80_0001)));
    }

    #[test]
    fn a_cut_open_path_says_so() {
        let event = decoder().decode_file(&activity(FileArgs::Open {
            pathname: "/deep".into(),
            flags: 0,
            dev: 0,
            inode: 0,
            ctime: 0,
            syscall_pathname: String::new(),
            pathname_truncated: true,
        }));
        assert_eq!(
            event.arg("syscall_pathname"),
            Some(&Value::Text(String::new()))
        );
        assert_eq!(event.arg("pathname_truncated"), Some(&Value::Boolean(true)));
    }

    #[test]
    fn a_rename_has_old_and_new_path() {
        let event = decoder().decode_file(&activity(FileArgs::Rename {
            old_path: "/a".into(),
            new_path: "/b".into(),
        }));
        assert_eq!(event.name(), "security_inode_rename");
        let listed: Vec<&str> = event.tracee_args().map(|(n, _, _)| n).collect();
        assert_eq!(listed, ["old_path", "new_path"]);
    }
}
