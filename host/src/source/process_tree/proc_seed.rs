//! The processes running at start, read from `/proc`, to seed the tree
//! before the kernel's records take over.

use std::path::Path;

use crate::source::bpf::container_id_from_cgroup;

/// One process `/proc` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeedProcess {
    pub pid: u32,
    pub ppid: u32,
    /// Its start, ns since the epoch (from clock ticks since boot).
    pub start_ns: u64,
    pub name: String,
    /// Empty for kernel threads, or where the link cannot be read.
    pub executable_path: String,
    /// Its pid in its own pid namespace (`NSpid`'s last); 0 if unread.
    pub ns_pid: u32,
    /// Real uid; 0 if unread.
    pub uid: u32,
    /// From its cgroup; empty on the host.
    pub container_id: String,
}

/// Every process under `proc` (normally `/proc`); `boot_to_epoch` turns ns
/// since boot into ns since the epoch. Processes that vanish while it reads
/// are left out.
pub(crate) fn read_proc(proc: &Path, boot_to_epoch: impl Fn(u64) -> u64) -> Vec<SeedProcess> {
    let ns_per_tick = 1_000_000_000 / clock_ticks_per_second();
    let Ok(entries) = std::fs::read_dir(proc) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (name, ppid, start_ticks) = parse_stat(&stat)?;
            let executable_path = std::fs::read_link(entry.path().join("exe"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            let (ns_pid, uid) = parse_status(&status);
            let cgroup = std::fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
            Some(SeedProcess {
                pid,
                ppid,
                start_ns: boot_to_epoch(start_ticks.saturating_mul(ns_per_tick)),
                name: name.to_owned(),
                executable_path,
                ns_pid,
                uid,
                container_id: container_id_from_cgroup(&cgroup)
                    .unwrap_or_default()
                    .to_owned(),
            })
        })
        .collect()
}

/// The name, parent pid and start (clock ticks since boot) from a
/// `/proc/<pid>/stat` line. The name is between the first `(` and the
/// last `)`: it may itself hold spaces and parentheses.
fn parse_stat(stat: &str) -> Option<(&str, u32, u64)> {
    let name = stat.get(stat.find('(')? + 1..stat.rfind(')')?)?;
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    // After the name: state (field 3), ppid (4), ..., starttime (22).
    let mut fields = rest.split_ascii_whitespace();
    let ppid = fields.nth(1)?.parse().ok()?;
    let start_ticks = fields.nth(22 - 5)?.parse().ok()?;
    Some((name, ppid, start_ticks))
}

/// The pid in the process's own namespace (the last of `NSpid:`) and the
/// real uid (the first of `Uid:`) from `/proc/<pid>/status`; 0 for either
/// line missing.
fn parse_status(status: &str) -> (u32, u32) {
    let last_of = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .map(str::split_ascii_whitespace)
    };
    let ns_pid = last_of("NSpid:").and_then(|mut ids| ids.next_back()?.parse().ok());
    let uid = last_of("Uid:").and_then(|mut ids| ids.next()?.parse().ok());
    (ns_pid.unwrap_or(0), uid.unwrap_or(0))
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_name_parent_and_start() {
        let line = "4242 (a (weird) name) S 17 4242 17 0 -1 4194560 93 0 0 0 0 0 0 0 20 0 1 0 123456 8192 100 18446744073709551615";
        assert_eq!(parse_stat(line), Some(("a (weird) name", 17, 123_456)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_gives_the_innermost_pid_and_the_real_uid() {
        let status = "Name:\tsh\nUid:\t1000\t0\t0\t0\nNSpid:\t4242\t17\t1\n";
        assert_eq!(parse_status(status), (1, 1000));
        assert_eq!(parse_status("Name:\tkthreadd\n"), (0, 0));
    }

    #[test]
    fn this_process_is_listed_with_its_parent() {
        let seeds = read_proc(Path::new("/proc"), |ns| ns);
        let me = seeds
            .iter()
            .find(|s| s.pid == std::process::id())
            .expect("this process is in /proc");
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
        assert!(me.start_ns > 0);
        // SAFETY: getuid has no preconditions.
        assert_eq!(me.uid, unsafe { libc::getuid() });
        assert_ne!(me.ns_pid, 0);
        let exe = std::env::current_exe().unwrap();
        assert_eq!(me.executable_path, exe.to_string_lossy());
    }
}
