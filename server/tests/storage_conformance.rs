//! One conformance suite for every storage backend: the hub relies only on what is checked here,
//! so a backend that passes it can be swapped in.
//!
//! The PostgreSQL half needs a server: `FIELDBOOK_TEST_POSTGRES_URL` (the test scripts start one
//! with `scripts/postgres.sh start`). Without it those tests fail with a message saying so rather
//! than pass silently. Each test works in a PostgreSQL schema of its own, so they run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;

use fieldbook_core::records::{RecordKind, RecordStatus};
use fieldbook_server::storage::key::default_key_file;
use fieldbook_server::storage::postgres::PostgresStorage;
use fieldbook_server::storage::sqlite_file::open_with_key_file;
use fieldbook_server::storage::{
    Allocation, AllocationChange, Audience, DocInfo, Hash, HeadsMove, NewChanges, ProjectedCase,
    ProjectedDoc, ProjectionScope, Storage,
};

/// A backend under test and a way to open it again on the same data.
#[async_trait::async_trait]
trait Backend: Send + Sync {
    async fn open(&self) -> Arc<dyn Storage>;
}

struct Sqlite {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Sqlite {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        Self { _dir: dir, path }
    }
}

#[async_trait::async_trait]
impl Backend for Sqlite {
    async fn open(&self) -> Arc<dyn Storage> {
        // As the server opens it: encrypted, the key file created beside it on the first open.
        Arc::new(open_with_key_file(&self.path, &default_key_file(&self.path)).unwrap())
    }
}

struct Postgres {
    url: String,
    schema: String,
}

impl Postgres {
    fn new(test: &str) -> Self {
        let url = std::env::var("FIELDBOOK_TEST_POSTGRES_URL").unwrap_or_else(|_| {
            panic!(
                "FIELDBOOK_TEST_POSTGRES_URL is not set: start a server with \
                 `scripts/postgres.sh start` and export the URL it prints \
                 (scripts/test-all.sh does both)"
            )
        });
        let schema = format!("t_{test}_{}", std::process::id());
        Self { url, schema }
    }
}

#[async_trait::async_trait]
impl Backend for Postgres {
    async fn open(&self) -> Arc<dyn Storage> {
        let storage = PostgresStorage::connect_with_schema(&self.url, Some(&self.schema));
        Arc::new(storage.await.unwrap())
    }
}

fn doc(id: &str, case_id: &str) -> DocInfo {
    DocInfo { id: id.into(), case_id: case_id.into(), kind: RecordKind::Visit }
}

fn hash(n: u32) -> Hash {
    let mut h = [0u8; 32];
    h[..4].copy_from_slice(&n.to_be_bytes());
    Hash(h)
}

fn changes(doc_id: &str, case_id: &str, numbers: &[u32]) -> NewChanges {
    NewChanges {
        doc: doc(doc_id, case_id),
        changes: numbers.iter().map(|&n| (hash(n), format!("change-{n}").into_bytes())).collect(),
        heads: None,
        signatures: Vec::new(),
    }
}

/// `changes` with the writer's heads before and after.
fn moving(doc_id: &str, numbers: &[u32], before: &[u32], after: &[u32]) -> NewChanges {
    let hashes = |ns: &[u32]| ns.iter().map(|&n| hash(n)).collect();
    NewChanges {
        heads: Some(HeadsMove { before: hashes(before), after: hashes(after) }),
        ..changes(doc_id, "c1", numbers)
    }
}

