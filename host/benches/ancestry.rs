//! The process tree's cost (issue 30; run by `make bench`, alone with
//! `cargo bench -p sigbox --bench ancestry`):
//!
//! - `forks`: fork + exit + wait of a child that does nothing, timed under
//!   the real daemon (`sigbox run` on TRC-1016, which keeps the tree
//!   whatever is loaded) and right after it stopped, in rounds, so a noisy
//!   neighbour slows both alike; the medians and the median of the rounds'
//!   ratios.
//! - `tree`: the heap a tree of 30,000 processes takes (counted by this
//!   binary's allocator), and the time to fill an event's ancestry and to
//!   read the ancestry fields.
//!
//! Environment: `SIGBOX_BENCH_ONLY` (forks, tree), `SIGBOX_BENCH_ROUNDS`
//! (default 7). `forks` needs root and `make`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use sigbox::bench::ancestry::{enrich_ns, field_read_ns, tree_of};

mod support;
use support::{Daemon, repo, rounds, wanted};

/// Counts the bytes live on the heap.
struct Counting;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Forks per timed run.
const FORKS: u32 = 5_000;
const PROCESSES: u32 = 30_000;

fn main() {
    if wanted("tree") {
        tree();
    }
    if wanted("forks") {
        forks();
    }
}

fn tree() {
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut tree = tree_of(PROCESSES);
    let bytes = LIVE_BYTES.load(Ordering::Relaxed) - before;
    let enrich = enrich_ns(&mut tree, 1_000_000);
    let (filter, project) = field_read_ns(&mut tree, 1_000_000);
    println!("| process tree, {PROCESSES} processes | value |");
    println!("|---|---|");
    println!(
        "| heap | {:.1} MiB ({} bytes a process) |",
        bytes as f64 / f64::from(1 << 20),
        bytes / i64::from(PROCESSES)
    );
    println!("| fill an event's ids and 8-level ancestry | {enrich:.0} ns |");
    println!("| filter `ancestors.process-name` (any of 3, 8 names, no match) | {filter:.0} ns |");
    println!("| project `parent.process-name` | {project:.0} ns |");
}

/// ns per fork + exit + wait, median of the runs of one round.
fn fork_exit_ns() -> f64 {
    let start = Instant::now();
    for _ in 0..FORKS {
        // SAFETY: the child only calls _exit, which is async-signal-safe.
        match unsafe { libc::fork() } {
            0 => unsafe { libc::_exit(0) },
            -1 => panic!("fork: {}", std::io::Error::last_os_error()),
            child => {
                let mut status = 0;
                // SAFETY: waits for the child just forked.
                unsafe { libc::waitpid(child, &mut status, 0) };
            }
        }
    }
    start.elapsed().as_nanos() as f64 / f64::from(FORKS)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn forks() {
    if sigbox::source::check_privileges().is_err() {
        eprintln!("forks: skipped (needs root for eBPF)");
        return;
    }
    let rounds = rounds(7);
    let (mut alone, mut watched, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        // TRC-1016 loaded: the tree is fed from before that.
        let daemon = Daemon::start(&[repo().join("target/signatures/trc-1016.wasm")], |_| true);
        // Let the daemon finish starting (compile cache, directory scan):
        // its start is not the cost measured.
        daemon.settle();
        let with = fork_exit_ns();
        drop(daemon);
        let without = fork_exit_ns();
        ratios.push(with / without);
        watched.push(with);
        alone.push(without);
    }
    let spread = |values: &[f64]| {
        let (min, max) = values
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        format!("{min:.2}–{max:.2}")
    };
    let ratio_spread = spread(&ratios);
    let (alone, watched, ratio) = (median(alone), median(watched), median(ratios));
    println!();
    println!(
        "| fork + exit + wait ({FORKS} a run, {rounds} rounds, each with then without the daemon) | median ns | median of the rounds' ratios (range) |"
    );
    println!("|---|---|---|");
    println!("| no daemon | {alone:.0} | 1.00 |");
    println!(
        "| `sigbox run` (tree fed by the kernel) | {watched:.0} | {ratio:.2} ({ratio_spread}) |"
    );
}
