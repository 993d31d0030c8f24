//! The role matrix of `docs/roles.md`, walked cell by cell over real HTTP: every operation of the
//! served OpenAPI document with every role (and no token at all), checking the status and which
//! record content comes back. One table here drives the walk, the check that the document in
//! `docs/` says the same, and the check that it covers every route the server serves: a new route
//! without a row fails this test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use fieldbook_core::attachments::client::AttachmentClient;
use fieldbook_core::protocol::{
    decode, encode, ErrorBody, SyncRequest, SyncResponse, CONTENT_TYPE, PROTOCOL_VERSION,
};
use fieldbook_tests::sync_env::{summary_for, token_of, FixedToken, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body};
use reqwest::Method;

/// (case, worker, team): the manager, mina, leads north.
const CASES: &[(&str, &str, &str)] =
    &[("case-a", "amara", "north"), ("case-b", "ben", "north"), ("case-c", "carol", "south")];

/// Who calls: the column heading in docs/roles.md and the subject whose token is presented.
const CALLERS: &[(&str, Option<&str>)] = &[
    ("anonymous", None),
    ("worker", Some("amara")),
    ("manager", Some("mina")),
    ("integration", Some("case-system")),
    ("operator", Some("olive")),
];

/// What record content a cell may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sees {
    Nothing,
    /// The documents of these cases (a sync response).
    Cases(&'static [&'static str]),
    /// Every record, content included (the export).
    Everything,
    /// The bytes of an attachment of this case.
    Attachment(&'static str),
}

impl Sees {
    fn label(self) -> &'static str {
        match self {
            Sees::Nothing => "",
            Sees::Cases(&["case-a"]) => "own cases",
            Sees::Cases(_) => "team's cases",
            Sees::Everything => "every record",
            Sees::Attachment(_) => "the case's attachment",
        }
    }
}

/// One row: the operation, and for each caller of `CALLERS` the status and what it sees.
struct Row {
    method: &'static str,
    path: &'static str,
    cells: [(u16, Sees); 5],
}

const NONE: (u16, Sees) = (401, Sees::Nothing);
const FORBIDDEN: (u16, Sees) = (403, Sees::Nothing);
const PUBLIC: (u16, Sees) = (200, Sees::Nothing);

const MATRIX: &[Row] = &[
    Row {
        method: "POST",
        path: "/v1/sync",
        cells: [
            NONE,
            (200, Sees::Cases(&["case-a"])),
            (200, Sees::Cases(&["case-a", "case-b"])),
            FORBIDDEN,
            FORBIDDEN,
        ],
    },
    Row {
        method: "PUT",
        path: "/api/v1/cases/{case_id}",
        cells: [NONE, FORBIDDEN, FORBIDDEN, (204, Sees::Nothing), FORBIDDEN],
    },
    Row {
        method: "GET",
        path: "/api/v1/records",
        cells: [NONE, FORBIDDEN, FORBIDDEN, (200, Sees::Everything), FORBIDDEN],
    },
    Row {
        method: "GET",
        path: "/v1/attachments/{hash}",
        cells: [
            NONE,
            (200, Sees::Attachment("case-a")),
            (200, Sees::Attachment("case-a")),
            (200, Sees::Attachment("case-a")),
            FORBIDDEN,
        ],
    },
    Row {
        method: "PUT",
        path: "/v1/attachments/{hash}",
        cells: [NONE, (200, Sees::Nothing), (200, Sees::Nothing), FORBIDDEN, FORBIDDEN],
    },
    Row {
        method: "GET",
        path: "/v1/attachments/{hash}/status",
        cells: [NONE, (200, Sees::Nothing), (200, Sees::Nothing), FORBIDDEN, FORBIDDEN],
    },
    Row { method: "GET", path: "/health", cells: [PUBLIC; 5] },
    Row { method: "GET", path: "/metrics", cells: [PUBLIC; 5] },
    Row { method: "GET", path: "/openapi.json", cells: [PUBLIC; 5] },
];

/// Case-a's attachment: (its hash, the record that refers to it, its bytes).
static ATTACHMENT: OnceLock<(String, String, Vec<u8>)> = OnceLock::new();

fn canary(case: &str) -> String {
    format!("PLANTED-ROLE-MATRIX-{case}")
}

