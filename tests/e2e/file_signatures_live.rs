//! Each file signature of the default set fires live, on the file accesses
//! an attacker makes: one daemon with the default set, one fake container
//! (a Docker-named cgroup, running before the daemon starts) doing every
//! access in a mount namespace of its own, each signature's finding checked.
//!
//! Nothing touches the machine's real files: the container's root is a
//! tmpfs (`pivot_root` in a private mount namespace) holding its own `/etc`,
//! `/proc`, `/sys` and `/usr/lib` as plain directories, with the host's
//! programs bound read-only. So the paths the kernel reports are the ones
//! the attacker sees (`/etc/cron.d/evil`), for opens (walked to the mount
//! namespace's root) and renames (walked to the file system's root under
//! fentry, given by the syscall under the `sys_exit` fallback) alike.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use sigbox_e2e::{Daemon, is_root, json_lines, signatures_dir, temp_dir};

use crate::exec_fields::{ContainerCgroup, cgroup2_mount};
use crate::live::start_live;

/// Logged each time the kernel's file events are set for the loaded signatures.
const KERNEL_SET: &str = "kernel file events set for the loaded signatures";

/// Makes `$1` (an empty directory) the root of this mount namespace: a
/// tmpfs with the host's programs and libraries bound read-only, the old
/// root remounted read-only too, so a mistake cannot write to the machine.
const FAKE_ROOT: &str = r#"set -eu
mount -t tmpfs -o mode=0755 sigbox-e2e-root "$1"
cd "$1"
mkdir -p usr/bin usr/lib/x86_64-linux-gnu usr/lib64 old tmp \
    etc/cron.d etc/sudoers.d etc/init.d etc/kubernetes/pki \
    proc/sys/kernel proc/4242 sys/fs/cgroup/memory/x run
for dir in usr/bin usr/lib/x86_64-linux-gnu usr/lib64; do
    mount --bind -o ro "/$dir" "$dir"
done
ln -s usr/bin bin
ln -s usr/lib lib
ln -s usr/lib64 lib64
pivot_root . old
cd /
mount -o remount,bind,ro /old
"#;

/// The accesses, each as Tracee's signature describes the attack. Files
/// only read are created first by a write no signature reads as an attack
/// (they select reads only); `/etc/ld.so.preload` stays empty, so the
/// programs run after it load nothing more.
const ATTACKS: &str = r#"
echo 1 > /sys/fs/cgroup/memory/x/notify_on_release
echo /evil > /sys/fs/cgroup/memory/release_agent
echo /evil > /tmp/agent; mv /tmp/agent /sys/fs/cgroup/memory/x/release_agent
echo '|/evil' > /proc/sys/kernel/core_pattern
echo evil > /usr/lib/ld-evil.so
echo evil > /tmp/ld; mv /tmp/ld /usr/lib/ld-evil2.so
echo key > /etc/kubernetes/pki/ca.key; cat /etc/kubernetes/pki/ca.key > /tmp/out
mv /etc/kubernetes/pki/ca.key /tmp/stolen.key
echo > /proc/kcore; cat /proc/kcore > /tmp/out
echo evil > /proc/4242/mem; cat /proc/4242/mem > /tmp/out
: > /etc/ld.so.preload
: > /tmp/preload; mv /tmp/preload /etc/ld.so.preload
echo 2 > /proc/sys/kernel/randomize_va_space; cat /proc/sys/kernel/randomize_va_space > /tmp/out
echo /evil > /etc/rc.local
echo /evil > /tmp/rc; mv /tmp/rc /etc/init.d/evil
echo '* * * * * root /evil' > /etc/cron.d/evil
echo '* * * * * root /evil' > /tmp/cron; mv /tmp/cron /etc/crontab
echo 'evil ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/evil
echo 'evil ALL=(ALL) NOPASSWD:ALL' > /tmp/sudoers; mv /tmp/sudoers /etc/sudoers
echo > /proc/sched_debug; cat /proc/sched_debug > /tmp/out
echo b > /proc/sysrq-trigger
echo '{}' > /run/docker.sock
"#;

