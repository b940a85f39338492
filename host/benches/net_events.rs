//! Live network and process events measured side by side (issue 29; run by
//! `make bench`, alone with `cargo bench -p sigbox --bench net_events`):
//!
//! - `loops`: a connect+close loop to a TCP listener on loopback, a `dup2`
//!   loop of a connected socket onto another descriptor, and a `getpid`
//!   loop (a syscall no signature selects: what the `sys_enter`/`sys_exit`
//!   programs cost every syscall on the machine while attached), timed with
//!   no daemon and under the real daemon on the full default set (every
//!   network and process kind switched on), alternated in rounds so a
//!   noisy neighbour slows both alike; the median per operation (CPU time
//!   of the calling thread, where the kernel's hooks run) and the slowdown.
//! - `rate`: connects paced at 10k/s for 5 s under the full default set;
//!   the daemon's CPU time (utime + stime of `/proc/PID/stat`) over the
//!   wall time, and what it dropped (from its `/metrics`).
//!
//! Environment: `SIGBOX_BENCH_ONLY` (comma-separated sections: loops,
//! rate), `SIGBOX_BENCH_ROUNDS` (rounds of the loops, default 5).
//! Needs root (eBPF) and `make` (the binary and the signed default set).

use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use sigbox::bench::Timing;
use sigbox::source::check_privileges;

mod support;
use support::{
    Daemon, cpu_seconds, default_set, load_average, metric, metric_sum, print_loops, rounds,
    time_loop, wanted,
};

/// The kinds the default set switches on, as the metrics name them.
const KINDS: [&str; 5] = [
    "security_socket_connect",
    "socket_dup",
    "ptrace",
    "process_vm_writev",
    "security_sb_mount",
];
const CONNECTS_PER_LOOP: usize = 5_000;
const DUPS_PER_LOOP: usize = 100_000;
const GETPIDS_PER_LOOP: usize = 1_000_000;
/// The descriptor the `dup2` loop writes over (far from any in use).
const DUP_TARGET: i32 = 900;
const RATE_PER_SECOND: usize = 10_000;
const RATE_SECONDS: u64 = 5;
/// Daemon CPU sampled before the paced connects: the machine's own
/// activity that reaches it.
const IDLE_SECONDS: u64 = 2;

/// What runs beside the loops.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    NoDaemon,
    /// Every signature of `target/signatures/`.
    FullSet,
}

impl Setup {
    const ALL: [Setup; 2] = [Setup::NoDaemon, Setup::FullSet];

    fn label(self) -> &'static str {
        match self {
            Setup::NoDaemon => "no daemon",
            Setup::FullSet => "daemon, full default set",
        }
    }

    /// The daemon (none for [`Setup::NoDaemon`]), once every module is
    /// loaded and every network and process kind is switched on.
    fn start(self) -> Option<Daemon> {
        (self == Setup::FullSet).then(|| {
            Daemon::start(&default_set(), |metrics| {
                KINDS.iter().all(|kind| {
                    let sample = format!("sigbox_kernel_event_enabled{{event=\"{kind}\"}}");
                    metric(metrics, &sample) == Some(1.0)
                })
            })
        })
    }
}

/// A TCP listener on loopback whose connections a thread of its own
/// accepts and drops, and one connection to it kept open (the `dup2`
/// loop's socket).
struct Loopback {
    address: SocketAddrV4,
    connected: TcpStream,
}

impl Loopback {
    fn start() -> Loopback {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding on loopback");
        let std::net::SocketAddr::V4(address) = listener.local_addr().unwrap() else {
            unreachable!("bound to an IPv4 address")
        };
        std::thread::spawn(move || {
            for connection in listener.incoming() {
                drop(connection);
            }
        });
        let connected = TcpStream::connect(address).unwrap();
        Loopback { address, connected }
    }

    /// One connect and close. SO_LINGER 0 closes with a reset: no
    /// TIME_WAIT, so a long run never runs out of local ports.
    fn connect_close(&self) {
        let address = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: self.address.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*self.address.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a new socket, closed before returning; the pointers are
        // to locals of the sizes given.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&raw const linger).cast(),
                size_of::<libc::linger>() as libc::socklen_t,
            );
            let status = libc::connect(
                fd,
                (&raw const address).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
            assert_eq!(status, 0, "connect: {}", std::io::Error::last_os_error());
            libc::close(fd);
        }
    }

    /// `dup2` of the connected socket over [`DUP_TARGET`] (closing what
    /// the last one left there).
    fn dup2(&self) {
        // SAFETY: DUP_TARGET is no descriptor this process uses otherwise.
        let fd = unsafe { libc::dup2(self.connected.as_raw_fd(), DUP_TARGET) };
        assert_eq!(fd, DUP_TARGET, "dup2: {}", std::io::Error::last_os_error());
    }
}

fn getpid() {
    // SAFETY: getpid has no arguments and no failure; the raw syscall, so
    // no libc cache stands in for it.
    unsafe { libc::syscall(libc::SYS_getpid) };
}

/// The loops of one measurement.
#[derive(Clone, Copy)]
enum Loop {
    Connect,
    Dup2,
    Getpid,
}

impl Loop {
    const ALL: [Loop; 3] = [Loop::Connect, Loop::Dup2, Loop::Getpid];

