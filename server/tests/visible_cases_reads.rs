//! The hub reads the visible cases once per exchange (issue #12: they were read twice, once per
//! half): push and pull, a repair and a resync each read them exactly once. A storage that
//! counts passes every call through to SQLite; it implements every trait method, so a method
//! added to `Storage` makes this test fail to compile until it is passed through too.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use fieldbook_core::document::{Author, RecordDoc};
use fieldbook_core::protocol::{
    to_hashes, DocHeads, KeyPair, PushDoc, SyncRequest, SyncResponse, PROTOCOL_VERSION,
};
use fieldbook_core::records::{
    new_record_id, RecordBody, RecordKind, RecordStatus, Visit, VisitKind,
};
use fieldbook_server::auth::{Identity, Role};
use fieldbook_server::hub::Hub;
use fieldbook_server::storage::attachments::AttachmentStorage;
use fieldbook_server::storage::signing::{KeyRegistration, SigningStorage};
use fieldbook_server::storage::sqlite::SqliteStorage;
use fieldbook_server::storage::{
    Allocation, AllocationEvent, Audience, DocInfo, DocState, FeedTag, Hash, NewChanges,
    ProjectedCase, ProjectedDoc, ProjectionScope, ProjectionVisitor, Result, Storage, StoredChange,
};

/// SQLite, with a count of `visible_cases` reads.
#[derive(Debug)]
struct Counting {
    inner: SqliteStorage,
    visible_cases_reads: AtomicU64,
}

impl Counting {
    fn take(&self) -> u64 {
        self.visible_cases_reads.swap(0, Ordering::SeqCst)
    }
}

#[async_trait]
impl Storage for Counting {
    async fn doc_info(&self, id: &str) -> Result<Option<DocInfo>> {
        self.inner.doc_info(id).await
    }
    async fn doc_state(&self, id: &str) -> Result<Option<DocState>> {
        self.inner.doc_state(id).await
    }
    async fn put_heads(&self, id: &str, heads: Vec<Hash>, changes: u64) -> Result<bool> {
        self.inner.put_heads(id, heads, changes).await
    }
    async fn doc_changes(&self, id: &str) -> Result<Vec<Vec<u8>>> {
        self.inner.doc_changes(id).await
    }
    async fn append(&self, batch: Vec<NewChanges>) -> Result<u64> {
        self.inner.append(batch).await
    }
    async fn append_projected(
        &self,
        batch: Vec<NewChanges>,
        docs: Vec<ProjectedDoc>,
    ) -> Result<u64> {
        self.inner.append_projected(batch, docs).await
    }
    async fn feed(
        &self,
        cursor: u64,
        cases: &[String],
        budget: u64,
        max_rows: usize,
    ) -> Result<Vec<StoredChange>> {
        self.inner.feed(cursor, cases, budget, max_rows).await
    }
    async fn head(&self) -> Result<u64> {
        self.inner.head().await
    }
    async fn allocate(&self, allocation: Allocation) -> Result<Option<Allocation>> {
        self.inner.allocate(allocation).await
    }
    async fn allocation(&self, case_id: &str) -> Result<Option<Allocation>> {
        self.inner.allocation(case_id).await
    }
    async fn visible_cases(&self, audience: &Audience) -> Result<Vec<String>> {
        self.visible_cases_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.visible_cases(audience).await
    }
    async fn ever_allocated(&self, worker: &str, case_id: &str) -> Result<bool> {
        self.inner.ever_allocated(worker, case_id).await
    }
    async fn allocation_events(
        &self,
        audience: &Audience,
        cursor: u64,
    ) -> Result<Vec<AllocationEvent>> {
        self.inner.allocation_events(audience, cursor).await
    }
    async fn case_changes(&self, case_id: &str) -> Result<Vec<StoredChange>> {
        self.inner.case_changes(case_id).await
    }
    async fn seq_tag(&self, seq: u64) -> Result<Option<FeedTag>> {
        self.inner.seq_tag(seq).await
    }
    async fn changed_docs(&self, cursor: u64, limit: usize) -> Result<Vec<(u64, DocInfo)>> {
        self.inner.changed_docs(cursor, limit).await
    }
    async fn put_projections(
        &self,
        docs: Vec<ProjectedDoc>,
        cases: Vec<ProjectedCase>,
    ) -> Result<()> {
        self.inner.put_projections(docs, cases).await
    }
    async fn projected_docs(
        &self,
        scope: &ProjectionScope,
        status: Option<RecordStatus>,
    ) -> Result<Vec<ProjectedDoc>> {
        self.inner.projected_docs(scope, status).await
    }
    async fn projected_cases(&self, scope: &ProjectionScope) -> Result<Vec<ProjectedCase>> {
        self.inner.projected_cases(scope).await
    }
    async fn visit_projections(
        &self,
        scope: &ProjectionScope,
        visitor: Box<dyn ProjectionVisitor>,
    ) -> Result<Box<dyn ProjectionVisitor>> {
        self.inner.visit_projections(scope, visitor).await
    }
    async fn clear_projections(&self) -> Result<()> {
        self.inner.clear_projections().await
    }
}

