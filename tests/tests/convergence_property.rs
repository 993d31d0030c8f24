//! Property: whatever the edits on three stores and whatever the order of exchanges, once every
//! store has sent everything to every other, all three hold the same records, and no
//! acknowledged edit is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fieldbook_core::records::{new_id, Action, RecordBody, Visit};
use fieldbook_core::Store;
use fieldbook_tests::{realistic_visit, send, visit_body, Scratch};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Create { store: usize },
    EditText { store: usize, record: usize, field: usize, at: usize, delete: usize, insert: String },
    SetScalar { store: usize, record: usize, value: Option<bool> },
    AddAction { store: usize, record: usize },
    Send { from: usize, to: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let store = 0..3usize;
    prop_oneof![
        1 => store.clone().prop_map(|store| Op::Create { store }),
        4 => (store.clone(), 0..4usize, 0..3usize, 0..400usize, 0..8usize, "[a-z ]{0,12}").prop_map(
            |(store, record, field, at, delete, insert)| Op::EditText { store, record, field, at, delete, insert }
        ),
        2 => (store.clone(), 0..4usize, prop::option::of(any::<bool>()))
            .prop_map(|(store, record, value)| Op::SetScalar { store, record, value }),
        1 => (store.clone(), 0..4usize).prop_map(|(store, record)| Op::AddAction { store, record }),
        3 => (store.clone(), 0..3usize).prop_map(|(from, to)| Op::Send { from, to }),
    ]
}

fn visit_of(store: &mut Store, id: &str) -> Visit {
    match store.record(id).unwrap().body {
        RecordBody::Visit(v) => v,
        other => panic!("{other:?}"),
    }
}

/// The ids a store holds, in a stable order.
fn ids(store: &Store) -> Vec<String> {
    store.all_heads().unwrap().into_keys().collect()
}

fn pair(stores: &mut [Store], from: usize, to: usize) -> (&mut Store, &mut Store) {
    assert_ne!(from, to);
    if from < to {
        let (a, b) = stores.split_at_mut(to);
        (&mut a[from], &mut b[0])
    } else {
        let (a, b) = stores.split_at_mut(from);
        (&mut b[0], &mut a[to])
    }
}

fn run(ops: Vec<Op>) {
    let scratch = Scratch::new();
    let mut stores: Vec<Store> = (0..3)
        .map(|i| scratch.store(&format!("s{i}"), &format!("worker{i}"), &format!("device{i}")))
        .collect();
    for op in ops {
        match op {
            Op::Create { store } => {
                if ids(&stores[store]).len() < 4 {
                    stores[store]
                        .create_record("case-1", &visit_body(realistic_visit(store)))
                        .unwrap();
                }
            }
            Op::EditText { store, record, field, at, delete, insert } => {
                let known = ids(&stores[store]);
                let Some(id) = known.get(record % known.len().max(1)) else { continue };
                let mut v = visit_of(&mut stores[store], id);
                let text = match field {
                    0 => &mut v.observations,
                    1 => &mut v.analysis,
                    _ => &mut v.child_views[0].text,
                };
                let start = floor_char(text, at.min(text.len()));
                let end = floor_char(text, (start + delete).min(text.len()));
                text.replace_range(start..end, &insert);
                stores[store].update_record(id, &visit_body(v.clone())).unwrap();
                // Acknowledged means readable straight back.
                assert_eq!(visit_of(&mut stores[store], id), v);
            }
            Op::SetScalar { store, record, value } => {
                let known = ids(&stores[store]);
                let Some(id) = known.get(record % known.len().max(1)) else { continue };
                let mut v = visit_of(&mut stores[store], id);
                v.bedroom_seen = value;
                stores[store].update_record(id, &visit_body(v)).unwrap();
            }
            Op::AddAction { store, record } => {
                let known = ids(&stores[store]);
                let Some(id) = known.get(record % known.len().max(1)) else { continue };
                let mut v = visit_of(&mut stores[store], id);
                v.actions.push(Action {
                    id: new_id(),
                    description: format!("action by store {store}"),
                    owner: format!("worker{store}"),
                    due: None,
                    done: false,
                });
                stores[store].update_record(id, &visit_body(v)).unwrap();
            }
            Op::Send { from, to } => {
                if from != to {
                    let (a, b) = pair(&mut stores, from, to);
                    send(a, b);
                }
            }
        }
    }
    // Count every action ever added: none may be lost.
    let actions_before: usize = {
        let mut all = std::collections::BTreeSet::new();
        for s in stores.iter_mut() {
            for id in ids(s) {
                for a in visit_of(s, &id).actions {
                    all.insert(a.id);
                }
            }
        }
        all.len()
    };
    // Heal: everyone sends to everyone, twice round.
    for _ in 0..2 {
        for from in 0..3 {
            for to in 0..3 {
                if from != to {
                    let (a, b) = pair(&mut stores, from, to);
                    send(a, b);
                }
            }
        }
    }
    let reference_ids = ids(&stores[0]);
    let mut total_actions = 0;
    for id in &reference_ids {
        let r0 = stores[0].record(id).unwrap();
        let heads0 = stores[0].heads(id).unwrap();
        for s in stores.iter_mut().skip(1) {
            assert_eq!(ids(s), reference_ids);
            assert_eq!(s.record(id).unwrap(), r0, "record {id} diverged");
            assert_eq!(s.heads(id).unwrap(), heads0, "heads of {id} differ");
        }
        if let RecordBody::Visit(v) = &r0.body {
            total_actions += v.actions.len();
        }
    }
    assert_eq!(total_actions, actions_before, "an added action was lost");
    // What the stores show from memory is what is on disk: reopen each and compare.
    let shown: Vec<Vec<fieldbook_core::records::Record>> = stores
        .iter_mut()
        .map(|s| reference_ids.iter().map(|id| s.record(id).unwrap()).collect())
        .collect();
    drop(stores);
    for (i, records) in shown.into_iter().enumerate() {
        let mut reopened =
            scratch.store(&format!("s{i}"), &format!("worker{i}"), &format!("device{i}"));
        for (id, record) in reference_ids.iter().zip(records) {
            assert_eq!(reopened.record(id).unwrap(), record, "store {i} memory and disk differ");
        }
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, .. ProptestConfig::default() })]
    #[test]
    fn three_stores_converge(ops in prop::collection::vec(op(), 1..40)) {
        run(ops);
    }
}

#[test]
fn heads_agree_after_healing() {
    // A fixed schedule that exercises every operation, as a readable example of the property.
    run(vec![
        Op::Create { store: 0 },
        Op::Send { from: 0, to: 1 },
        Op::EditText { store: 0, record: 0, field: 0, at: 5, delete: 3, insert: "alpha".into() },
        Op::EditText { store: 1, record: 0, field: 0, at: 5, delete: 0, insert: "beta".into() },
        Op::SetScalar { store: 0, record: 0, value: Some(false) },
        Op::SetScalar { store: 1, record: 0, value: None },
        Op::AddAction { store: 1, record: 0 },
        Op::Create { store: 2 },
        Op::Send { from: 1, to: 2 },
    ]);
}
