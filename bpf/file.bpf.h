/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * sigbox's live file events, Tracee v0.24.1's security_file_open and
 * security_inode_rename: one `struct file_event` (file_event.h) each,
 * through the `file_events` ring buffer. Part of exec.bpf.c's object (it
 * shares the path walk and the task helpers); included at its end.
 *
 * Programs (the host loads the first set the kernel accepts, in this order,
 * and attaches it only while a loaded signature selects a file event, but
 * kprobes from start: their perf-event attach needs CAP_PERFMON, dropped
 * later; each returns at once unless its event is switched on in
 * `file_config`):
 * - sigbox_file_open (fentry/security_file_open) and sigbox_inode_rename
 *   (fentry/security_inode_rename), as Tracee's kprobes;
 * - sigbox_file_open_kprobe and sigbox_inode_rename_kprobe, kprobes on the
 *   same functions, where the kernel refuses fentry;
 * - sigbox_file_syscall_exit (tp_btf/sys_exit), where it refuses both:
 *   successful open/openat/openat2 and rename/renameat/renameat2
 *   syscalls (see README.md for what this fallback misses).
 *
 * Opens pass the host's kernel filters, cheapest first: access mode, then
 * the basename's hash, then the path (an LPM trie of prefixes; an exact
 * path is a prefix ending in its NUL). A basename or path entry's value is
 * the uses (FILE_USE_*) it passes. Each drop is counted per CPU.
 */
#include "file_event.h"

/*
 * Two sections, each at most two paths and a `/` (a rename's relative path
 * with its directory); positions and lengths are masked (see exec's).
 */
#define FILE_TAIL_POS_MASK 0x3fff
#define FILE_TAIL (FILE_TAIL_POS_MASK + 1 + EXEC_PATH_CAP)
/* Components Tracee's get_dentry_path_str follows (MAX_PATH_COMPONENTS). */
#define DENTRY_PATH_DEPTH 20
/* O_ACCMODE (<asm-generic/fcntl.h>). */
#define O_ACCMODE 3

/* 64-bit FNV-1a, the basename hash the host computes the same way. */
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

_Static_assert(4 * (EXEC_PATH_CAP - 1) + 2 <= FILE_TAIL_POS_MASK, "file tail fits the mask");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} file_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_config);
} file_config SEC(".maps");

/* Hashes (FNV-1a 64) of the basenames an open may have -> FILE_USE_* bits. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} file_basenames SEC(".maps");

/*
 * Hashes (FNV-1a 64 of the bytes last to first, so one backward pass over a
 * name hashes all its endings) of the endings a file name may have ->
 * FILE_USE_* bits.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} file_name_suffixes SEC(".maps");

/*
 * Path prefixes an open's pathname may start with -> FILE_USE_* bits (each
 * entry's bits include those of the shorter entries it starts with, as an
 * LPM lookup finds only the longest).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct file_path_key);
	__type(value, __u8);
} file_paths SEC(".maps");

/* Events dropped in the kernel, by reason (FILE_DROP_*). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FILE_DROP_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} file_drops SEC(".maps");

struct file_scratch {
	struct file_event ev;
	__u8 tail[FILE_TAIL];
	struct path_walk walk;
	struct file_path_key key;
	__u8 name[NAME_MAX_READ + 1];
	__u32 pos;
	__u32 name_len; /* the name in `name`, read back between loops */
};

/* One per possible CPU, as exec_scratch (userspace sizes it at load). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_scratch);
} file_scratch SEC(".maps");

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&file_drops, &reason);
	if (n)
		*n += 1;
}

static __always_inline struct file_config *file_config_now(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&file_config, &zero);
}

static __always_inline struct file_scratch *file_scratch_here(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&file_scratch, &cpu);
}

/*
 * The uses the file-name sets pass for the basename of `dentry`: its hash
 * in file_basenames, and the hash of each of its endings whose length an
 * entry has in file_name_suffixes.
 */
