//! Opening the server's storage: the migration list of each backend (every earlier schema, with
//! data in it, upgrades to exactly the fresh schema; a newer schema is refused; several servers
//! starting together on one PostgreSQL migrate once) and the embedded database's encryption
//! (key file created on first start, wrong or missing key refused, a plain-text database from an
//! earlier release encrypted in place).
//!
//! The PostgreSQL half needs `FIELDBOOK_TEST_POSTGRES_URL`, as `storage_conformance.rs` does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use fieldbook_core::records::RecordKind;
use fieldbook_server::serve::{open_storage, Backend, ServeError};
use fieldbook_server::storage::key::{default_key_file, SqliteKey};
use fieldbook_server::storage::postgres::PostgresStorage;
use fieldbook_server::storage::sqlite::SqliteStorage;
use fieldbook_server::storage::sqlite_file::{inspect, FileState};
use fieldbook_server::storage::{
    postgres_schema, sqlite_schema, Allocation, AllocationEvent, Audience, DocInfo, DocState,
    FeedTag, Hash, HeadsMove, NewChanges, Storage, StorageError, StoredChange,
};

const PLANTED: &str = "PLANTED-SERVER-AT-REST-5e1a";

fn doc(id: &str, case_id: &str) -> DocInfo {
    DocInfo { id: id.into(), case_id: case_id.into(), kind: RecordKind::Visit }
}

fn hash(n: u8) -> Hash {
    Hash([n; 32])
}

fn alloc(case_id: &str, worker: &str, team: &str) -> Allocation {
    Allocation { case_id: case_id.into(), worker: worker.into(), team: team.into() }
}

/// Changes, allocations and a re-allocation, the planted string among the change bytes.
async fn seed(s: &dyn Storage) {
    s.allocate(alloc("c1", "amara", "north")).await.unwrap();
    s.append(vec![
        NewChanges {
            doc: doc("d1", "c1"),
            changes: vec![(hash(1), PLANTED.as_bytes().to_vec()), (hash(2), b"two".to_vec())],
            heads: Some(HeadsMove { before: vec![], after: vec![hash(2)] }),
            signatures: Vec::new(),
        },
        NewChanges {
            doc: doc("d2", "c2"),
            changes: vec![(hash(3), b"three".to_vec())],
            heads: Some(HeadsMove { before: vec![], after: vec![hash(3)] }),
            signatures: Vec::new(),
        },
    ])
    .await
    .unwrap();
    s.allocate(alloc("c1", "ben", "south")).await.unwrap();
    s.allocate(alloc("c2", "amara", "north")).await.unwrap();
}

/// Documents stored before heads were kept have unknown heads after the upgrade, and the hub
/// can record them (it does when it first loads one); documents stored since have them.
async fn heads_after_upgrade(s: &dyn Storage, start: i64, heads_version: i64) {
    let state = s.doc_state("d1").await.unwrap().unwrap();
    if start < heads_version {
        assert_eq!(state.heads, None, "stored before heads were kept (version {start})");
        assert!(s.put_heads("d1", vec![hash(2)], state.changes).await.unwrap());
        assert_eq!(s.doc_state("d1").await.unwrap().unwrap().heads, Some(vec![hash(2)]));
    } else {
        assert_eq!(state.heads, Some(vec![hash(2)]));
    }
}

