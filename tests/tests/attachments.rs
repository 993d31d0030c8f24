//! Attachments over real HTTP (docs/PROTOCOL.md, "Attachments"): a 5 MB photo uploaded through a
//! proxy that cuts the connection at 90% resumes and resends at most one chunk; a duplicate
//! stores nothing twice; a second device fetches it when it is opened; the size cap is a typed
//! error both ways; probes for another case's attachment or record answer exactly as for unknown
//! ones; a wrong hash is refused with nothing stored; a purged case takes its attachment bytes
//! with it, and no file a device writes holds attachment bytes in clear.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use fieldbook_core::attachments::client::{AttachmentClient, AttachmentError};
use fieldbook_core::attachments::DEFAULT_CHUNK_BYTES;
use fieldbook_core::records::{AttachmentRef, RecordBody, Visit, VisitKind};
use fieldbook_core::store::attachments::{attachment_hash, AttachmentDelivery};
use fieldbook_core::sync::transport::RetryPolicy;
use fieldbook_core::sync::SyncClient;
use fieldbook_core::Store;
use fieldbook_server::serve::{open_storage, Backend};
use fieldbook_server::storage::Storage;
use fieldbook_tests::fault_proxy::FaultProxy;
use fieldbook_tests::planted_in_files;
use fieldbook_tests::sync_env::{token_of, FixedToken, SyncEnv, TestTransport};
use fieldbook_tests::Scratch;
use reqwest::Method;
use tokio::sync::Mutex;

const PLANTED_PHOTO: &str = "PLANTED-ATTACHMENT-BYTES-5d1e";

/// A photo-sized payload with the planted marker repeated through it.
fn photo(len: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = u32::from(seed) | 1;
    while out.len() < len {
        if out.len() % 65_536 == 0 {
            out.extend_from_slice(PLANTED_PHOTO.as_bytes());
        }
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push(x as u8);
    }
    out.truncate(len);
    out
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy { attempts: 4, base: Duration::from_millis(5), max: Duration::from_millis(20) }
}

/// A tablet whose store the app shares with the sync and attachment clients.
struct Tablet {
    store: Mutex<Store>,
    sync: SyncClient<TestTransport>,
    attachments: AttachmentClient,
}

impl Tablet {
    async fn sync(&self) {
        let report = self.sync.sync_shared(&self.store).await;
        assert!(report.failure.is_none(), "{:?}", report.failure);
    }
}

struct World {
    env: SyncEnv,
    storage: Arc<dyn Storage>,
}

impl World {
    async fn start(max_attachment_bytes: u64) -> Self {
        let scratch = Scratch::new();
        let storage = open_storage(&Backend::sqlite(scratch.path("server.db"))).await.unwrap();
        let env = SyncEnv::start_configured(scratch, storage.clone(), |state| {
            state.max_attachment_bytes = max_attachment_bytes;
        })
        .await;
        for (case, local, worker, team) in [
            ("case-a", "LA1", "amara", "north"),
            ("case-b", "LB1", "ben", "north"),
            ("case-c", "LC1", "carol", "south"),
        ] {
            env.upsert_case(case, local, worker, team).await;
        }
        Self { env, storage }
    }

    /// A tablet of `worker`; its attachment client reaches the server through `via`.
    fn tablet(&self, worker: &str, device: &str, via: &str) -> Tablet {
        let d = self.env.device(worker, device);
        let attachments = AttachmentClient::new(
            via,
            Arc::new(FixedToken(token_of(worker))),
            Duration::from_secs(5),
            Duration::from_secs(30),
        )
        .unwrap()
        .with_retry(fast_retry());
        Tablet { store: Mutex::new(d.store), sync: d.client, attachments }
    }
}