static __always_inline __u32 name_uses(struct file_scratch *s, struct file_config *cfg,
				       struct dentry *dentry)
{
	__u32 len = BPF_CORE_READ(dentry, d_name.len);
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	if (len > NAME_MAX_READ)
		return FILE_USES; /* not a name the host can have listed: let the host decide */
	/* Opaque to clang, so the mask the verifier needs is not folded away. */
	barrier_var(len);
	len &= NAME_MAX_READ;
	if (len && bpf_probe_read_kernel(s->name, len, name) < 0)
		return FILE_USES;
	__u32 uses = 0;
	__u8 *found;
	if (cfg->open_basenames) {
		__u64 hash = FNV_OFFSET;
		for (int i = 0; i < NAME_MAX_READ; i++) {
			if (i >= len)
				break;
			hash ^= s->name[i];
			hash *= FNV_PRIME;
		}
		found = bpf_map_lookup_elem(&file_basenames, &hash);
		if (found)
			uses |= *found;
	}
	/*
	 * Read back from the map, so the verifier forgets what the loop above
	 * learnt about the length at each of its exits: otherwise each exit
	 * runs the loop below again, and the program grows past its limit.
	 */
	s->name_len = len;
	len = RELOAD(s->name_len) & NAME_MAX_READ;
	__u32 longest = cfg->open_suffix_max;
	__u64 ending = FNV_OFFSET;
	for (int i = 0; i < NAME_MAX_READ; i++) {
		if (i >= len || i >= longest)
			break;
		ending ^= s->name[(len - 1 - i) & NAME_MAX_READ];
		ending *= FNV_PRIME;
		__u32 n = i + 1;
		if (cfg->open_suffix_lengths[(n >> 3) & 31] & (1U << (n & 7))) {
			__u64 key = ending;
			found = bpf_map_lookup_elem(&file_name_suffixes, &key);
			if (found)
				uses |= *found;
		}
	}
	return uses;
}

/* The uses file_paths passes for the walked path (its longest prefix there). */
static __always_inline __u32 path_uses(struct file_scratch *s)
{
	__u32 len = RELOAD(s->walk.len) & (EXEC_PATH_CAP - 1);
	__u32 start = RELOAD(s->walk.start) & (PATH_END - 1);
	/* The path and its NUL, so that an exact path is a prefix too. */
	if (len < FILE_PATH_KEY_BYTES) {
		__u32 n = len & (FILE_PATH_KEY_BYTES - 1);
		if (n)
			bpf_probe_read_kernel(s->key.data, n, &s->walk.path[start]);
		s->key.data[n] = 0;
		s->key.prefixlen = 8 * (n + 1);
	} else {
		bpf_probe_read_kernel(s->key.data, FILE_PATH_KEY_BYTES, &s->walk.path[start]);
		s->key.prefixlen = 8 * FILE_PATH_KEY_BYTES;
	}
	__u8 *uses = bpf_map_lookup_elem(&file_paths, &s->key);
	return uses ? *uses : 0;
}

/* What an open's access mode allows (FILE_USE_*). */
static __always_inline __u32 open_uses(int flags)
{
	switch (flags & O_ACCMODE) {
	case 0: /* O_RDONLY */
		return FILE_USE_READ;
	case 1: /* O_WRONLY */
		return FILE_USE_WRITE;
	default: /* O_RDWR, and 3 (which a filterless selector takes) */
		return FILE_USES;
	}
}

/* The context every file event carries (as exec's). */
static __always_inline void file_context(struct file_event *ev, __u16 kind)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ugid = bpf_get_current_uid_gid();

	ev->kind = kind;
	ev->record_flags = 0;
	ev->ts_boot_ns = bpf_ktime_get_boot_ns();
	ev->start_boot_ns = BPF_CORE_READ(task, start_boottime);
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	namespaced_ids(&ev->ns_pid, &ev->ns_tid, &ev->ns_ppid, task);
	ev->uid = (__u32)ugid;
	ev->gid = ugid >> 32;
	ev->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	ev->pid_ns = task_pid_ns(task);
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	if (BPF_CORE_READ(task, real_parent, flags) & PF_KTHREAD)
		ev->record_flags |= FILE_FLAG_PARENT_KTHREAD;
	ev->inode = 0;
	ev->ctime_ns = 0;
	ev->dev = 0;
	ev->open_flags = 0;
}

/* Appends the last walk's path to the tail; returns its length. */
static __always_inline __u16 file_append_walk(struct file_scratch *s, __u16 truncated)
{
	__u32 len = RELOAD(s->walk.len) & (EXEC_PATH_CAP - 1);
	__u32 start = RELOAD(s->walk.start) & (PATH_END - 1);
	__u32 at = RELOAD(s->pos) & FILE_TAIL_POS_MASK;
	if (len)
		bpf_probe_read_kernel(&s->tail[at], len, &s->walk.path[start]);
	if (RELOAD(s->walk.cut))
		s->ev.record_flags |= truncated;
	s->pos = at + len;
	return len;
}

/* Appends a user string (at most EXEC_PATH_CAP - 1 bytes); returns its length. */
static __always_inline __u16 append_user_str(struct file_scratch *s, const char *str,
					     __u16 truncated)
{
	__u32 at = RELOAD(s->pos) & FILE_TAIL_POS_MASK;
	long ret = bpf_probe_read_user_str(&s->tail[at], EXEC_PATH_CAP, str);
	__u32 len = str_len(ret) & (EXEC_PATH_CAP - 1);
	if (ret == EXEC_PATH_CAP)
		s->ev.record_flags |= truncated;
	s->pos = at + len;
	return len;
}