/// The feed tags after an upgrade (schema 6 chains them): the chain over the upgraded history
/// is the one a fresh database (`fresh`, seeded alike) computes for it; entries stored before
/// the chain keep their tag of before (`legacy`), so cursors devices hold stay valid; and a new
/// entry chains from the upgraded ones exactly as on the fresh database.
async fn tags_after_upgrade(
    s: &dyn Storage,
    fresh: &dyn Storage,
    start: i64,
    chain_version: i64,
    (before, after): (Vec<Option<FeedTag>>, Vec<Option<FeedTag>>),
) {
    let chained =
        |t: &[Option<FeedTag>]| t.iter().map(|t| t.map(|t| t.chained)).collect::<Vec<_>>();
    let fresh_head = fresh.head().await.unwrap();
    let mut fresh_tags = Vec::new();
    for seq in 0..=fresh_head + 1 {
        fresh_tags.push(fresh.seq_tag(seq).await.unwrap());
    }
    // Up to the head (the fresh database may have more: the new entry below, from an earlier
    // start's turn).
    let upto = after.len() - 1;
    assert_eq!(chained(&after[..upto]), chained(&fresh_tags[..upto]), "chain from {start}");
    for (b, a) in before.iter().zip(&after) {
        match (b, a) {
            (None, None) => {}
            (Some(b), Some(a)) if start < chain_version => {
                assert_eq!((b.legacy, a.legacy), (None, Some(b.chained)), "from {start}");
                assert!(a.accepts(b.chained));
            }
            (Some(b), Some(a)) => assert_eq!(a, b, "from {start}"),
            other => panic!("an entry appeared or vanished upgrading from {start}: {other:?}"),
        }
    }
    let more = || {
        vec![NewChanges {
            doc: doc("d2", "c2"),
            changes: vec![(hash(9), b"nine".to_vec())],
            heads: Some(HeadsMove { before: vec![hash(3)], after: vec![hash(9)] }),
            signatures: Vec::new(),
        }]
    };
    let seq = s.append(more()).await.unwrap();
    fresh.append(more()).await.unwrap();
    let tag = s.seq_tag(seq).await.unwrap().unwrap();
    assert_eq!(tag.legacy, None);
    assert_eq!(Some(tag), fresh.seq_tag(seq).await.unwrap(), "a new entry after {start}");
}

/// Everything the hub can read back.
#[derive(Debug, PartialEq)]
struct Observed {
    head: u64,
    feed: Vec<StoredChange>,
    tags: Vec<Option<FeedTag>>,
    allocations: Vec<Option<Allocation>>,
    events: Vec<Vec<AllocationEvent>>,
    visible: Vec<Vec<String>>,
    ever: Vec<bool>,
    changed: Vec<(u64, DocInfo)>,
    doc_changes: Vec<Vec<Vec<u8>>>,
    states: Vec<Option<DocState>>,
}

async fn observe(s: &dyn Storage) -> Observed {
    let head = s.head().await.unwrap();
    let cases = vec!["c1".to_string(), "c2".to_string()];
    let audiences = [
        Audience::Worker("amara".into()),
        Audience::Worker("ben".into()),
        Audience::Team("north".into()),
        Audience::Team("south".into()),
    ];
    let mut o = Observed {
        head,
        feed: s.feed(0, &cases, u64::MAX, 1000).await.unwrap(),
        tags: Vec::new(),
        allocations: Vec::new(),
        events: Vec::new(),
        visible: Vec::new(),
        ever: Vec::new(),
        changed: s.changed_docs(0, 100).await.unwrap(),
        doc_changes: Vec::new(),
        states: Vec::new(),
    };
    for seq in 0..=head + 1 {
        o.tags.push(s.seq_tag(seq).await.unwrap());
    }
    for case in &cases {
        o.allocations.push(s.allocation(case).await.unwrap());
        for worker in ["amara", "ben"] {
            o.ever.push(s.ever_allocated(worker, case).await.unwrap());
        }
    }
    for a in &audiences {
        o.events.push(s.allocation_events(a, 0).await.unwrap());
        o.visible.push(s.visible_cases(a).await.unwrap());
    }
    for id in ["d1", "d2"] {
        o.doc_changes.push(s.doc_changes(id).await.unwrap());
        o.states.push(s.doc_state(id).await.unwrap());
    }
    o
}

// ---- SQLite -------------------------------------------------------------------------------

const KEY_HEX: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

fn key() -> SqliteKey {
    SqliteKey::from_bytes([0x5a; 32])
}

/// The key in a key file, as hex.
fn hex_of(db: &Path) -> String {
    std::fs::read_to_string(default_key_file(db)).unwrap().trim().to_string()
}

/// A connection of our own to an encrypted database, with the key as hex.
fn raw_connection(path: &Path, key_hex: &str) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!("PRAGMA key = \"x'{key_hex}'\";")).unwrap();
    conn
}

/// The schema as SQLite records it, and the version.
fn sqlite_schema_of(path: &Path, key_hex: &str) -> (Vec<String>, i64) {
    let conn = raw_connection(path, key_hex);
    let mut stmt = conn
        .prepare(
            "SELECT type || ' ' || name || ' ' || tbl_name || ' ' || coalesce(sql, '')
             FROM sqlite_master ORDER BY type, name",
        )
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
    let version = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    (rows, version)
}