fn cases(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn alloc(case_id: &str, worker: &str, team: &str) -> Allocation {
    Allocation { case_id: case_id.into(), worker: worker.into(), team: team.into() }
}

async fn empty_storage_has_nothing(b: &dyn Backend) {
    let s = b.open().await;
    assert_eq!(s.head().await.unwrap(), 0);
    assert!(s.doc_info("d1").await.unwrap().is_none());
    assert!(s.doc_changes("d1").await.unwrap().is_empty());
    assert!(s.feed(0, &cases(&["c1"]), 1 << 20, 100).await.unwrap().is_empty());
    assert!(s.allocation("c1").await.unwrap().is_none());
    assert!(s.visible_cases(&Audience::Worker("amara".into())).await.unwrap().is_empty());
    assert!(s.changed_docs(0, 10).await.unwrap().is_empty());
}

async fn append_numbers_changes_and_skips_duplicates(b: &dyn Backend) {
    let s = b.open().await;
    let head = s.append(vec![changes("d1", "c1", &[1, 2]), changes("d2", "c2", &[3])]).await;
    assert_eq!(head.unwrap(), 3);
    assert_eq!(s.doc_info("d1").await.unwrap(), Some(doc("d1", "c1")));
    assert_eq!(
        s.doc_changes("d1").await.unwrap(),
        vec![b"change-1".to_vec(), b"change-2".to_vec()]
    );
    // A retried push: the known hashes are skipped, only the new one is numbered.
    let head = s.append(vec![changes("d1", "c1", &[1, 2, 4])]).await.unwrap();
    assert_eq!(head, 4);
    assert_eq!(s.doc_changes("d1").await.unwrap().len(), 3);
    // Nothing new: the head is returned unchanged.
    assert_eq!(s.append(vec![changes("d1", "c1", &[4])]).await.unwrap(), 4);
    assert_eq!(s.head().await.unwrap(), 4);
    // The same hash in another document is that document's own change.
    s.append(vec![changes("d2", "c2", &[1])]).await.unwrap();
    assert_eq!(s.doc_changes("d2").await.unwrap().len(), 2);
}

async fn feed_filters_by_cursor_case_budget_and_rows(b: &dyn Backend) {
    let s = b.open().await;
    s.append(vec![changes("d1", "c1", &[1, 2]), changes("d2", "c2", &[3])]).await.unwrap();
    s.append(vec![changes("d3", "c1", &[4, 5, 6])]).await.unwrap();
    let c1 = cases(&["c1"]);
    let all = s.feed(0, &c1, 1 << 20, 100).await.unwrap();
    let seqs: Vec<u64> = all.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, vec![1, 2, 4, 5, 6], "case c2's change is not in c1's feed");
    assert!(all.iter().all(|c| c.doc.case_id == "c1"));
    assert_eq!(all[0].hash, hash(1));
    assert_eq!(all[0].bytes, b"change-1");
    assert_eq!(all[2].doc, doc("d3", "c1"));
    // After a cursor.
    let after: Vec<u64> =
        s.feed(4, &c1, 1 << 20, 100).await.unwrap().iter().map(|c| c.seq).collect();
    assert_eq!(after, vec![5, 6]);
    // A budget smaller than one change still returns one; the byte budget stops the page.
    assert_eq!(s.feed(0, &c1, 1, 100).await.unwrap().len(), 1);
    assert_eq!(s.feed(0, &c1, 9, 100).await.unwrap().len(), 2, "8 bytes each: stops at >= 9");
    // The row bound.
    assert_eq!(s.feed(0, &c1, 1 << 20, 3).await.unwrap().len(), 3);
    // No cases, no changes.
    assert!(s.feed(0, &[], 1 << 20, 100).await.unwrap().is_empty());
    // The case system's view: each document once, at its latest change, in that order.
    let docs = s.changed_docs(0, 10).await.unwrap();
    let ids: Vec<(u64, &str)> = docs.iter().map(|(seq, d)| (*seq, d.id.as_str())).collect();
    assert_eq!(ids, vec![(2, "d1"), (3, "d2"), (6, "d3")]);
    assert_eq!(s.changed_docs(2, 1).await.unwrap()[0].1.id, "d2");
    assert!(s.changed_docs(6, 10).await.unwrap().is_empty());
    let whole_case: Vec<u64> = s.case_changes("c1").await.unwrap().iter().map(|c| c.seq).collect();
    assert_eq!(whole_case, vec![1, 2, 4, 5, 6]);
}

