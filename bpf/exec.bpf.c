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
 * - sigbox_file_open / sigbox_inode_rename: file events, see file.bpf.h.
 * - sigbox_task_fork / sigbox_task_exit: the process tree's feed, see task.bpf.h.
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

/*
 * Ring buffer flags and query (uapi linux/bpf.h). Fork and exit records
 * (task.bpf.h) are written without waking userspace, so an exec record
 * must force the wake-up: the default wakes only a reader that has read
 * everything before it.
 */
#define SIGBOX_RB_NO_WAKEUP 1
#define SIGBOX_RB_FORCE_WAKEUP 2
#define SIGBOX_RB_AVAIL_DATA 0

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
 * The record is built in a scratch area (far too big for the 512-byte
 * stack), then copied to the ring buffer with its real length. Every write
 * into the tail goes to `tail[pos & TAIL_POS_MASK]` with a size masked to at
 * most SECTION_MASK, so the verifier can bound each access without trusting
 * branch conditions clang may reorder; the tail is sized for the worst case
 * it may see. The real sections never exceed their caps (checked before
 * the masks), so the masks never change a value.
 */
#define TAIL_POS_MASK 0xffff
#define SECTION_MASK 0x3fff
#define SCRATCH_TAIL (TAIL_POS_MASK + 1 + SECTION_MASK + 1)

/*
 * Path walks write backwards from path[PATH_END]; a name is at most 255
 * bytes. The buffer is twice PATH_END so that a copy from any masked start
 * of any masked length stays inside it.
 */
#define PATH_END EXEC_PATH_CAP
#define NAME_MAX_READ 255
#define PATH_BUF (2 * PATH_END)
/* Components followed from a file up to the root (Tracee follows 20 or 48). */
#define PATH_DEPTH 64

_Static_assert(8 * EXEC_PATH_CAP + 2 * EXEC_ARGV_CAP <= TAIL_POS_MASK + 1, "tail fits the mask");
_Static_assert(EXEC_ARGV_CAP <= SECTION_MASK, "argv size mask");
_Static_assert((PATH_END & (PATH_END - 1)) == 0, "PATH_END is a power of two");

/*
 * A path walk's buffer and result: the path is left in
 * path[start .. start + len), and `cut` says it lost leading components.
 * Kept in a map rather than in registers on purpose: the verifier knows
 * nothing about values it reloads from a map, so every way a walk can end
 * leads to the same state afterwards, and several walks cost the sum, not
 * the product, of their paths.
 */
struct path_walk {
	__u8 path[PATH_BUF];
	__u32 start;
	__u32 len;
	__u32 cut;
	__u32 _unused;
};

struct exec_scratch {
	/* The record as sent: the header, then the tail right after it. */
	struct exec_event ev;
	__u8 tail[SCRATCH_TAIL];
	struct path_walk walk;
	/* Where the next tail section goes (in the map for the same reason). */
	__u32 pos;
	__u32 _unused;
};

/* Reads a scratch variable from memory, never from a register copy. */
#define RELOAD(x) (*(volatile __typeof__(x) *)&(x))

/*
 * One scratch area per CPU, indexed by bpf_get_smp_processor_id(): a
 * per-CPU array cannot hold values over 32 KiB. Userspace sets max_entries
 * to the number of possible CPUs at load; the program runs with preemption
 * off, so no two runs share an area.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_scratch);
} exec_scratch SEC(".maps");

/* Set by userspace at load (`--exec-env`): read each exec's environment. */
const volatile __u32 collect_env = 0;

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
		/*
		 * Since 6.13 the top bit flags that the ctime was queried
		 * (multigrain timestamps, I_CTIME_QUERIED); it is not time.
		 */
		nsec = BPF_CORE_READ(i, i_ctime_nsec) & ~(1U << 31);
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

