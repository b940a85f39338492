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
 * - the header is followed by a variable-length tail: the sections
 *   filename, interp, argv, pathname, pwd, stdin_path, loader, env, in that
 *   order, each `<name>_len` bytes, with no NUL terminators between them
 *   (argv and env are NUL-separated, as they lie in the process's memory).
 */
#ifndef SIGBOX_EXEC_EVENT_H
#define SIGBOX_EXEC_EVENT_H

/* Capacities of the tail sections, in bytes. */
#define EXEC_PATH_CAP 4096 /* each path section (PATH_MAX, with NUL) */
#define EXEC_ARGV_CAP 8192 /* argv, and env */

/* Bits of exec_event.flags. */
#define EXEC_FLAG_ARGV_TRUNCATED 0x1       /* argv was longer than EXEC_ARGV_CAP */
#define EXEC_FLAG_ARGV_UNREADABLE 0x2      /* reading argv from user memory failed */
#define EXEC_FLAG_PREV_COMM 0x4            /* prev_comm is valid */
#define EXEC_FLAG_FILENAME_TRUNCATED 0x8   /* filename was cut to EXEC_PATH_CAP - 1 */
#define EXEC_FLAG_INTERP_TRUNCATED 0x10    /* interp was cut to EXEC_PATH_CAP - 1 */
#define EXEC_FLAG_PARENT_KTHREAD 0x20      /* the parent is a kernel thread */
#define EXEC_FLAG_ENV_COLLECTED 0x40       /* env was read (collection is on) */
#define EXEC_FLAG_ENV_TRUNCATED 0x80       /* env was longer than EXEC_ARGV_CAP */
#define EXEC_FLAG_ENV_UNREADABLE 0x100     /* reading env from user memory failed */
#define EXEC_FLAG_PATHNAME_TRUNCATED 0x200 /* pathname lost leading components */
#define EXEC_FLAG_PATH_TRUNCATED 0x1000    /* pwd, stdin_path or the loader did */
#define EXEC_FLAG_NO_STDIN 0x400           /* the process has no fd 0 */
#define EXEC_FLAG_LOADER 0x800             /* loader_* fields are valid */

struct exec_event {
	__u64 ts_boot_ns;      /* bpf_ktime_get_boot_ns() */
	__u64 cgroup_id;       /* cgroup v2 id of the task */
	__u64 inode;           /* inode number of the file executed (bprm->file) */
	__u64 ctime_ns;        /* its inode change time, ns since the epoch */
	__u64 stdin_inode;     /* inode number of fd 0 (names pipes and sockets) */
	__u64 loader_inode;    /* inode of the ELF loader (ld.so) mapped at AT_BASE */
	__u64 loader_ctime_ns; /* its ctime, ns since the epoch */
	__u32 pid;             /* tgid, host pid namespace */
	__u32 tid;             /* thread id after exec (== pid) */
	__u32 old_tid;         /* thread that called exec (differs if not the leader) */
	__u32 ppid;            /* real_parent's tgid; 0 if none */
	__u32 ns_pid;          /* tgid in the task's own pid namespace */
	__u32 ns_tid;          /* thread id in the task's own pid namespace */
	__u32 ns_ppid;         /* parent's tgid in the task's pid namespace; 0 if not in it */
	__u32 uid;             /* real uid, init user namespace */
	__u32 gid;             /* real gid, init user namespace */
	__u32 mnt_ns;          /* mount namespace inum */
	__u32 parent_mnt_ns;   /* the real parent's mount namespace inum; 0 if unknown */
	__u32 pid_ns;          /* pid namespace inum (the task's active one) */
	__u32 dev;             /* device of the file executed, kernel encoding (major << 20 | minor) */
	__u32 loader_dev;      /* device of the loader */
	__u16 inode_mode;      /* i_mode of the file executed (type and permission bits) */
	__u16 stdin_mode;      /* i_mode & S_IFMT of fd 0 */
	__u16 flags;           /* EXEC_FLAG_* */
	__u16 filename_len;    /* tail: bprm->filename */
	__u16 interp_len;      /* tail: bprm->interp; 0 if == filename */
	__u16 argv_len;        /* tail: argv */
	__u16 pathname_len;    /* tail: path of bprm->file up to the mount namespace root */
	__u16 pwd_len;         /* tail: path of the working directory */
	__u16 stdin_path_len;  /* tail: path of fd 0 */
	__u16 loader_len;      /* tail: path of the loader */
	__u16 env_len;         /* tail: environment (only with EXEC_FLAG_ENV_COLLECTED) */
	__u16 _pad;            /* zero */
	char comm[16];         /* comm after exec */
	char prev_comm[16];    /* comm before exec (valid if EXEC_FLAG_PREV_COMM) */
	__u64 start_boot_ns;   /* task->start_boottime: the thread's start, ns since boot */
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
EXEC_EVENT_FIELD(stdin_inode, 32);
EXEC_EVENT_FIELD(loader_inode, 40);
EXEC_EVENT_FIELD(loader_ctime_ns, 48);
EXEC_EVENT_FIELD(pid, 56);
EXEC_EVENT_FIELD(tid, 60);
EXEC_EVENT_FIELD(old_tid, 64);
EXEC_EVENT_FIELD(ppid, 68);
EXEC_EVENT_FIELD(ns_pid, 72);
EXEC_EVENT_FIELD(ns_tid, 76);
EXEC_EVENT_FIELD(ns_ppid, 80);
EXEC_EVENT_FIELD(uid, 84);
EXEC_EVENT_FIELD(gid, 88);
EXEC_EVENT_FIELD(mnt_ns, 92);
EXEC_EVENT_FIELD(parent_mnt_ns, 96);
EXEC_EVENT_FIELD(pid_ns, 100);
EXEC_EVENT_FIELD(dev, 104);
EXEC_EVENT_FIELD(loader_dev, 108);
EXEC_EVENT_FIELD(inode_mode, 112);
EXEC_EVENT_FIELD(stdin_mode, 114);
EXEC_EVENT_FIELD(flags, 116);
EXEC_EVENT_FIELD(filename_len, 118);
EXEC_EVENT_FIELD(interp_len, 120);
EXEC_EVENT_FIELD(argv_len, 122);
EXEC_EVENT_FIELD(pathname_len, 124);
EXEC_EVENT_FIELD(pwd_len, 126);
EXEC_EVENT_FIELD(stdin_path_len, 128);
EXEC_EVENT_FIELD(loader_len, 130);
EXEC_EVENT_FIELD(env_len, 132);
EXEC_EVENT_FIELD(_pad, 134);
EXEC_EVENT_FIELD(comm, 136);
EXEC_EVENT_FIELD(prev_comm, 152);
EXEC_EVENT_FIELD(start_boot_ns, 168);
EXEC_EVENT_SIZE(176);

#endif /* SIGBOX_EXEC_EVENT_H */