async fn allocations_record_events_in_the_shared_sequence(b: &dyn Backend) {
    let s = b.open().await;
    let amara = Audience::Worker("amara".into());
    let ben = Audience::Worker("ben".into());
    let north = Audience::Team("north".into());
    s.append(vec![changes("d1", "c1", &[1])]).await.unwrap();
    assert_eq!(s.allocate(alloc("c1", "amara", "north")).await.unwrap(), None);
    assert_eq!(s.head().await.unwrap(), 3, "one change, then events for worker and team");
    assert_eq!(s.visible_cases(&amara).await.unwrap(), cases(&["c1"]));
    assert_eq!(s.visible_cases(&north).await.unwrap(), cases(&["c1"]));
    assert!(s.visible_cases(&ben).await.unwrap().is_empty());
    let events = s.allocation_events(&amara, 0).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].case_id.as_str(), events[0].change), ("c1", AllocationChange::Allocated));
    assert!(events[0].seq > 1, "after the change already stored");

    // The same allocation again: nothing happens.
    let head = s.head().await.unwrap();
    let same = s.allocate(alloc("c1", "amara", "north")).await.unwrap();
    assert_eq!(same, Some(alloc("c1", "amara", "north")));
    assert_eq!(s.head().await.unwrap(), head);

    // Re-allocation within the team: amara loses it, ben gains it, the team sees no change.
    let previous = s.allocate(alloc("c1", "ben", "north")).await.unwrap();
    assert_eq!(previous, Some(alloc("c1", "amara", "north")));
    assert_eq!(s.allocation("c1").await.unwrap(), Some(alloc("c1", "ben", "north")));
    assert!(s.visible_cases(&amara).await.unwrap().is_empty());
    assert_eq!(s.visible_cases(&ben).await.unwrap(), cases(&["c1"]));
    let amara_events = s.allocation_events(&amara, head).await.unwrap();
    assert_eq!(amara_events.len(), 1);
    assert_eq!(amara_events[0].change, AllocationChange::Revoked);
    let ben_events = s.allocation_events(&ben, 0).await.unwrap();
    assert_eq!(ben_events.len(), 1);
    assert_eq!(ben_events[0].change, AllocationChange::Allocated);
    assert!(s.allocation_events(&north, head).await.unwrap().is_empty());
    assert!(s.ever_allocated("amara", "c1").await.unwrap(), "history keeps the old worker");
    assert!(s.ever_allocated("ben", "c1").await.unwrap());
    assert!(!s.ever_allocated("carol", "c1").await.unwrap());

    // A move to another team: revoked for the old team, allocated for the new.
    s.allocate(alloc("c1", "ben", "south")).await.unwrap();
    let north_events = s.allocation_events(&north, 0).await.unwrap();
    assert_eq!(north_events.last().unwrap().change, AllocationChange::Revoked);
    let south = Audience::Team("south".into());
    assert_eq!(
        s.allocation_events(&south, 0).await.unwrap()[0].change,
        AllocationChange::Allocated
    );
    // Events come in sequence order, each after the cursor.
    let all = s.allocation_events(&north, 0).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let later = s.allocation_events(&north, all[0].seq).await.unwrap();
    assert_eq!(later.len(), all.len() - 1);
}

async fn data_survives_reopening(b: &dyn Backend) {
    {
        let s = b.open().await;
        s.append(vec![changes("d1", "c1", &[1, 2])]).await.unwrap();
        s.allocate(alloc("c1", "amara", "north")).await.unwrap();
    }
    let s = b.open().await;
    assert_eq!(s.head().await.unwrap(), 4);
    assert_eq!(s.doc_changes("d1").await.unwrap().len(), 2);
    assert_eq!(s.allocation("c1").await.unwrap(), Some(alloc("c1", "amara", "north")));
    // Numbering continues after the reopened head.
    assert_eq!(s.append(vec![changes("d1", "c1", &[3])]).await.unwrap(), 5);
}