    fn label(self) -> &'static str {
        match self {
            Loop::Connect => "connect+close, TCP on loopback",
            Loop::Dup2 => "dup2 of a TCP socket",
            Loop::Getpid => "getpid (no signature selects it)",
        }
    }

    fn run(self, loopback: &Loopback) -> (f64, f64) {
        match self {
            Loop::Connect => time_loop(CONNECTS_PER_LOOP, |_| loopback.connect_close()),
            Loop::Dup2 => time_loop(DUPS_PER_LOOP, |_| loopback.dup2()),
            Loop::Getpid => time_loop(GETPIDS_PER_LOOP, |_| getpid()),
        }
    }
}

fn main() {
    println!("## Network and process events (issue 29; sigbox benches/net_events.rs)\n");
    if let Err(error) = check_privileges() {
        println!("skipped: {error}");
        return;
    }
    let rounds = rounds(5);
    let loopback = Loopback::start();
    println!("load average at start: {}", load_average());
    if wanted("loops") {
        loops(&loopback, rounds);
    }
    if wanted("rate") {
        rate(&loopback);
    }
    println!("load average at end: {}", load_average());
}

/// The loops under each setup, in alternated rounds.
fn loops(loopback: &Loopback, rounds: usize) {
    // (setup, loop) -> CPU and wall timings, one sample per round.
    let mut cpu = vec![vec![Timing::default(); Loop::ALL.len()]; Setup::ALL.len()];
    let mut wall = cpu.clone();
    for _ in 0..rounds {
        for (s, setup) in Setup::ALL.iter().enumerate() {
            let daemon = setup.start();
            // Warm the caches and the daemon's first calls.
            for which in Loop::ALL {
                which.run(loopback);
            }
            for (l, which) in Loop::ALL.iter().enumerate() {
                if let Some(daemon) = &daemon {
                    daemon.settle();
                }
                let (c, w) = which.run(loopback);
                cpu[s][l].push(c, 1);
                wall[s][l].push(w, 1);
            }
        }
    }
    println!(
        "-- loops: median of {rounds} alternated rounds ({CONNECTS_PER_LOOP} connects, \
         {DUPS_PER_LOOP} dup2, {GETPIDS_PER_LOOP} getpid each); load average now {}",
        load_average()
    );
    let loops: Vec<&str> = Loop::ALL.iter().map(|l| l.label()).collect();
    let setups: Vec<&str> = Setup::ALL.iter().map(|s| s.label()).collect();
    print_loops(&loops, &setups, &cpu, &wall);
}

/// Connects paced at [`RATE_PER_SECOND`] for [`RATE_SECONDS`]: a burst
/// each millisecond, then a sleep to the next. Returns the connects made
/// and the wall time they took.
fn paced_connects(loopback: &Loopback) -> (usize, Duration) {
    let per_ms = RATE_PER_SECOND / 1000;
    let start = Instant::now();
    let mut connects = 0;
    for tick in 1..=RATE_SECONDS * 1000 {
        for _ in 0..per_ms {
            loopback.connect_close();
        }
        connects += per_ms;
        let next = start + Duration::from_millis(tick);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    (connects, start.elapsed())
}

/// Daemon CPU and drops at a fixed rate of connects, under the full set.
fn rate(loopback: &Loopback) {
    println!(
        "-- {}k connects/s for {RATE_SECONDS} s, daemon on the full default set: \
         daemon CPU (utime+stime / wall) and drops; load average now {}",
        RATE_PER_SECOND / 1000,
        load_average()
    );
    let daemon = Setup::FullSet.start().expect("the full set's daemon");
    daemon.settle();
    let idle_start = cpu_seconds(daemon.pid());
    std::thread::sleep(Duration::from_secs(IDLE_SECONDS));
    let idle = (cpu_seconds(daemon.pid()) - idle_start) / IDLE_SECONDS as f64;
    let before = daemon.metrics();
    let cpu_start = cpu_seconds(daemon.pid());
    let (connects, elapsed) = paced_connects(loopback);
    let used = cpu_seconds(daemon.pid()) - cpu_start;
    // What was still queued when the connects stopped: CPU spent after.
    daemon.settle();
    let backlog = cpu_seconds(daemon.pid()) - cpu_start - used;
    let after = daemon.metrics();
    let delta = |prefix: &str| metric_sum(&after, prefix) - metric_sum(&before, prefix);
    println!(
        "{:>9} {:>10} {:>8} {:>9} {:>10} {:>11} {:>15}",
        "achieved",
        "daemon CPU",
        "backlog",
        "idle CPU",
        "ring full",
        "queue drops",
        "TRC-101 events"
    );
    println!(
        "{:>7.1}k/s {:>9.1}% {:>6.2} s {:>8.1}% {:>10} {:>11} {:>15}",
        connects as f64 / elapsed.as_secs_f64() / 1000.0,
        used / elapsed.as_secs_f64() * 100.0,
        backlog,
        idle * 100.0,
        delta("sigbox_kernel_dropped_total{event=\"security_socket_connect\""),
        delta("sigbox_queue_drops_total"),
        delta("sigbox_signature_events_total{id=\"TRC-101\"}"),
    );
    println!();
}
