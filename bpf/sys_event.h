/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * The record sys.bpf.h writes to the `sys_events` ring buffer: one per
 * security_socket_connect, socket_dup, ptrace, process_vm_writev or
 * security_sb_mount a loaded signature selects, and one per module_load. Its Rust twin is
 * `SysRecord` in host/src/source/bpf/sys_record.rs.
 *
 * Same layout rules as exec_event.h (one SYS_EVENT_FIELD line per field;
 * build.rs reads them, clang checks them). The header is followed by three
 * tail sections, `str_len[0..3]` bytes, no NULs: security_sb_mount's
 * dev_name, path and type; module_load's version, src_version and
 * pathname (empty for the other kinds). module_load's name, at most 55
 * bytes, is in `addr` (`addr_len` bytes).
 *
 * The host switches each kind on in `sys_config` (an array indexed by
 * kind: 1 = send).
 */
#ifndef SIGBOX_SYS_EVENT_H
#define SIGBOX_SYS_EVENT_H

#define SYS_KIND_CONNECT 1           /* security_socket_connect */
#define SYS_KIND_SOCKET_DUP 2        /* socket_dup */
#define SYS_KIND_PTRACE 3            /* ptrace */
#define SYS_KIND_PROCESS_VM_WRITEV 4 /* process_vm_writev */
#define SYS_KIND_SB_MOUNT 5          /* security_sb_mount */
#define SYS_KIND_MODULE_LOAD 6       /* module_load (module.bpf.h) */
#define SYS_KINDS 7                  /* entries of sys_config and sys_drops (0 unused) */

#define SYS_FLAG_PARENT_KTHREAD 0x1 /* the task's real parent is a kernel thread */
#define SYS_FLAG_STR_TRUNCATED 0x2  /* a tail string was cut to SYS_STR_CAP - 1 bytes */

#define SYS_STR_CAP 4096  /* each tail string, with its NUL */
#define SYS_ADDR_BYTES 112 /* room for a struct sockaddr_un (110 bytes) */

struct sys_event {
	__u64 ts_boot_ns;    /* bpf_ktime_get_boot_ns() */
	__u64 cgroup_id;     /* cgroup v2 id of the task */
	__u64 start_boot_ns; /* task->start_boottime */
	/*
	 * The numeric arguments in Tracee's order:
	 * connect: sockfd, type; socket_dup: oldfd, newfd;
	 * ptrace: request, pid, addr, data;
	 * process_vm_writev: pid, local_iov, liovcnt, remote_iov, riovcnt, flags;
	 * security_sb_mount: flags; module_load: dev, inode, ctime.
	 */
	__u64 args[6];
	__u32 pid;          /* tgid, host pid namespace */
	__u32 tid;          /* thread id, host pid namespace */
	__u32 ppid;         /* real_parent's tgid */
	__u32 ns_pid;       /* tgid in the task's own pid namespace */
	__u32 ns_tid;       /* thread id in the task's own pid namespace */
	__u32 ns_ppid;      /* parent's tgid there; 0 if not in it */
	__u32 uid;          /* real uid, init user namespace */
	__u32 gid;          /* real gid, init user namespace */
	__u32 mnt_ns;       /* mount namespace inum */
	__u32 pid_ns;       /* pid namespace inum */
	__u16 kind;         /* SYS_KIND_* */
	__u16 record_flags; /* SYS_FLAG_* */
	__u16 str_len[3];   /* tail sections */
	__u16 addr_len;     /* bytes of `addr` used (connect, socket_dup, module_load) */
	char comm[16];      /* the task's comm */
	__u8 addr[SYS_ADDR_BYTES]; /* remote_addr: a struct sockaddr as the kernel holds it;
				      module_load: the module's name */
	__u32 _pad;         /* zero */
};

#define SYS_EVENT_FIELD(field, offset)                                        \
	_Static_assert(__builtin_offsetof(struct sys_event, field) == (offset), \
		       "sys_event." #field " moved: update sys_record.rs")
#define SYS_EVENT_SIZE(size)                                                  \
	_Static_assert(sizeof(struct sys_event) == (size),                     \
		       "sys_event size changed: update sys_record.rs")

SYS_EVENT_FIELD(ts_boot_ns, 0);
SYS_EVENT_FIELD(cgroup_id, 8);
SYS_EVENT_FIELD(start_boot_ns, 16);
SYS_EVENT_FIELD(args, 24);
SYS_EVENT_FIELD(pid, 72);
SYS_EVENT_FIELD(tid, 76);
SYS_EVENT_FIELD(ppid, 80);
SYS_EVENT_FIELD(ns_pid, 84);
SYS_EVENT_FIELD(ns_tid, 88);
SYS_EVENT_FIELD(ns_ppid, 92);
SYS_EVENT_FIELD(uid, 96);
SYS_EVENT_FIELD(gid, 100);
SYS_EVENT_FIELD(mnt_ns, 104);
SYS_EVENT_FIELD(pid_ns, 108);
SYS_EVENT_FIELD(kind, 112);
SYS_EVENT_FIELD(record_flags, 114);
SYS_EVENT_FIELD(str_len, 116);
SYS_EVENT_FIELD(addr_len, 122);
SYS_EVENT_FIELD(comm, 124);
SYS_EVENT_FIELD(addr, 140);
SYS_EVENT_FIELD(_pad, 252);
SYS_EVENT_SIZE(256);

#endif /* SIGBOX_SYS_EVENT_H */
