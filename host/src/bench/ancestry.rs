//! The process tree's figures (issue 30, `benches/ancestry.rs`): a tree of
//! many processes built as the kernel's records would build it, and the
//! time to fill an event's ancestry and to read the ancestry fields.

use std::hint::black_box;
use std::time::Instant;

use crate::engine::{EventSelector, FieldFilter, OriginFilter, Selector};
use crate::event::{Context, Event, Kind};
use crate::source::process_tree::ProcessTree;

/// Depth of the chains built: deeper than the 8 levels an event carries.
const DEPTH: u32 = 10;

/// A tree holding `processes`, each forked and exec'd (its own name and
/// executable path), in chains [`DEPTH`] deep below pid 1.
pub fn tree_of(processes: u32) -> ProcessTree {
    let mut tree = ProcessTree::new(processes as usize);
    for i in 0..processes {
        let pid = 1000 + i;
        let start = u64::from(pid) * 1_000_000;
        let (ppid, parent_start) = if i % DEPTH == 0 {
            (1, 0)
        } else {
            (pid - 1, start - 1_000_000)
        };
        tree.fork(pid, start, ppid, parent_start, "worker");
        let name = format!("proc-{}", i % 97);
        tree.exec(pid, start, ppid, &name, &format!("/usr/lib/app/bin/{name}"));
    }
    tree
}

/// ns per [`ProcessTree::enrich`] of an event whose process is at the
/// bottom of a chain, over `reps` events.
pub fn enrich_ns(tree: &mut ProcessTree, reps: u32) -> f64 {
    let bottom = 1000 + DEPTH - 1;
    let start = Instant::now();
    for _ in 0..reps {
        let mut context = Context {
            host_pid: bottom,
            host_ppid: bottom - 1,
            ..Context::default()
        };
        tree.enrich(&mut context);
        black_box(&context);
    }
    start.elapsed().as_nanos() as f64 / f64::from(reps)
}

/// ns per selector test of `ancestors.process-name` (a list "any of"
/// filter that fails: every name is looked at) and per projection of
/// `parent.process-name`, on an event filled by `tree`.
pub fn field_read_ns(tree: &mut ProcessTree, reps: u32) -> (f64, f64) {
    let bottom = 1000 + DEPTH - 1;
    let mut context = Context {
        host_pid: bottom,
        host_ppid: bottom - 1,
        ..Context::default()
    };
    tree.enrich(&mut context);
    let event = Event::new(context, Kind::SchedProcessExec);
    let filter = Selector::new(&EventSelector {
        name: "sched_process_exec".into(),
        origin: OriginFilter::Any,
        filters: vec![FieldFilter::equals(
            "ancestors.process-name",
            &["nginx", "httpd", "apache2"],
        )],
        fields: vec![],
    });
    let project = Selector::new(&EventSelector {
        name: "sched_process_exec".into(),
        origin: OriginFilter::Any,
        filters: vec![],
        fields: vec!["parent.process-name".into()],
    });
    let start = Instant::now();
    for _ in 0..reps {
        black_box(filter.accepts(black_box(&event)));
    }
    let filter_ns = start.elapsed().as_nanos() as f64 / f64::from(reps);
    let start = Instant::now();
    for _ in 0..reps {
        black_box(project.project(black_box(&event)).count());
    }
    let project_ns = start.elapsed().as_nanos() as f64 / f64::from(reps);
    (filter_ns, project_ns)
}
