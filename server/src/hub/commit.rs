//! Group commit: the appends of pushes that arrive together share one storage transaction, so
//! one durable commit (one fsync on SQLite, one WAL flush and one turn of the writers' lock on
//! PostgreSQL) carries all of them instead of one each (docs/decisions.md, "Concurrent pushes
//! committed together").
//!
//! Each append joins a queue. One append at a time leads: it takes what is queued, commits it
//! as one `Storage::append_projected`, and answers every member; the others wait for their
//! answer, and an append nobody has taken yet leads the next group. Nothing is answered before
//! the transaction that carries it has committed, so an acknowledgement still means durable.
//!
//! A group never holds two appends that write the same document: storage moves a document's
//! heads as a compare-and-set per append, and two moves of one document inside one statement
//! would not be the two compare-and-sets they are in a row. Such an append waits for the next
//! group. If a group's transaction fails, each member is committed alone, so that a push can
//! only ever fail for its own sake.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::storage::{NewChanges, ProjectedDoc, Storage, StorageError};

/// What a group is committed to: storage (`Storage::append_projected`), or a test's double.
#[async_trait::async_trait]
pub(crate) trait Appender: Send + Sync + 'static {
    async fn append_projected(&self, batch: Vec<NewChanges>, rows: Vec<ProjectedDoc>) -> Answer;
}

#[async_trait::async_trait]
impl Appender for dyn Storage {
    async fn append_projected(&self, batch: Vec<NewChanges>, rows: Vec<ProjectedDoc>) -> Answer {
        Storage::append_projected(self, batch, rows).await
    }
}

/// Appends of one group at most: bounds the transaction a leader builds.
const MAX_GROUP: usize = 256;

type Answer = Result<u64, StorageError>;

struct Waiting {
    batch: Vec<NewChanges>,
    rows: Vec<ProjectedDoc>,
    done: oneshot::Sender<Answer>,
}

impl Waiting {
    fn doc_ids(&self) -> impl Iterator<Item = &str> {
        self.batch.iter().map(|b| b.doc.id.as_str())
    }
}

#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Vec<Waiting>>,
    /// Held by the group being committed, for as long as it is committed.
    leader: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// `storage.append_projected(batch, rows)`, committed with whatever other appends are
    /// waiting. Returns the head after the commit that carried it (at least the highest number
    /// given to its own changes).
    pub(crate) async fn append<A: Appender + ?Sized>(
        &self,
        storage: &Arc<A>,
        batch: Vec<NewChanges>,
        rows: Vec<ProjectedDoc>,
    ) -> Answer {
        let (done, mut answer) = oneshot::channel();
        self.lock_queue()?.push(Waiting { batch, rows, done });
        loop {
            // An answer wins over the lock: a member answered while another group commits
            // does not wait for that commit too.
            let leading = tokio::select! {
                biased;
                answered = &mut answer => return answered.unwrap_or_else(|_| Err(abandoned())),
                leading = self.leader.clone().lock_owned() => leading,
            };
            match answer.try_recv() {
                Ok(answer) => return answer,
                Err(oneshot::error::TryRecvError::Closed) => return Err(abandoned()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let group = take_group(&mut *self.lock_queue()?);
            // The commit runs in a task of its own, holding the leader's lock until it is done:
            // if this request is dropped mid-commit (its client went away), the group is still
            // committed and answered, and no other group starts meanwhile.
            let storage = storage.clone();
            let committing = tokio::spawn(async move {
                commit(storage.as_ref(), group).await;
                drop(leading);
            });
            committing.await.map_err(|e| StorageError::Task(e.to_string()))?;
        }
    }

    fn lock_queue(&self) -> Result<std::sync::MutexGuard<'_, Vec<Waiting>>, StorageError> {
        self.queue.lock().map_err(|_| StorageError::Task("group commit queue poisoned".into()))
    }
}

fn abandoned() -> StorageError {
    StorageError::Task("a group commit was abandoned".into())
}

/// Takes from the queue, in order, the appends that write no document an earlier one in the
/// group writes (at most `MAX_GROUP`); the rest stay queued in their order.
fn take_group(queue: &mut Vec<Waiting>) -> Vec<Waiting> {
    let mut written: HashSet<String> = HashSet::new();
    let mut group = Vec::new();
    let mut rest = Vec::new();
    for waiting in queue.drain(..) {
        let deferred = group.len() == MAX_GROUP || waiting.doc_ids().any(|id| written.contains(id));
        // Marked either way: everything after a deferred append that writes its documents is
        // deferred too, so their order is kept.
        written.extend(waiting.doc_ids().map(str::to_string));
        if deferred {
            rest.push(waiting);
        } else {
            group.push(waiting);
        }
    }
    *queue = rest;
    group
}

/// Commits a group in one transaction and answers its members; if that fails, each member
/// alone.
async fn commit<A: Appender + ?Sized>(storage: &A, group: Vec<Waiting>) {
    if group.len() == 1 {
        let Some(Waiting { batch, rows, done }) = group.into_iter().next() else { return };
        let _ = done.send(storage.append_projected(batch, rows).await);
        return;
    }
    let mut batch = Vec::new();
    let mut rows = Vec::new();
    for w in &group {
        batch.extend(w.batch.iter().cloned());
        rows.extend(w.rows.iter().cloned());
    }
    match storage.append_projected(batch, rows).await {
        Ok(head) => {
            for w in group {
                let _ = w.done.send(Ok(head));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, appends = group.len(), "group commit failed; committing its appends one by one");
            for Waiting { batch, rows, done } in group {
                let _ = done.send(storage.append_projected(batch, rows).await);
            }
        }
    }
}

#[cfg(test)]
#[path = "commit_tests.rs"]
mod tests;
