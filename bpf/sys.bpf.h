/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * sigbox's live network, process and mount events, Tracee v0.24.1's
 * security_socket_connect, socket_dup, ptrace, process_vm_writev and
 * security_sb_mount: one `struct sys_event` (sys_event.h) each, through the
 * `sys_events` ring buffer. Part of exec.bpf.c's object (it shares the task
 * helpers, the path walk and file.bpf.h's fd lookup); included at its end.
 *
 * Every program sits on a `syscalls:sys_{enter,exit}_*` tracepoint: they
 * work where the kernel refuses fentry and BPF LSM programs (EPERM at load
 * on the development machines) and cost nothing while detached. The host
 * attaches a kind's programs only while a loaded signature selects it, and
 * each returns at once unless `sys_config[kind]` is 1.
 */
#include "sys_event.h"

#define SYS_TAIL_POS_MASK 0x7fff
#define SYS_TAIL (SYS_TAIL_POS_MASK + 1 + SYS_STR_CAP)

/* Address families and socket types Tracee reports (socket(2)). */
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define SOCK_SEQPACKET 5
#define S_IFMT 00170000
#define S_IFSOCK 0140000

_Static_assert(5 * (SYS_STR_CAP - 1) + 1 <= SYS_TAIL_POS_MASK, "sys tail fits the mask");

/* The classic syscall tracepoints' records (see their `format` files). */
struct sys_enter_ctx {
	__u64 common;
	long nr;
	unsigned long args[6];
};

struct sys_exit_ctx {
	__u64 common;
	long nr;
	long ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} sys_events SEC(".maps");

/* sys_config[kind] == 1: send that kind. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SYS_KINDS);
	__type(key, __u32);
	__type(value, __u32);
} sys_config SEC(".maps");

/* Records lost to a full ring buffer, by kind. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SYS_KINDS);
	__type(key, __u32);
	__type(value, __u64);
} sys_drops SEC(".maps");

/* A dup of a socket between its syscall's entry and exit, by pid_tgid. */
struct dup_call {
	__s64 oldfd;
	__s64 newfd; /* dup2, dup3; -1 for dup (its result is the new fd) */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct dup_call);
} sys_dup_calls SEC(".maps");

struct sys_scratch {
	struct sys_event ev;
	__u8 tail[SYS_TAIL];
	struct path_walk walk;
	__u32 pos;
	__u32 _unused;
};

/* One per possible CPU, as exec_scratch (userspace sizes it at load). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sys_scratch);
} sys_scratch SEC(".maps");

static __always_inline bool sys_enabled(__u32 kind)
{
	__u32 *on = bpf_map_lookup_elem(&sys_config, &kind);
	return on && *on;
}

/* The scratch area with its header's context filled for `kind`. */
static __always_inline struct sys_scratch *sys_begin(__u16 kind)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct sys_scratch *s = bpf_map_lookup_elem(&sys_scratch, &cpu);
	if (!s)
		return NULL;
	struct sys_event *ev = &s->ev;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ugid = bpf_get_current_uid_gid();

	__builtin_memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
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
		ev->record_flags |= SYS_FLAG_PARENT_KTHREAD;
	s->pos = 0;
	return s;
}

static __always_inline void sys_send(struct sys_scratch *s)
{
	__u32 kind = s->ev.kind;
	__u64 size = sizeof(s->ev) + (RELOAD(s->pos) & SYS_TAIL_POS_MASK);
	if (bpf_ringbuf_output(&sys_events, s, size, 0) < 0) {
		__u64 *n = bpf_map_lookup_elem(&sys_drops, &kind);
		if (n)
			*n += 1;
	}
}

/* Appends a user string (NULL: empty); returns its length. */
static __always_inline __u16 sys_append_user_str(struct sys_scratch *s, const char *str)
{
	__u32 at = RELOAD(s->pos) & SYS_TAIL_POS_MASK;
	if (!str)
		return 0;
	long ret = bpf_probe_read_user_str(&s->tail[at], SYS_STR_CAP, str);
	__u32 len = str_len(ret) & (SYS_STR_CAP - 1);
	if (ret == SYS_STR_CAP)
		s->ev.record_flags |= SYS_FLAG_STR_TRUNCATED;
	s->pos = at + len;
	return len;
}

/* The socket behind descriptor `fd` of the current task, or NULL. */
static __always_inline struct socket *fd_socket(long fd)
{
	struct file *file = current_fd_file(fd);
	if (!file)
		return NULL;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	return BPF_CORE_READ(file, private_data);
}

