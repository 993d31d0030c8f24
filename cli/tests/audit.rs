//! `fieldbook audit export` and `fieldbook audit verify` from a terminal: a visit recorded and
//! synced through the binary, its case exported from the server's database with the tablet's
//! receipts, verified (exit 0, each check printed); a bundle with one hash altered fails with
//! the change and the check named and a non-zero exit. The tamper cases in full:
//! tests/tests/audit.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::Duration;

use fieldbook_core::records::CaseSummary;

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
        {"token": "tok-sam", "subject": "sam", "role": "manager", "team": "north"},
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

/// The case system allocating a case to amara of the north team, as its summary says.
fn allocate(url: &str, case: &str, summary: &CaseSummary) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .put(format!("{url}/api/v1/cases/{case}"))
            .bearer_auth("tok-cms")
            .json(&serde_json::json!({"summary": summary, "allocated_worker": "amara", "team": "north"}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 204);
}

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
