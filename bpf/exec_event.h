/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * The record exec.bpf.c writes to the `exec_events` ring buffer: one per
 * successful exec. Its Rust twin is `ExecRecord` in
 * host/src/source/bpf/record.rs.
 *
 * Layout rules (keep them, or the Rust twin silently reads garbage):
 * - fixed-width types only, each field naturally aligned, no implicit
 *   padding (add an explicit `_pad` field instead), size a multiple of 8;
 * - every field has an EXEC_EVENT_FIELD line below. build.rs reads these
 *   lines to generate the offsets the Rust layout test checks, and clang
 *   checks the same numbers here through _Static_assert, so C and Rust
 *   cannot disagree without a build or test failure;
 * - the header is followed by a variable-length tail of
 *   `filename_len + interp_len + argv_len` bytes, in that order, with no
 *   NUL terminators between the sections (argv itself is NUL-separated, as
 *   it lies in the process's memory).
 */
#ifndef SIGBOX_EXEC_EVENT_H
#define SIGBOX_EXEC_EVENT_H

/* Capacities of the tail sections, in bytes. */
#define EXEC_PATH_CAP 4096 /* filename and interp each (PATH_MAX, with NUL) */
#define EXEC_ARGV_CAP 8192 /* argv */

/* Bits of exec_event.flags. */
#define EXEC_FLAG_ARGV_TRUNCATED 0x1     /* argv was longer than EXEC_ARGV_CAP */
#define EXEC_FLAG_ARGV_UNREADABLE 0x2    /* reading argv from user memory failed */
#define EXEC_FLAG_PREV_COMM 0x4          /* prev_comm is valid */
#define EXEC_FLAG_FILENAME_TRUNCATED 0x8 /* filename was cut to EXEC_PATH_CAP - 1 */
#define EXEC_FLAG_INTERP_TRUNCATED 0x10  /* interp was cut to EXEC_PATH_CAP - 1 */
#define EXEC_FLAG_PARENT_KTHREAD 0x20    /* the parent is a kernel thread */

struct exec_event {
	__u64 ts_boot_ns;   /* bpf_ktime_get_boot_ns() */
	__u64 cgroup_id;    /* cgroup v2 id of the task */
	__u64 inode;        /* inode number of the file executed (bprm->file) */
	__u64 ctime_ns;     /* its inode change time, ns since the epoch */
	__u32 pid;          /* tgid, host pid namespace */
	__u32 tid;          /* thread id after exec (== pid) */
	__u32 old_tid;      /* thread that called exec (differs if not the leader) */
	__u32 ppid;         /* real_parent's tgid; 0 if none */
	__u32 uid;          /* real uid, init user namespace */
	__u32 gid;          /* real gid, init user namespace */
	__u32 mnt_ns;       /* mount namespace inum */
	__u32 pid_ns;       /* pid namespace inum (the task's active one) */
	__u32 dev;          /* its device, kernel encoding (major << 20 | minor) */
	__u16 inode_mode;   /* its i_mode (type and permission bits) */
	__u16 flags;        /* EXEC_FLAG_* */
	__u16 filename_len; /* bytes of bprm->filename in the tail */
	__u16 interp_len;   /* bytes of bprm->interp in the tail; 0 if == filename */
	__u16 argv_len;     /* bytes of argv in the tail */
	__u16 _pad;         /* zero */
	char comm[16];      /* comm after exec */
	char prev_comm[16]; /* comm before exec (valid if EXEC_FLAG_PREV_COMM) */
};

#define EXEC_EVENT_FIELD(field, offset)                                        \
	_Static_assert(__builtin_offsetof(struct exec_event, field) == (offset), \
		       "exec_event." #field " moved: update record.rs")
#define EXEC_EVENT_SIZE(size)                                                  \
	_Static_assert(sizeof(struct exec_event) == (size),                     \
		       "exec_event size changed: update record.rs")

EXEC_EVENT_FIELD(ts_boot_ns, 0);
EXEC_EVENT_FIELD(cgroup_id, 8);
EXEC_EVENT_FIELD(inode, 16);
EXEC_EVENT_FIELD(ctime_ns, 24);
EXEC_EVENT_FIELD(pid, 32);
EXEC_EVENT_FIELD(tid, 36);
EXEC_EVENT_FIELD(old_tid, 40);
EXEC_EVENT_FIELD(ppid, 44);
EXEC_EVENT_FIELD(uid, 48);
EXEC_EVENT_FIELD(gid, 52);
EXEC_EVENT_FIELD(mnt_ns, 56);
EXEC_EVENT_FIELD(pid_ns, 60);
EXEC_EVENT_FIELD(dev, 64);
EXEC_EVENT_FIELD(inode_mode, 68);
EXEC_EVENT_FIELD(flags, 70);
EXEC_EVENT_FIELD(filename_len, 72);
EXEC_EVENT_FIELD(interp_len, 74);
EXEC_EVENT_FIELD(argv_len, 76);
EXEC_EVENT_FIELD(_pad, 78);
EXEC_EVENT_FIELD(comm, 80);
EXEC_EVENT_FIELD(prev_comm, 96);
EXEC_EVENT_SIZE(112);

#endif /* SIGBOX_EXEC_EVENT_H */
