//! The `fieldbook` command from a terminal, as a person or a script uses it: run the server,
//! record a visit offline, see a submit refused with the missing items named, sync, and read the
//! worklist and the records as JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::NaiveDate;
use common::{allocate, fieldbook, json_of, start_server};
use fieldbook_core::codes::AbuseCategory;
use fieldbook_core::records::{CaseSummary, ChildProtectionPlan};

#[test]
fn record_offline_sync_and_read_the_worklist_from_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = start_server(dir.path());
    let mut summary = CaseSummary::new("LC1", "Child A");
    summary.allocated_worker = "amara".into();
    summary.team = "north".into();
    summary.child_protection = Some(ChildProtectionPlan {
        start_date: NaiveDate::from_ymd_opt(2026, 11, 10).unwrap(),
        category: Some(AbuseCategory::Neglect),
        initial_conference_date: NaiveDate::from_ymd_opt(2026, 11, 10).unwrap(),
        core_group_dates: vec![],
        review_conference_dates: vec![],
        end_date: None,
    });
    allocate(&url, "case-1", &summary);

    let data = dir.path().join("tablet");
    let data = data.to_str().unwrap();
    let who = ["--data", data, "--worker", "amara", "--device", "tablet-1"];
    let sync = |token: &str| {
        let mut args = vec!["--json", "sync"];
        args.extend(who);
        args.extend(["--server", url.as_str(), "--token", token]);
        fieldbook(&args)
    };

    // The case arrives.
    let report = json_of(&sync("tok-amara"));
    assert_eq!(report["failure"], serde_json::Value::Null);
    assert_eq!(report["allocated_cases"], serde_json::json!(["case-1"]));
    let mut args = vec!["--json", "cases"];
    args.extend(who);
    assert_eq!(json_of(&fieldbook(&args))[0]["case_id"], "case-1");

    // A visit recorded offline; submitting one without saying whether the child was seen is
    // refused with the item named, and the draft is kept.
    let mut args = vec!["--json", "record-visit"];
    args.extend(who);
    args.extend(["--case", "case-1", "--seen", "--seen-alone", "--views", "I like my new school"]);
    args.extend(["--observations", "Warm, tidy home; food in the kitchen."]);
    let id = json_of(&fieldbook(&args))["id"].as_str().unwrap().to_string();
    let mut args = vec!["record-visit"];
    args.extend(who);
    args.extend(["--case", "case-1", "--submit"]);
    let refused = fieldbook(&args);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(message.contains("seen"), "names the missing item: {message}");

    let mut args = vec!["--json", "records"];
    args.extend(who);
    args.extend(["--case", "case-1"]);
    let rows = json_of(&fieldbook(&args));
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == id.as_str() && r["acknowledged"] == false));

    // A wrong token is a clear failure; the right one delivers the visits.
    let bad = sync("not-a-token");
    assert!(!bad.status.success());
    let report = json_of(&sync("tok-amara"));
    assert_eq!(report["failure"], serde_json::Value::Null);
    assert_eq!(report["acknowledged"], 2, "both visits (the refused submit kept its draft)");
    let rows = json_of(&fieldbook(&args));
    assert!(rows.as_array().unwrap().iter().all(|r| r["acknowledged"] == true));

    // The worklist, for a script.
    let mut args = vec!["--json", "worklist"];
    args.extend(who);
    args.extend(["--date", "2026-11-23"]);
    let worklist = json_of(&fieldbook(&args));
    let items = worklist.as_array().unwrap();
    assert!(!items.is_empty(), "a child protection plan has a visit and a core group due");
    assert!(items.iter().all(|i| i["case_id"] == "case-1" && i["due"].is_string()));
}

/// `fieldbook` with `--json`, then `args`, as `who`: the parsed output of a command that succeeds.
fn run_json(who: &[&str], args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json", args[0]];
    all.extend(who);
    all.extend(&args[1..]);
    json_of(&fieldbook(&all))
}