async fn every_feed_entry_has_a_stable_tag(b: &dyn Backend) {
    use fieldbook_server::storage::{chain_tag, wire_tag, FeedEntry, CHAIN_START};
    let tags = {
        let s = b.open().await;
        assert_eq!(s.seq_tag(1).await.unwrap(), None, "nothing numbered yet");
        s.append(vec![changes("d1", "c1", &[1, 2])]).await.unwrap();
        s.allocate(alloc("c1", "amara", "north")).await.unwrap();
        let head = s.head().await.unwrap();
        let mut tags = Vec::new();
        for seq in 1..=head {
            let tag = s.seq_tag(seq).await.unwrap().expect("every number up to head has an entry");
            assert_eq!(tag.legacy, None, "an entry stored since the chain has no tag of before");
            tags.push(tag.chained);
        }
        assert_eq!(s.seq_tag(head + 1).await.unwrap(), None);
        // Each tag chains over the history up to its entry: the second change's tag covers
        // the first, so the same change at the same number after another history has another.
        let first = chain_tag(&CHAIN_START, 1, &FeedEntry::Change { hash: hash(1).0.to_vec() });
        let second = chain_tag(&first, 2, &FeedEntry::Change { hash: hash(2).0.to_vec() });
        assert_eq!((tags[0], tags[1]), (wire_tag(&first), wire_tag(&second)));
        let alone = chain_tag(&CHAIN_START, 2, &FeedEntry::Change { hash: hash(2).0.to_vec() });
        assert_ne!(tags[1], wire_tag(&alone));
        let distinct: HashSet<u64> = tags.iter().copied().collect();
        assert_eq!(distinct.len(), tags.len(), "different entries, different tags");
        tags
    };
    // The same entries give the same tags after reopening (and on any build).
    let s = b.open().await;
    for (i, tag) in tags.iter().enumerate() {
        let stored = s.seq_tag(i as u64 + 1).await.unwrap().unwrap();
        assert!(stored.accepts(*tag) && stored.chained == *tag);
    }
}

/// Writers racing each other and a reader following the feed: every change gets a distinct
/// number, and a reader that advances its cursor to what it has seen (or to `head` read before
/// the feed, as the hub does) never skips a change committed later.
async fn concurrent_writers_never_make_a_reader_skip(b: &dyn Backend) {
    let s = b.open().await;
    const WRITERS: u32 = 4;
    const PER_WRITER: u32 = 25;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let n = w * 1000 + i;
                s.append(vec![changes(&format!("d{w}"), "c1", &[n])]).await.unwrap();
            }
        }));
    }
    let reader = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut seen = HashSet::new();
            let mut cursor = 0;
            let c1 = cases(&["c1"]);
            while seen.len() < (WRITERS * PER_WRITER) as usize {
                let head = s.head().await.unwrap();
                let page = s.feed(cursor, &c1, 1 << 20, 1000).await.unwrap();
                for c in &page {
                    assert!(seen.insert(c.hash), "a change delivered twice");
                }
                cursor = head.max(page.last().map_or(0, |c| c.seq)).max(cursor);
                tokio::task::yield_now().await;
            }
            seen.len()
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    let read = tokio::time::timeout(std::time::Duration::from_secs(60), reader).await;
    assert_eq!(read.expect("the reader skipped a change and never saw it").unwrap(), 100);
    let all = s.feed(0, &cases(&["c1"]), 1 << 30, 10_000).await.unwrap();
    assert_eq!(all.len(), (WRITERS * PER_WRITER) as usize);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "distinct, increasing numbers");
    assert_eq!(s.head().await.unwrap(), all.last().unwrap().seq);
}

async fn attachments_resume_dedupe_and_link_per_case(b: &dyn Backend) {
    let s = b.open().await;
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let hash = "ab".repeat(32);
    assert_eq!(s.upload_received(&hash, "c1").await.unwrap(), 0);
    assert_eq!(s.attachment_in_case(&hash, "c1").await.unwrap(), None);
    // Parts append only at the offset received so far.
    assert_eq!(s.append_upload(&hash, "c1", 0, bytes[..100_000].to_vec()).await.unwrap(), 100_000);
    assert_eq!(s.append_upload(&hash, "c1", 0, bytes[..100_000].to_vec()).await.unwrap(), 100_000);
    assert_eq!(s.append_upload(&hash, "c1", 5, bytes[5..9].to_vec()).await.unwrap(), 100_000);
    // Uploads of the same hash for another case are their own.
    assert_eq!(s.upload_received(&hash, "c2").await.unwrap(), 0);
    assert_eq!(
        s.append_upload(&hash, "c1", 100_000, bytes[100_000..].to_vec()).await.unwrap(),
        300_000
    );
    assert_eq!(s.upload_bytes(&hash, "c1").await.unwrap(), bytes);
    assert!(s.complete_upload(&hash, "c1", bytes.clone()).await.unwrap(), "stored the first time");
    assert_eq!(s.upload_received(&hash, "c1").await.unwrap(), 0, "parts removed");
    assert_eq!(s.attachment_in_case(&hash, "c1").await.unwrap(), Some(300_000));
    assert_eq!(s.attachment_in_case(&hash, "c2").await.unwrap(), None, "linked to c1 only");
    // The same bytes for a second case: linked, not stored twice.
    assert!(!s.complete_upload(&hash, "c2", bytes.clone()).await.unwrap());
    assert_eq!(s.attachment_totals().await.unwrap(), (1, 300_000));
    assert_eq!(s.attachment_cases(&hash).await.unwrap(), vec!["c1".to_string(), "c2".to_string()]);
    assert_eq!(s.attachment_bytes(&hash).await.unwrap(), Some(bytes));
    assert_eq!(s.attachment_bytes(&"cd".repeat(32)).await.unwrap(), None);
    // A discarded upload leaves nothing.
    s.append_upload(&"cd".repeat(32), "c1", 0, vec![1, 2, 3]).await.unwrap();
    s.discard_upload(&"cd".repeat(32), "c1").await.unwrap();
    assert_eq!(s.upload_received(&"cd".repeat(32), "c1").await.unwrap(), 0);
    assert_eq!(s.attachment_totals().await.unwrap(), (1, 300_000));
    // And it is all still there after reopening.
    drop(s);
    let s = b.open().await;
    assert_eq!(s.attachment_in_case(&hash, "c2").await.unwrap(), Some(300_000));
}

