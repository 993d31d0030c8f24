//! The `fieldbook` command from a terminal, as a person or a script uses it: run the server,
//! record a visit offline, see a submit refused with the missing items named, sync, and read the
//! worklist and the records as JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::Duration;

use chrono::NaiveDate;
use fieldbook_core::codes::AbuseCategory;
use fieldbook_core::records::{CaseSummary, ChildProtectionPlan};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fieldbook(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fieldbook")).args(args).output().unwrap()
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_server(dir: &Path) -> (Server, String) {
    let tokens = serde_json::json!({"tokens": [
        {"token": "tok-amara", "subject": "amara", "role": "worker", "team": "north"},
        {"token": "tok-cms", "subject": "case-system", "role": "integration", "team": "ops"}
    ]});
    std::fs::write(dir.join("tokens.json"), tokens.to_string()).unwrap();
    let auth =
        serde_json::json!({"audience": "fieldbook", "static_tokens": dir.join("tokens.json")});
    std::fs::write(dir.join("auth.json"), auth.to_string()).unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_fieldbook"))
        .args(["serve", "--listen", &listen, "--auth"])
        .arg(dir.join("auth.json"))
        .arg("--sqlite")
        .arg(dir.join("server.db"))
        .spawn()
        .unwrap();
    let server = Server(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(&listen).is_ok() {
            return (server, format!("http://{listen}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server did not start on {listen}");
}

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
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .put(format!("{url}/api/v1/cases/case-1"))
            .bearer_auth("tok-cms")
            .json(&serde_json::json!({"summary": summary, "allocated_worker": "amara", "team": "north"}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 204);

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