fn holds(path: &Path, needle: &str) -> bool {
    std::fs::read(path).unwrap().windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn sqlite_upgrades_every_earlier_schema_to_the_fresh_one() {
    let dir = tempfile::tempdir().unwrap();
    let fresh_path = dir.path().join("fresh.db");
    drop(SqliteStorage::open(&fresh_path, Some(&key())).unwrap());
    let fresh = sqlite_schema_of(&fresh_path, KEY_HEX);
    assert_eq!(fresh.1, sqlite_schema::CURRENT_VERSION);
    assert!(fresh.0.iter().any(|s| s.starts_with("table changes")), "{:?}", fresh.0);

    let seeded = SqliteStorage::open(&dir.path().join("seeded.db"), Some(&key())).unwrap();
    seed(&seeded).await;
    for start in 0..=sqlite_schema::CURRENT_VERSION {
        let path = dir.path().join(format!("v{start}.db"));
        let old = SqliteStorage::open_at_version(&path, Some(&key()), start).unwrap();
        assert_eq!(old.schema_version().await.unwrap(), start);
        // Version 0 has no tables to hold data.
        let before = if start >= 1 {
            seed(&old).await;
            Some(observe(&old).await)
        } else {
            None
        };
        drop(old);
        let upgraded = SqliteStorage::open(&path, Some(&key())).unwrap();
        assert_eq!(upgraded.schema_version().await.unwrap(), sqlite_schema::CURRENT_VERSION);
        if let Some(mut before) = before {
            let mut after = observe(&upgraded).await;
            let tags = (std::mem::take(&mut before.tags), std::mem::take(&mut after.tags));
            assert_eq!(after, before, "data after upgrading from {start}");
            heads_after_upgrade(&upgraded, start, sqlite_schema::HEADS_VERSION).await;
            let version = sqlite_schema::FEED_TAGS_VERSION;
            tags_after_upgrade(&upgraded, &seeded, start, version, tags).await;
        }
        drop(upgraded);
        assert_eq!(sqlite_schema_of(&path, KEY_HEX), fresh, "upgrade from version {start}");
    }
}

#[tokio::test]
async fn sqlite_refuses_a_schema_newer_than_it_knows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let backend = Backend::sqlite(&db);
    drop(open_storage(&backend).await.unwrap());
    let key = SqliteKey::read(&default_key_file(&db)).unwrap();
    let newer = sqlite_schema::CURRENT_VERSION + 1;
    raw_connection(&db, &hex_of(&db)).pragma_update(None, "user_version", newer).unwrap();
    let err = SqliteStorage::open(&db, Some(&key)).unwrap_err();
    assert!(
        matches!(err, StorageError::SchemaTooNew { found, supported }
            if found == newer && supported == sqlite_schema::CURRENT_VERSION),
        "{err}"
    );
    // The server refuses to start, saying why.
    let err = open_storage(&backend).await.unwrap_err();
    assert!(matches!(err, ServeError::Storage(StorageError::SchemaTooNew { .. })), "{err}");
    assert!(err.to_string().contains("newer than this build"), "{err}");
    // And left it alone.
    assert_eq!(sqlite_schema_of(&db, &hex_of(&db)).1, newer);
}