/// The same, for a command that must fail: its error message.
fn run_refused(who: &[&str], args: &[&str]) -> String {
    let mut all = vec![args[0]];
    all.extend(who);
    all.extend(&args[1..]);
    let out = fieldbook(&all);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn assessments_notes_conflicts_and_oversight_from_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = start_server(dir.path());
    let mut summary = CaseSummary::new("LC2", "Child B");
    summary.allocated_worker = "amara".into();
    summary.team = "north".into();
    allocate(&url, "case-2", &summary);
    let data = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (t1, t2, office) = (data("t1"), data("t2"), data("office"));
    let one = ["--data", t1.as_str(), "--worker", "amara", "--device", "tablet-1"];
    let two = ["--data", t2.as_str(), "--worker", "amara", "--device", "tablet-2"];
    let sam = ["--data", office.as_str(), "--worker", "sam", "--device", "office"];
    let sync = |who: &[&str], token: &str| {
        let report = run_json(who, &["sync", "--server", url.as_str(), "--token", token]);
        assert_eq!(report["failure"], serde_json::Value::Null, "{report}");
    };
    sync(&one, "tok-amara");

    // An assessment with its factors by code and an agency; an unknown code is refused by name.
    let aid = run_json(
        &one,
        &[
            "record-assessment",
            "--case",
            "case-2",
            "--start-date",
            "2026-11-02",
            "--seen",
            "--factor",
            "1B",
            "--factor",
            "21",
            "--agency",
            "school:Hill Primary",
            "--analysis",
            "Needs are met at home.",
            "--outcome",
            "no_further_action",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = run_refused(
        &one,
        &["record-assessment", "--case", "case-2", "--start-date", "2026-11-02", "--factor", "99Z"],
    );
    assert!(refused.contains("99Z"), "{refused}");
    let shown = run_json(&one, &["show", &aid]);
    let fields = &shown["record"]["body"]["fields"];
    assert_eq!(fields["factors"], serde_json::json!(["1B", "21"]));
    assert_eq!(fields["agencies_consulted"][0]["organisation"], "Hill Primary");

    // A case note, edited, submitted.
    let nid = run_json(
        &one,
        &[
            "record-note",
            "--case",
            "case-2",
            "--category",
            "phone_call",
            "--text",
            "Mother called.",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let edited = run_json(&one, &["edit", &nid, "--set", "text=Mother called; called back."]);
    assert_eq!(edited["changed"], serde_json::json!(["text"]));
    assert!(run_refused(&one, &["edit", &nid, "--set", "colour=red"]).contains("colour"));
    assert_eq!(run_json(&one, &["submit", &nid])["status"], "submitted");
    assert_eq!(run_json(&one, &["delivery", &nid])["state"], "on_device_only");

    // Two tablets set the outcome differently offline: both values are listed, one is chosen.
    sync(&one, "tok-amara");
    sync(&two, "tok-amara");
    run_json(&one, &["edit", &aid, "--set", "outcome=\"early_help\""]);
    run_json(&two, &["edit", &aid, "--set", "outcome=child_in_need_plan"]);
    sync(&one, "tok-amara");
    sync(&two, "tok-amara");
    sync(&one, "tok-amara");
    let conflicts = run_json(&one, &["conflicts", &aid]);
    let conflicts = conflicts.as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["path"], "outcome");
    let values = conflicts[0]["values"].as_array().unwrap();
    let mut devices: Vec<&str> = values.iter().map(|v| v["device"].as_str().unwrap()).collect();
    devices.sort();
    assert_eq!(devices, ["tablet-1", "tablet-2"]);
    assert!(values.iter().all(|v| v["at"].is_string() && v["worker"] == "amara"));
    let (chosen, value) = (values[1]["id"].as_str().unwrap(), values[1]["value"].clone());
    let resolved = run_json(&one, &["resolve", &aid, "--path", "outcome", "--choose", chosen]);
    assert_eq!(resolved["changed"], serde_json::json!(["outcome"]));
    assert_eq!(run_json(&one, &["conflicts", &aid]), serde_json::json!([]));
    sync(&one, "tok-amara");
    sync(&two, "tok-amara");
    assert_eq!(run_json(&two, &["conflicts", &aid]), serde_json::json!([]));
    assert_eq!(run_json(&two, &["show", &aid])["record"]["body"]["fields"]["outcome"], value);

    // The manager authorises the note: without a rationale it is refused, naming it.
    sync(&sam, "tok-sam");
    assert!(run_refused(&sam, &["authorise", &nid]).contains("rationale"));
    let done =
        run_json(&sam, &["authorise", &nid, "--rationale", "Proportionate follow-up; agreed."]);
    assert_eq!(done["status"], "authorised");
    sync(&sam, "tok-sam");
    sync(&one, "tok-amara");
    assert_eq!(run_json(&one, &["show", &nid])["record"]["meta"]["status"], "authorised");
    let delivery = run_json(&one, &["delivery", &nid]);
    assert_eq!(delivery["state"], "received", "{delivery}");
    assert!(delivery["at"].is_string());
}

/// A photo attached on one tablet from a terminal reaches the council with the next sync and is
/// fetched on the other tablet when asked for, byte for byte; delivery says where it is.
#[test]
fn a_photo_attached_on_one_tablet_is_fetched_on_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = start_server(dir.path());
    let mut summary = CaseSummary::new("LC3", "Child C");
    summary.allocated_worker = "amara".into();
    summary.team = "north".into();
    allocate(&url, "case-3", &summary);
    let data = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (t1, t2) = (data("t1"), data("t2"));
    let one = ["--data", t1.as_str(), "--worker", "amara", "--device", "tablet-1"];
    let two = ["--data", t2.as_str(), "--worker", "amara", "--device", "tablet-2"];
    let sync = |who: &[&str]| {
        let report = run_json(who, &["sync", "--server", url.as_str(), "--token", "tok-amara"]);
        assert_eq!(report["failure"], serde_json::Value::Null, "{report}");
        report
    };
    sync(&one);
    let nid = run_json(&one, &["record-note", "--case", "case-3", "--text", "Saw the garden."])
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let photo: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = dir.path().join("garden.jpg");
    std::fs::write(&file, &photo).unwrap();
    let attached = run_json(
        &one,
        &[
            "attach",
            &nid,
            "--file",
            file.to_str().unwrap(),
            "--media-type",
            "image/jpeg",
            "--caption",
            "the garden",
        ],
    );
    let hash = attached["hash"].as_str().unwrap().to_string();
    assert_eq!(attached["size"], photo.len());
    let listed = run_json(&one, &["attachments", &nid]);
    assert_eq!(listed[0]["delivery"], "on_device_only", "{listed}");

    let report = sync(&one);
    assert_eq!(report["attachments_uploaded"], 1, "{report}");
    assert_eq!(run_json(&one, &["attachments", &nid])[0]["delivery"], "received");

    // The other tablet receives the reference with its sync, the bytes only when fetched.
    let report = sync(&two);
    assert_eq!(report["attachments_uploaded"], 0, "{report}");
    assert_eq!(run_json(&two, &["attachments", &nid])[0]["delivery"], "not_on_device");
    let out = dir.path().join("fetched.jpg");
    let fetched = run_json(
        &two,
        &[
            "fetch-attachment",
            &nid,
            "--hash",
            &hash,
            "--out",
            out.to_str().unwrap(),
            "--server",
            url.as_str(),
            "--token",
            "tok-amara",
        ],
    );
    assert_eq!(fetched["size"], photo.len());
    assert_eq!(std::fs::read(&out).unwrap(), photo);
    assert_eq!(run_json(&two, &["attachments", &nid])[0]["delivery"], "received");
    // An attachment the record does not have is refused, and nothing is written.
    let missing = dir.path().join("missing.jpg");
    let refused = run_refused(
        &two,
        &[
            "fetch-attachment",
            &nid,
            "--hash",
            &"0".repeat(64),
            "--out",
            missing.to_str().unwrap(),
            "--server",
            url.as_str(),
            "--token",
            "tok-amara",
        ],
    );
    assert!(!refused.is_empty());
    assert!(!missing.exists());
}