/* The mount that embeds a vfsmount (the kernel's real_mount()). */
static __always_inline struct mount *real_mount(struct vfsmount *vfsmnt)
{
	return (struct mount *)((char *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

/*
 * Ends a walk that stopped at `dentry` with its path starting at `pos`: with
 * no component at all (a root, or a file in no directory such as a memfd)
 * the path is the dentry's own name, as Tracee gives it.
 */
static __always_inline void walk_finish(struct path_walk *w, struct dentry *dentry, __u32 pos)
{
	if (pos == PATH_END) {
		const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
		long ret = bpf_probe_read_kernel_str(w->path, NAME_MAX_READ + 1, name);
		w->len = str_len(ret);
		return;
	}
	w->start = pos;
	w->len = PATH_END - pos;
}

/*
 * The path of (vfsmnt, dentry) as the task sees it: dentry names up to each
 * mount's root, then across to the mount point, until the root of the
 * mount namespace (the mount that is its own parent). Tracee's
 * get_path_str(), including its answers for files outside the tree: a
 * file with no name in any directory (a memfd, a pipe) gives its dentry's
 * own name (`memfd:NAME`, or "" for a pipe), a disconnected dentry gives
 * `<disconnected>`. Sets w->cut if it had to stop early (the path then
 * lacks its leading components).
 */
static __always_inline void walk_path(struct path_walk *w, struct vfsmount *vfsmnt,
				      struct dentry *dentry)
{
	w->start = 0;
	w->len = 0;
	w->cut = 0;
	if (!dentry || !vfsmnt)
		return;
	if (BPF_CORE_READ(dentry, d_flags) & DCACHE_DISCONNECTED) {
		long ret = bpf_probe_read_kernel_str(w->path, NAME_MAX_READ + 1, "<disconnected>");
		w->len = str_len(ret);
		return;
	}

	struct mount *mnt = real_mount(vfsmnt);
	struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
	__u32 pos = PATH_END;
	bool complete = false;

	for (int i = 0; i < PATH_DEPTH; i++) {
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
		if (dentry == mnt_root || dentry == parent) {
			if (dentry != mnt_root) {
				/* A root that is no mount's root: outside the tree. */
				complete = true;
				break;
			}
			if (mnt != mnt_parent) {
				/* A mount's root: go on from where it is mounted. */
				dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
				mnt = mnt_parent;
				mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
				vfsmnt = (struct vfsmount *)((char *)mnt +
							     bpf_core_field_offset(struct mount, mnt));
				continue;
			}
			complete = true; /* the namespace's root */
			break;
		}
		__u32 len = BPF_CORE_READ(dentry, d_name.len);
		const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
		if (len == 0)
			break;
		if (len > NAME_MAX_READ || len + 1 > pos) {
			w->cut = 1;
			complete = true;
			break;
		}
		pos = (pos - len - 1) & (PATH_END - 1);
		w->path[pos] = '/';
		bpf_probe_read_kernel(&w->path[pos + 1], len & NAME_MAX_READ, name);
		dentry = parent;
	}
	if (!complete)
		w->cut = 1;
	walk_finish(w, dentry, pos);
}

/*
 * The path of a dentry up to the root of its filesystem, following
 * d_parent only (not across mounts), at most `depth` components: Tracee's
 * get_dentry_path_str(), which it uses for security_inode_rename. A deeper
 * path keeps its last `depth` components (Tracee says nothing; w->cut
 * here).
 */
static __always_inline void walk_dentry(struct path_walk *w, struct dentry *dentry, int depth)
{
	w->start = 0;
	w->len = 0;
	w->cut = 0;
	if (!dentry)
		return;
	if (BPF_CORE_READ(dentry, d_flags) & DCACHE_DISCONNECTED) {
		long ret = bpf_probe_read_kernel_str(w->path, NAME_MAX_READ + 1, "<disconnected>");
		w->len = str_len(ret);
		return;
	}
	__u32 pos = PATH_END;
	bool complete = false;

	for (int i = 0; i < depth; i++) {
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
		if (dentry == parent) {
			complete = true;
			break;
		}
		__u32 len = BPF_CORE_READ(dentry, d_name.len);
		const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
		if (len == 0)
			break;
		if (len > NAME_MAX_READ || len + 1 > pos) {
			complete = true;
			w->cut = 1;
			break;
		}
		pos = (pos - len - 1) & (PATH_END - 1);
		w->path[pos] = '/';
		bpf_probe_read_kernel(&w->path[pos + 1], len & NAME_MAX_READ, name);
		dentry = parent;
	}
	if (!complete && BPF_CORE_READ(dentry, d_parent) != dentry)
		w->cut = 1;
	walk_finish(w, dentry, pos);
}

/* Appends the path the last walk left to the tail; returns its length. */
static __always_inline __u16 append_path(struct exec_scratch *s)
{
	__u32 len = RELOAD(s->walk.len) & (EXEC_PATH_CAP - 1);
	__u32 start = RELOAD(s->walk.start) & (PATH_END - 1);
	__u32 at = RELOAD(s->pos) & TAIL_POS_MASK;
	if (len)
		bpf_probe_read_kernel(&s->tail[at], len, &s->walk.path[start]);
	s->pos = at + len;
	return len;
}

/* Walks a path and appends it to the tail; returns its length. */
static __always_inline __u16 append_walked(struct exec_scratch *s, struct vfsmount *mnt,
					   struct dentry *dentry, __u16 truncated)
{
	walk_path(&s->walk, mnt, dentry);
	if (RELOAD(s->walk.cut))
		s->ev.flags |= truncated;
	return append_path(s);
}

/*
 * Appends `size` bytes of user memory at `start` (argv or env), cut to
 * EXEC_ARGV_CAP; sets `truncated` or `unreadable` in the flags.
 */
static __always_inline __u16 append_user(struct exec_scratch *s, unsigned long start,
					 unsigned long end, __u16 truncated, __u16 unreadable)
{
	__u64 size = end > start ? end - start : 0;
	if (size > EXEC_ARGV_CAP) {
		size = EXEC_ARGV_CAP;
		s->ev.flags |= truncated;
	}
	size &= SECTION_MASK;
	__u32 at = RELOAD(s->pos) & TAIL_POS_MASK;
	if (size && bpf_probe_read_user(&s->tail[at], size, (const void *)start) < 0) {
		size = 0;
		s->ev.flags |= unreadable;
	}
	s->pos = at + size;
	return size;
}

/* Appends a kernel string (at most EXEC_PATH_CAP - 1 bytes); sets `truncated` if cut. */
static __always_inline __u16 append_str(struct exec_scratch *s, const char *str, __u16 truncated)
{
	__u32 at = RELOAD(s->pos) & TAIL_POS_MASK;
	long ret = bpf_probe_read_kernel_str(&s->tail[at], EXEC_PATH_CAP, str);
	__u32 len = str_len(ret) & (EXEC_PATH_CAP - 1);
	if (ret == EXEC_PATH_CAP)
		s->ev.flags |= truncated;
	s->pos = at + len;
	return len;
}

/*
 * Ids in the task's own pid namespace (the deepest level of its struct
 * pid), and its parent's tgid as seen from there: 0 when the parent is not
 * in that namespace (as getppid() answers across a namespace boundary).
 */
static __always_inline void namespaced_ids(__u32 *ns_pid, __u32 *ns_tid, __u32 *ns_ppid,
					   struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct pid_namespace *ns = BPF_CORE_READ(pid, numbers[level].ns);

	*ns_tid = BPF_CORE_READ(pid, numbers[level].nr);
	struct pid *leader = BPF_CORE_READ(task, group_leader, thread_pid);
	*ns_pid = BPF_CORE_READ(leader, numbers[level].nr);

	struct pid *parent = BPF_CORE_READ(task, real_parent, group_leader, thread_pid);
	*ns_ppid = 0;
	if (parent && BPF_CORE_READ(parent, level) >= level &&
	    BPF_CORE_READ(parent, numbers[level].ns) == ns)
		*ns_ppid = BPF_CORE_READ(parent, numbers[level].nr);
}

#ifndef SIGBOX_NO_FIND_VMA
struct loader_lookup {
	struct file *file;
};

static long loader_vma(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	struct loader_lookup *lookup = ctx;
	lookup->file = BPF_CORE_READ(vma, vm_file);
	return 0;
}

/*
 * The ELF loader (ld.so) of a dynamically linked program: the file mapped
 * at AT_BASE of the new auxiliary vector. Tracee reports it as the
 * "interpreter". NULL for static programs, and always in the build for
 * kernels before 5.17 (SIGBOX_NO_FIND_VMA), which lack bpf_find_vma.
 */
static __always_inline struct file *loader_file(struct task_struct *task, struct mm_struct *mm)
{
	struct loader_lookup lookup = {};
	unsigned long base = 0;

	for (int i = 0; i < 32; i++) {
		unsigned long entry[2];
		if (bpf_core_read(entry, sizeof(entry), &mm->saved_auxv[2 * i]) < 0)
			break;
		if (entry[0] == AT_NULL)
			break;
		if (entry[0] == AT_BASE) {
			base = entry[1];
			break;
		}
	}
	if (!base)
		return NULL;
	bpf_find_vma(task, base, loader_vma, &lookup, 0);
	return lookup.file;
}
#else
static __always_inline struct file *loader_file(struct task_struct *task, struct mm_struct *mm)
{
	return NULL;
}
#endif

/* Reads the type, device, inode and ctime of a file's inode. */
static __always_inline void file_identity(struct file *file, __u32 *dev, __u64 *ino, __u64 *ctime,
					  __u16 *mode)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	*ino = BPF_CORE_READ(inode, i_ino);
	*ctime = inode ? inode_ctime_ns(inode) : 0;
	*dev = BPF_CORE_READ(inode, i_sb, s_dev);
	*mode = BPF_CORE_READ(inode, i_mode);
}

/*
 * Fires in exec_binprm() once the task runs the new program: comm, creds,
 * mm and the auxiliary vector are the new ones. old_pid is the id of the
 * thread that called exec (a non-leader thread takes over the leader's id
 * in de_thread()).
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(sigbox_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct exec_scratch *s = bpf_map_lookup_elem(&exec_scratch, &cpu);
	if (!s)
		return 0;
	struct exec_event *ev = &s->ev;

	__u64 id = bpf_get_current_pid_tgid();
	__u64 ugid = bpf_get_current_uid_gid();
	__u16 unused_mode;

	ev->flags = 0;
	ev->ts_boot_ns = bpf_ktime_get_boot_ns();
	/* Tracee's threadStartTime: the same clock as ts_boot_ns (5.5+). */
	ev->start_boot_ns = BPF_CORE_READ(task, start_boottime);
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->old_tid = (__u32)old_pid;
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	namespaced_ids(&ev->ns_pid, &ev->ns_tid, &ev->ns_ppid, task);
	ev->uid = (__u32)ugid;
	ev->gid = ugid >> 32;
	ev->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	ev->parent_mnt_ns = BPF_CORE_READ(task, real_parent, nsproxy, mnt_ns, ns.inum);
	ev->pid_ns = task_pid_ns(task);
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	if (BPF_CORE_READ(task, real_parent, flags) & PF_KTHREAD)
		ev->flags |= EXEC_FLAG_PARENT_KTHREAD;
	ev->_pad = 0;

	/*
	 * The file actually run: after binfmt_script/misc that is the
	 * interpreter, as in Tracee.
	 */
	struct file *file = BPF_CORE_READ(bprm, file);
	file_identity(file, &ev->dev, &ev->inode, &ev->ctime_ns, &ev->inode_mode);

	__u64 key = (id & 0xffffffff00000000ULL) | (__u32)old_pid;
	struct prev_comm *prev = bpf_map_lookup_elem(&exec_prev_comm, &key);
	if (prev) {
		__builtin_memcpy(ev->prev_comm, prev->comm, sizeof(ev->prev_comm));
		ev->flags |= EXEC_FLAG_PREV_COMM;
		bpf_map_delete_elem(&exec_prev_comm, &key);
	} else {
		__builtin_memset(ev->prev_comm, 0, sizeof(ev->prev_comm));
	}

	s->pos = 0;

	/* The path given to exec, as the kernel holds it (Tracee's cmdpath). */
	const char *filename = BPF_CORE_READ(bprm, filename);
	ev->filename_len = append_str(s, filename, EXEC_FLAG_FILENAME_TRUNCATED);

	/*
	 * The interpreter of a #! script or binfmt_misc. bprm->interp starts
	 * out as the very filename pointer and only those replace it, so a
	 * pointer comparison skips the copy for every plain binary.
	 */
	const char *interp = BPF_CORE_READ(bprm, interp);
	ev->interp_len = 0;
	if (interp && interp != filename)
		ev->interp_len = append_str(s, interp, EXEC_FLAG_INTERP_TRUNCATED);

	/*
	 * argv from the new mm's argument area; the kernel just wrote it there,
	 * so the pages are present. task->mm, not bprm->mm: exec_mmap()
	 * installed the new mm in the task and cleared bprm->mm long before
	 * this tracepoint.
	 */
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	ev->argv_len = append_user(s, BPF_CORE_READ(mm, arg_start), BPF_CORE_READ(mm, arg_end),
				   EXEC_FLAG_ARGV_TRUNCATED, EXEC_FLAG_ARGV_UNREADABLE);

	/* The file run, resolved to the mount namespace's root (Tracee's pathname). */
	ev->pathname_len = append_walked(s, BPF_CORE_READ(file, f_path.mnt),
					 BPF_CORE_READ(file, f_path.dentry),
					 EXEC_FLAG_PATHNAME_TRUNCATED);

	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	ev->pwd_len = append_walked(s, BPF_CORE_READ(fs, pwd.mnt), BPF_CORE_READ(fs, pwd.dentry),
				    EXEC_FLAG_PATH_TRUNCATED);

	/* fd 0: its type bits, inode (pipes and sockets are named by it) and path. */
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	struct file *stdin_file = NULL;
	if (fds)
		bpf_core_read(&stdin_file, sizeof(stdin_file), &fds[0]);
	ev->stdin_mode = 0;
	ev->stdin_inode = 0;
	ev->stdin_path_len = 0;
	if (stdin_file) {
		__u32 unused_dev;
		__u64 unused_ctime;
		file_identity(stdin_file, &unused_dev, &ev->stdin_inode, &unused_ctime,
			      &ev->stdin_mode);
		ev->stdin_mode &= S_IFMT;
		ev->stdin_path_len = append_walked(s, BPF_CORE_READ(stdin_file, f_path.mnt),
						   BPF_CORE_READ(stdin_file, f_path.dentry),
						   EXEC_FLAG_PATH_TRUNCATED);
	} else {
		ev->flags |= EXEC_FLAG_NO_STDIN;
	}

	/* The ELF loader, when it is another file than the one run. */
	ev->loader_len = 0;
	ev->loader_dev = 0;
	ev->loader_inode = 0;
	ev->loader_ctime_ns = 0;
	struct file *loader = loader_file(task, mm);
	if (loader) {
		file_identity(loader, &ev->loader_dev, &ev->loader_inode, &ev->loader_ctime_ns,
			      &unused_mode);
		if (ev->loader_inode != ev->inode || ev->loader_dev != ev->dev) {
			ev->flags |= EXEC_FLAG_LOADER;
			ev->loader_len = append_walked(s, BPF_CORE_READ(loader, f_path.mnt),
						       BPF_CORE_READ(loader, f_path.dentry),
						       EXEC_FLAG_PATH_TRUNCATED);
		}
	}

	ev->env_len = 0;
	if (collect_env) {
		ev->flags |= EXEC_FLAG_ENV_COLLECTED;
		ev->env_len = append_user(s, BPF_CORE_READ(mm, env_start),
					  BPF_CORE_READ(mm, env_end), EXEC_FLAG_ENV_TRUNCATED,
					  EXEC_FLAG_ENV_UNREADABLE);
	}

	__u64 size = sizeof(*ev) + (RELOAD(s->pos) & TAIL_POS_MASK);
	if (bpf_ringbuf_output(&exec_events, s, size, SIGBOX_RB_FORCE_WAKEUP) < 0) {
		__u32 zero = 0;
		__u64 *drops = bpf_map_lookup_elem(&exec_drops, &zero);
		if (drops)
			__sync_fetch_and_add(drops, 1);
	}
	return 0;
}

/*
 * security_file_open and security_inode_rename, then the network, process
 * and mount events (they share the helpers above).
 */
#include "file.bpf.h"
#include "sys.bpf.h"
#include "module.bpf.h"
#include "task.bpf.h"
