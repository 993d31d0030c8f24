//! Devices whose clocks are hours or days wrong still converge, no merge outcome depends on a
//! device's wall clock, and statutory due dates come from the dates the worker records, not
//! from the tablet's clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, NaiveDate, Utc};
use fieldbook_core::records::{ChildProtectionPlan, RecordBody, Visit};
use fieldbook_tests::sync_env::{summary_for, token_of, Device, SyncEnv};
use fieldbook_tests::{at, realistic_visit, visit_body};

fn skew(d: &mut Device, by: Duration) {
    d.store.set_clock(Box::new(move || Utc::now() + by));
}

fn visit_of(d: &mut Device, id: &str) -> Visit {
    match d.store.record(id).unwrap().body {
        RecordBody::Visit(v) => v,
        other => panic!("{other:?}"),
    }
}

/// The same visit in every scenario (list items carry ids, random in `realistic_visit`).
fn same_visit() -> Visit {
    let mut v = realistic_visit(1);
    for (i, p) in v.people_present.iter_mut().enumerate() {
        p.id = format!("person-{i}");
    }
    for (i, c) in v.child_views.iter_mut().enumerate() {
        c.id = format!("view-{i}");
    }
    for (i, a) in v.actions.iter_mut().enumerate() {
        a.id = format!("action-{i}");
    }
    for (i, a) in v.agencies_contacted.iter_mut().enumerate() {
        a.id = format!("agency-{i}");
    }
    v
}

/// What a merge decides: the body and, for each conflict, its values and their authors in the
/// order shown (the winner first). Change timestamps are left out: they are the clocks' own.
type Outcome = (RecordBody, Vec<(String, Vec<(serde_json::Value, String)>)>);

/// Two tablets and a manager edit the same visit offline with the given clock errors, then sync.
async fn merge_with_clocks(skews: [Duration; 3]) -> Outcome {
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut a = env.device("amara", "tablet-a");
    let mut b = env.device("amara", "tablet-b");
    let mut m = env.device("mina", "laptop");
    for (d, s) in [&mut a, &mut b, &mut m].into_iter().zip(skews) {
        skew(d, s);
    }
    a.sync().await;
    let id = a.store.create_record("case-1", &visit_body(same_visit())).unwrap();
    a.sync().await;
    b.sync().await;
    m.sync().await;

    let mut v = visit_of(&mut a, &id);
    v.bedroom_seen = Some(true);
    v.observations = format!("A: {}", v.observations);
    a.store.update_record(&id, &visit_body(v)).unwrap();
    let mut v = visit_of(&mut b, &id);
    v.bedroom_seen = Some(false);
    v.risks.push_str(" B adds a risk.");
    b.store.update_record(&id, &visit_body(v)).unwrap();
    let mut v = visit_of(&mut m, &id);
    v.bedroom_seen = None;
    v.analysis.push_str(" Manager's view.");
    m.store.update_record(&id, &visit_body(v)).unwrap();

    for _ in 0..2 {
        for d in [&mut m, &mut b, &mut a] {
            let report = d.sync().await;
            assert!(report.failure.is_none(), "{:?}", report.failure);
        }
    }
    let records: Vec<_> = [&mut a, &mut b, &mut m].map(|d| d.store.record(&id).unwrap()).into();
    assert!(records.windows(2).all(|w| w[0] == w[1]), "converged despite the clocks");
    let r = records.into_iter().next().unwrap();
    let conflicts = r
        .conflicts
        .iter()
        .map(|c| {
            (c.path.clone(), c.values.iter().map(|v| (v.value.clone(), v.worker.clone())).collect())
        })
        .collect();
    (r.body, conflicts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_clocks_converge_to_the_same_outcome_as_right_ones() {
    let right = merge_with_clocks([Duration::zero(); 3]).await;
    let wrong =
        merge_with_clocks([Duration::days(3), -Duration::hours(7), -Duration::days(400)]).await;
    let reversed =
        merge_with_clocks([-Duration::days(2), Duration::days(30), Duration::hours(5)]).await;
    assert_eq!(right, wrong, "the outcome does not depend on the clocks");
    assert_eq!(right, reversed);
    assert_eq!(right.1.len(), 1, "the bedroom conflict is shown, not hidden: {:?}", right.1);
    let RecordBody::Visit(v) = &right.0 else { panic!() };
    assert!(v.observations.starts_with("A: "));
    assert!(v.risks.ends_with(" B adds a risk."));
    assert!(v.analysis.ends_with(" Manager's view."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_dates_follow_recorded_dates_not_the_tablets_clock() {
    let env = SyncEnv::start().await;
    let mut summary = summary_for("LC1", "amara", "north");
    let start = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    summary.child_protection = Some(ChildProtectionPlan {
        start_date: start,
        category: None,
        initial_conference_date: start,
        core_group_dates: vec![],
        review_conference_dates: vec![],
        end_date: None,
    });
    let status = env.put_case(&token_of("case-system"), "case-1", &summary, "amara", "north").await;
    assert_eq!(status, 204);
    let mut right = env.device("amara", "tablet-right");
    let mut wrong = env.device("amara", "tablet-wrong");
    skew(&mut wrong, Duration::days(9));
    right.sync().await;
    wrong.sync().await;
    // The visit happened on 26 March; the worker records that, whatever the tablet thinks.
    let visited: DateTime<Utc> = at(2026, 3, 26, 10);
    let mut v = realistic_visit(2);
    v.started_at = visited;
    wrong.store.create_record("case-1", &visit_body(v)).unwrap();
    wrong.sync().await;
    right.sync().await;
    let today = NaiveDate::from_ymd_opt(2026, 3, 30).unwrap();
    let key = |d: &Device| -> Vec<_> {
        d.store
            .worklist(today)
            .unwrap()
            .into_iter()
            .map(|i| (i.timescale, i.from, i.due, i.status))
            .collect()
    };
    let (on_right, on_wrong) = (key(&right), key(&wrong));
    assert!(!on_right.is_empty());
    assert_eq!(on_right, on_wrong, "same due dates on both tablets");
    assert!(
        on_right.iter().any(|(_, from, _, _)| *from == visited.date_naive()),
        "the next visit is counted from the recorded visit date: {on_right:?}"
    );
}
