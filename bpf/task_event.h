/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * The record task.bpf.h writes to the `exec_events` ring buffer for each
 * new process (fork) and each process whose last thread exits. It shares
 * the exec ring so userspace reads forks, execs and exits in the order the
 * kernel made them. It is shorter than `struct exec_event`'s header, which
 * is how userspace tells them apart. Its Rust twin is `TaskRecord` in
 * host/src/source/bpf/task_record.rs; layout rules as in exec_event.h.
 */
#ifndef SIGBOX_TASK_EVENT_H
#define SIGBOX_TASK_EVENT_H

/* Values of task_event.kind. */
#define TASK_KIND_FORK 1 /* a new process (not a thread) */
#define TASK_KIND_EXIT 2 /* the last thread of a process exited */

struct task_event {
	__u64 ts_boot_ns;           /* bpf_ktime_get_boot_ns() */
	__u64 start_boot_ns;        /* the process's (leader's) start_boottime */
	__u64 parent_start_boot_ns; /* the real parent's leader's start_boottime */
	__u32 kind;                 /* TASK_KIND_* */
	__u32 pid;                  /* tgid, host pid namespace */
	__u32 ppid;                 /* real parent's tgid */
	__u32 uid;                  /* real uid, init user namespace */
	char comm[16];              /* comm (a forked child's is its parent's) */
	__u32 ns_pid;               /* tgid in the process's own pid namespace */
	__u32 reserved;             /* 0; keeps the size a multiple of 8 */
};

#define TASK_EVENT_FIELD(field, offset)                                        \
	_Static_assert(__builtin_offsetof(struct task_event, field) == (offset), \
		       "task_event." #field " moved: update task_record.rs")
#define TASK_EVENT_SIZE(size)                                                  \
	_Static_assert(sizeof(struct task_event) == (size),                     \
		       "task_event size changed: update task_record.rs")

TASK_EVENT_FIELD(ts_boot_ns, 0);
TASK_EVENT_FIELD(start_boot_ns, 8);
TASK_EVENT_FIELD(parent_start_boot_ns, 16);
TASK_EVENT_FIELD(kind, 24);
TASK_EVENT_FIELD(pid, 28);
TASK_EVENT_FIELD(ppid, 32);
TASK_EVENT_FIELD(uid, 36);
TASK_EVENT_FIELD(comm, 40);
TASK_EVENT_FIELD(ns_pid, 56);
TASK_EVENT_FIELD(reserved, 60);
TASK_EVENT_SIZE(64);

#endif /* SIGBOX_TASK_EVENT_H */
