#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use chrono::Utc;
use proptest::prelude::*;

use super::*;
use crate::document::{load_incremental_checked, load_raw, Author, RecordDoc};
use crate::error::Error;
use crate::records::{RecordBody, Visit, VisitKind};
use automerge::AutoCommit;

const MIB: usize = 1024 * 1024;

/// Raw deflate data that inflates to `mib` MiB of zeros, in about 1 KiB per MiB: one
/// sync-flushed run of blocks (byte-aligned, no back-reference before its start) repeated, then
/// an empty final block. The 1 GiB one is the issue's chunk, built in milliseconds.
fn zeros_deflated(mib: usize) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0u8; MIB]).unwrap();
    encoder.flush().unwrap();
    let one = encoder.get_ref().clone();
    let mut out = one.repeat(mib);
    out.extend([0x03, 0x00]); // final block, fixed Huffman codes, end of block at once
    out
}

fn uleb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn chunk(chunk_type: u8, data: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend([0, 0, 0, 0, chunk_type]);
    uleb(data.len(), &mut out);
    out.extend(data);
    out
}

/// A document chunk with no actors, heads or change columns and one op column per entry of
/// `deflated`, each marked deflated.
fn document_with_deflated_columns(deflated: &[&[u8]]) -> Vec<u8> {
    let mut data = vec![0, 0, 0];
    uleb(deflated.len(), &mut data);
    for (i, column) in deflated.iter().enumerate() {
        uleb(((i + 1) << 4) | 0b1000, &mut data);
        uleb(column.len(), &mut data);
    }
    for column in deflated {
        data.extend(*column);
    }
    chunk(0, &data)
}

fn author() -> Author {
    Author::new("w1", "tablet-1")
}

fn record(observations: String) -> RecordDoc {
    let mut v = Visit::new(VisitKind::ChildInNeed, Utc::now());
    v.observations = observations;
    RecordDoc::create(&author(), "r1".into(), "c1".into(), &RecordBody::Visit(v), Utc::now())
        .unwrap()
}

fn prose(len: usize) -> String {
    let words = ["the", "child", "said", "school", "was", "better", "this", "week", "mum"];
    (0..).map(|i| words[(i * 7 + i / 3) % words.len()]).take(len / 4).collect::<Vec<_>>().join(" ")
}