/*
 * security_socket_connect, at the connect(2) entry: an attempt, before
 * the LSM decision, like Tracee's kprobe. The address is read from user
 * memory as the syscall got it (the kernel copies the same bytes next).
 */
SEC("tracepoint/syscalls/sys_enter_connect")
int sigbox_enter_connect(struct sys_enter_ctx *ctx)
{
	if (!sys_enabled(SYS_KIND_CONNECT))
		return 0;
	long fd = (int)ctx->args[0];
	const void *uaddr = (const void *)ctx->args[1];
	long addrlen = (int)ctx->args[2];
	struct socket *sock = fd_socket(fd);
	if (!sock || !uaddr || addrlen < 2)
		return 0;
	short type = BPF_CORE_READ(sock, type);
	if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
		return 0;
	__u16 family = 0;
	bpf_probe_read_user(&family, sizeof(family), uaddr);
	if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
		return 0;
	struct sys_scratch *s = sys_begin(SYS_KIND_CONNECT);
	if (!s)
		return 0;
	__u32 len = addrlen > SYS_ADDR_BYTES ? SYS_ADDR_BYTES : addrlen;
	barrier_var(len);
	if (len > SYS_ADDR_BYTES)
		return 0;
	/* An AF_UNIX address shorter than sockaddr_un stays zero-padded (Tracee). */
	bpf_probe_read_user(s->ev.addr, len, uaddr);
	s->ev.addr_len = len;
	s->ev.args[0] = fd;
	s->ev.args[1] = type;
	sys_send(s);
	return 0;
}

/*
 * socket_dup: dup, dup2 and dup3 of a socket, sent at the syscall's exit
 * when it succeeded (Tracee: kretprobes). The entry remembers the fds.
 */
static __always_inline void dup_enter(long oldfd, long newfd)
{
	if (!sys_enabled(SYS_KIND_SOCKET_DUP) || !fd_socket(oldfd))
		return;
	__u64 id = bpf_get_current_pid_tgid();
	struct dup_call call = {.oldfd = oldfd, .newfd = newfd};
	bpf_map_update_elem(&sys_dup_calls, &id, &call, BPF_ANY);
}

/*
 * The socket's remote address as Tracee's send_socket_dup reads it from
 * `struct sock`: the peer for AF_INET/AF_INET6, the socket's own bound
 * address for AF_UNIX (all zero, AF_UNSPEC, when it has none).
 */
static __always_inline bool sock_remote_addr(struct sys_event *ev, struct socket *sock)
{
	struct sock *sk = BPF_CORE_READ(sock, sk);
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u8 *a = ev->addr;
	if (family == AF_INET) {
		__be16 port = BPF_CORE_READ(sk, __sk_common.skc_dport);
		__be32 addr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		*(__u16 *)&a[0] = AF_INET;
		__builtin_memcpy(&a[2], &port, 2);
		__builtin_memcpy(&a[4], &addr, 4);
		ev->addr_len = 16;
	} else if (family == AF_INET6) {
		__be16 port = BPF_CORE_READ(sk, __sk_common.skc_dport);
		*(__u16 *)&a[0] = AF_INET6;
		__builtin_memcpy(&a[2], &port, 2);
		BPF_CORE_READ_INTO(&a[8], sk, __sk_common.skc_v6_daddr);
		ev->addr_len = 28;
	} else if (family == AF_UNIX) {
		struct unix_address *addr = BPF_CORE_READ((struct unix_sock *)sk, addr);
		if (addr) {
			__u32 len = BPF_CORE_READ(addr, len);
			if (len > sizeof(struct sockaddr_un))
				len = sizeof(struct sockaddr_un);
			barrier_var(len);
			if (len > 0 && len <= sizeof(struct sockaddr_un))
				/* By offset: CO-RE cannot index a flexible array. */
				bpf_probe_read_kernel(a, len,
						      (void *)addr +
							      bpf_core_field_offset(struct unix_address, name));
		}
		ev->addr_len = sizeof(struct sockaddr_un);
	} else {
		return false;
	}
	return true;
}

