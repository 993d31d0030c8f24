//! What the terminal tests share: the `fieldbook` binary run with arguments, a server started from
//! it on a free loopback port with static tokens, and the case system allocating a case.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::Duration;

use fieldbook_core::records::CaseSummary;

pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn fieldbook(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fieldbook")).args(args).output().unwrap()
}

pub fn json_of(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn start_server(dir: &Path) -> (Server, String) {
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
        // A connect to a port nothing listens on yet can meet itself (TCP simultaneous open:
        // the kernel picked the port as the connection's own source port, which `free_port`
        // makes likely): that is not the server (CI saw "connection refused" right after).
        let up = std::net::TcpStream::connect(&listen)
            .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok());
        if up {
            return (server, format!("http://{listen}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server did not start on {listen}");
}

/// The case system allocating a case to amara of the north team, as its summary says.
pub fn allocate(url: &str, case: &str, summary: &CaseSummary) {
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
