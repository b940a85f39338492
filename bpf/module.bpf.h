/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * sigbox's live module_load (Tracee v0.24.1's `tracepoint__module__module_load`):
 * one `struct sys_event` (sys_event.h, kind SYS_KIND_MODULE_LOAD) per module
 * the kernel loads, through `sys_events`. Included after sys.bpf.h (it
 * shares its scratch, ring, switches and the path walk).
 *
 * Its own program, on `tp_btf/module_load` (fired in load_module() once
 * the module is set up, before its init runs, in the task that loads
 * it): kernels built without CONFIG_MODULES have no such tracepoint, and
 * there only this program fails to load. The host attaches it only while a
 * loaded signature selects module_load.
 *
 * As Tracee: name, version and src_version from `struct module`; when the
 * task is in finit_module(2), the file fields (pathname, dev, inode,
 * ctime) of the descriptor it got; init_module(2) loads from memory and
 * leaves them empty.
 */

#define NR_FINIT_MODULE 313
/* x86_64 without KASAN (Debian's kernels): 4 pages of kernel stack. */
#define THREAD_SIZE_X86_64 (4 * 4096)

/* Appends a kernel string (NULL: empty); returns its length. */
static __always_inline __u16 sys_append_kernel_str(struct sys_scratch *s, const char *str)
{
	__u32 at = RELOAD(s->pos) & SYS_TAIL_POS_MASK;
	if (!str)
		return 0;
	long ret = bpf_probe_read_kernel_str(&s->tail[at], SYS_STR_CAP, str);
	__u32 len = str_len(ret) & (SYS_STR_CAP - 1);
	if (ret == SYS_STR_CAP)
		s->ev.record_flags |= SYS_FLAG_STR_TRUNCATED;
	s->pos = at + len;
	return len;
}

/* The registers the current task entered its syscall with. */
static __always_inline struct pt_regs *current_syscall_regs(void)
{
#ifndef SIGBOX_NO_FIND_VMA
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
#else
	/* Before 5.17 (the compat build; bpf_task_pt_regs is 5.15+): the top of the kernel stack. */
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	void *stack = BPF_CORE_READ(task, stack);
	/* The kernel's size of pt_regs, not this subset's (CO-RE). */
	return stack ? (struct pt_regs *)(stack + THREAD_SIZE_X86_64 -
					  bpf_core_type_size(struct pt_regs))
		     : NULL;
#endif
}

/* The file finit_module(2) loads from; NULL in any other syscall. */
static __always_inline struct file *finit_module_file(void)
{
#if defined(__TARGET_ARCH_x86)
	struct pt_regs *regs = current_syscall_regs();
	if (!regs || BPF_CORE_READ(regs, orig_ax) != NR_FINIT_MODULE)
		return NULL;
	return current_fd_file((int)BPF_CORE_READ(regs, di));
#else
	return NULL;
#endif
}

SEC("tp_btf/module_load")
int BPF_PROG(sigbox_module_load, struct module *mod)
{
	if (!sys_enabled(SYS_KIND_MODULE_LOAD))
		return 0;
	struct sys_scratch *s = sys_begin(SYS_KIND_MODULE_LOAD);
	if (!s)
		return 0;
	long name = bpf_probe_read_kernel_str(s->ev.addr, sizeof(mod->name), &mod->name);
	s->ev.addr_len = str_len(name) & (SYS_ADDR_BYTES - 1);
	s->ev.str_len[0] = sys_append_kernel_str(s, BPF_CORE_READ(mod, version));
	s->ev.str_len[1] = sys_append_kernel_str(s, BPF_CORE_READ(mod, srcversion));

	struct file *file = finit_module_file();
	if (file) {
		__u32 dev = 0;
		__u64 ino = 0, ctime = 0;
		__u16 mode = 0;
		file_identity(file, &dev, &ino, &ctime, &mode);
		s->ev.args[0] = dev;
		s->ev.args[1] = ino;
		s->ev.args[2] = ctime;
		walk_path(&s->walk, BPF_CORE_READ(file, f_path.mnt), BPF_CORE_READ(file, f_path.dentry));
		__u32 start = RELOAD(s->pos) & SYS_TAIL_POS_MASK;
		__u32 len = RELOAD(s->walk.len) & (EXEC_PATH_CAP - 1);
		__u32 from = RELOAD(s->walk.start) & (PATH_END - 1);
		if (len)
			bpf_probe_read_kernel(&s->tail[start], len, &s->walk.path[from]);
		s->pos = start + len;
		s->ev.str_len[2] = len;
	}
	sys_send(s);
	return 0;
}