#[test]
fn the_issue_chunk_is_refused_from_its_header_in_every_source() {
    let bomb = chunk(2, &zeros_deflated(1024));
    assert!(bomb.len() < 2 * MIB, "{} bytes", bomb.len());
    for source in [Source::Changes, Source::Snapshot] {
        assert_eq!(
            check(&bomb, source),
            Err(ChunkError::Refused { chunk_type: 2, at: 0, origin: source })
        );
    }
    // Behind valid changes too: every chunk is walked, not only the first.
    let mut doc = record("first".into());
    let mut changes = doc.save_after(&[]);
    let at = changes.len();
    changes.extend(&bomb);
    assert_eq!(
        check(&changes, Source::Changes),
        Err(ChunkError::Refused { chunk_type: 2, at, origin: Source::Changes })
    );
    // Through the loaders the core and the server use: a typed error naming the chunk.
    let mut target = AutoCommit::new();
    match load_incremental_checked(&mut target, &bomb) {
        Err(Error::CorruptDocument { reason }) => {
            assert!(reason.contains("compressed change chunk"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(doc.apply(&changes), Err(Error::CorruptDocument { .. })));
    assert!(matches!(load_raw(&bomb), Err(Error::CorruptDocument { .. })));
    assert!(matches!(
        RecordDoc::from_changes(&bomb, author().actor()),
        Err(Error::CorruptDocument { .. })
    ));
}

#[test]
fn save_after_output_is_accepted_as_changes() {
    let mut doc = record(prose(5000));
    let before = doc.heads();
    let mut v = match doc.body().clone() {
        RecordBody::Visit(v) => v,
        other => panic!("{other:?}"),
    };
    v.analysis = prose(3000);
    doc.update_body(&author(), &RecordBody::Visit(v), Utc::now()).unwrap();
    let all = doc.save_after(&[]);
    assert_eq!(
        check(&all, Source::Changes),
        Ok(Scan { chunks: 2, deflated_columns: 0, inflated_bytes: 0 })
    );
    assert_eq!(check(&doc.save_after(&before), Source::Changes).unwrap().chunks, 1);
    assert_eq!(check(&[], Source::Changes), Ok(Scan::default()));
    // What the server stores per change, too.
    for (_, raw) in doc.raw_changes() {
        assert_eq!(check(&raw, Source::Changes).unwrap().chunks, 1);
    }
    let mut copy = RecordDoc::from_changes(&all, author().actor()).unwrap();
    assert_eq!(copy.heads(), doc.heads());
}

#[test]
fn a_snapshot_is_not_accepted_as_changes() {
    let mut doc = record(prose(2000));
    let snapshot = doc.save();
    assert_eq!(
        check(&snapshot, Source::Changes),
        Err(ChunkError::Refused { chunk_type: 0, at: 0, origin: Source::Changes })
    );
    assert_eq!(check(&snapshot, Source::Snapshot).unwrap().chunks, 1);
}

#[test]
fn a_compressed_snapshot_the_store_writes_loads_within_the_cap() {
    // `save` deflates the long columns: the walk inflates them (counting) and accepts them.
    let mut doc = record(prose(20_000));
    let snapshot = doc.save();
    let scan = check(&snapshot, Source::Snapshot).unwrap();
    assert!(scan.deflated_columns > 0, "{scan:?}");
    assert!(scan.inflated_bytes > 10_000, "{scan:?}");
    assert!(scan.inflated_bytes <= MAX_INFLATED_BYTES);
    let before = doc.heads();
    let mut v = match doc.body().clone() {
        RecordBody::Visit(v) => v,
        other => panic!("{other:?}"),
    };
    v.risks = "an edit after the snapshot".into();
    doc.update_body(&author(), &RecordBody::Visit(v), Utc::now()).unwrap();
    let chunk = doc.save_after(&before);
    let mut loaded = RecordDoc::load(&[&snapshot, &chunk], author().actor()).unwrap();
    assert_eq!(loaded.body(), doc.body());
    assert_eq!(loaded.heads(), doc.heads());
    // An uncompressed one (automerge's `save_nocompress`) has nothing to inflate and loads too.
    let plain = doc.doc.save_nocompress();
    assert_eq!(check(&plain, Source::Snapshot).unwrap().deflated_columns, 0);
    assert_eq!(RecordDoc::load(&[&plain], author().actor()).unwrap().body(), doc.body());
}

#[test]
fn a_snapshot_whose_columns_inflate_past_the_cap_is_refused() {
    let over = zeros_deflated(MAX_INFLATED_BYTES / MIB + 1);
    let bomb = document_with_deflated_columns(&[&over]);
    assert_eq!(
        check(&bomb, Source::Snapshot),
        Err(ChunkError::InflatesTooFar { limit: MAX_INFLATED_BYTES })
    );
    match RecordDoc::load(&[&bomb], author().actor()) {
        Err(Error::TooLarge { limit, size, .. }) => {
            assert_eq!(limit, MAX_INFLATED_BYTES);
            assert!(size > limit);
        }
        other => panic!("{other:?}"),
    }
    // The cap is for the whole input: two columns under it alone, over it together.
    let half = zeros_deflated(MAX_INFLATED_BYTES / MIB / 2 + 1);
    let two = document_with_deflated_columns(&[&half, &half]);
    let one = document_with_deflated_columns(&[&half]);
    assert!(check(&one, Source::Snapshot).is_ok());
    assert_eq!(
        check(&two, Source::Snapshot),
        Err(ChunkError::InflatesTooFar { limit: MAX_INFLATED_BYTES })
    );
    let mut both = one.clone();
    both.extend(&one);
    assert_eq!(
        check(&both, Source::Snapshot),
        Err(ChunkError::InflatesTooFar { limit: MAX_INFLATED_BYTES })
    );
    // And the limit is what the caller says.
    assert_eq!(
        check_within(&one, Source::Snapshot, MIB),
        Err(ChunkError::InflatesTooFar { limit: MIB })
    );
}

#[test]
fn deflated_columns_in_a_change_chunk_are_refused() {
    // deps 0, actor [1], seq 1, start op 1, time 0, message "", other actors 0, one op column
    // (id 1, deflated) of 2 bytes.
    let data = [0, 1, 1, 1, 1, 0, 0, 0, 1, 0x18, 2, 0x03, 0x00];
    let change = chunk(1, &data);
    for source in [Source::Changes, Source::Snapshot] {
        assert_eq!(
            check(&change, source),
            Err(ChunkError::DeflatedColumn { at: 0, origin: source })
        );
    }
    let mut plain = data;
    plain[9] = 0x10;
    assert!(check(&chunk(1, &plain), Source::Changes).is_ok());
}

#[test]
fn a_change_with_a_timestamp_of_ten_bytes_passes() {
    // A signed time of i64::MIN takes ten LEB128 bytes, the last 0x7f: not an unsigned number.
    let mut data = vec![0, 1, 1, 1, 1];
    data.extend([0x80; 9]);
    data.push(0x7f);
    data.extend([0, 0, 1, 0x10, 2, 0x03, 0x00]);
    assert_eq!(check(&chunk(1, &data), Source::Changes).unwrap().chunks, 1);
    data[14] = 0xff; // the time never ends
    assert!(matches!(check(&chunk(1, &data), Source::Changes), Err(ChunkError::Malformed { .. })));
}

#[test]
fn damaged_data_is_a_typed_error() {
    let mut doc = record("text".into());
    let good = doc.save_after(&[]);
    assert_eq!(check(b"not automerge", Source::Changes), Err(ChunkError::BadMagic { at: 0 }));
    assert!(matches!(
        check(&good[..good.len() - 1], Source::Changes),
        Err(ChunkError::Truncated { .. })
    ));
    assert!(matches!(check(&good[..6], Source::Changes), Err(ChunkError::Truncated { .. })));
    assert_eq!(
        check(&chunk(7, &[]), Source::Snapshot),
        Err(ChunkError::UnknownType { chunk_type: 7, at: 0 })
    );
    assert_eq!(
        check(&chunk(3, &[]), Source::Snapshot),
        Err(ChunkError::Refused { chunk_type: 3, at: 0, origin: Source::Snapshot })
    );
    // A length of more than 64 bits, and one far past the end of the input.
    let mut long = MAGIC.to_vec();
    long.extend([0, 0, 0, 0, 1]);
    long.extend([0xff; 10]);
    long.push(0x01);
    assert!(matches!(check(&long, Source::Changes), Err(ChunkError::Malformed { .. })));
    let mut past = MAGIC.to_vec();
    past.extend([0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(matches!(check(&past, Source::Changes), Err(ChunkError::Truncated { .. })));
    // Deflate data that is not deflate data.
    let junk = document_with_deflated_columns(&[&[0xff, 0xff, 0xff]]);
    assert!(matches!(check(&junk, Source::Snapshot), Err(ChunkError::BadDeflate { .. })));
    assert!(matches!(load_raw(&junk), Err(Error::CorruptDocument { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any bytes, and real changes with bytes flipped: an answer, never a panic; what passes as
    /// changes passes as a snapshot (the stricter source); nothing counts past the limit.
    #[test]
    fn any_bytes_get_an_answer(
        random in prop::collection::vec(any::<u8>(), 0..256),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
    ) {
        let mut doc = record(prose(600));
        let mut changed = doc.doc.save();
        changed.extend(doc.save_after(&[]));
        for (at, byte) in flips {
            let at = at % changed.len();
            changed[at] = byte;
        }
        for bytes in [random, changed] {
            if check(&bytes, Source::Changes).is_ok() {
                prop_assert!(check(&bytes, Source::Snapshot).is_ok());
            }
            if let Ok(scan) = check_within(&bytes, Source::Snapshot, 4096) {
                prop_assert!(scan.inflated_bytes <= 4096);
            }
        }
    }
}

#[test]
fn a_documents_first_change_is_told_from_the_header_alone() {
    use automerge::transaction::Transactable;
    let mut doc = AutoCommit::new();
    doc.put(automerge::ROOT, "note", "first").unwrap();
    doc.commit();
    let first = doc.save_after(&[]);
    let heads = doc.get_heads();
    doc.put(automerge::ROOT, "note", "second").unwrap();
    doc.commit();
    let second = doc.save_after(&heads);
    assert!(starts_history(&first));
    assert!(!starts_history(&second), "builds on the first");
    assert!(!starts_history(&first[..10]), "cut short");
    assert!(!starts_history(b"not automerge"));
    assert!(!starts_history(&doc.save()), "a document chunk is not a change");
}

#[test]
fn a_change_header_says_what_automerge_says_of_the_change() {
    use automerge::transaction::Transactable;
    let mut doc = AutoCommit::new().with_actor(automerge::ActorId::from(b"amara-tab".as_slice()));
    let text = doc.put_object(automerge::ROOT, "notes", automerge::ObjType::Text).unwrap();
    doc.commit();
    // Changes small and large (a length of several uLEB128 bytes), some building on two.
    doc.splice_text(&text, 0, 0, &"the child was seen ".repeat(400)).unwrap();
    doc.commit();
    let mut other = doc.fork().with_actor(automerge::ActorId::from(b"ben-tab".as_slice()));
    doc.put(automerge::ROOT, "status", "draft").unwrap();
    doc.commit();
    other.put(automerge::ROOT, "status", "submitted").unwrap();
    other.commit();
    doc.merge(&mut other).unwrap();
    doc.put(automerge::ROOT, "status", "authorised").unwrap();
    doc.commit();
    let changes = doc.get_changes(&[]);
    assert!(changes.iter().any(|c| c.deps().len() == 2));
    for change in changes {
        let header = change_header(change.raw_bytes()).unwrap();
        assert_eq!(header.hash, change.hash());
        assert_eq!(header.deps, change.deps());
        assert_eq!(&header.actor, change.actor_id());
    }
    // Altered anywhere, the checksum no longer holds (or the header no longer parses).
    let raw = doc.get_changes(&[])[1].raw_bytes().to_vec();
    for at in [12, raw.len() / 2, raw.len() - 1] {
        let mut bad = raw.clone();
        bad[at] ^= 0x01;
        assert!(change_header(&bad).is_err(), "byte {at}");
    }
    assert!(change_header(&raw[..raw.len() - 1]).is_err(), "cut short");
    assert!(change_header(&[raw.clone(), raw.clone()].concat()).is_err(), "two chunks");
}