/// The findings the attacks must give: signature, how its event used the
/// file (an open allowing `read` or `write`, as Tracee's `IsFileRead` and
/// `IsFileWrite`; a rename's `new_path` or `old_path`), the path, the
/// process.
const EXPECTED: [(&str, &str, &str, &str); 23] = [
    (
        "TRC-106",
        "write",
        "/sys/fs/cgroup/memory/x/notify_on_release",
        "sh",
    ),
    (
        "TRC-1010",
        "write",
        "/sys/fs/cgroup/memory/release_agent",
        "sh",
    ),
    (
        "TRC-1010",
        "new_path",
        "/sys/fs/cgroup/memory/x/release_agent",
        "mv",
    ),
    ("TRC-1011", "write", "/proc/sys/kernel/core_pattern", "sh"),
    ("TRC-1012", "write", "/usr/lib/ld-evil.so", "sh"),
    ("TRC-1012", "new_path", "/usr/lib/ld-evil2.so", "mv"),
    ("TRC-1018", "read", "/etc/kubernetes/pki/ca.key", "cat"),
    ("TRC-1018", "old_path", "/etc/kubernetes/pki/ca.key", "mv"),
    ("TRC-1021", "read", "/proc/kcore", "cat"),
    ("TRC-1023", "read", "/proc/4242/mem", "cat"),
    ("TRC-1024", "write", "/proc/4242/mem", "sh"),
    ("TRC-107", "write", "/etc/ld.so.preload", "sh"),
    ("TRC-107", "new_path", "/etc/ld.so.preload", "mv"),
    (
        "TRC-109",
        "read",
        "/proc/sys/kernel/randomize_va_space",
        "cat",
    ),
    ("TRC-1026", "write", "/etc/rc.local", "sh"),
    ("TRC-1026", "new_path", "/etc/init.d/evil", "mv"),
    ("TRC-1027", "write", "/etc/cron.d/evil", "sh"),
    ("TRC-1027", "new_path", "/etc/crontab", "mv"),
    ("TRC-1028", "write", "/etc/sudoers.d/evil", "sh"),
    ("TRC-1028", "new_path", "/etc/sudoers", "mv"),
    ("TRC-1029", "read", "/proc/sched_debug", "cat"),
    ("TRC-1031", "write", "/proc/sysrq-trigger", "sh"),
    ("TRC-1019", "write", "/run/docker.sock", "sh"),
];

/// The event a finding was detected from (its `detectedFrom` argument).
fn detected_from(finding: &Value) -> &Value {
    finding["args"]
        .as_array()
        .and_then(|args| args.iter().find(|a| a["name"] == "detectedFrom"))
        .map(|a| &a["value"])
        .unwrap_or_else(|| panic!("no detectedFrom in {finding}"))
}

/// Argument `name`'s value in a Tracee JSON event.
fn arg<'a>(event: &'a Value, name: &str) -> &'a Value {
    event["args"]
        .as_array()
        .and_then(|args| args.iter().find(|a| a["name"] == name))
        .map(|a| &a["value"])
        .unwrap_or_else(|| panic!("no {name} in {event}"))
}