fn cell_text((status, sees): (u16, Sees)) -> String {
    match sees.label() {
        "" => status.to_string(),
        label => format!("{status}: {label}"),
    }
}

/// The request a row sends: a concrete path and body.
fn request_of(row: &Row) -> (String, Option<Vec<u8>>) {
    match row.path {
        "/v1/sync" => {
            let request = SyncRequest {
                version: PROTOCOL_VERSION,
                device: "matrix".into(),
                cursor: 0,
                cursor_tag: 0,
                push: vec![],
                check: vec![],
                response_budget: 1 << 22,
            };
            (row.path.into(), Some(encode(&request)))
        }
        "/api/v1/cases/{case_id}" => {
            // A case of nobody in the matrix, so an accepted upsert changes no other cell.
            let body = serde_json::json!({
                "summary": summary_for("LZ1", "zed", "west"), "allocated_worker": "zed", "team": "west"
            });
            ("/api/v1/cases/case-z".into(), Some(serde_json::to_vec(&body).unwrap()))
        }
        "/api/v1/records" => ("/api/v1/records?cursor=0&limit=500".into(), None),
        "/v1/attachments/{hash}" | "/v1/attachments/{hash}/status" => {
            let (hash, record, bytes) = ATTACHMENT.get().unwrap();
            match (row.method, row.path) {
                ("GET", "/v1/attachments/{hash}") => (format!("/v1/attachments/{hash}"), None),
                ("GET", _) => (format!("/v1/attachments/{hash}/status?record={record}"), None),
                // Its first chunk again: the server holds it already, so nothing is written.
                _ => (
                    format!("/v1/attachments/{hash}?record={record}&offset=0&size={}", bytes.len()),
                    Some(bytes[..1000].to_vec()),
                ),
            }
        }
        path => (path.into(), None),
    }
}

/// Checks what a response shows against the cell.
fn check_content(row: &Row, caller: &str, status: u16, sees: Sees, bytes: &[u8]) {
    let at = format!("{} {} as {caller}", row.method, row.path);
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    let visible: Vec<&str> = match sees {
        Sees::Nothing => vec![],
        Sees::Cases(cases) => cases.to_vec(),
        Sees::Everything => all.clone(),
        Sees::Attachment(case) => vec![case],
    };
    if row.path == "/v1/sync" && status == 200 {
        let response: SyncResponse = decode(bytes, 1 << 26).unwrap();
        let got: BTreeSet<&str> = response.docs.iter().map(|d| d.case_id.as_str()).collect();
        assert_eq!(got, visible.iter().copied().collect(), "{at}: the cases sent");
    } else {
        for case in &all {
            let shown = text.contains(&canary(case));
            assert_eq!(shown, visible.contains(case), "{at}: content of {case} shown: {shown}");
        }
    }
    if status >= 400 {
        // Every refusal in the documented shape: CBOR on the sync endpoint, JSON elsewhere.
        let body: ErrorBody = if row.path == "/v1/sync" {
            decode_error_cbor(bytes)
        } else {
            serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{at}: {e}: {text}"))
        };
        assert!(!body.error.is_empty() && !body.message.is_empty(), "{at}");
    }
}

fn decode_error_cbor(bytes: &[u8]) -> ErrorBody {
    ciborium::from_reader(bytes).unwrap()
}