#[tokio::test]
async fn first_start_creates_a_private_key_file_and_an_encrypted_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let s = open_storage(&Backend::sqlite(&db)).await.unwrap();
    seed(s.as_ref()).await;
    let before = observe(s.as_ref()).await;
    drop(s);

    let key_file = dir.path().join("server.db.key");
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(text.len(), 65, "64 hex characters and a newline");
    assert!(text.trim().chars().all(|c| c.is_ascii_hexdigit()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(inspect(&db).unwrap(), FileState::Encrypted);
    // Every file the server's SQLite left: no planted string, no key, no SQLite header.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        assert!(!holds(&path, PLANTED), "{} holds the planted string", path.display());
        if path != key_file {
            assert!(!holds(&path, text.trim()), "{} holds the key", path.display());
            assert!(!holds(&path, "SQLite format 3"), "{} is plain SQLite", path.display());
        }
    }
    // Without its key the file cannot be read; with it, it holds everything.
    assert!(matches!(SqliteStorage::open(&db, None).unwrap_err(), StorageError::NeedsKey));
    let again = open_storage(&Backend::sqlite(&db)).await.unwrap();
    assert_eq!(observe(again.as_ref()).await, before);
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_refused_and_nothing_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let key_file = default_key_file(&db);
    let s = open_storage(&Backend::sqlite(&db)).await.unwrap();
    seed(s.as_ref()).await;
    let before = observe(s.as_ref()).await;
    drop(s);
    let right = std::fs::read(&key_file).unwrap();
    let db_bytes = std::fs::read(&db).unwrap();

    // Another valid key.
    std::fs::write(&key_file, format!("{}\n", "07".repeat(32))).unwrap();
    let err = open_storage(&Backend::sqlite(&db)).await.unwrap_err();
    assert!(matches!(err, ServeError::Storage(StorageError::WrongKey)), "{err}");
    // A malformed key file.
    std::fs::write(&key_file, "not a key\n").unwrap();
    let err = open_storage(&Backend::sqlite(&db)).await.unwrap_err();
    assert!(matches!(err, ServeError::Storage(StorageError::KeyFile { .. })), "{err}");
    // No key file at all: refused, and no new key made for the existing database.
    std::fs::remove_file(&key_file).unwrap();
    let err = open_storage(&Backend::sqlite(&db)).await.unwrap_err();
    assert!(matches!(err, ServeError::Storage(StorageError::KeyFileMissing { .. })), "{err}");
    assert!(err.to_string().contains("server.db.key"), "{err}");
    assert!(!key_file.exists());
    assert_eq!(std::fs::read(&db).unwrap(), db_bytes, "the database was left alone");

    std::fs::write(&key_file, &right).unwrap();
    let s = open_storage(&Backend::sqlite(&db)).await.unwrap();
    assert_eq!(observe(s.as_ref()).await, before);
}

#[tokio::test]
async fn a_named_key_file_is_used_and_created_there() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let key_file = secrets.path().join("fieldbook.key");
    let backend = Backend::sqlite_with_key_file(&db, Some(key_file.clone()));
    assert_eq!(backend.sqlite_key_file(), Some(key_file.clone()));
    let s = open_storage(&backend).await.unwrap();
    seed(s.as_ref()).await;
    drop(s);
    assert!(key_file.exists());
    assert!(!default_key_file(&db).exists(), "no key beside the database");
    let key = SqliteKey::read(&key_file).unwrap();
    let s = SqliteStorage::open(&db, Some(&key)).unwrap();
    assert_eq!(s.head().await.unwrap(), 11);
}

/// A database as the releases before encryption left it: plain text, schema version 1, data in
/// it, and its write-ahead log not checkpointed (the server was killed).
async fn plaintext_database(db: &Path) -> Observed {
    let s = SqliteStorage::open(db, None).unwrap();
    seed(&s).await;
    let observed = observe(&s).await;
    // Keep the log: copy the files while the connection is open, as a kill would leave them.
    let saved: Vec<_> = ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let path = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
            std::fs::read(&path).ok().map(|bytes| (path, bytes))
        })
        .collect();
    drop(s);
    for (path, bytes) in saved {
        std::fs::write(path, bytes).unwrap();
    }
    observed
}

#[tokio::test]
async fn a_plaintext_database_is_encrypted_in_place_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let before = plaintext_database(&db).await;
    assert!(dir.path().join("server.db-wal").exists(), "a log not checkpointed");
    assert_eq!(inspect(&db).unwrap(), FileState::Plaintext);
    // The scan below does see plain text: the planted string is in the files now.
    let leaked: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| holds(p, PLANTED))
        .collect();
    assert!(!leaked.is_empty(), "the planted string is in the plain-text files");
    // What an interrupted encryption left behind is discarded.
    std::fs::write(dir.path().join("server.db.encrypting"), b"half a copy").unwrap();

    let s = open_storage(&Backend::sqlite(&db)).await.unwrap();
    assert_eq!(observe(s.as_ref()).await, before);
    drop(s);
    assert_eq!(inspect(&db).unwrap(), FileState::Encrypted);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        assert!(!holds(&path, PLANTED), "{} holds the planted string", path.display());
    }
    assert!(!dir.path().join("server.db.encrypting").exists());
    // The same schema as a fresh database.
    let fresh = dir.path().join("fresh.db");
    drop(SqliteStorage::open(&fresh, Some(&key())).unwrap());
    assert_eq!(sqlite_schema_of(&db, &hex_of(&db)), sqlite_schema_of(&fresh, KEY_HEX));
}