fn projected(id: &str, case_id: &str, status: RecordStatus, data: &str) -> ProjectedDoc {
    ProjectedDoc {
        id: id.into(),
        case_id: case_id.into(),
        kind: RecordKind::Visit,
        status,
        data: data.into(),
    }
}

fn case_row(case_id: &str, data: &str) -> ProjectedCase {
    ProjectedCase { case_id: case_id.into(), data: data.into(), allocation: None }
}

/// The oversight projections: replaced by id, read by scope (a team through the current
/// allocation) and status, ordered by id, cleared together; kept across a reopen.
async fn oversight_projections_by_scope_and_status(b: &dyn Backend) {
    let s = b.open().await;
    s.allocate(alloc("c1", "amara", "north")).await.unwrap();
    s.allocate(alloc("c2", "ben", "north")).await.unwrap();
    s.allocate(alloc("c3", "carol", "south")).await.unwrap();
    s.put_projections(
        vec![
            projected("d2", "c1", RecordStatus::Draft, "old"),
            projected("d1", "c1", RecordStatus::Submitted, "one"),
            projected("d3", "c2", RecordStatus::Submitted, "three"),
            projected("d4", "c3", RecordStatus::Submitted, "four"),
        ],
        vec![case_row("c1", "case one"), case_row("c3", "case three")],
    )
    .await
    .unwrap();
    // Replaced, not duplicated.
    s.put_projections(vec![projected("d2", "c1", RecordStatus::Authorised, "two")], vec![])
        .await
        .unwrap();
    let ids = |rows: Vec<ProjectedDoc>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let north = ProjectionScope::Team("north".into());
    assert_eq!(
        ids(s.projected_docs(&ProjectionScope::All, None).await.unwrap()),
        ["d1", "d2", "d3", "d4"]
    );
    assert_eq!(ids(s.projected_docs(&north, None).await.unwrap()), ["d1", "d2", "d3"]);
    assert_eq!(
        ids(s.projected_docs(&north, Some(RecordStatus::Submitted)).await.unwrap()),
        ["d1", "d3"]
    );
    let c1 = s.projected_docs(&ProjectionScope::Case("c1".into()), None).await.unwrap();
    assert_eq!(
        c1,
        vec![
            projected("d1", "c1", RecordStatus::Submitted, "one"),
            projected("d2", "c1", RecordStatus::Authorised, "two"),
        ]
    );
    // Cases come with their allocation; a re-allocation moves a case between teams.
    let cases = s.projected_cases(&ProjectionScope::All).await.unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].data, "case one");
    assert_eq!(cases[0].allocation, Some(alloc("c1", "amara", "north")));
    s.allocate(alloc("c3", "dan", "north")).await.unwrap();
    let north_cases = s.projected_cases(&north).await.unwrap();
    let got: Vec<_> = north_cases.iter().map(|c| c.case_id.as_str()).collect();
    assert_eq!(got, ["c1", "c3"]);
    assert_eq!(north_cases[1].allocation, Some(alloc("c3", "dan", "north")));
    assert!(s.projected_cases(&ProjectionScope::Team("south".into())).await.unwrap().is_empty());
    drop(s);
    let s = b.open().await;
    assert_eq!(s.projected_docs(&ProjectionScope::All, None).await.unwrap().len(), 4);
    s.clear_projections().await.unwrap();
    assert!(s.projected_docs(&ProjectionScope::All, None).await.unwrap().is_empty());
    assert!(s.projected_cases(&ProjectionScope::All).await.unwrap().is_empty());
}