/// The rows of the matrix table in docs/roles.md: (operation, cells).
fn documented_matrix() -> Vec<(String, Vec<String>)> {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/roles.md")).unwrap();
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in doc.lines() {
        let cells: Vec<String> = line.split('|').map(|c| c.trim().to_string()).collect();
        if line.starts_with("| endpoint |") {
            let heading: Vec<&str> = cells[2..cells.len() - 1].iter().map(|c| c.as_str()).collect();
            let callers: Vec<&str> = CALLERS.iter().map(|c| c.0).collect();
            assert_eq!(heading, callers, "the columns of docs/roles.md");
            in_table = true;
        } else if in_table && line.starts_with("| `") {
            let op = cells[1].trim_matches('`').to_string();
            rows.push((op, cells[2..cells.len() - 1].to_vec()));
        } else if in_table && !line.starts_with('|') {
            break;
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_on_every_endpoint_as_documented() {
    let env = SyncEnv::start().await;
    for (case, worker, team) in CASES {
        env.upsert_case(case, &format!("L{}", &case[5..]).to_uppercase(), worker, team).await;
        let mut d = env.device(worker, "tablet");
        d.sync().await;
        let mut visit = realistic_visit(1);
        visit.observations = format!("{} said the child", canary(case));
        let id = d.store.create_record(case, &visit_body(visit)).unwrap();
        if *case == "case-a" {
            let bytes = canary(case).repeat(200).into_bytes();
            let r = d.store.attach(&id, &bytes, "image/png", "", chrono::Utc::now()).unwrap();
            ATTACHMENT.set((r.hash, id.clone(), bytes)).unwrap();
        }
        assert!(d.sync().await.failure.is_none());
        if *case == "case-a" {
            let client = AttachmentClient::new(
                &env.url,
                Arc::new(FixedToken(token_of(worker))),
                std::time::Duration::from_secs(5),
                std::time::Duration::from_secs(30),
            )
            .unwrap();
            let store = tokio::sync::Mutex::new(d.store);
            assert_eq!(client.upload_pending(&store).await.uploaded.len(), 1);
        }
    }

    // The table covers exactly the operations the server serves, and docs/roles.md says the same.
    let (status, served) = env.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let served: serde_json::Value = serde_json::from_slice(&served).unwrap();
    let mut operations = BTreeSet::new();
    for (path, item) in served["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let rows: BTreeSet<String> =
        MATRIX.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(rows, operations, "every served operation has exactly one row");
    assert_eq!(MATRIX.len(), rows.len());
    let documented = documented_matrix();
    for row in MATRIX {
        let op = format!("{} {}", row.method, row.path);
        let (_, cells) = documented
            .iter()
            .find(|(o, _)| *o == op)
            .unwrap_or_else(|| panic!("docs/roles.md has no row for {op}"));
        let expected: Vec<String> = row.cells.iter().map(|c| cell_text(*c)).collect();
        assert_eq!(cells, &expected, "docs/roles.md row {op}");
    }
    assert_eq!(documented.len(), MATRIX.len(), "docs/roles.md has rows the server lacks");

    // Every cell, over HTTP.
    let mut cells = 0;
    for row in MATRIX {
        let method = Method::from_bytes(row.method.as_bytes()).unwrap();
        for ((caller, subject), (status, sees)) in CALLERS.iter().zip(row.cells) {
            let token = subject.map(token_of);
            let (path, body) = request_of(row);
            let (got, bytes) = env.call(method.clone(), &path, token.as_deref(), body).await;
            assert_eq!(got, status, "{} {} as {caller}", row.method, row.path);
            check_content(row, caller, got, sees, &bytes);
            cells += 1;
        }
        // `admin`, the old name of the operator role, has exactly the operator's rights.
        let (path, body) = request_of(row);
        let (got, bytes) = env.call(method, &path, Some("tok-admin"), body).await;
        assert_eq!(got, row.cells[4].0, "{} {} as admin", row.method, row.path);
        check_content(row, "admin", got, row.cells[4].1, &bytes);
    }
    println!("role matrix cells walked: {cells}");
    assert_eq!(cells, MATRIX.len() * CALLERS.len());
}

/// The document served is the one generated from the handlers, and the sync endpoint's errors
/// are CBOR while the JSON API's are JSON, each with its content type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_the_generated_one() {
    let env = SyncEnv::start().await;
    let (status, served) = env.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let served: serde_json::Value = serde_json::from_slice(&served).unwrap();
    let generated = fieldbook_server::http::openapi::document();
    assert_eq!(served, generated);
    let sync = &served["paths"]["/v1/sync"]["post"];
    for status in ["400", "401", "403", "413"] {
        assert!(sync["responses"][status]["content"][CONTENT_TYPE].is_object(), "{status}");
    }
    for (path, method, statuses) in [
        ("/api/v1/cases/{case_id}", "put", &["400", "401", "403", "413", "415", "422"][..]),
        ("/api/v1/records", "get", &["400", "401", "403"][..]),
    ] {
        for status in statuses {
            let response = &served["paths"][path][method]["responses"][status];
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            // A 422 may also name the failed checks (C7-C10, A1): `ErrorBody` with `items`.
            let expected = if *status == "422" { "IncompleteBody" } else { "ErrorBody" };
            assert_eq!(
                schema,
                &format!("#/components/schemas/{expected}"),
                "{method} {path} {status}"
            );
        }
    }
}
