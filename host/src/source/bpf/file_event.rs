//! Decoded file records ([`FileActivity`]) → host events, with Tracee
//! v0.24.1's argument names and types in its order (`pkg/events/core.go`).
//!
//! Until the host's own event type lands, the arguments travel as a generic
//! payload (Tracee names, typed values), which the filters, the guests and
//! the Tracee JSON writer already read by name.

use super::decode::{Decoder, LiveEvent, comm_str};
use super::file_record::{FileActivity, FileArgs};
use crate::wit::{Event, Field, Payload, Value};

impl Decoder {
    /// The event of one file record.
    pub(crate) fn decode_file(&mut self, activity: &FileActivity) -> LiveEvent {
        let r = &activity.record;
        let (container_id, origin) = self.container_of(r.cgroup_id, r.pid, r.mnt_ns);
        let event = Event {
            timestamp_ns: self.epoch_ns(r.ts_boot_ns),
            name: activity.event_name().to_owned(),
            origin,
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
            // Tracee fills it from its process tree; sigbox has none yet.
            executable_path: String::new(),
            host_name: self.host_name().to_owned(),
            container_id,
            return_value: 0,
            payload: Payload::Generic(arguments(&activity.args)),
        };
        LiveEvent {
            event,
            thread_start_ns: self.epoch_ns(r.start_boot_ns),
        }
    }
}

/// The arguments in Tracee's order; sigbox's own flag follows, only when set.
fn arguments(args: &FileArgs) -> Vec<Field> {
    match args {
        FileArgs::Open {
            pathname,
            flags,
            dev,
            inode,
            ctime,
            syscall_pathname,
            pathname_truncated,
        } => {
            let mut fields = vec![
                field("pathname", Value::Text(pathname.clone())),
                field("flags", Value::Signed((*flags).into())),
                field("dev", Value::Unsigned((*dev).into())),
                field("inode", Value::Unsigned(*inode)),
                field("ctime", Value::Unsigned(*ctime)),
                field("syscall_pathname", Value::Text(syscall_pathname.clone())),
            ];
            if *pathname_truncated {
                fields.push(field("pathname_truncated", Value::Boolean(true)));
            }
            fields
        }
        FileArgs::Rename { old_path, new_path } => vec![
            field("old_path", Value::Text(old_path.clone())),
            field("new_path", Value::Text(new_path.clone())),
        ],
    }
}

fn field(name: &str, value: Value) -> Field {
    Field {
        name: name.to_owned(),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            crate::source::bpf::containers::Containers::with_parts(
                |_| Ok("0::/user.slice\n".into()),
                None,
            ),
        )
    }

    #[test]
    fn an_open_has_tracee_arguments_in_order() {
        let live = decoder().decode_file(&activity(FileArgs::Open {
            pathname: "/etc/passwd".into(),
            flags: 0o100_000,
            dev: 0x80_0001,
            inode: 42,
            ctime: 7,
            syscall_pathname: "passwd".into(),
            pathname_truncated: false,
        }));
        let event = &live.event;
        assert_eq!(event.name, "security_file_open");
        assert_eq!((event.pid, event.host_pid), (1, 10));
        assert_eq!(event.timestamp_ns, 1_005);
        assert_eq!(event.process_name, "cat");
        assert_eq!(event.host_name, "box");
        let Payload::Generic(fields) = &event.payload else {
            panic!("generic payload");
        };
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pathname",
                "flags",
                "dev",
                "inode",
                "ctime",
                "syscall_pathname"
            ]
        );
        assert!(matches!(fields[1].value, Value::Signed(0o100_000)));
        assert!(matches!(fields[2].value, Value::Unsigned(0x80_0001)));
    }

    #[test]
    fn a_rename_has_old_and_new_path() {
        let live = decoder().decode_file(&activity(FileArgs::Rename {
            old_path: "/a".into(),
            new_path: "/b".into(),
        }));
        assert_eq!(live.event.name, "security_inode_rename");
        let Payload::Generic(fields) = &live.event.payload else {
            panic!("generic payload");
        };
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["old_path", "new_path"]);
    }
}
