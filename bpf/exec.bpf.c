// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only
/*
 * sigbox's live exec source: one `struct exec_event` (exec_event.h) per
 * successful exec, through the `exec_events` ring buffer.
 *
 * Programs (userspace loads and attaches them by these names):
 * - sigbox_exec (tp_btf/sched_process_exec): builds and sends the record;
 * - sigbox_prepare_exec (tp_btf/sched_prepare_exec, kernel 6.10+): stashes
 *   the comm before exec renames the task;
 * - sigbox_enter_execve / sigbox_enter_execveat (classic syscall
 *   tracepoints): the same stash, for kernels without sched_prepare_exec.
 *
 * See README.md for the record layout and the limits.
 */
#include "vmlinux_subset.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "exec_event.h"

/*
 * The kernel only lets GPL-compatible programs call GPL-only helpers
 * (bpf_probe_read_kernel/user among them).
 */
char LICENSE[] SEC("license") = "GPL";

/*
 * Events to userspace. 16 MiB holds about 25,000 typical records (~600
 * bytes) or 1,000 of the largest (~16 KiB); userspace may resize it at load
 * (it must stay a power-of-two multiple of the page size).
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} exec_events SEC(".maps");

/* [0]: records lost because exec_events was full. Read by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} exec_drops SEC(".maps");

struct prev_comm {
	char comm[16];
};

/*
 * comm before exec, keyed by the exec'ing thread's pid_tgid. LRU because an
 * exec can fail after the stash (always, with the syscall-tracepoint
 * fallback); stale entries then age out instead of filling the map.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct prev_comm);
} exec_prev_comm SEC(".maps");

/*
 * Offsets into the tail are masked so the verifier can bound every access
 * without trusting branch conditions clang may reorder:
 * filename_len <= 4095 (mask 0xfff), filename_len + interp_len <= 8190
 * (mask 0x1fff), argv read size <= 8192 (mask 0x3fff). The worst case the
 * verifier sees, 0x1fff + 0x3fff, fits in SCRATCH_TAIL.
 */
#define PATH_LEN_MASK 0xfff
#define INTERP_END_MASK 0x1fff
#define ARGV_SIZE_MASK 0x3fff
#define SCRATCH_TAIL (INTERP_END_MASK + ARGV_SIZE_MASK + 2)

_Static_assert(EXEC_PATH_CAP - 1 <= PATH_LEN_MASK, "filename_len mask");
_Static_assert(2 * (EXEC_PATH_CAP - 1) <= INTERP_END_MASK, "interp end mask");
_Static_assert(EXEC_ARGV_CAP <= ARGV_SIZE_MASK, "argv size mask");
_Static_assert(PATH_LEN_MASK + EXEC_PATH_CAP <= SCRATCH_TAIL, "interp read bound");

/* The record is built here (too big for the 512-byte stack), then copied. */
struct exec_scratch {
	struct exec_event ev;
	__u8 tail[SCRATCH_TAIL];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_scratch);
} exec_scratch SEC(".maps");

static __always_inline void stash_prev_comm(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct prev_comm c = {};

	bpf_get_current_comm(c.comm, sizeof(c.comm));
	bpf_map_update_elem(&exec_prev_comm, &id, &c, BPF_ANY);
}

/*
 * Fires in begin_new_exec() before the task is renamed, past the point
 * where exec can still fail cleanly.
 */
