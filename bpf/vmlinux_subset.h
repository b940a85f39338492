/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * The few kernel types exec.bpf.c touches, written by hand instead of a
 * generated 3 MB vmlinux.h: the build needs neither bpftool nor the build
 * machine's BTF, and this file lists exactly what we rely on.
 *
 * Kernel structs carry preserve_access_index, so clang emits CO-RE
 * relocations and the loader (aya) fixes every offset from the running
 * kernel's BTF (/sys/kernel/btf/vmlinux). Only the names matter here; the
 * member order and the absence of the other members are irrelevant.
 */
#ifndef SIGBOX_VMLINUX_SUBSET_H
#define SIGBOX_VMLINUX_SUBSET_H

/* As a generated vmlinux.h: bpf_tracing.h's PT_REGS_* use the kernel's register names. */
#define __VMLINUX_H__

/* Fixed-width types (normally from <linux/types.h>). */
typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef __u32 __wsum;
typedef int pid_t;
typedef __u32 dev_t;
typedef unsigned short umode_t;
typedef __s64 time64_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

/* The uapi constants we use (stable ABI values from <linux/bpf.h>). */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_LPM_TRIE = 11,
	BPF_MAP_TYPE_RINGBUF = 27,
};
enum {
	BPF_ANY = 0,
};
enum {
	BPF_F_NO_PREALLOC = 1,
};

/* task_struct.flags bit for kernel threads (<linux/sched.h>). */
#define PF_KTHREAD 0x00200000
/* dentry.d_flags bit: not connected to the dentry tree (<linux/dcache.h>). */
#define DCACHE_DISCONNECTED 0x20
/* File type bits of i_mode (<linux/stat.h>). */
#define S_IFMT 00170000
/* Auxiliary vector entry: base address of the program interpreter (<linux/auxvec.h>). */
#define AT_NULL 0
#define AT_BASE 7

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct ns_common {
	unsigned int inum;
};

struct mnt_namespace {
	struct ns_common ns;
};

struct pid_namespace {
	struct ns_common ns;
};

struct nsproxy {
	struct mnt_namespace *mnt_ns;
};

struct upid {
	int nr;
	struct pid_namespace *ns;
};

struct pid {
	unsigned int level;
	struct upid numbers[1];
};

struct timespec64 {
	time64_t tv_sec;
	long tv_nsec;
};

struct super_block {
	dev_t s_dev;
};

struct inode {
	umode_t i_mode;
	struct super_block *i_sb;
	unsigned long i_ino;
};

/*
 * The inode's ctime moved twice; the ___flavor suffix lets CO-RE match each
 * shape against `struct inode`, and bpf_core_field_exists picks the one the
 * running kernel has.
 */
struct inode___v611 { /* 6.11+ */
	time64_t i_ctime_sec;
	__u32 i_ctime_nsec;
};

struct inode___v606 { /* 6.6 to 6.10 */
	struct timespec64 __i_ctime;
};

struct inode___v0 { /* before 6.6 */
	struct timespec64 i_ctime;
};

/* The name of a dentry; len and name are what the path walk reads. */
struct qstr {
	union {
		struct {
			__u32 hash;
			__u32 len;
		};
		__u64 hash_len;
	};
	const unsigned char *name;
};

struct dentry {
	unsigned int d_flags;
	struct dentry *d_parent;
	struct qstr d_name;
};

struct vfsmount {
	struct dentry *mnt_root;
};

/* The kernel's private mount, which embeds the vfsmount a path points to. */
struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct file {
	struct path f_path;
	struct inode *f_inode;
	unsigned int f_flags;
	void *private_data; /* a socket's struct socket */
};

/* Sockets (security_socket_connect, socket_dup; sys.bpf.h). */
struct in6_addr {
	__u8 s6_addr[16];
};

struct sock_common {
	union {
		struct {
			__be32 skc_daddr;
			__be32 skc_rcv_saddr;
		};
		__u64 skc_addrpair;
	};
	union {
		struct {
			__be16 skc_dport;
			__u16 skc_num;
		};
		__u32 skc_portpair;
	};
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
};

struct sock {
	struct sock_common __sk_common;
};

struct socket {
	short type;
	struct sock *sk;
};

struct sockaddr_un {
	unsigned short sun_family;
	char sun_path[108];
};

struct unix_address {
	int len;
	struct sockaddr_un name[];
};

struct unix_sock {
	struct sock sk;
	struct unix_address *addr;
};

/*
 * The registers a syscall entered with (syscall_pathname), or a kprobed
 * function was called with (cx: its 4th argument). x86_64 names.
 */
struct pt_regs {
	unsigned long di;
	unsigned long si;
	unsigned long dx;
	unsigned long cx;
	unsigned long r10;
	unsigned long r8;
	unsigned long r9;
	unsigned long orig_ax;
};

struct fs_struct {
	struct path pwd;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct vm_area_struct {
	struct file *vm_file;
};

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
	unsigned long env_start;
	unsigned long env_end;
	unsigned long saved_auxv[2];
};

/* The process tree's feed (task.bpf.h): the live-thread count and uid. */
typedef struct {
	int counter;
} atomic_t;

typedef struct {
	__u32 val;
} kuid_t;

struct signal_struct {
	atomic_t live;
};

struct cred {
	kuid_t uid;
};

struct task_struct {
	unsigned int flags;
	struct signal_struct *signal;
	const struct cred *real_cred;
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct pid *thread_pid;
	struct nsproxy *nsproxy;
	struct mm_struct *mm;
	struct fs_struct *fs;
	struct files_struct *files;
	__u64 start_boottime;
	char comm[16];
	void *stack; /* the kernel stack (module_load's syscall registers before 5.15) */
};

struct linux_binprm {
	struct file *file;
	const char *filename;
	const char *interp;
};

/*
 * A kernel module (module_load). Absent from kernels built without
 * CONFIG_MODULES, whose BTF may still define it: the program that reads it
 * is loaded on its own, and its failure is the event's alone.
 */
struct module {
	char name[56]; /* MODULE_NAME_LEN on 64-bit */
	const char *version;
	const char *srcversion;
};

#pragma clang attribute pop

#endif /* SIGBOX_VMLINUX_SUBSET_H */