/*
 * The path the open syscall was given, as Tracee's `syscall_pathname`: the
 * user pointer in the first (open, execve) or second (openat, openat2,
 * execveat) argument of the syscall the task is in; nothing for any other
 * syscall or a kernel thread. x86_64 only, and 5.17+ (bpf_task_pt_regs).
 */
static __always_inline const char *syscall_pathname(void)
{
#if defined(__TARGET_ARCH_x86) && !defined(SIGBOX_NO_FIND_VMA)
	struct task_struct *task = bpf_get_current_task_btf();
	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		return NULL;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	switch (BPF_CORE_READ(regs, orig_ax)) {
	case 2:  /* open */
	case 59: /* execve */
		return (const char *)BPF_CORE_READ(regs, di);
	case 257: /* openat */
	case 322: /* execveat */
	case 437: /* openat2 */
		return (const char *)BPF_CORE_READ(regs, si);
	}
#endif
	return NULL;
}

static __always_inline void file_send(struct file_scratch *s, __u32 lost)
{
	__u64 size = sizeof(s->ev) + (RELOAD(s->pos) & FILE_TAIL_POS_MASK);
	if (bpf_ringbuf_output(&file_events, s, size, 0) < 0)
		count_drop(lost);
}

/*
 * Filters and sends one open. `flags` is file->f_flags as it was at
 * security_file_open; `given` the user pointer the syscall got, or NULL.
 */
static __always_inline void send_open(struct file_config *cfg, struct file *file, int flags,
				      const char *given)
{
	__u32 uses = open_uses(flags) & cfg->open_uses;
	if (!uses) {
		count_drop(FILE_DROP_ACCESS);
		return;
	}
	struct file_scratch *s = file_scratch_here();
	if (!s)
		return;
	struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
	/* Passed without its path: any path goes for one of its uses, or its name does. */
	bool named = cfg->open_basenames || cfg->open_suffix_max;
	bool passed = (uses & cfg->open_any_path) || (named && (name_uses(s, cfg, dentry) & uses));
	if (!passed && !cfg->open_paths) {
		count_drop(FILE_DROP_BASENAME);
		return;
	}
	walk_path(&s->walk, BPF_CORE_READ(file, f_path.mnt), dentry);
	if (!passed && !(path_uses(s) & uses)) {
		count_drop(FILE_DROP_PATH);
		return;
	}

	struct file_event *ev = &s->ev;
	file_context(ev, FILE_KIND_OPEN);
	__u16 unused_mode;
	file_identity(file, &ev->dev, &ev->inode, &ev->ctime_ns, &unused_mode);
	ev->open_flags = flags;
	s->pos = 0;
	ev->path_len = file_append_walk(s, FILE_FLAG_PATH_TRUNCATED);
	ev->path2_len = given ? append_user_str(s, given, FILE_FLAG_PATH2_TRUNCATED) : 0;
	file_send(s, FILE_DROP_OPEN_RING);
}

/*
 * The bodies the fentry and kprobe programs share: the same record, fields
 * and filters whichever hook the host could load.
 */
static __always_inline void on_file_open(struct file *file)
{
	struct file_config *cfg = file_config_now();
	if (!cfg || !cfg->open_enabled)
		return;
	send_open(cfg, file, BPF_CORE_READ(file, f_flags), syscall_pathname());
}

static __always_inline void on_inode_rename(struct dentry *old_dentry, struct dentry *new_dentry)
{
	struct file_config *cfg = file_config_now();
	if (!cfg || !cfg->rename_enabled)
		return;
	struct file_scratch *s = file_scratch_here();
	if (!s)
		return;
	file_context(&s->ev, FILE_KIND_RENAME);
	s->pos = 0;
	walk_dentry(&s->walk, old_dentry, DENTRY_PATH_DEPTH);
	s->ev.path_len = file_append_walk(s, FILE_FLAG_PATH_TRUNCATED);
	walk_dentry(&s->walk, new_dentry, DENTRY_PATH_DEPTH);
	s->ev.path2_len = file_append_walk(s, FILE_FLAG_PATH2_TRUNCATED);
	file_send(s, FILE_DROP_RENAME_RING);
}

SEC("fentry/security_file_open")
int BPF_PROG(sigbox_file_open, struct file *file)
{
	on_file_open(file);
	return 0;
}

SEC("fentry/security_inode_rename")
int BPF_PROG(sigbox_inode_rename, struct inode *old_dir, struct dentry *old_dentry,
	     struct inode *new_dir, struct dentry *new_dentry)
{
	on_inode_rename(old_dentry, new_dentry);
	return 0;
}

/* The same where fentry is missing (no BPF trampolines) but kprobes are not. */
SEC("kprobe/security_file_open")
int BPF_KPROBE(sigbox_file_open_kprobe, struct file *file)
{
	on_file_open(file);
	return 0;
}

