//! Decoded network/process/mount records ([`SysActivity`]) → host events
//! with Tracee v0.24.1's arguments (`pkg/events/core.go`; the slots come
//! from `event::table`).

use super::decode::{Decoder, comm_str};
use super::sys_record::{SysActivity, SysArgs};
use crate::event::{Context, Event, Value};

impl Decoder {
    /// The event of one sys record.
    pub(crate) fn decode_sys(&mut self, activity: &SysActivity) -> Event {
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
            ..Context::default()
        };
        let mut event = Event::new(context, activity.kind());
        let signed = |n: i32| Value::Signed(n.into());
        match &activity.args {
            SysArgs::Connect {
                sockfd,
                socket_type,
                remote_addr,
            } => {
                event.set("sockfd", signed(*sockfd));
                event.set("type", signed(*socket_type));
                event.set("remote_addr", Value::Json(remote_addr.clone()));
            }
            SysArgs::SocketDup {
                oldfd,
                newfd,
                remote_addr,
            } => {
                event.set("oldfd", signed(*oldfd));
                event.set("newfd", signed(*newfd));
                event.set("remote_addr", Value::Json(remote_addr.clone()));
            }
            SysArgs::Ptrace {
                request,
                pid,
                addr,
                data,
            } => {
                event.set("request", Value::Signed(*request));
                event.set("pid", signed(*pid));
                event.set("addr", Value::Unsigned(*addr));
                event.set("data", Value::Unsigned(*data));
            }
            SysArgs::ProcessVmWritev {
                pid,
                local_iov,
                liovcnt,
                remote_iov,
                riovcnt,
                flags,
            } => {
                event.set("pid", signed(*pid));
                event.set("local_iov", Value::Unsigned(*local_iov));
                event.set("liovcnt", Value::Unsigned(*liovcnt));
                event.set("remote_iov", Value::Unsigned(*remote_iov));
                event.set("riovcnt", Value::Unsigned(*riovcnt));
                event.set("flags", Value::Unsigned(*flags));
            }
            SysArgs::SbMount {
                dev_name,
                path,
                fs_type,
                flags,
                truncated,
            } => {
                event.set("dev_name", Value::Text(dev_name.clone()));
                event.set("path", Value::Text(path.clone()));
                event.set("type", Value::Text(fs_type.clone()));
                event.set("flags", Value::Unsigned(*flags));
                event.set("string_truncated", Value::Boolean(*truncated));
            }
            SysArgs::ModuleLoad {
                name,
                version,
                src_version,
                pathname,
                dev,
                inode,
                ctime,
            } => {
                event.set("name", Value::Text(name.clone()));
                event.set("version", Value::Text(version.clone()));
                event.set("src_version", Value::Text(src_version.clone()));
                event.set("pathname", Value::Text(pathname.clone()));
                event.set("dev", Value::Unsigned((*dev).into()));
                event.set("inode", Value::Unsigned(*inode));
                event.set("ctime", Value::Unsigned(*ctime));
            }
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::bpf::containers::Containers;
    use crate::source::bpf::sys_record::SysRecord;

    fn decode(args: SysArgs) -> Event {
        let activity = SysActivity {
            record: SysRecord {
                pid: 10,
                ns_pid: 1,
                ts_boot_ns: 5,
                comm: *b"bash\0\0\0\0\0\0\0\0\0\0\0\0",
                ..SysRecord::default()
            },
            args,
        };
        Decoder::with_parts(
            1_000,
            "box".into(),
            Containers::with_parts(|_| Ok("0::/user.slice\n".into()), None),
        )
        .decode_sys(&activity)
    }

    fn listed(event: &Event) -> Vec<(&str, &str)> {
        event.tracee_args().map(|(n, t, _)| (n, t)).collect()
    }

    #[test]
    fn a_connect_has_tracee_arguments_in_order_with_types() {
        let event = decode(SysArgs::Connect {
            sockfd: 1,
            socket_type: 1,
            remote_addr: r#"{"sa_family":"AF_UNIX","sun_path":"/run/docker.sock"}"#.into(),
        });
        assert_eq!((event.name(), event.id()), ("security_socket_connect", 736));
        assert_eq!((event.context.pid, event.context.host_pid), (1, 10));
        assert_eq!(event.context.process_name, "bash");
        assert_eq!(
            listed(&event),
            [
                ("sockfd", "int32"),
                ("type", "int32"),
                ("remote_addr", "SockAddr")
            ]
        );
    }

    #[test]
    fn dup_ptrace_writev_and_mount_have_tracee_arguments() {
        let dup = decode(SysArgs::SocketDup {
            oldfd: 3,
            newfd: 0,
            remote_addr: "{}".into(),
        });
        assert_eq!((dup.name(), dup.id()), ("socket_dup", 749));
        assert_eq!(
            listed(&dup),
            [
                ("oldfd", "int32"),
                ("newfd", "int32"),
                ("remote_addr", "SockAddr")
            ]
        );
        let ptrace = decode(SysArgs::Ptrace {
            request: 4,
            pid: 99,
            addr: 1,
            data: 2,
        });
        assert_eq!((ptrace.name(), ptrace.id()), ("ptrace", 101));
        assert_eq!(
            listed(&ptrace),
            [
                ("request", "int64"),
                ("pid", "int32"),
                ("addr", "trace.Pointer"),
                ("data", "trace.Pointer")
            ]
        );
        assert_eq!(ptrace.arg("request"), Some(&Value::Signed(4)));
        let writev = decode(SysArgs::ProcessVmWritev {
            pid: 5,
            local_iov: 1,
            liovcnt: 1,
            remote_iov: 2,
            riovcnt: 1,
            flags: 0,
        });
        assert_eq!(writev.id(), 311);
        assert_eq!(listed(&writev).len(), 6);
        let mount = decode(SysArgs::SbMount {
            dev_name: "none".into(),
            path: "/mnt".into(),
            fs_type: "tmpfs".into(),
            flags: 0,
            truncated: false,
        });
        assert_eq!((mount.name(), mount.id()), ("security_sb_mount", 740));
        assert_eq!(
            listed(&mount),
            [
                ("dev_name", "string"),
                ("path", "string"),
                ("type", "string"),
                ("flags", "uint64")
            ],
            "the unset truncation flag is not written"
        );
    }

    #[test]
    fn a_module_load_has_tracee_arguments_even_without_a_file() {
        let event = decode(SysArgs::ModuleLoad {
            name: "dummy".into(),
            version: String::new(),
            src_version: String::new(),
            pathname: String::new(),
            dev: 0,
            inode: 0,
            ctime: 0,
        });
        assert_eq!((event.name(), event.id()), ("module_load", 785));
        assert_eq!(
            listed(&event),
            [
                ("name", "string"),
                ("version", "string"),
                ("src_version", "string"),
                ("pathname", "string"),
                ("dev", "uint32"),
                ("inode", "uint64"),
                ("ctime", "uint64")
            ]
        );
        assert_eq!(event.arg("name"), Some(&Value::Text("dummy".into())));
        assert_eq!(event.arg("inode"), Some(&Value::Unsigned(0)));
    }
}
