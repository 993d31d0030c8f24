//! The README's main job, `fieldbook demo`, as a newcomer runs it: it must finish, report that
//! every device and the server converged, and leave an encrypted server database behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn the_demo_runs_to_convergence_with_an_encrypted_server_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fieldbook"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("converged: true"), "{stdout}");
    assert!(stdout.contains("purged [\"case-20311\"]"), "the re-allocation purges: {stdout}");

    // Every SQLite file the demo wrote (the server's and the tablets') is encrypted: none starts
    // with SQLite's plain-text header.
    let mut databases = 0;
    for entry in walk(dir.path()) {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if name.ends_with(".db") {
            databases += 1;
            let bytes = std::fs::read(&entry).unwrap();
            assert!(!bytes.starts_with(b"SQLite format 3\0"), "{name} is plain text");
        }
    }
    assert!(databases >= 2, "expected the server's and the tablets' databases, found {databases}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// `fieldbook demo --keep-serving` prints the dashboard's address and its sign-in tokens, keeps
/// serving (the sign-in page answers, a manager's token opens the team page with the queue's
/// record in it), and exits cleanly on SIGTERM.
#[test]
fn keep_serving_prints_the_dashboard_serves_it_and_exits_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldbook"))
        .args(["demo", "--keep-serving", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut child = Kill(child);
    // Read the report up to the line that names the dashboard (the demo prints it once it
    // listens for SIGTERM, and only then: its stdout ends if it exits first).
    let mut seen = String::new();
    let sign_in = loop {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).unwrap();
        assert!(n > 0, "the demo ended its output without a dashboard: {seen}");
        seen.push_str(&line);
        if let Some(url) = line.trim().strip_prefix("oversight dashboard: ") {
            break url.to_string();
        }
    };
    assert!(seen.contains("converged: true"), "{seen}");
    assert!(sign_in.starts_with("http://127.0.0.1:") && sign_in.ends_with("/oversight/sign-in"));
    let mut rest = String::new();
    while !rest.contains("serving until") {
        let n = stdout.read_line(&mut rest).unwrap();
        assert!(n > 0, "{rest}");
    }
    assert!(rest.contains("with the token demo-mina"), "{rest}");
    assert!(rest.contains("with the token demo-board"), "{rest}");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let base = sign_in.trim_end_matches("/oversight/sign-in").to_string();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let page = http.get(&sign_in).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Access token"));
        // The manager's queue holds the visit the demo submitted.
        let queue = http
            .get(format!("{base}/oversight/teams/north/queue?on=2026-12-21"))
            .bearer_auth("demo-mina")
            .send()
            .await
            .unwrap();
        assert_eq!(queue.status(), 200);
        assert_eq!(queue.text().await.unwrap().matches("<tr data-record=").count(), 1);
    });

    let status = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(status.success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    // Nothing after the signal but the end of the output.
    let mut tail = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut tail).unwrap();
    assert!(tail.trim().is_empty(), "{tail}");
}