/// An append that carries its documents' projection rows writes both in one transaction: after
/// it, the changes and the rows are there together, a later one replaces the rows, and one that
/// fails (PostgreSQL refuses a NUL in text; SQLite stores it) leaves neither its changes nor its
/// rows behind.
async fn appends_carry_their_projection_rows(b: &dyn Backend) {
    let s = b.open().await;
    let head = s
        .append_projected(
            vec![changes("d1", "c1", &[1]), changes("d2", "c1", &[2, 3])],
            vec![
                projected("d1", "c1", RecordStatus::Draft, "one"),
                projected("d2", "c1", RecordStatus::Draft, "two"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(head, 3);
    assert_eq!(s.doc_changes("d2").await.unwrap().len(), 2);
    s.append_projected(
        vec![changes("d1", "c1", &[4])],
        vec![projected("d1", "c1", RecordStatus::Submitted, "one, submitted")],
    )
    .await
    .unwrap();
    let rows = s.projected_docs(&ProjectionScope::Case("c1".into()), None).await.unwrap();
    assert_eq!(
        rows,
        vec![
            projected("d1", "c1", RecordStatus::Submitted, "one, submitted"),
            projected("d2", "c1", RecordStatus::Draft, "two"),
        ]
    );
    // Without rows it is `append`.
    assert_eq!(s.append_projected(vec![changes("d3", "c1", &[5])], vec![]).await.unwrap(), 5);
    let outcome = s
        .append_projected(
            vec![changes("d4", "c1", &[6])],
            vec![projected("d4", "c1", RecordStatus::Draft, "nul \0 byte")],
        )
        .await;
    let stored = s.doc_changes("d4").await.unwrap().len();
    let listed = s
        .projected_docs(&ProjectionScope::Case("c1".into()), None)
        .await
        .unwrap()
        .iter()
        .any(|r| r.id == "d4");
    match outcome {
        Ok(_) => assert!(stored == 1 && listed, "committed: both the change and the row"),
        Err(_) => assert!(stored == 0 && !listed, "refused: neither the change nor the row"),
    }
}

/// Heads per document: moved by each append as a compare-and-set, unknown after an append that
/// did not start from them (another writer in between), recorded again only against the number
/// of changes they were computed from.
async fn heads_move_by_compare_and_set(b: &dyn Backend) {
    let s = b.open().await;
    assert!(s.doc_state("d1").await.unwrap().is_none());
    // A new document: from no heads to the writer's.
    s.append(vec![moving("d1", &[1], &[], &[1])]).await.unwrap();
    let state = s.doc_state("d1").await.unwrap().unwrap();
    assert_eq!((state.info, state.heads, state.changes), (doc("d1", "c1"), Some(vec![hash(1)]), 1));
    // Two concurrent changes on top, heads given in any order: stored sorted.
    s.append(vec![moving("d1", &[3, 2], &[1], &[3, 2])]).await.unwrap();
    let state = s.doc_state("d1").await.unwrap().unwrap();
    assert_eq!((state.heads, state.changes), (Some(vec![hash(2), hash(3)]), 3));
    // A writer that loaded the document before the last append: its heads are not taken.
    s.append(vec![moving("d1", &[4], &[1], &[4])]).await.unwrap();
    let state = s.doc_state("d1").await.unwrap().unwrap();
    assert_eq!((state.heads, state.changes), (None, 4));
    // Unknown heads stay unknown whatever an append says they were.
    s.append(vec![moving("d1", &[5], &[4], &[5])]).await.unwrap();
    assert_eq!(s.doc_state("d1").await.unwrap().unwrap().heads, None);
    // Recorded against a stale count: refused; against the current one: kept.
    assert!(!s.put_heads("d1", vec![hash(9)], 4).await.unwrap());
    assert!(s.put_heads("d1", vec![hash(5), hash(2), hash(3)], 5).await.unwrap());
    let state = s.doc_state("d1").await.unwrap().unwrap();
    assert_eq!(state.heads, Some(vec![hash(2), hash(3), hash(5)]));
    // Known heads are never overwritten by `put_heads`, only moved by appends.
    assert!(!s.put_heads("d1", vec![hash(9)], 5).await.unwrap());
    // A writer that does not know the heads leaves them unknown.
    s.append(vec![changes("d1", "c1", &[6])]).await.unwrap();
    assert_eq!(s.doc_state("d1").await.unwrap().unwrap().heads, None);
    // Another document's append in the same batch moves only its own.
    s.append(vec![moving("d2", &[7], &[], &[7]), moving("d3", &[8], &[1], &[8])]).await.unwrap();
    assert_eq!(s.doc_state("d2").await.unwrap().unwrap().heads, Some(vec![hash(7)]));
    assert_eq!(
        s.doc_state("d3").await.unwrap().unwrap().heads,
        None,
        "d3 is new: no heads were [1]"
    );
    assert!(s.doc_state("d4").await.unwrap().is_none());
    assert!(!s.put_heads("d4", vec![hash(1)], 0).await.unwrap());
}

/// Issue #16: signatures are stored with their changes (kept on a duplicate append), device keys
/// are registered once (the first binding stays), revoked once, and every key event is logged.
async fn signatures_keys_and_key_events(b: &dyn Backend) {
    use fieldbook_server::storage::signing::KeyRegistration;
    let s = b.open().await;
    let mut batch = changes("d1", "c1", &[1, 2, 3]);
    batch.signatures = vec![(hash(1), b"sig-1".to_vec()), (hash(3), b"sig-3".to_vec())];
    s.append(vec![batch]).await.unwrap();
    // Appended again with another signature: the change and its first signature are kept.
    let mut again = changes("d1", "c1", &[1]);
    again.signatures = vec![(hash(1), b"other".to_vec())];
    s.append(vec![again]).await.unwrap();
    let sigs = s.doc_signatures("d1").await.unwrap();
    assert_eq!(sigs, vec![(hash(1), b"sig-1".to_vec()), (hash(3), b"sig-3".to_vec())]);
    assert!(s.doc_signatures("d2").await.unwrap().is_empty());
    // Many documents at once: each its own, in append order; one without signatures is absent.
    let mut other = changes("d3", "c1", &[7, 8]);
    other.signatures = vec![(hash(8), b"sig-8".to_vec())];
    s.append(vec![other]).await.unwrap();
    let ids: Vec<String> = ["d1", "d2", "d3", "d1"].map(String::from).into();
    let many = s.docs_signatures(&ids).await.unwrap();
    assert_eq!(many.len(), 2, "{many:?}");
    assert_eq!(many["d1"], sigs);
    assert_eq!(many["d3"], vec![(hash(8), b"sig-8".to_vec())]);
    // More ids than one query takes.
    let lots: Vec<String> = (0..1200).map(|i| format!("x{i}")).chain(["d3".into()]).collect();
    assert_eq!(s.docs_signatures(&lots).await.unwrap().len(), 1);

    let reg = |key: u8, worker: &str| KeyRegistration {
        key: [key; 32],
        worker: worker.into(),
        device: "tablet-1".into(),
        registered_at: "2026-12-02T09:00:00Z".into(),
        token: "sha256:0011223344556677".into(),
        revoked_at: None,
        revoked_by: None,
    };
    assert_eq!(
        s.register_key(reg(1, "amara"), b"event-1".to_vec(), 16).await.unwrap(),
        Some(reg(1, "amara"))
    );
    // The same key presented by someone else keeps its first binding, and logs nothing.
    assert_eq!(
        s.register_key(reg(1, "ben"), b"event-x".to_vec(), 16).await.unwrap(),
        Some(reg(1, "amara"))
    );
    s.register_key(reg(2, "amara"), b"event-2".to_vec(), 16).await.unwrap().unwrap();
    assert_eq!(s.device_key([1; 32]).await.unwrap(), Some(reg(1, "amara")));
    assert_eq!(s.device_key([9; 32]).await.unwrap(), None);

    assert!(s
        .revoke_key([1; 32], "2026-12-02T10:00:00Z".into(), "op".into(), b"event-3".to_vec())
        .await
        .unwrap());
    assert!(!s
        .revoke_key([1; 32], "2026-12-02T11:00:00Z".into(), "op".into(), b"event-4".to_vec())
        .await
        .unwrap());
    assert!(!s
        .revoke_key([9; 32], "2026-12-02T11:00:00Z".into(), "op".into(), b"event-5".to_vec())
        .await
        .unwrap());
    drop(s);
    let s = b.open().await;
    let revoked = s.device_key([1; 32]).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at.as_deref(), Some("2026-12-02T10:00:00Z"));
    assert_eq!(revoked.revoked_by.as_deref(), Some("op"));
    let all: Vec<_> = s.device_keys().await.unwrap().into_iter().map(|r| r.key[0]).collect();
    assert_eq!(all, [1, 2]);
    let events = s.key_events().await.unwrap();
    assert_eq!(events, [b"event-1".to_vec(), b"event-2".to_vec(), b"event-3".to_vec()]);
}

/// The cap on one worker's keys holds under simultaneous first syncs: eight new keys of one
/// worker registered at once against a cap of three store exactly three (and log three
/// events); a key already registered is returned at the cap; another worker is not counted.
async fn key_cap_holds_under_simultaneous_registrations(b: &dyn Backend) {
    use fieldbook_server::storage::signing::KeyRegistration;
    let s = b.open().await;
    let reg = |key: u8, worker: &str| KeyRegistration {
        key: [key; 32],
        worker: worker.into(),
        device: format!("tablet-{key}"),
        registered_at: "2026-12-03T09:00:00Z".into(),
        token: "sha256:0011223344556677".into(),
        revoked_at: None,
        revoked_by: None,
    };
    s.register_key(reg(100, "ben"), b"ben".to_vec(), 1).await.unwrap().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for key in 1..=8u8 {
        let s = s.clone();
        let r = reg(key, "amara");
        tasks.spawn(async move { s.register_key(r, vec![key], 3).await.unwrap() });
    }
    let mut stored = Vec::new();
    while let Some(outcome) = tasks.join_next().await {
        stored.extend(outcome.unwrap());
    }
    assert_eq!(stored.len(), 3, "registered past the cap: {stored:?}");
    let held: Vec<_> =
        s.device_keys().await.unwrap().into_iter().filter(|r| r.worker == "amara").collect();
    assert_eq!(held.len(), 3);
    assert_eq!(s.key_events().await.unwrap().len(), 4, "ben's event and amara's three");
    // At the cap, a known key is still answered with its registration; a new one is refused.
    let known = held[0].clone();
    let again = KeyRegistration { registered_at: "later".into(), ..known.clone() };
    assert_eq!(s.register_key(again, b"x".to_vec(), 3).await.unwrap(), Some(known));
    assert_eq!(s.register_key(reg(9, "amara"), b"x".to_vec(), 3).await.unwrap(), None);
    assert_eq!(s.key_events().await.unwrap().len(), 4, "nothing logged for a refusal");
    // Revoked keys still count: revoking is not a way round the cap.
    assert!(s
        .revoke_key(held[1].key, "2026-12-03T10:00:00Z".into(), "op".into(), b"r".to_vec())
        .await
        .unwrap());
    assert_eq!(s.register_key(reg(10, "amara"), b"x".to_vec(), 3).await.unwrap(), None);
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&Sqlite::new()).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&Postgres::new(stringify!($name))).await;
                }
            )*
        }
    };
}

conformance!(
    empty_storage_has_nothing,
    append_numbers_changes_and_skips_duplicates,
    feed_filters_by_cursor_case_budget_and_rows,
    allocations_record_events_in_the_shared_sequence,
    data_survives_reopening,
    every_feed_entry_has_a_stable_tag,
    concurrent_writers_never_make_a_reader_skip,
    attachments_resume_dedupe_and_link_per_case,
    oversight_projections_by_scope_and_status,
    appends_carry_their_projection_rows,
    heads_move_by_compare_and_set,
    signatures_keys_and_key_events,
    key_cap_holds_under_simultaneous_registrations,
);
