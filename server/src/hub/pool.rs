//! The bounded pool every piece of Automerge work of the hub runs on (loading a document,
//! applying a push, hydrating a record, diffing heads for a repair, writing a summary).
//!
//! Inflating and applying changes can take seconds for a large push. On the async worker
//! threads it would stall everything else the server does (two such pushes made `/health` take
//! 9 s, issue #10); on tokio's blocking threads, gated by a semaphore, the async side keeps
//! answering `/health`, the case API and other devices' syncs, and at most `size` jobs use the
//! CPU at once however many pushes arrive. Jobs wait for a permit on the async side (no thread is
//! held while waiting).

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::HubError;

/// What a pool job does, for the hook and for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Deciding one pushed document (load, apply, check, hydrate).
    Push,
    /// Comparing one document's heads with a device's (the repair exchange).
    Repair,
    /// Writing a case summary for the case system.
    Upsert,
    /// Reading one merged record for the export feed.
    Export,
    /// Checking that a record refers to an attachment being uploaded.
    Attachment,
    /// Deriving a document's oversight projection, or writing a manager's decision from the
    /// oversight pages (`crate::oversight`).
    Oversight,
}

/// A step of a job, reported to the hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEvent {
    /// Waiting for a permit (reported on the async side: the hook must not block here).
    Queued(Job),
    /// Running on a pool thread, before the work (the hook may block here: it holds the job).
    Started(Job),
    /// The work is done; the permit is released right after.
    Finished(Job),
}

/// Called at each step of every job: instrumentation, and the tests' way to hold a job in the
/// pool (`tests/tests/blocking_pool.rs`). Production never installs one.
pub type JobHook = Arc<dyn Fn(JobEvent) + Send + Sync>;

#[derive(Clone)]
pub(super) struct Pool {
    permits: Arc<Semaphore>,
    size: usize,
    hook: Option<JobHook>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

/// The default bound: one job per core (the work is CPU-bound), at least one.
pub fn default_pool_size() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl Pool {
    pub(super) fn new(size: usize) -> Self {
        let size = size.max(1);
        Self { permits: Arc::new(Semaphore::new(size)), size, hook: None }
    }

    /// The same pool (and hook) with another bound.
    pub(super) fn resized(self, size: usize) -> Self {
        let hook = self.hook;
        Self { hook, ..Self::new(size) }
    }

    pub(super) fn size(&self) -> usize {
        self.size
    }

    pub(super) fn with_hook(mut self, hook: JobHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Runs `work` on a pool thread once a permit is free, and returns its result.
    pub(super) async fn run<T, F>(&self, job: Job, work: F) -> Result<T, HubError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        if let Some(hook) = &self.hook {
            hook(JobEvent::Queued(job));
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| HubError::Job(format!("{job:?}: {e}")))?;
        let hook = self.hook.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            if let Some(hook) = &hook {
                hook(JobEvent::Started(job));
            }
            let out = work();
            if let Some(hook) = &hook {
                hook(JobEvent::Finished(job));
            }
            out
        })
        .await
        // A panic in the work (Automerge on hostile bytes, say) fails this exchange only.
        .map_err(|e| HubError::Job(format!("{job:?}: {e}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// With every permit held, another job waits; the async side is free meanwhile.
    #[tokio::test(flavor = "current_thread")]
    async fn jobs_beyond_the_bound_wait_without_holding_the_runtime() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
        // Closed (false) until the test opens it.
        let gate = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let hook: JobHook = {
            let (running, most, gate) = (running.clone(), most.clone(), gate.clone());
            Arc::new(move |event| match event {
                JobEvent::Started(_) => {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    started_tx.send(()).unwrap();
                    let mut open = gate.0.lock().unwrap();
                    while !*open {
                        open = gate.1.wait(open).unwrap();
                    }
                }
                JobEvent::Finished(_) => {
                    running.fetch_sub(1, Ordering::SeqCst);
                }
                JobEvent::Queued(_) => {}
            })
        };
        let pool = Pool::new(2).with_hook(hook);
        let jobs: Vec<_> = (0..5)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.run(Job::Push, move || i * 10).await.unwrap() })
            })
            .collect();
        // Two jobs start and are held; this single-threaded runtime still runs this task.
        started_rx.recv().await.unwrap();
        started_rx.recv().await.unwrap();
        assert_eq!(running.load(Ordering::SeqCst), 2);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        let mut results = Vec::new();
        for job in jobs {
            results.push(job.await.unwrap());
        }
        assert_eq!(results, vec![0, 10, 20, 30, 40]);
        assert_eq!(most.load(Ordering::SeqCst), 2, "never more jobs at once than the bound");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_job_is_an_error_and_frees_its_permit() {
        let pool = Pool::new(1);
        let failed = pool.run(Job::Push, || -> u8 { panic!("hostile bytes") }).await;
        assert!(matches!(failed, Err(HubError::Job(_))));
        assert_eq!(pool.run(Job::Push, || 7u8).await.unwrap(), 7);
    }
}
