use super::*;

const SEC: u64 = 1_000_000_000;

fn exec_context(host_pid: u32, host_ppid: u32) -> Context {
    Context {
        host_pid,
        host_tid: host_pid,
        host_ppid,
        ..Context::default()
    }
}

fn names(context: &Context) -> Vec<&str> {
    context.ancestors.iter().map(|a| &*a.process_name).collect()
}

/// nginx (10) forks 11, which execs sh and forks 12, which execs bash.
fn nginx_sh_bash() -> ProcessTree {
    let mut tree = ProcessTree::new(DEFAULT_MAX_PROCESSES);
    tree.fork(10, SEC, 1, 0, "bash");
    tree.exec(10, SEC, 1, "nginx", "/usr/sbin/nginx");
    tree.fork(11, 2 * SEC, 10, SEC, "nginx");
    tree.exec(11, 2 * SEC, 10, "sh", "/usr/bin/dash");
    tree.fork(12, 3 * SEC, 11, 2 * SEC, "sh");
    tree.exec(12, 3 * SEC, 11, "bash", "/usr/bin/bash");
    tree
}

#[test]
fn ancestors_are_the_forking_chain_nearest_first() {
    let mut tree = nginx_sh_bash();
    let mut context = exec_context(12, 11);
    tree.enrich(&mut context);
    assert_eq!(names(&context), ["sh", "nginx"]);
    assert_eq!(&*context.ancestors[1].executable_path, "/usr/sbin/nginx");
    assert_eq!(context.process_entity_id, entity_id(12, 3 * SEC));
    assert_eq!(context.parent_entity_id, entity_id(11, 2 * SEC));
    assert_eq!(context.ancestors[0].entity_id, entity_id(11, 2 * SEC));
}

#[test]
fn a_forked_child_runs_its_parents_executable_until_it_execs() {
    let mut tree = nginx_sh_bash();
    tree.fork(13, 4 * SEC, 12, 3 * SEC, "bash");
    let mut context = exec_context(13, 12);
    tree.enrich(&mut context);
    assert_eq!(names(&context), ["bash", "sh", "nginx"]);
}

#[test]
fn an_ancestor_that_exited_is_still_in_the_chain_with_its_exit_time() {
    let mut tree = nginx_sh_bash();
    // The middle shell exits before its child's exec is read; the child is
    // re-parented to init, but the chain keeps the process that forked it.
    tree.exit(11, 2 * SEC, 5 * SEC);
    let mut context = exec_context(12, 1);
    tree.enrich(&mut context);
    assert_eq!(names(&context), ["sh", "nginx"]);
    assert_eq!(context.ancestors[0].exit_ns, 5 * SEC);
    assert_eq!(context.ancestors[1].exit_ns, 0);
}

#[test]
fn a_reused_pid_does_not_graft_a_stranger_into_a_chain() {
    let mut tree = nginx_sh_bash();
    tree.exit(11, 2 * SEC, 5 * SEC);
    // pid 11 comes back as an unrelated process.
    tree.fork(11, 6 * SEC, 1, 0, "cron");
    let mut context = exec_context(12, 1);
    tree.enrich(&mut context);
    assert_eq!(names(&context), ["sh", "nginx"]);
    let mut stranger = exec_context(11, 1);
    tree.enrich(&mut stranger);
    assert_eq!(stranger.process_entity_id, entity_id(11, 6 * SEC));
}

#[test]
fn the_chain_stops_at_eight_ancestors() {
    let mut tree = ProcessTree::new(DEFAULT_MAX_PROCESSES);
    tree.fork(100, SEC, 1, 0, "p0");
    for pid in 101..=112 {
        let start = u64::from(pid) * SEC;
        tree.fork(pid, start, pid - 1, start - SEC, &format!("p{}", pid - 100));
    }
    let mut context = exec_context(112, 111);
    tree.enrich(&mut context);
    assert_eq!(
        names(&context),
        ["p11", "p10", "p9", "p8", "p7", "p6", "p5", "p4"]
    );
}

#[test]
fn the_bound_evicts_least_recently_used_and_counts_it() {
    let mut tree = ProcessTree::new(100);
    let read = tree.counts_reader();
    for pid in 1000..1300 {
        tree.fork(pid, u64::from(pid) * SEC, 1, 0, "storm");
    }
    assert_eq!(tree.len(), 100);
    assert_eq!(tree.evictions(), 200);
    assert_eq!(read(), (100, 200));
    // The oldest are gone, the newest kept.
    let mut old = exec_context(1000, 1);
    tree.enrich(&mut old);
    assert_eq!(
        old.process_entity_id,
        entity_id(1000, 0),
        "unknown: own start"
    );
    assert!(tree.by_pid.len() <= 100, "the pid index is bounded too");
}