static __always_inline void dup_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct dup_call *call = bpf_map_lookup_elem(&sys_dup_calls, &id);
	if (!call)
		return;
	struct dup_call got = *call;
	bpf_map_delete_elem(&sys_dup_calls, &id);
	if (ret < 0)
		return;
	/* dup's new fd is its result; dup2's and dup3's is the one asked for. */
	long newfd = got.newfd < 0 ? ret : got.newfd;
	struct socket *sock = fd_socket(newfd);
	if (!sock)
		return;
	struct sys_scratch *s = sys_begin(SYS_KIND_SOCKET_DUP);
	if (!s)
		return;
	if (!sock_remote_addr(&s->ev, sock))
		return;
	s->ev.args[0] = got.oldfd;
	s->ev.args[1] = newfd;
	sys_send(s);
}

SEC("tracepoint/syscalls/sys_enter_dup")
int sigbox_enter_dup(struct sys_enter_ctx *ctx)
{
	dup_enter((int)ctx->args[0], -1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_dup2")
int sigbox_enter_dup2(struct sys_enter_ctx *ctx)
{
	dup_enter((int)ctx->args[0], (int)ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_dup3")
int sigbox_enter_dup3(struct sys_enter_ctx *ctx)
{
	dup_enter((int)ctx->args[0], (int)ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_dup")
int sigbox_exit_dup(struct sys_exit_ctx *ctx)
{
	dup_exit(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_dup2")
int sigbox_exit_dup2(struct sys_exit_ctx *ctx)
{
	dup_exit(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_dup3")
int sigbox_exit_dup3(struct sys_exit_ctx *ctx)
{
	dup_exit(ctx->ret);
	return 0;
}

/* ptrace and process_vm_writev: the syscall's arguments at its entry. */
static __always_inline void send_syscall_args(struct sys_enter_ctx *ctx, __u16 kind, int count)
{
	if (!sys_enabled(kind))
		return;
	struct sys_scratch *s = sys_begin(kind);
	if (!s)
		return;
	/* Constant offsets: the verifier refuses a moved ctx pointer. */
	s->ev.args[0] = ctx->args[0];
	s->ev.args[1] = ctx->args[1];
	s->ev.args[2] = ctx->args[2];
	s->ev.args[3] = ctx->args[3];
	if (count > 4) {
		s->ev.args[4] = ctx->args[4];
		s->ev.args[5] = ctx->args[5];
	}
	sys_send(s);
}

SEC("tracepoint/syscalls/sys_enter_ptrace")
int sigbox_enter_ptrace(struct sys_enter_ctx *ctx)
{
	send_syscall_args(ctx, SYS_KIND_PTRACE, 4);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_process_vm_writev")
int sigbox_enter_process_vm_writev(struct sys_enter_ctx *ctx)
{
	send_syscall_args(ctx, SYS_KIND_PROCESS_VM_WRITEV, 6);
	return 0;
}

/*
 * security_sb_mount, at the mount(2) entry: dev_name and type as given,
 * `path` as given when absolute, else the working directory walked as
 * exec's `pathname`, a `/` and the path as given (not normalised).
 */
SEC("tracepoint/syscalls/sys_enter_mount")
int sigbox_enter_mount(struct sys_enter_ctx *ctx)
{
	if (!sys_enabled(SYS_KIND_SB_MOUNT))
		return 0;
	struct sys_scratch *s = sys_begin(SYS_KIND_SB_MOUNT);
	if (!s)
		return 0;
	const char *dev_name = (const char *)ctx->args[0];
	const char *dir = (const char *)ctx->args[1];
	const char *type = (const char *)ctx->args[2];
	s->ev.args[0] = ctx->args[3];
	s->ev.str_len[0] = sys_append_user_str(s, dev_name);

	__u32 start = RELOAD(s->pos) & SYS_TAIL_POS_MASK;
	char first = 0;
	bpf_probe_read_user(&first, 1, dir);
	if (first != '/') {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct fs_struct *fs = BPF_CORE_READ(task, fs);
		walk_path(&s->walk, BPF_CORE_READ(fs, pwd.mnt), BPF_CORE_READ(fs, pwd.dentry));
		__u32 len = RELOAD(s->walk.len) & (EXEC_PATH_CAP - 1);
		__u32 from = RELOAD(s->walk.start) & (PATH_END - 1);
		if (len)
			bpf_probe_read_kernel(&s->tail[start], len, &s->walk.path[from]);
		__u32 at = (start + len) & SYS_TAIL_POS_MASK;
		s->tail[at] = '/';
		s->pos = at + 1;
	}
	sys_append_user_str(s, dir);
	s->ev.str_len[1] = (RELOAD(s->pos) & SYS_TAIL_POS_MASK) - start;
	s->ev.str_len[2] = sys_append_user_str(s, type);
	sys_send(s);
	return 0;
}