async fn visit_with_photo(t: &Tablet, case: &str, bytes: &[u8]) -> (String, AttachmentRef) {
    let mut store = t.store.lock().await;
    let id = store
        .create_record(case, &RecordBody::Visit(Visit::new(VisitKind::ChildInNeed, Utc::now())))
        .unwrap();
    let reference = store.attach(&id, bytes, "image/jpeg", "the kitchen", Utc::now()).unwrap();
    (id, reference)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_at_90_percent_resumes_and_resends_at_most_one_chunk() {
    let world = World::start(25 << 20).await;
    let proxy = FaultProxy::start(world.env.server.as_ref().unwrap().addr).await;
    let amara = world.tablet("amara", "tablet", &proxy.url());
    let bytes = photo(5_000_000, 1);
    let (id, reference) = visit_with_photo(&amara, "case-a", &bytes).await;
    // Before the record reaches the server there is nothing to send.
    assert!(amara.attachments.upload_pending(&amara.store).await.uploaded.is_empty());
    amara.sync().await;

    // The signal goes at 90% of the photo's bytes.
    proxy.cut_after(4_500_000);
    let report = amara.attachments.upload_pending(&amara.store).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.uploaded, vec![(id.clone(), reference.hash.clone())]);
    assert_eq!(proxy.injected(), 1, "the connection was cut once");
    let resent = report.bytes_sent - bytes.len() as u64;
    println!("attachment bytes sent {} for {} (resent {resent})", report.bytes_sent, bytes.len());
    assert!(resent > 0, "the chunk in flight was sent again");
    assert!(resent <= DEFAULT_CHUNK_BYTES as u64, "resent {resent} bytes: more than one chunk");

    assert_eq!(world.storage.attachment_bytes(&reference.hash).await.unwrap(), Some(bytes));
    let delivery = amara.store.lock().await.attachment_delivery(&id, &reference.hash).unwrap();
    assert!(matches!(delivery, AttachmentDelivery::Received { .. }), "{delivery:?}");
    // Nothing left to send.
    let again = amara.attachments.upload_pending(&amara.store).await;
    assert_eq!((again.uploaded.len(), again.bytes_sent), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_device_fetches_on_open_and_duplicates_are_stored_once() {
    let world = World::start(25 << 20).await;
    let url = world.env.url.clone();
    let amara = world.tablet("amara", "tablet", &url);
    let bytes = photo(1_200_000, 2);
    let (id, reference) = visit_with_photo(&amara, "case-a", &bytes).await;
    amara.sync().await;
    assert_eq!(amara.attachments.upload_pending(&amara.store).await.uploaded.len(), 1);

    // The manager's tablet receives the record with the sync, not the photo.
    let mina = world.tablet("mina", "tablet", &url);
    mina.sync().await;
    {
        let mut store = mina.store.lock().await;
        assert_eq!(store.record(&id).unwrap().body.attachments(), std::slice::from_ref(&reference));
        let delivery = store.attachment_delivery(&id, &reference.hash).unwrap();
        assert_eq!(delivery, AttachmentDelivery::NotOnDevice);
        assert_eq!(store.attachment_chunk_rows().unwrap(), 0);
    }
    // Opening it fetches it, checked and kept (encrypted) for the next time.
    let opened = mina.attachments.open(&mina.store, &id, &reference.hash).await.unwrap();
    assert_eq!(opened, bytes);
    {
        let mut store = mina.store.lock().await;
        assert!(store.attachment_chunk_rows().unwrap() > 0);
        let delivery = store.attachment_delivery(&id, &reference.hash).unwrap();
        assert!(matches!(delivery, AttachmentDelivery::Received { .. }));
    }

    // The same photo again, on amara's second tablet for another record of the case: the server
    // already holds it for the case, so no byte is sent.
    let amara2 = world.tablet("amara", "phone", &url);
    amara2.sync().await;
    let (_, again) = visit_with_photo(&amara2, "case-a", &bytes).await;
    assert_eq!(again.hash, reference.hash);
    amara2.sync().await;
    let report = amara2.attachments.upload_pending(&amara2.store).await;
    assert_eq!((report.uploaded.len(), report.bytes_sent), (1, 0));

    // Ben (another case) sends the same bytes in full — the server never says it knows them —
    // and they are still stored once.
    let ben = world.tablet("ben", "tablet", &url);
    ben.sync().await;
    visit_with_photo(&ben, "case-b", &bytes).await;
    ben.sync().await;
    let report = ben.attachments.upload_pending(&ben.store).await;
    assert_eq!((report.uploaded.len(), report.bytes_sent), (1, bytes.len() as u64));
    assert_eq!(world.storage.attachment_totals().await.unwrap(), (1, bytes.len() as u64));
    assert_eq!(
        world.storage.attachment_cases(&reference.hash).await.unwrap(),
        vec!["case-a".to_string(), "case-b".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_cap_is_a_typed_error_on_upload_and_download() {
    let world = World::start(1 << 20).await;
    let url = world.env.url.clone();
    let amara = world.tablet("amara", "tablet", &url);
    let (id, reference) = visit_with_photo(&amara, "case-a", &photo(1_500_000, 3)).await;
    amara.sync().await;
    let report = amara.attachments.upload_pending(&amara.store).await;
    assert_eq!(report.failed.len(), 1);
    assert!(
        matches!(report.failed[0].1, AttachmentError::TooLarge { size: 1_500_000, limit: None }),
        "{:?}",
        report.failed
    );
    assert_eq!(report.bytes_sent, 0, "refused before any chunk");
    assert_eq!(world.storage.attachment_totals().await.unwrap(), (0, 0));
    let delivery = amara.store.lock().await.attachment_delivery(&id, &reference.hash).unwrap();
    assert_eq!(delivery, AttachmentDelivery::OnDeviceOnly, "kept on the tablet");

    // Under the cap it goes; a device whose own cap is lower refuses to fetch it.
    let (small_id, small) = visit_with_photo(&amara, "case-a", &photo(600_000, 4)).await;
    amara.sync().await;
    amara.attachments.upload_pending(&amara.store).await;
    let d = world.env.device("mina", "tablet");
    let capped = AttachmentClient::new(
        &url,
        Arc::new(FixedToken(token_of("mina"))),
        Duration::from_secs(5),
        Duration::from_secs(30),
    )
    .unwrap()
    .with_max_download(100_000);
    let mina = Tablet { store: Mutex::new(d.store), sync: d.client, attachments: capped };
    mina.sync().await;
    let err = mina.attachments.open(&mina.store, &small_id, &small.hash).await.unwrap_err();
    assert!(
        matches!(err, AttachmentError::TooLarge { size: 600_000, limit: Some(100_000) }),
        "{err:?}"
    );
    assert_eq!(mina.store.lock().await.attachment_chunk_rows().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_unknown_attachments_answer_identically_and_a_wrong_hash_stores_nothing() {
    let world = World::start(25 << 20).await;
    let url = world.env.url.clone();
    let carol = world.tablet("carol", "tablet", &url);
    let (carol_record, carol_photo) = visit_with_photo(&carol, "case-c", &photo(300_000, 5)).await;
    carol.sync().await;
    assert_eq!(carol.attachments.upload_pending(&carol.store).await.uploaded.len(), 1);

    let env = &world.env;
    let amara = token_of("amara");
    let unknown_hash = attachment_hash(b"nothing anyone uploaded");
    let unknown_record = "0b6f2c3e-5d1a-4c8e-9f2b-7a1d3e5c9b10";
    // Fetch: carol's photo and a hash nobody has.
    let foreign = env
        .call(Method::GET, &format!("/v1/attachments/{}", carol_photo.hash), Some(&amara), None)
        .await;
    let unknown =
        env.call(Method::GET, &format!("/v1/attachments/{unknown_hash}"), Some(&amara), None).await;
    assert_eq!(foreign.0, 404);
    assert_eq!(foreign, unknown, "a foreign attachment is answered as an unknown one");
    // Upload status and chunks: carol's record and a record nobody has.
    for (method, suffix) in
        [(Method::GET, "/status?record={r}"), (Method::PUT, "?record={r}&offset=0&size=3")]
    {
        let path =
            |r: &str| format!("/v1/attachments/{}{}", carol_photo.hash, suffix.replace("{r}", r));
        let body = (method == Method::PUT).then(|| b"abc".to_vec());
        let foreign =
            env.call(method.clone(), &path(&carol_record), Some(&amara), body.clone()).await;
        let unknown = env.call(method.clone(), &path(unknown_record), Some(&amara), body).await;
        assert_eq!(foreign.0, 404, "{method} {suffix}");
        assert_eq!(foreign, unknown, "{method} {suffix}: the same answer");
    }
    // The case system follows the export feed's link with its own token; the operator may not.
    let (status, page) = env
        .call(
            Method::GET,
            "/api/v1/records?cursor=0&limit=500",
            Some(&token_of("case-system")),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
    let exported = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["meta"]["id"] == carol_record.as_str())
        .unwrap();
    let link = exported["attachment_links"][0].as_str().unwrap();
    assert_eq!(link, format!("/v1/attachments/{}", carol_photo.hash));
    let cms = env.call(Method::GET, link, Some(&token_of("case-system")), None).await;
    assert_eq!(cms, (200, photo(300_000, 5)));
    let ops = env
        .call(Method::GET, &format!("/v1/attachments/{}", carol_photo.hash), Some("tok-ops"), None)
        .await;
    assert_eq!(ops.0, 403);

    // Amara names carol's hash in her own record: the server says it has nothing of it for her
    // case, exactly as for a hash nobody has.
    let a = world.tablet("amara", "tablet", &url);
    a.sync().await;
    let own = {
        let mut store = a.store.lock().await;
        let id = store
            .create_record(
                "case-a",
                &RecordBody::Visit(Visit::new(VisitKind::ChildInNeed, Utc::now())),
            )
            .unwrap();
        let mut body = store.record(&id).unwrap().body;
        let list = body.attachments_mut().unwrap();
        for hash in [&carol_photo.hash, &unknown_hash] {
            list.push(AttachmentRef {
                hash: hash.clone(),
                media_type: "image/jpeg".into(),
                size: 3,
                caption: String::new(),
                taken_at: Utc::now(),
            });
        }
        store.update_record(&id, &body).unwrap();
        id
    };
    a.sync().await;
    let status = |hash: &str| format!("/v1/attachments/{hash}/status?record={own}");
    let of_foreign = env.call(Method::GET, &status(&carol_photo.hash), Some(&amara), None).await;
    let of_unknown = env.call(Method::GET, &status(&unknown_hash), Some(&amara), None).await;
    assert_eq!(of_foreign, (200, br#"{"received":0,"complete":false}"#.to_vec()));
    assert_eq!(of_foreign, of_unknown);

    // Bytes that do not hash to the name are refused at the last chunk, and nothing is kept.
    let put = format!("/v1/attachments/{unknown_hash}?record={own}&offset=0&size=3");
    let wrong = env.call(Method::PUT, &put, Some(&amara), Some(b"xyz".to_vec())).await;
    assert_eq!(wrong.0, 422, "{}", String::from_utf8_lossy(&wrong.1));
    let error: serde_json::Value = serde_json::from_slice(&wrong.1).unwrap();
    assert_eq!(error["error"], "hash_mismatch");
    assert_eq!(world.storage.attachment_totals().await.unwrap(), (1, 300_000));
    assert_eq!(world.storage.upload_received(&unknown_hash, "case-a").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_case_takes_its_attachments_and_no_file_holds_them_in_clear() {
    let world = World::start(25 << 20).await;
    let url = world.env.url.clone();
    let amara = world.tablet("amara", "tablet", &url);
    let bytes = photo(700_000, 6);
    let (id, reference) = visit_with_photo(&amara, "case-a", &bytes).await;
    amara.sync().await;
    assert_eq!(amara.attachments.upload_pending(&amara.store).await.uploaded.len(), 1);
    let mina = world.tablet("mina", "tablet", &url);
    mina.sync().await;
    assert_eq!(mina.attachments.open(&mina.store, &id, &reference.hash).await.unwrap(), bytes);

    // Encrypted at rest: the planted marker inside the photo is in no file of any device.
    for store in [&amara.store, &mina.store] {
        store.lock().await.compact_all().unwrap();
    }
    let dir = world.env.scratch.dir.path();
    let (scanned, found) = planted_in_files(dir, &[PLANTED_PHOTO], |_| true);
    assert!(scanned.iter().filter(|n| n.ends_with(".db")).count() >= 3, "{scanned:?}");
    assert!(found.is_empty(), "attachment bytes in clear: {found:?}");

    // The case moves to carol's team: amara's tablet purges it, attachment bytes included.
    world.env.upsert_case("case-a", "LA1", "carol", "south").await;
    amara.sync().await;
    let mut store = amara.store.lock().await;
    assert_eq!(store.attachment_chunk_rows().unwrap(), 0);
    assert!(store.attachment_bytes(&id, &reference.hash).unwrap().is_none());
    assert!(store.record(&id).is_err());
    drop(store);
    let (_, found) = planted_in_files(dir, &[PLANTED_PHOTO], |_| true);
    assert!(found.is_empty(), "{found:?}");
}
