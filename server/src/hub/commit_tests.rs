//! Group commit against a double of storage whose first commit waits at a gate: appends queued
//! while it waits show which transactions they share, in order and barriers, not in time.
#![allow(clippy::unwrap_used)]

use fieldbook_core::protocol::Hash;
use fieldbook_core::records::RecordKind;
use tokio::sync::{Notify, Semaphore};

use super::*;
use crate::storage::sqlite::SqliteStorage;
use crate::storage::DocInfo;

/// In-memory SQLite behind a gate: every call is recorded (its documents' ids), the first waits
/// for `release`, and a call that writes document "bad" fails.
struct Gated {
    inner: SqliteStorage,
    calls: std::sync::Mutex<Vec<Vec<String>>>,
    entered: Notify,
    gate: Semaphore,
}

impl Gated {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: SqliteStorage::in_memory().unwrap(),
            calls: std::sync::Mutex::new(Vec::new()),
            entered: Notify::new(),
            gate: Semaphore::new(0),
        })
    }

    fn release(&self) {
        self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().unwrap().clone()
    }

    async fn stored(&self, id: &str) -> usize {
        self.inner.doc_changes(id).await.unwrap().len()
    }
}

#[async_trait::async_trait]
impl Appender for Gated {
    async fn append_projected(&self, batch: Vec<NewChanges>, rows: Vec<ProjectedDoc>) -> Answer {
        let ids: Vec<String> = batch.iter().map(|b| b.doc.id.clone()).collect();
        let first = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(ids.clone());
            calls.len() == 1
        };
        if first {
            self.entered.notify_one();
            drop(self.gate.acquire().await.unwrap());
        }
        if ids.iter().any(|id| id == "bad") {
            return Err(StorageError::Task("refused by the double".into()));
        }
        Storage::append_projected(&self.inner, batch, rows).await
    }
}

fn change(id: &str, n: u8) -> NewChanges {
    NewChanges {
        doc: DocInfo { id: id.into(), case_id: "case-1".into(), kind: RecordKind::Visit },
        changes: vec![(Hash([n; 32]), vec![n; 8])],
        heads: None,
        signatures: Vec::new(),
    }
}

/// Starts an append of `changes` on its own task.
fn spawn_append(
    group: &Arc<GroupCommit>,
    storage: &Arc<Gated>,
    changes: Vec<NewChanges>,
) -> tokio::task::JoinHandle<Answer> {
    let (group, storage) = (group.clone(), storage.clone());
    tokio::spawn(async move { group.append(&storage, changes, Vec::new()).await })
}

/// Waits until `n` appends are queued behind the commit at the gate.
async fn queued(group: &GroupCommit, n: usize) {
    while group.queue.lock().unwrap().len() < n {
        tokio::task::yield_now().await;
    }
}

/// A group and its storage with one append to "a" holding the commit at the gate, so that the
/// appends a test starts next queue behind it.
async fn first_append_at_the_gate(
) -> (Arc<GroupCommit>, Arc<Gated>, tokio::task::JoinHandle<Answer>) {
    let (group, storage) = (Arc::new(GroupCommit::default()), Gated::new());
    let first = spawn_append(&group, &storage, vec![change("a", 1)]);
    storage.entered.notified().await;
    (group, storage, first)
}

#[tokio::test]
async fn appends_that_wait_behind_a_commit_share_the_next_transaction() {
    let (group, storage, first) = first_append_at_the_gate().await;
    let rest: Vec<_> = [("b", 2), ("c", 3), ("d", 4)]
        .iter()
        .map(|(id, n)| spawn_append(&group, &storage, vec![change(id, *n)]))
        .collect();
    queued(&group, 3).await;
    storage.release();
    assert!(first.await.unwrap().is_ok());
    for r in rest {
        assert!(r.await.unwrap().is_ok());
    }
    assert_eq!(storage.calls(), vec![vec!["a"], vec!["b", "c", "d"]]);
    for id in ["a", "b", "c", "d"] {
        assert_eq!(storage.stored(id).await, 1, "{id}");
    }
}

#[tokio::test]
async fn two_appends_to_one_document_never_share_a_transaction() {
    let (group, storage, first) = first_append_at_the_gate().await;
    let x1 = spawn_append(&group, &storage, vec![change("x", 2)]);
    queued(&group, 1).await;
    let x2 = spawn_append(&group, &storage, vec![change("x", 3), change("z", 5)]);
    queued(&group, 2).await;
    let y = spawn_append(&group, &storage, vec![change("y", 4)]);
    queued(&group, 3).await;
    let z = spawn_append(&group, &storage, vec![change("z", 6)]);
    queued(&group, 4).await;
    storage.release();
    for r in [first, x1, x2, y, z] {
        assert!(r.await.unwrap().is_ok());
    }
    // The second append to x waits for the group after the first; the append to z after it
    // waits too (behind the one that also writes z), keeping their order.
    assert_eq!(storage.calls(), vec![vec!["a"], vec!["x", "y"], vec!["x", "z"], vec!["z"]]);
    assert_eq!(storage.stored("x").await, 2);
    assert_eq!(storage.stored("z").await, 2);
}

#[tokio::test]
async fn a_failed_group_is_committed_one_by_one_so_only_the_bad_append_fails() {
    let (group, storage, first) = first_append_at_the_gate().await;
    let good = spawn_append(&group, &storage, vec![change("good", 2)]);
    queued(&group, 1).await;
    let bad = spawn_append(&group, &storage, vec![change("bad", 3)]);
    queued(&group, 2).await;
    storage.release();
    assert!(first.await.unwrap().is_ok());
    assert!(good.await.unwrap().is_ok());
    assert!(bad.await.unwrap().is_err());
    assert_eq!(storage.calls(), vec![vec!["a"], vec!["good", "bad"], vec!["good"], vec!["bad"]]);
    assert_eq!(storage.stored("good").await, 1);
    assert_eq!(storage.stored("bad").await, 0);
}

#[tokio::test]
async fn a_leader_whose_request_is_dropped_still_commits_its_group() {
    let (group, storage, first) = first_append_at_the_gate().await;
    let second = spawn_append(&group, &storage, vec![change("b", 2)]);
    queued(&group, 1).await;
    // The leader's request goes away while its commit waits at the gate.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    storage.release();
    assert!(second.await.unwrap().is_ok());
    assert_eq!(storage.calls(), vec![vec!["a"], vec!["b"]]);
    assert_eq!(storage.stored("a").await, 1);
    assert_eq!(storage.stored("b").await, 1);
}
