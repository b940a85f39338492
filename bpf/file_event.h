/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * The record file.bpf.h writes to the `file_events` ring buffer: one per
 * security_file_open or security_inode_rename that a loaded signature may
 * want. Its Rust twin is `FileRecord` in host/src/source/bpf/file_record.rs.
 *
 * Same layout rules as exec_event.h: fixed-width fields, natural alignment,
 * no implicit padding, size a multiple of 8, one FILE_EVENT_FIELD line per
 * field (build.rs reads them; clang checks them). The header is followed by
 * two tail sections, `path_len` then `path2_len` bytes, no NULs:
 * - security_file_open: pathname, then syscall_pathname;
 * - security_inode_rename: old_path, then new_path.
 *
 * The host writes `struct file_config` into the `file_config` map, and the
 * filter sets into `file_basenames` and `file_paths` (see README.md).
 */
#ifndef SIGBOX_FILE_EVENT_H
#define SIGBOX_FILE_EVENT_H

/* file_event.kind */
#define FILE_KIND_OPEN 1
#define FILE_KIND_RENAME 2

/* Bits of file_event.record_flags. */
#define FILE_FLAG_PATH_TRUNCATED 0x1  /* pathname / old_path lost leading components */
#define FILE_FLAG_PATH2_TRUNCATED 0x2 /* syscall_pathname / new_path was cut */
#define FILE_FLAG_PARENT_KTHREAD 0x4  /* the parent is a kernel thread */

/* Indexes of the per-CPU `file_drops` counters. */
#define FILE_DROP_ACCESS 0      /* open dropped: access mode not selected */
#define FILE_DROP_BASENAME 1    /* open dropped: basename not selected */
#define FILE_DROP_PATH 2        /* open dropped: path not selected */
#define FILE_DROP_OPEN_RING 3   /* open lost: file_events was full */
#define FILE_DROP_RENAME_RING 4 /* rename lost: file_events was full */
#define FILE_DROP_COUNTERS 5

/*
 * Uses of an open, as bits: what its access mode (flags & O_ACCMODE) allows.
 * O_RDONLY reads, O_WRONLY writes, O_RDWR (and the ioctl-only 3) both. The
 * filter sets' values are the uses they pass, so one lookup answers for a
 * signature watching writes under a prefix and another reading a file there.
 */
#define FILE_USE_READ 0x1
#define FILE_USE_WRITE 0x2
#define FILE_USES (FILE_USE_READ | FILE_USE_WRITE)

/* Bytes of path an LPM key holds (the kernel's LPM_DATA_SIZE_MAX). */
#define FILE_PATH_KEY_BYTES 256

/*
 * What the host switched on. All zero: both programs return at once. An
 * open passes when one of its uses is in `open_uses` and, for one of those
 * uses, any path passes (`open_any_path`), or its basename is in
 * `file_basenames`, or its basename ends with a `file_name_suffixes` entry,
 * or its path starts with a `file_paths` entry.
 */
struct file_config {
	__u32 open_enabled;   /* send security_file_open */
	__u32 rename_enabled; /* send security_inode_rename */
	__u32 open_uses;      /* FILE_USE_* bits some selector takes */
	__u32 open_any_path;  /* FILE_USE_* bits for which every path passes */
	__u32 open_basenames; /* 1: file_basenames has entries */
	__u32 open_paths;     /* 1: file_paths has entries */
	__u32 open_suffix_max; /* longest file_name_suffixes entry; 0: none */
	/* Bit n set when an entry is n bytes long (n < 256). */
	__u8 open_suffix_lengths[32];
	__u32 _pad; /* zero */
};

/* Key of `file_paths` (an LPM trie): prefixlen in bits, then path bytes. */
struct file_path_key {
	__u32 prefixlen;
	__u8 data[FILE_PATH_KEY_BYTES];
};

struct file_event {
	__u64 ts_boot_ns;    /* bpf_ktime_get_boot_ns() */
	__u64 cgroup_id;     /* cgroup v2 id of the task */
	__u64 start_boot_ns; /* task->start_boottime */
	__u64 inode;         /* open: inode number of the file */
	__u64 ctime_ns;      /* open: its ctime, ns since the epoch */
	__u32 pid;           /* tgid, host pid namespace */
	__u32 tid;           /* thread id, host pid namespace */
	__u32 ppid;          /* real_parent's tgid */
	__u32 ns_pid;        /* tgid in the task's own pid namespace */
	__u32 ns_tid;        /* thread id in the task's own pid namespace */
	__u32 ns_ppid;       /* parent's tgid there; 0 if not in it */
	__u32 uid;           /* real uid, init user namespace */
	__u32 gid;           /* real gid, init user namespace */
	__u32 mnt_ns;        /* mount namespace inum */
	__u32 pid_ns;        /* pid namespace inum */
	__u32 dev;           /* open: the file's device, kernel encoding */
	__s32 open_flags;    /* open: file->f_flags, as Tracee's `flags` */
	__u16 kind;          /* FILE_KIND_* */
	__u16 record_flags;  /* FILE_FLAG_* */
	__u16 path_len;      /* tail: pathname or old_path */
	__u16 path2_len;     /* tail: syscall_pathname or new_path */
	char comm[16];       /* the task's comm */
};

#define FILE_EVENT_FIELD(field, offset)                                        \
	_Static_assert(__builtin_offsetof(struct file_event, field) == (offset), \
		       "file_event." #field " moved: update file_record.rs")
#define FILE_EVENT_SIZE(size)                                                  \
	_Static_assert(sizeof(struct file_event) == (size),                     \
		       "file_event size changed: update file_record.rs")

FILE_EVENT_FIELD(ts_boot_ns, 0);
FILE_EVENT_FIELD(cgroup_id, 8);
FILE_EVENT_FIELD(start_boot_ns, 16);
FILE_EVENT_FIELD(inode, 24);
FILE_EVENT_FIELD(ctime_ns, 32);
FILE_EVENT_FIELD(pid, 40);
FILE_EVENT_FIELD(tid, 44);
FILE_EVENT_FIELD(ppid, 48);
FILE_EVENT_FIELD(ns_pid, 52);
FILE_EVENT_FIELD(ns_tid, 56);
FILE_EVENT_FIELD(ns_ppid, 60);
FILE_EVENT_FIELD(uid, 64);
FILE_EVENT_FIELD(gid, 68);
FILE_EVENT_FIELD(mnt_ns, 72);
FILE_EVENT_FIELD(pid_ns, 76);
FILE_EVENT_FIELD(dev, 80);
FILE_EVENT_FIELD(open_flags, 84);
FILE_EVENT_FIELD(kind, 88);
FILE_EVENT_FIELD(record_flags, 90);
FILE_EVENT_FIELD(path_len, 92);
FILE_EVENT_FIELD(path2_len, 94);
FILE_EVENT_FIELD(comm, 96);
FILE_EVENT_SIZE(112);

#endif /* SIGBOX_FILE_EVENT_H */