#[async_trait]
impl SigningStorage for Counting {
    async fn register_key(
        &self,
        reg: KeyRegistration,
        event: Vec<u8>,
        max_per_worker: usize,
    ) -> Result<Option<KeyRegistration>> {
        self.inner.register_key(reg, event, max_per_worker).await
    }
    async fn device_key(&self, key: [u8; 32]) -> Result<Option<KeyRegistration>> {
        self.inner.device_key(key).await
    }
    async fn device_keys(&self) -> Result<Vec<KeyRegistration>> {
        self.inner.device_keys().await
    }
    async fn revoke_key(
        &self,
        key: [u8; 32],
        at: String,
        by: String,
        event: Vec<u8>,
    ) -> Result<bool> {
        self.inner.revoke_key(key, at, by, event).await
    }
    async fn key_events(&self) -> Result<Vec<Vec<u8>>> {
        self.inner.key_events().await
    }
    async fn doc_signatures(&self, doc_id: &str) -> Result<Vec<(Hash, Vec<u8>)>> {
        self.inner.doc_signatures(doc_id).await
    }
}

#[async_trait]
impl AttachmentStorage for Counting {
    async fn attachment_in_case(&self, hash: &str, case_id: &str) -> Result<Option<u64>> {
        self.inner.attachment_in_case(hash, case_id).await
    }
    async fn attachment_cases(&self, hash: &str) -> Result<Vec<String>> {
        self.inner.attachment_cases(hash).await
    }
    async fn attachment_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        self.inner.attachment_bytes(hash).await
    }
    async fn upload_received(&self, hash: &str, case_id: &str) -> Result<u64> {
        self.inner.upload_received(hash, case_id).await
    }
    async fn append_upload(
        &self,
        hash: &str,
        case_id: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<u64> {
        self.inner.append_upload(hash, case_id, offset, bytes).await
    }
    async fn upload_bytes(&self, hash: &str, case_id: &str) -> Result<Vec<u8>> {
        self.inner.upload_bytes(hash, case_id).await
    }
    async fn complete_upload(&self, hash: &str, case_id: &str, bytes: Vec<u8>) -> Result<bool> {
        self.inner.complete_upload(hash, case_id, bytes).await
    }
    async fn discard_upload(&self, hash: &str, case_id: &str) -> Result<()> {
        self.inner.discard_upload(hash, case_id).await
    }
    async fn attachment_totals(&self) -> Result<(u64, u64)> {
        self.inner.attachment_totals().await
    }
}

fn request(push: Vec<PushDoc>, check: Vec<DocHeads>, cursor: u64, cursor_tag: u64) -> SyncRequest {
    SyncRequest {
        version: PROTOCOL_VERSION,
        device: "tab".into(),
        cursor,
        cursor_tag,
        push,
        check,
        response_budget: 1 << 20,
        device_key: Some(key().public()),
    }
}

fn key() -> KeyPair {
    KeyPair::from_seed(&[7; 32])
}

#[tokio::test]
async fn each_exchange_reads_the_visible_cases_once() {
    let storage = Arc::new(Counting {
        inner: SqliteStorage::in_memory().unwrap(),
        visible_cases_reads: AtomicU64::new(0),
    });
    let allocation =
        Allocation { case_id: "case-a".into(), worker: "amara".into(), team: "north".into() };
    storage.allocate(allocation).await.unwrap();
    let hub = Hub::new(storage.clone());
    let amara =
        Identity { subject: "amara".into(), role: Role::Worker, team: Some("north".into()) };

    // Push and pull: a new visit, signed by the device's key (registered in the same exchange).
    let body = RecordBody::Visit(Visit::new(VisitKind::ChildProtection, Utc::now()));
    let id = new_record_id();
    let mut doc = RecordDoc::create(
        &Author::new("amara", "tab"),
        id.clone(),
        "case-a".into(),
        &body,
        Utc::now(),
    )
    .unwrap();
    let signatures = doc
        .change_authors_after(&[])
        .into_iter()
        .map(|(h, _)| key().sign_change(fieldbook_core::protocol::Hash(h.0), None))
        .collect();
    let heads = to_hashes(&doc.heads());
    let push = PushDoc {
        id: id.clone(),
        kind: RecordKind::Visit,
        case_id: "case-a".into(),
        heads: heads.clone(),
        changes: doc.save_after(&[]),
        signatures,
        listing: None,
    };
    storage.take();
    let first: SyncResponse = hub.sync(&amara, request(vec![push], vec![], 0, 0)).await.unwrap();
    assert_eq!(first.acks.len(), 1, "{first:?}");
    assert!(first.allocated.contains(&"case-a".to_string()));
    assert_eq!(storage.take(), 1, "push and pull");

    // Repair: the device's heads of the visit, compared.
    let check = vec![DocHeads { id: id.clone(), case_id: "case-a".into(), heads }];
    let cursor = (first.next_cursor, first.next_cursor_tag);
    let repair =
        hub.sync(&amara, request(vec![], check.clone(), cursor.0, cursor.1)).await.unwrap();
    assert!(!repair.resync && repair.send_all.is_empty(), "{repair:?}");
    assert_eq!(storage.take(), 1, "repair");

    // Resync: a cursor whose tag is not the server's (a restored server, as the device sees it).
    let resync =
        hub.sync(&amara, request(vec![], check, cursor.0, cursor.1.wrapping_add(1))).await.unwrap();
    assert!(resync.resync, "{resync:?}");
    assert_eq!(storage.take(), 1, "resync");

    // The counter counts: a read outside the hub is seen.
    let visible = storage.visible_cases(&Audience::Worker("amara".into())).await.unwrap();
    assert_eq!((visible, storage.take()), (vec!["case-a".to_string()], 1));
}