#[test]
fn a_chain_in_use_is_kept_over_idle_processes() {
    let mut tree = ProcessTree::new(4);
    tree.fork(10, SEC, 1, 0, "nginx");
    tree.fork(11, 2 * SEC, 10, SEC, "sh");
    tree.fork(20, 3 * SEC, 1, 0, "idle");
    // Reading 11's chain makes 10 and 11 recently used.
    tree.enrich(&mut exec_context(11, 10));
    tree.fork(30, 4 * SEC, 1, 0, "new");
    tree.fork(31, 5 * SEC, 1, 0, "new");
    let mut context = exec_context(11, 10);
    tree.enrich(&mut context);
    assert_eq!(names(&context), ["nginx"]);
    assert_eq!(tree.evictions(), 1, "idle was evicted");
}

#[test]
fn a_seed_links_parents_by_pid_and_forks_find_seeded_parents() {
    let mut tree = ProcessTree::new(DEFAULT_MAX_PROCESSES);
    let seed = |pid, ppid, start_ns, name: &str| SeedProcess {
        pid,
        ppid,
        start_ns,
        name: name.into(),
        executable_path: format!("/usr/sbin/{name}"),
        ns_pid: pid,
        uid: 33,
        container_id: String::new(),
    };
    tree.seed(vec![
        seed(50, 1, 2 * SEC, "nginx"),
        seed(1, 0, SEC, "systemd"),
    ]);
    // The kernel's start time (ns) differs from /proc's (clock ticks).
    tree.fork(60, 3 * SEC, 50, 2 * SEC + 4_321, "nginx");
    tree.exec(60, 3 * SEC, 50, "sh", "/usr/bin/dash");
    let mut context = exec_context(60, 50);
    tree.enrich(&mut context);
    assert_eq!(names(&context), ["nginx", "systemd"]);
    assert_eq!(&*context.ancestors[0].executable_path, "/usr/sbin/nginx");
    assert_eq!(context.ancestors[0].uid, 33);
    assert_eq!(
        context.parent_entity_id,
        entity_id(50, 2 * SEC + 4_321),
        "the same tenth of a second: the same id"
    );
}

#[test]
fn an_exec_of_a_process_never_seen_adds_it() {
    let mut tree = ProcessTree::new(DEFAULT_MAX_PROCESSES);
    tree.fork(70, SEC, 1, 0, "nginx");
    tree.exec(71, 2 * SEC, 70, "sh", "/usr/bin/dash");
    let mut context = exec_context(71, 70);
    tree.enrich(&mut context);
    assert_eq!(names(&context), ["nginx"]);
}

/// Tracee v0.24.1 computes `processEntityId` as
/// `HashTaskID(HostPid, BootToEpochNS(LeaderStartTime))`: 0xf78dd39a is
/// its value for pid 1234 started at 1765000000.123456789 s (computed
/// with Tracee's `HashTaskID` and `murmur.HashU32AndU64` transcribed
/// line by line, apart from this crate's code).
#[test]
fn entity_ids_are_tracees() {
    let mut tree = ProcessTree::new(DEFAULT_MAX_PROCESSES);
    tree.fork(1234, 1_765_000_000_123_456_789, 1, 0, "x");
    let mut context = exec_context(1234, 1);
    tree.enrich(&mut context);
    assert_eq!(context.process_entity_id, 0xf78d_d39a);
}

#[test]
fn a_fork_inherits_uid_and_container_and_the_kernel_and_execs_say_the_rest() {
    let mut tree = ProcessTree::new(DEFAULT_MAX_PROCESSES);
    // A container's init: its exec names the container and its own pid 1.
    tree.fork(80, SEC, 1, 0, "runc");
    tree.exec_event(&Context {
        pid: 1,
        uid: 0,
        container_id: "c0ffee".into(),
        process_name: "nginx".into(),
        executable_path: "/usr/sbin/nginx".into(),
        thread_start_ns: SEC,
        ..exec_context(80, 1)
    });
    tree.fork(81, 2 * SEC, 80, SEC, "nginx");
    tree.identify(81, 2 * SEC, 7, 101);
    tree.fork(82, 3 * SEC, 81, 2 * SEC, "nginx");
    let mut context = exec_context(82, 81);
    tree.enrich(&mut context);
    let worker = &context.ancestors[0];
    assert_eq!((worker.host_pid, worker.pid, worker.uid), (81, 7, 101));
    assert_eq!(&*worker.container_id, "c0ffee", "inherited at fork");
    let init = &context.ancestors[1];
    assert_eq!((init.host_pid, init.pid, init.uid), (80, 1, 0));
    assert_eq!(&*init.container_id, "c0ffee");
    assert_eq!(context.ancestors.len(), 2, "pid 1 was never seen");
}
