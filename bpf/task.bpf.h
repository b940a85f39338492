/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * The process tree's kernel feed: one small `struct task_event`
 * (task_event.h) per new process and per process exit, into `exec_events`
 * (the same ring as exec records, so their order is the kernel's). Threads
 * are not reported: events are attributed to their process. Always
 * attached; each program does a few reads and one 64-byte ring write.
 * Included at the end of exec.bpf.c.
 */
#include "task_event.h"

/*
 * Fork and exit records wake userspace only once this much is waiting:
 * the tree needs them when an event is read, and an exec record (which
 * forces a wake-up) or a file or network record (whose reader reads this
 * ring first) comes after them. Without it every fork woke the daemon
 * twice (BENCHMARKS.md, "Process tree and ancestry").
 */
#define TASK_WAKEUP_BYTES (256 * 1024)

static __always_inline void send_task_event(struct task_struct *task, __u32 kind)
{
	struct task_event ev = {};
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	__u32 ns_tid, ns_ppid;

	ev.ts_boot_ns = bpf_ktime_get_boot_ns();
	ev.start_boot_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	ev.parent_start_boot_ns = BPF_CORE_READ(parent, group_leader, start_boottime);
	ev.kind = kind;
	ev.pid = BPF_CORE_READ(task, tgid);
	ev.ppid = BPF_CORE_READ(parent, tgid);
	ev.uid = BPF_CORE_READ(task, real_cred, uid.val);
	BPF_CORE_READ_STR_INTO(&ev.comm, task, comm);
	namespaced_ids(&ev.ns_pid, &ns_tid, &ns_ppid, task);
	__u64 wake = bpf_ringbuf_query(&exec_events, SIGBOX_RB_AVAIL_DATA) >= TASK_WAKEUP_BYTES
			     ? SIGBOX_RB_FORCE_WAKEUP
			     : SIGBOX_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&exec_events, &ev, sizeof(ev), wake) < 0) {
		__u32 zero = 0;
		__u64 *drops = bpf_map_lookup_elem(&exec_drops, &zero);
		if (drops)
			__sync_fetch_and_add(drops, 1);
	}
}

/* After copy_process(): the child has its ids, start time and parent. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sigbox_task_fork, struct task_struct *parent, struct task_struct *child)
{
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0; /* a new thread */
	send_task_event(child, TASK_KIND_FORK);
	return 0;
}

/*
 * In do_exit(), after signal->live was decremented: 0 means this is the
 * process's last thread (newer kernels pass that as `group_dead`; reading
 * the counter works on older ones too).
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sigbox_task_exit, struct task_struct *task)
{
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	send_task_event(task, TASK_KIND_EXIT);
	return 0;
}