SEC("tp_btf/sched_prepare_exec")
int BPF_PROG(sigbox_prepare_exec, struct task_struct *task, struct linux_binprm *bprm)
{
	stash_prev_comm();
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int sigbox_enter_execve(void *ctx)
{
	stash_prev_comm();
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int sigbox_enter_execveat(void *ctx)
{
	stash_prev_comm();
	return 0;
}

/* Inum of the pid namespace the task's pid belongs to (its active one). */
static __always_inline __u32 task_pid_ns(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct pid_namespace *ns = BPF_CORE_READ(pid, numbers[level].ns);

	return BPF_CORE_READ(ns, ns.inum);
}

/* ctime of an inode in ns since the epoch, whichever way the kernel stores it. */
static __always_inline __u64 inode_ctime_ns(struct inode *inode)
{
	time64_t sec = 0;
	long nsec = 0;

	if (bpf_core_field_exists(struct inode___v611, i_ctime_sec)) {
		struct inode___v611 *i = (void *)inode;
		sec = BPF_CORE_READ(i, i_ctime_sec);
		nsec = BPF_CORE_READ(i, i_ctime_nsec);
	} else if (bpf_core_field_exists(struct inode___v606, __i_ctime)) {
		struct inode___v606 *i = (void *)inode;
		sec = BPF_CORE_READ(i, __i_ctime.tv_sec);
		nsec = BPF_CORE_READ(i, __i_ctime.tv_nsec);
	} else {
		struct inode___v0 *i = (void *)inode;
		sec = BPF_CORE_READ(i, i_ctime.tv_sec);
		nsec = BPF_CORE_READ(i, i_ctime.tv_nsec);
	}
	return (__u64)sec * 1000000000ULL + (__u64)nsec;
}

/* Length of a string read by bpf_probe_read_kernel_str, without its NUL. */
static __always_inline __u32 str_len(long ret)
{
	return ret > 0 ? (__u32)ret - 1 : 0;
}

/*
 * Fires in exec_binprm() once the task runs the new program: comm, creds
 * and mm are the new ones. old_pid is the id of the thread that called exec
 * (a non-leader thread takes over the leader's id in de_thread()).
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(sigbox_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 zero = 0;
	struct exec_scratch *s = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!s)
		return 0;
	struct exec_event *ev = &s->ev;

	__u64 id = bpf_get_current_pid_tgid();
	__u64 ugid = bpf_get_current_uid_gid();
	__u16 flags = 0;

	ev->ts_boot_ns = bpf_ktime_get_boot_ns();
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->old_tid = (__u32)old_pid;
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ev->uid = (__u32)ugid;
	ev->gid = ugid >> 32;
	ev->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	ev->pid_ns = task_pid_ns(task);
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	if (BPF_CORE_READ(task, real_parent, flags) & PF_KTHREAD)
		flags |= EXEC_FLAG_PARENT_KTHREAD;

	/*
	 * The file actually run: after binfmt_script/misc that is the
	 * interpreter, as in Tracee.
	 */
	struct inode *inode = BPF_CORE_READ(bprm, file, f_inode);
	ev->inode = BPF_CORE_READ(inode, i_ino);
	ev->ctime_ns = inode ? inode_ctime_ns(inode) : 0;
	ev->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	ev->inode_mode = BPF_CORE_READ(inode, i_mode);
	ev->_pad = 0;

	__u64 key = (id & 0xffffffff00000000ULL) | (__u32)old_pid;
	struct prev_comm *prev = bpf_map_lookup_elem(&exec_prev_comm, &key);
	if (prev) {
		__builtin_memcpy(ev->prev_comm, prev->comm, sizeof(ev->prev_comm));
		flags |= EXEC_FLAG_PREV_COMM;
		bpf_map_delete_elem(&exec_prev_comm, &key);
	} else {
		__builtin_memset(ev->prev_comm, 0, sizeof(ev->prev_comm));
	}

	/* Tail section 1: the path given to exec, as the kernel holds it. */
	const char *filename = BPF_CORE_READ(bprm, filename);
	long ret = bpf_probe_read_kernel_str(s->tail, EXEC_PATH_CAP, filename);
	__u32 filename_len = str_len(ret) & PATH_LEN_MASK;
	if (ret == EXEC_PATH_CAP)
		flags |= EXEC_FLAG_FILENAME_TRUNCATED;

	/*
	 * Tail section 2: the interpreter. bprm->interp starts out as the very
	 * filename pointer and only binfmt_script/binfmt_misc replace it, so a
	 * pointer comparison skips the copy for every plain binary.
	 */
	const char *interp = BPF_CORE_READ(bprm, interp);
	__u32 interp_len = 0;
	if (interp && interp != filename) {
		ret = bpf_probe_read_kernel_str(&s->tail[filename_len], EXEC_PATH_CAP, interp);
		interp_len = str_len(ret);
		if (ret == EXEC_PATH_CAP)
			flags |= EXEC_FLAG_INTERP_TRUNCATED;
	}
	__u32 argv_off = (filename_len + interp_len) & INTERP_END_MASK;

	/*
	 * Tail section 3: argv, NUL-separated, from the new mm's argument
	 * area; the kernel just wrote it there, so the pages are present.
	 * task->mm, not bprm->mm: exec_mmap() installed the new mm in the task
	 * and cleared bprm->mm long before this tracepoint.
	 */
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long arg_start = BPF_CORE_READ(mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(mm, arg_end);
	__u64 argv_size = arg_end > arg_start ? arg_end - arg_start : 0;
	if (argv_size > EXEC_ARGV_CAP) {
		argv_size = EXEC_ARGV_CAP;
		flags |= EXEC_FLAG_ARGV_TRUNCATED;
	}
	argv_size &= ARGV_SIZE_MASK;
	if (argv_size &&
	    bpf_probe_read_user(&s->tail[argv_off], argv_size, (const void *)arg_start) < 0) {
		argv_size = 0;
		flags |= EXEC_FLAG_ARGV_UNREADABLE;
	}

	ev->filename_len = filename_len;
	ev->interp_len = argv_off - filename_len;
	ev->argv_len = argv_size;
	ev->flags = flags;

	__u64 size = sizeof(*ev) + argv_off + argv_size;
	if (bpf_ringbuf_output(&exec_events, s, size, 0) < 0) {
		__u64 *drops = bpf_map_lookup_elem(&exec_drops, &zero);
		if (drops)
			__sync_fetch_and_add(drops, 1);
	}
	return 0;
}