/// What a finding says: signature, how its event used the file (as in
/// [`EXPECTED`]), the path.
fn key(finding: &Value) -> (String, &'static str, String) {
    let id = finding["metadata"]["Properties"]["signatureID"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let event = detected_from(finding);
    let how = if event["name"] == "security_inode_rename" {
        // TRC-1018 reads where a file was renamed from, the others where to.
        if id == "TRC-1018" {
            "old_path"
        } else {
            "new_path"
        }
    } else {
        // O_ACCMODE: the attacks open O_RDONLY or O_WRONLY, never O_RDWR.
        match arg(event, "flags").as_i64().unwrap() & 3 {
            0 => "read",
            _ => "write",
        }
    };
    let path = match how {
        "read" | "write" => arg(event, "pathname"),
        argument => arg(event, argument),
    };
    (id, how, path.as_str().unwrap_or_default().to_owned())
}

/// Waits until the kernel's file filter holds every file signature's
/// entries: signatures load one by one after the daemon is ready, and the
/// filter is set again after each load that changes it. Each file
/// signature adds entries of its own, so the filter set after the last one
/// loaded is the whole set's.
fn wait_for_the_kernel_filter_of_every_file_signature(daemon: &Daemon) {
    let ids: BTreeSet<&str> = EXPECTED.iter().map(|(id, ..)| *id).collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let log = daemon.stderr_text();
        let lines: Vec<&str> = log.lines().collect();
        let loaded = |id: &str| {
            let text = format!("loaded signature {id} ");
            lines.iter().rposition(|l| l.contains(&text))
        };
        let last_loaded = ids.iter().map(|id| loaded(id)).collect::<Option<Vec<_>>>();
        if let Some(last) = last_loaded.and_then(|at| at.into_iter().max())
            && lines[last..]
                .iter()
                .any(|l| l.contains(KERNEL_SET) && l.contains("attached=true"))
        {
            return;
        }
        assert!(Instant::now() < deadline, "{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_file_signature_fires_live_on_an_attackers_access_in_a_container() {
    if !is_root() {
        eprintln!("skipped: live eBPF tests need root");
        return;
    }
    let Some(cgroup_root) = cgroup2_mount() else {
        eprintln!("skipped: no cgroup2 hierarchy mounted");
        return;
    };
    // Created before the daemon starts, so it counts as started from its
    // first event (Tracee's rule for a container already running). One
    // that starts later is started by its entry point's exec, which comes
    // through another ring buffer than its opens: an open read first would
    // be `container-init`'s, and the container-only signatures would skip it.
    let container = ContainerCgroup::create(&cgroup_root);
    let Some(daemon) = start_live(&signatures_dir()) else {
        return;
    };
    wait_for_the_kernel_filter_of_every_file_signature(&daemon);

    let root = temp_dir("file-signatures-root");
    let script = format!("{FAKE_ROOT}{ATTACKS}");
    // The attacker's shell in a private mount namespace of its own.
    container.run_inside(Command::new("unshare").args([
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
        "sh",
        root.to_str().unwrap(),
    ]));

    let in_container = |lines: &[String]| -> Vec<Value> {
        json_lines(lines.join("\n").as_bytes())
            .into_iter()
            .filter(|f| f["containerId"] == container.id.as_str())
            .collect()
    };
    let all_found = |lines: &[String]| {
        let keys: Vec<_> = in_container(lines).iter().map(key).collect();
        EXPECTED
            .iter()
            .all(|(id, how, path, _)| keys.contains(&(id.to_string(), *how, path.to_string())))
    };
    let found = daemon.wait_for_stdout(Duration::from_secs(120), all_found);
    let stopped = daemon.stop();
    let findings = in_container(&stopped.stdout);
    let mut keys: Vec<_> = findings.iter().map(key).collect();
    assert!(
        found,
        "expected {EXPECTED:#?}\ngot {keys:#?}\n{}",
        stopped.stderr
    );

    // Stopped, every finding is out: exactly the expected ones, once each,
    // from the started container, by the process that made the access.
    for (id, how, path, process) in EXPECTED {
        let expected = (id.to_string(), how, path.to_string());
        let at = keys.iter().position(|k| *k == expected);
        let at = at.unwrap_or_else(|| panic!("{expected:?} missing: {findings:#?}"));
        keys.remove(at);
        let finding = findings
            .iter()
            .find(|f| key(f) == expected)
            .expect("found above");
        assert_eq!(finding["processName"], process, "{finding}");
        assert_eq!(
            finding["contextFlags"]["containerStarted"], true,
            "{finding}"
        );
    }
    assert!(keys.is_empty(), "unexpected findings: {keys:?}");
}
