//! The `fieldbook-server` binary: limits set from the environment, JSON log lines with the
//! request id it returns, and SIGTERM drains and exits 0. (`fieldbook serve` shares the same
//! options and `run`; cli/tests/serve.rs tests it in depth.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Only so that a regression fails instead of hanging.
const WATCHDOG: Duration = Duration::from_secs(60);

#[test]
fn fieldbook_server_logs_json_takes_limits_from_the_environment_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = serde_json::json!({"tokens": [
        {"token": "tok-ops-test", "subject": "case-system", "role": "integration", "team": "ops"}
    ]});
    std::fs::write(dir.path().join("tokens.json"), tokens.to_string()).unwrap();
    let auth = serde_json::json!({"audience": "fieldbook", "static_tokens": dir.path().join("tokens.json")});
    std::fs::write(dir.path().join("auth.json"), auth.to_string()).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldbook-server"))
        .env("FIELDBOOK_LISTEN", "127.0.0.1:0")
        .env("FIELDBOOK_AUTH", dir.path().join("auth.json"))
        .env("FIELDBOOK_SQLITE", dir.path().join("server.db"))
        .env("FIELDBOOK_LOG_JSON", "true")
        .env("FIELDBOOK_HEADER_TIMEOUT", "250ms")
        .env("FIELDBOOK_MAX_CONNECTIONS", "7")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<serde_json::Value> = Vec::new();
    let mut next_matching = |message: &str| -> serde_json::Value {
        loop {
            let line = rx.recv_timeout(WATCHDOG).unwrap_or_else(|_| panic!("no {message}"));
            let value: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            lines.push(value.clone());
            if value["fields"]["message"] == message {
                return value;
            }
        }
    };
    let listening = next_matching("listening");
    assert_eq!(listening["fields"]["header_timeout"], "250ms", "{listening}");
    assert_eq!(listening["fields"]["max_connections"], 7);
    let addr: SocketAddr = listening["fields"]["addr"].as_str().unwrap().parse().unwrap();

    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WATCHDOG)).unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nx-request-id: ops-check-1\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.to_lowercase().contains("x-request-id: ops-check-1"), "{answer}");
    let ended = next_matching("request");
    assert_eq!(ended["span"]["request_id"], "ops-check-1", "{ended}");
    assert_eq!(ended["span"]["route"], "/health");
    assert_eq!(ended["fields"]["status"], 200);

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    next_matching("shutdown signal received: draining requests in flight");
    next_matching("stopped");
    let deadline = Instant::now() + WATCHDOG;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    for line in &lines {
        assert!(!line.to_string().contains("tok-ops-test"), "{line}");
    }
}

/// `fieldbook-server revoke-device`, the binary: it revokes a registered key with a revocation
/// signed by the server's key (its key file beside the database), refuses a key revoked
/// already, an unknown key and one that is not hex, each with a failing exit status.
#[test]
fn revoke_device_revokes_a_registered_key_with_a_signed_event_and_refuses_the_rest() {
    use fieldbook_core::protocol::{KeyEvent, KeyPair};
    use fieldbook_server::serve::{open_storage, Backend};
    use fieldbook_server::storage::key::{default_signing_key_file, load_or_create_signing_key};
    use fieldbook_server::storage::signing::KeyRegistration;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let device = KeyPair::from_seed(&[7; 32]).public();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let storage = || async { open_storage(&Backend::sqlite(db.clone())).await.unwrap() };
    runtime.block_on(async {
        let reg = KeyRegistration {
            key: device.0,
            worker: "amara".into(),
            device: "tablet-1".into(),
            registered_at: "2026-12-02T09:00:00Z".into(),
            token: "sha256:0011223344556677".into(),
            revoked_at: None,
            revoked_by: None,
        };
        storage().await.register_key(reg, b"{}".to_vec(), 16).await.unwrap().unwrap();
    });
    let revoke = |key: &str| {
        Command::new(env!("CARGO_BIN_EXE_fieldbook-server"))
            .args(["revoke-device", "--key", key, "--by", "olive", "--sqlite"])
            .arg(&db)
            .env_remove("FIELDBOOK_SIGNING_KEY_FILE")
            .output()
            .unwrap()
    };
    let out = revoke(&device.to_hex());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let server_key = load_or_create_signing_key(&default_signing_key_file(&db)).unwrap().public();
    runtime.block_on(async {
        let storage = storage().await;
        let reg = storage.device_key(device.0).await.unwrap().unwrap();
        assert_eq!(reg.revoked_by.as_deref(), Some("olive"));
        assert!(reg.revoked_at.is_some());
        let events = storage.key_events().await.unwrap();
        let revoked: KeyEvent = serde_json::from_slice(events.last().unwrap()).unwrap();
        assert_eq!((revoked.event.as_str(), revoked.key), ("revoked", device));
        assert_eq!((revoked.worker.as_str(), revoked.by.as_str()), ("amara", "olive"));
        revoked.verify(&server_key).unwrap();
    });

    for (key, why) in [
        (device.to_hex(), "revoked already"),
        (KeyPair::from_seed(&[8; 32]).public().to_hex(), "no device key"),
        ("not-hex".to_string(), "64 hexadecimal"),
    ] {
        let out = revoke(&key);
        assert!(!out.status.success(), "{key}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{key}: {stderr}");
    }
}