// ---- PostgreSQL ---------------------------------------------------------------------------

fn postgres_url() -> String {
    std::env::var("FIELDBOOK_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "FIELDBOOK_TEST_POSTGRES_URL is not set: start a server with \
             `scripts/postgres.sh start` and export the URL it prints"
        )
    })
}

fn pg_schema_name(test: &str) -> String {
    format!("m_{test}_{}", std::process::id())
}

async fn pg_client() -> tokio_postgres::Client {
    let (client, conn) =
        tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// The schema as PostgreSQL's catalogue describes it (names of the schema itself taken out).
async fn pg_schema_of(schema: &str) -> Vec<String> {
    let client = pg_client().await;
    let rows = client
        .query(
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' '
                    || is_nullable || ' ' || coalesce(column_default, '') || ' ' || ordinal_position
               FROM information_schema.columns WHERE table_schema = $1::text
             UNION ALL
             SELECT 'index ' || indexname || ' ' || replace(indexdef, $1::text || '.', '')
               FROM pg_indexes WHERE schemaname = $1::text
             UNION ALL
             SELECT 'constraint ' || c.relname || ' ' || con.conname || ' '
                    || replace(pg_get_constraintdef(con.oid), $1::text || '.', '')
               FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1::text
             UNION ALL
             SELECT 'sequence ' || sequence_name || ' ' || data_type || ' ' || start_value
               FROM information_schema.sequences WHERE sequence_schema = $1::text
             ORDER BY 1",
            &[&schema],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

async fn pg_version_rows(schema: &str) -> Vec<i64> {
    let client = pg_client().await;
    let rows =
        client.query(&format!("SELECT version FROM {schema}.schema_version"), &[]).await.unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

async fn pg_fresh_schema(test: &str) -> Vec<String> {
    let schema = pg_schema_name(&format!("{test}_fresh"));
    PostgresStorage::connect_with_schema(&postgres_url(), Some(&schema)).await.unwrap();
    let described = pg_schema_of(&schema).await;
    assert!(described.iter().any(|s| s.starts_with("column changes.bytes")), "{described:?}");
    described
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upgrades_every_earlier_schema_to_the_fresh_one() {
    let url = postgres_url();
    let fresh = pg_fresh_schema("every").await;
    let seeded = pg_schema_name("every_seeded");
    let seeded = PostgresStorage::connect_with_schema(&url, Some(&seeded)).await.unwrap();
    seed(&seeded).await;
    for start in 0..=postgres_schema::CURRENT_VERSION {
        let schema = pg_schema_name(&format!("every_v{start}"));
        let old = PostgresStorage::connect_at_version(&url, Some(&schema), start).await.unwrap();
        assert_eq!(old.schema_version().await.unwrap(), start);
        let before = if start >= 1 {
            seed(&old).await;
            Some(observe(&old).await)
        } else {
            None
        };
        drop(old);
        let upgraded = PostgresStorage::connect_with_schema(&url, Some(&schema)).await.unwrap();
        assert_eq!(upgraded.schema_version().await.unwrap(), postgres_schema::CURRENT_VERSION);
        if let Some(mut before) = before {
            let mut after = observe(&upgraded).await;
            let tags = (std::mem::take(&mut before.tags), std::mem::take(&mut after.tags));
            assert_eq!(after, before, "data after upgrading from {start}");
            heads_after_upgrade(&upgraded, start, postgres_schema::HEADS_VERSION).await;
            let version = postgres_schema::FEED_TAGS_VERSION;
            tags_after_upgrade(&upgraded, &seeded, start, version, tags).await;
        }
        assert_eq!(pg_schema_of(&schema).await, fresh, "upgrade from version {start}");
        assert_eq!(pg_version_rows(&schema).await, vec![postgres_schema::CURRENT_VERSION]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_adopts_a_database_made_before_the_version_table() {
    let url = postgres_url();
    let fresh = pg_fresh_schema("legacy").await;
    let schema = pg_schema_name("legacy");
    // The first releases created the version-1 tables on every start, with no version table.
    let s = PostgresStorage::connect_at_version(&url, Some(&schema), 1).await.unwrap();
    seed(&s).await;
    let before = observe(&s).await;
    drop(s);
    pg_client().await.batch_execute(&format!("DROP TABLE {schema}.schema_version")).await.unwrap();

    let s = PostgresStorage::connect_with_schema(&url, Some(&schema)).await.unwrap();
    let (mut before, mut after) = (before, observe(&s).await);
    let (old_tags, tags) = (std::mem::take(&mut before.tags), std::mem::take(&mut after.tags));
    assert_eq!(after, before);
    // Every tag devices were told is still accepted (schema 6 keeps them beside the chain).
    for (old, tag) in old_tags.iter().zip(&tags) {
        assert_eq!(old.is_some(), tag.is_some());
        if let (Some(old), Some(tag)) = (old, tag) {
            assert!(tag.accepts(old.chained) && tag.legacy == Some(old.chained));
        }
    }
    assert_eq!(pg_schema_of(&schema).await, fresh);
    assert_eq!(pg_version_rows(&schema).await, vec![postgres_schema::CURRENT_VERSION]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_a_schema_newer_than_it_knows() {
    let url = postgres_url();
    let schema = pg_schema_name("newer");
    PostgresStorage::connect_with_schema(&url, Some(&schema)).await.unwrap();
    let newer = postgres_schema::CURRENT_VERSION + 1;
    pg_client()
        .await
        .execute(&format!("UPDATE {schema}.schema_version SET version = $1"), &[&newer])
        .await
        .unwrap();
    let err = PostgresStorage::connect_with_schema(&url, Some(&schema)).await.unwrap_err();
    assert!(
        matches!(err, StorageError::SchemaTooNew { found, supported }
            if found == newer && supported == postgres_schema::CURRENT_VERSION),
        "{err}"
    );
    assert_eq!(pg_version_rows(&schema).await, vec![newer], "left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_servers_starting_together_migrate_once() {
    let url = postgres_url();
    let fresh = pg_fresh_schema("together").await;
    let schema = pg_schema_name("together");
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let (url, schema) = (url.clone(), schema.clone());
            tokio::spawn(async move {
                PostgresStorage::connect_with_schema(&url, Some(&schema)).await.map(drop)
            })
        })
        .collect();
    for start in starts {
        start.await.unwrap().unwrap();
    }
    assert_eq!(pg_schema_of(&schema).await, fresh);
    assert_eq!(pg_version_rows(&schema).await, vec![postgres_schema::CURRENT_VERSION]);
}

// ---- The binary ---------------------------------------------------------------------------

/// `fieldbook-server` with an authentication configuration that lets nobody in: it opens its
/// storage, then stops on the configuration, so no listener is needed to see what it did.
fn run_server_binary(dir: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let auth = dir.join("auth.json");
    std::fs::write(&auth, r#"{"audience": "fieldbook", "jwt": []}"#).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_fieldbook-server"))
        .arg("--auth")
        .arg(&auth)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("FIELDBOOK_SQLITE_KEY_FILE")
        .env_remove("FIELDBOOK_POSTGRES")
        .output()
        .unwrap()
}

#[test]
fn the_server_binary_takes_its_key_file_flag_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let key_file = secrets.path().join("server.key");
    let flags = [
        std::ffi::OsStr::new("--sqlite"),
        db.as_os_str(),
        std::ffi::OsStr::new("--sqlite-key-file"),
        key_file.as_os_str(),
    ];
    let out = run_server_binary(dir.path(), &flags);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("authentication configuration"), "{stderr}");
    assert!(key_file.exists(), "the named key file was created");
    assert!(!default_key_file(&db).exists(), "and none beside the database");
    assert_eq!(inspect(&db).unwrap(), FileState::Encrypted);

    let key_hex = std::fs::read_to_string(&key_file).unwrap().trim().to_string();
    let newer = sqlite_schema::CURRENT_VERSION + 1;
    raw_connection(&db, &key_hex).pragma_update(None, "user_version", newer).unwrap();
    let out = run_server_binary(dir.path(), &flags);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("newer than this build"), "{stderr}");
}
