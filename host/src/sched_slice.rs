//! A short scheduler slice for the threads on the exec → finding path.
//!
//! Measured on a loaded two-core machine (BENCHMARKS.md, issue 31 item 4),
//! the tail of exec → finding is not work but waiting to run: each of the
//! two hand-offs inside the daemon (the kernel waking the live loop, the
//! loop waking a dispatch worker) waited up to ~0.8 ms for a core while
//! other processes used their default slice. Since Linux 6.12, EEVDF lets
//! an ordinary (`SCHED_OTHER`) thread ask for a shorter slice
//! (`sched_attr.sched_runtime`, 0.1–100 ms): its virtual deadline comes
//! sooner, so on wake-up it preempts a thread in the middle of a longer
//! one instead of queueing behind it. No privilege is needed and no
//! priority is raised: the thread's share of the CPU stays what its nice
//! value gives; only when it runs changes. Older kernels ignore the field
//! (the thread keeps the default slice), and a policy the operator chose
//! (real-time, idle, a custom slice of their own) is left as it is. A
//! thread started afterwards inherits the slice, so callers ask once the
//! threads that need no short slice (module loaders) are started.

/// The slice asked for: the kernel's minimum, since these threads run in
/// short bursts (a batch of events) and then sleep.
pub const SLICE_NS: u64 = 100_000;

/// `struct sched_attr` up to `sched_period` (`SCHED_ATTR_SIZE_VER0`).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

const SCHED_OTHER: u32 = 0;
const SCHED_BATCH: u32 = 3;

/// Asks for [`SLICE_NS`] for the calling thread; returns whether the
/// kernel took it (false: an old kernel, a seccomp filter, or a policy
/// this leaves alone). Never fails the caller: the slice only shortens
/// waits.
pub fn shorten_for_this_thread() -> bool {
    let mut attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        ..SchedAttr::default()
    };
    // SAFETY: `attr` is a writable sched_attr of the size passed; 0 is the
    // calling thread.
    let got = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut attr as *mut SchedAttr,
            std::mem::size_of::<SchedAttr>() as u32,
            0,
        )
    };
    if got != 0 || !matches!(attr.sched_policy, SCHED_OTHER | SCHED_BATCH) {
        return false;
    }
    // The kernel reports the slice in use (the default, or one set before):
    // an operator's own choice below ours stays.
    if attr.sched_runtime != 0 && attr.sched_runtime <= SLICE_NS {
        return true;
    }
    attr.sched_runtime = SLICE_NS;
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `attr` is a valid sched_attr for the calling thread (0),
    // its policy, nice and flags as the kernel just reported them.
    let set = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    set == 0 && read_slice() == Some(SLICE_NS)
}

/// The calling thread's slice as the kernel reports it.
fn read_slice() -> Option<u64> {
    let mut attr = SchedAttr::default();
    // SAFETY: as in `shorten_for_this_thread`.
    let got = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut attr as *mut SchedAttr,
            std::mem::size_of::<SchedAttr>() as u32,
            0,
        )
    };
    (got == 0).then_some(attr.sched_runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_gets_the_short_slice_where_the_kernel_has_custom_slices() {
        let taken = std::thread::spawn(|| (shorten_for_this_thread(), read_slice()))
            .join()
            .unwrap();
        match taken {
            (true, slice) => assert_eq!(slice, Some(SLICE_NS)),
            // Before 6.12 the kernel ignores the field and reports its default.
            (false, slice) => assert_ne!(slice, Some(SLICE_NS), "{slice:?}"),
        }
    }
}
