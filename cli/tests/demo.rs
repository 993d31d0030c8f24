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
