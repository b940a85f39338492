//! Threads that load modules for the reload thread, which hands them work
//! and goes back to watching: a module that is slow to compile or to load
//! (bounded by the compile and load limits) occupies one of these threads,
//! never the reload thread, so later changes are scanned and applied
//! while it is still loading.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

/// One module to load; it reports its own result.
pub type Task = Box<dyn FnOnce() + Send>;

/// A fixed set of loading threads fed through a queue; they end when the
/// pool is dropped (after their current task).
pub struct LoadPool {
    tasks: Sender<Task>,
}

impl LoadPool {
    /// Starts `threads` loading threads.
    ///
    /// # Errors
    /// A thread cannot be started.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let (tasks, queue) = channel::<Task>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("sigbox-load-{n}"))
                .spawn(move || run_tasks(&queue))?;
        }
        Ok(Self { tasks })
    }

    /// Queues `task` for the next free thread.
    pub fn run(&self, task: Task) {
        // The threads live as long as the pool, so the queue is open.
        let _ = self.tasks.send(task);
    }
}

fn run_tasks(queue: &Mutex<Receiver<Task>>) {
    loop {
        let task = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(task) = task else { return };
        // A bug while loading one module must not take a loading thread
        // away from every later one.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(task)).is_err() {
            tracing::error!("loading a signature module panicked; the loading thread goes on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_task_does_not_hold_up_the_next() {
        let pool = LoadPool::new(2).unwrap();
        let (release, blocked) = channel::<()>();
        let (done, finished) = channel();
        let first = done.clone();
        pool.run(Box::new(move || {
            let _ = blocked.recv();
            let _ = first.send("slow");
        }));
        pool.run(Box::new(move || {
            let _ = done.send("fast");
        }));
        assert_eq!(finished.recv().unwrap(), "fast");
        release.send(()).unwrap();
        assert_eq!(finished.recv().unwrap(), "slow");
    }
}
