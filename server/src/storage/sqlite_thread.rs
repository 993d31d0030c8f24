//! The embedded backend's one connection, owned by a thread of its own that runs the storage's
//! work in the order it was asked for.
//!
//! Before, each call took a thread of tokio's blocking pool and waited there for the
//! connection's mutex: under a burst of 200 pushes the pool grew to some 300 threads blocked on
//! one lock, and the wake-ups between them cost more than the statements they waited to run
//! (docs/benchmarks.md). SQLite serialises the connection's work anyway; one thread and a queue
//! do the same with none of those threads.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use rusqlite::Connection;

use super::{Result, StorageError};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A handle to the connection's thread. Dropping the last handle waits for the work queued
/// before it and closes the connection, so a file is closed when its storage is dropped.
#[derive(Debug, Clone)]
pub(super) struct ConnectionThread {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The thread ends once the queue is closed and empty; no job holds a handle, so this
        // never runs on the thread itself.
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl ConnectionThread {
    pub(super) fn start(mut conn: Connection) -> Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("fieldbook-sqlite".into())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    // A panic is the caller's error (its answer is dropped); an open transaction
                    // was rolled back as it unwound, and the next job finds the connection as
                    // the one before left it.
                    if catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
                        tracing::error!("a storage job panicked");
                    }
                }
            })
            .map_err(|e| StorageError::Task(format!("starting the storage thread: {e}")))?;
        Ok(Self { inner: Arc::new(Inner { jobs: Some(jobs), thread: Some(thread) }) })
    }

    /// Runs `f` on the connection's thread, after the work asked for before it.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = answer.send(f(conn));
        });
        let stopped = || StorageError::Task("the storage thread has stopped".into());
        self.inner.jobs.as_ref().ok_or_else(stopped)?.send(job).map_err(|_| stopped())?;
        answered.await.map_err(|_| StorageError::Task("a storage job panicked".into()))?
    }
}