SEC("kprobe/security_inode_rename")
int BPF_KPROBE(sigbox_inode_rename_kprobe, struct inode *old_dir, struct dentry *old_dentry,
	       struct inode *new_dir, struct dentry *new_dentry)
{
	on_inode_rename(old_dentry, new_dentry);
	return 0;
}

/*
 * The fallback for kernels that refuse fentry: the same events built at the
 * exit of the syscalls that cause them. x86_64 syscall numbers; other
 * architectures and 32-bit tasks get nothing from it.
 */
#define AT_FDCWD -100
#define O_CREAT 0100
#define O_EXCL 0200
#define O_NOCTTY 0400
#define O_TRUNC 01000

/* The file behind descriptor `fd` of the current task, or NULL. */
static __always_inline struct file *current_fd_file(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	if (fd < 0 || !fds || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_core_read(&file, sizeof(file), &fds[fd]);
	return file;
}

/*
 * A rename's path: absolute as given, else the directory it is relative to
 * (the working directory, or the directory descriptor) walked as `pathname`,
 * then `/` and the name as given.
 */
static __always_inline __u16 append_rename_path(struct file_scratch *s, long dirfd,
						const char *name, __u16 truncated)
{
	char first = 0;
	bpf_probe_read_user(&first, 1, name);
	__u32 start = RELOAD(s->pos) & FILE_TAIL_POS_MASK;
	if (first != '/') {
		if (dirfd == AT_FDCWD) {
			struct task_struct *task = (struct task_struct *)bpf_get_current_task();
			struct fs_struct *fs = BPF_CORE_READ(task, fs);
			walk_path(&s->walk, BPF_CORE_READ(fs, pwd.mnt), BPF_CORE_READ(fs, pwd.dentry));
		} else {
			struct file *dir = current_fd_file(dirfd);
			walk_path(&s->walk, BPF_CORE_READ(dir, f_path.mnt),
				  BPF_CORE_READ(dir, f_path.dentry));
		}
		file_append_walk(s, truncated);
		__u32 at = RELOAD(s->pos) & FILE_TAIL_POS_MASK;
		s->tail[at] = '/';
		s->pos = at + 1;
	}
	append_user_str(s, name, truncated);
	return (RELOAD(s->pos) & FILE_TAIL_POS_MASK) - start;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sigbox_file_syscall_exit, struct pt_regs *regs, long ret)
{
	struct file_config *cfg = file_config_now();
	if (!cfg || ret < 0)
		return 0;
#if defined(__TARGET_ARCH_x86)
	long nr = BPF_CORE_READ(regs, orig_ax);
	if (cfg->open_enabled && (nr == 2 || nr == 257 || nr == 437)) {
		/* open(path, flags), openat(dfd, path, flags), openat2(dfd, path, how) */
		const char *given = (const char *)(nr == 2 ? BPF_CORE_READ(regs, di)
							  : BPF_CORE_READ(regs, si));
		__u64 asked = 0;
		if (nr == 2)
			asked = BPF_CORE_READ(regs, si);
		else if (nr == 257)
			asked = BPF_CORE_READ(regs, dx);
		else
			bpf_probe_read_user(&asked, sizeof(asked), (void *)BPF_CORE_READ(regs, dx));
		struct file *file = current_fd_file(ret);
		if (!file)
			return 0;
		/*
		 * The open cleared these four bits from f_flags after
		 * security_file_open saw them; put back the ones asked for.
		 */
		int flags = BPF_CORE_READ(file, f_flags) |
			    (asked & (O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC));
		send_open(cfg, file, flags, given);
		return 0;
	}
	if (cfg->rename_enabled && (nr == 82 || nr == 264 || nr == 316)) {
		/* rename(old, new), renameat[2](olddfd, old, newdfd, new[, flags]) */
		long old_dfd = AT_FDCWD, new_dfd = AT_FDCWD;
		const char *old_name, *new_name;
		if (nr == 82) {
			old_name = (const char *)BPF_CORE_READ(regs, di);
			new_name = (const char *)BPF_CORE_READ(regs, si);
		} else {
			old_dfd = (int)BPF_CORE_READ(regs, di);
			old_name = (const char *)BPF_CORE_READ(regs, si);
			new_dfd = (int)BPF_CORE_READ(regs, dx);
			new_name = (const char *)BPF_CORE_READ(regs, r10);
		}
		struct file_scratch *s = file_scratch_here();
		if (!s)
			return 0;
		file_context(&s->ev, FILE_KIND_RENAME);
		s->pos = 0;
		s->ev.path_len = append_rename_path(s, old_dfd, old_name, FILE_FLAG_PATH_TRUNCATED);
		s->ev.path2_len = append_rename_path(s, new_dfd, new_name, FILE_FLAG_PATH2_TRUNCATED);
		file_send(s, FILE_DROP_RENAME_RING);
	}
#endif
	return 0;
}
