//! `fieldbook audit export` and `fieldbook audit verify` from a terminal: a visit recorded and
//! synced through the binary, its case exported from the server's database with the tablet's
//! receipts, verified (exit 0, each check printed); a bundle with one hash altered fails with
//! the change and the check named and a non-zero exit. The tamper cases in full:
//! tests/tests/audit.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{allocate, fieldbook, json_of, start_server};
use fieldbook_core::records::CaseSummary;

#[test]
fn export_and_verify_a_case_from_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (server, url) = start_server(dir.path());
    let mut summary = CaseSummary::new("LC1", "Child A");
    summary.allocated_worker = "amara".into();
    summary.team = "north".into();
    allocate(&url, "case-1", &summary);
    let data = dir.path().join("tablet");
    let data = data.to_str().unwrap();
    let who = ["--data", data, "--worker", "amara", "--device", "tablet-1"];
    let sync = || {
        let mut args = vec!["--json", "sync"];
        args.extend(who);
        args.extend(["--server", url.as_str(), "--token", "tok-amara"]);
        json_of(&fieldbook(&args))
    };
    assert_eq!(sync()["failure"], serde_json::Value::Null);
    let mut args = vec!["--json", "record-visit"];
    args.extend(who);
    args.extend(["--case", "case-1", "--seen", "--observations", "Warm, tidy home."]);
    json_of(&fieldbook(&args));
    assert_eq!(sync()["failure"], serde_json::Value::Null);
    drop(server);

    let db = dir.path().join("server.db");
    let out = dir.path().join("case.audit.json");
    let exported = fieldbook(&[
        "--json",
        "audit",
        "export",
        "--case",
        "case-1",
        "--sqlite",
        db.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--store",
        data,
        "--store-worker",
        "amara",
        "--store-device",
        "tablet-1",
    ]);
    let summary = json_of(&exported);
    assert_eq!(summary["records"], 2, "the visit and the case summary: {summary}");
    assert_eq!(summary["receipts"], 1);

    let verified = fieldbook(&["audit", "verify", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok ")).count(), 9, "{stdout}");
    assert!(!stdout.contains("FAIL"));

    // One hex digit of a listed hash altered.
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let visit = bundle["records"].as_array().unwrap().iter().position(|r| r["kind"] == "visit");
    let change = &mut bundle["records"][visit.unwrap()]["changes"][0];
    let hash = change["hash"].as_str().unwrap().to_string();
    let flipped = if hash.starts_with('0') { "1" } else { "0" };
    let altered = format!("{flipped}{}", &hash[1..]);
    change["hash"] = altered.clone().into();
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, bundle.to_string()).unwrap();
    let failed = fieldbook(&["audit", "verify", tampered.to_str().unwrap()]);
    assert!(!failed.status.success());
    let stdout = String::from_utf8_lossy(&failed.stdout);
    let fails: Vec<_> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        fails
            .iter()
            .any(|l| l.contains(&format!("change {altered}: hash: the bytes hash to {hash}"))),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&failed.stderr).contains("checks failed"));
}
