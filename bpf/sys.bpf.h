/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * sigbox's live network, process and mount events, Tracee v0.24.1's
 * security_socket_connect, socket_dup, ptrace, process_vm_writev and
 * security_sb_mount: one `struct sys_event` (sys_event.h) each, through the
 * `sys_events` ring buffer. Part of exec.bpf.c's object (it shares the task
 * helpers, the path walk and file.bpf.h's fd lookup); included at its end.
 *
 * Two programs, on the raw syscall tracepoints `tp_btf/sys_enter` and
 * `tp_btf/sys_exit` (x86_64 syscall numbers; 64-bit tasks): they work where
 * the kernel refuses fentry and BPF LSM programs (EPERM at load on the
 * development machines), and, unlike the `syscalls:*` tracepoints, can be
 * attached after the daemon dropped its capabilities. The host attaches
 * them only while a loaded signature selects one of these kinds (while
 * attached, every syscall runs them: a switch on the number), and each
 * kind returns at once unless `sys_config[kind]` is 1.
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

/* x86_64 syscall numbers. */
#define NR_DUP 32
#define NR_DUP2 33
#define NR_CONNECT 42
#define NR_PTRACE 101
#define NR_MOUNT 165
#define NR_DUP3 292
#define NR_PROCESS_VM_WRITEV 311

/*
 * 8 MiB, as file_events: ~31,000 records (264 bytes each with the ring's
 * header, more with strings), a few seconds of 10k connects/s while the
 * daemon is descheduled on a busy machine; 1 MiB held ~4,000.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
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
static __always_inline void connect_enter(long fd, const void *uaddr, long addrlen)
{
	if (!sys_enabled(SYS_KIND_CONNECT))
		return;
	struct socket *sock = fd_socket(fd);
	if (!sock || !uaddr || addrlen < 2)
		return;
	short type = BPF_CORE_READ(sock, type);
	if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
		return;
	__u16 family = 0;
	bpf_probe_read_user(&family, sizeof(family), uaddr);
	if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
		return;
	struct sys_scratch *s = sys_begin(SYS_KIND_CONNECT);
	if (!s)
		return;
	__u32 len = addrlen > SYS_ADDR_BYTES ? SYS_ADDR_BYTES : addrlen;
	barrier_var(len);
	if (len > SYS_ADDR_BYTES)
		return;
	/* An AF_UNIX address shorter than sockaddr_un stays zero-padded (Tracee). */
	bpf_probe_read_user(s->ev.addr, len, uaddr);
	s->ev.addr_len = len;
	s->ev.args[0] = fd;
	s->ev.args[1] = type;
	sys_send(s);
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

/* ptrace and process_vm_writev: the syscall's arguments at its entry. */
static __always_inline void send_syscall_args(__u16 kind, struct pt_regs *regs)
{
	if (!sys_enabled(kind))
		return;
	struct sys_scratch *s = sys_begin(kind);
	if (!s)
		return;
	s->ev.args[0] = BPF_CORE_READ(regs, di);
	s->ev.args[1] = BPF_CORE_READ(regs, si);
	s->ev.args[2] = BPF_CORE_READ(regs, dx);
	s->ev.args[3] = BPF_CORE_READ(regs, r10);
	if (kind == SYS_KIND_PROCESS_VM_WRITEV) {
		s->ev.args[4] = BPF_CORE_READ(regs, r8);
		s->ev.args[5] = BPF_CORE_READ(regs, r9);
	}
	sys_send(s);
}

/*
 * security_sb_mount, at the mount(2) entry: dev_name and type as given,
 * `path` as given when absolute, else the working directory walked as
 * exec's `pathname`, a `/` and the path as given (not normalised).
 */
static __always_inline void mount_enter(struct pt_regs *regs)
{
	if (!sys_enabled(SYS_KIND_SB_MOUNT))
		return;
	struct sys_scratch *s = sys_begin(SYS_KIND_SB_MOUNT);
	if (!s)
		return;
	const char *dev_name = (const char *)BPF_CORE_READ(regs, di);
	const char *dir = (const char *)BPF_CORE_READ(regs, si);
	const char *type = (const char *)BPF_CORE_READ(regs, dx);
	s->ev.args[0] = BPF_CORE_READ(regs, r10);
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
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sigbox_sys_enter, struct pt_regs *regs, long id)
{
#if defined(__TARGET_ARCH_x86)
	switch (id) {
	case NR_CONNECT:
		connect_enter((int)BPF_CORE_READ(regs, di), (const void *)BPF_CORE_READ(regs, si),
			      (int)BPF_CORE_READ(regs, dx));
		break;
	case NR_DUP:
		dup_enter((int)BPF_CORE_READ(regs, di), -1);
		break;
	case NR_DUP2:
	case NR_DUP3:
		dup_enter((int)BPF_CORE_READ(regs, di), (int)BPF_CORE_READ(regs, si));
		break;
	case NR_PTRACE:
		send_syscall_args(SYS_KIND_PTRACE, regs);
		break;
	case NR_PROCESS_VM_WRITEV:
		send_syscall_args(SYS_KIND_PROCESS_VM_WRITEV, regs);
		break;
	case NR_MOUNT:
		mount_enter(regs);
		break;
	}
#endif
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sigbox_sys_exit, struct pt_regs *regs, long ret)
{
#if defined(__TARGET_ARCH_x86)
	long nr = BPF_CORE_READ(regs, orig_ax);
	if (nr == NR_DUP || nr == NR_DUP2 || nr == NR_DUP3)
		dup_exit(ret);
#endif
	return 0;
}
