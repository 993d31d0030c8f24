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
    ("senior", Some("sam")),
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
    /// An oversight page showing these cases' children (their names, no record text), labelled.
    Children(&'static [&'static str], &'static str),
    /// The oversight page of case-a's record: its text and its child.
    Record,
}

impl Sees {
    fn label(self) -> &'static str {
        match self {
            Sees::Nothing => "",
            Sees::Cases(&["case-a"]) => "own cases",
            Sees::Cases(_) => "team's cases",
            Sees::Everything => "every record",
            Sees::Attachment(_) => "the case's attachment",
            Sees::Children(_, label) => label,
            Sees::Record => "the record",
        }
    }
}

/// One row: the operation, and for each caller of `CALLERS` the status and what it sees.
struct Row {
    method: &'static str,
    path: &'static str,
    cells: [(u16, Sees); 6],
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
            FORBIDDEN,
        ],
    },
    Row {
        method: "PUT",
        path: "/api/v1/cases/{case_id}",
        cells: [NONE, FORBIDDEN, FORBIDDEN, (204, Sees::Nothing), FORBIDDEN, FORBIDDEN],
    },
    Row {
        method: "GET",
        path: "/api/v1/records",
        cells: [NONE, FORBIDDEN, FORBIDDEN, (200, Sees::Everything), FORBIDDEN, FORBIDDEN],
    },
    // A key nobody registered: the operator is told so (404 `unknown_key`); everyone else is
    // refused before the key is looked at. A real revocation: tests/tests/key_revocation.rs.
    Row {
        method: "POST",
        path: "/api/v1/devices/keys/{key}/revoke",
        cells: [NONE, FORBIDDEN, FORBIDDEN, FORBIDDEN, (404, Sees::Nothing), FORBIDDEN],
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
            FORBIDDEN,
        ],
    },
    Row {
        method: "PUT",
        path: "/v1/attachments/{hash}",
        cells: [NONE, (200, Sees::Nothing), (200, Sees::Nothing), FORBIDDEN, FORBIDDEN, FORBIDDEN],
    },
    Row {
        method: "GET",
        path: "/v1/attachments/{hash}/status",
        cells: [NONE, (200, Sees::Nothing), (200, Sees::Nothing), FORBIDDEN, FORBIDDEN, FORBIDDEN],
    },
    Row { method: "GET", path: "/health", cells: [PUBLIC; 6] },
    Row { method: "GET", path: "/metrics", cells: [PUBLIC; 6] },
    Row { method: "GET", path: "/openapi.json", cells: [PUBLIC; 6] },
    // The oversight pages (docs/oversight.md): a manager's own team, the senior role's board.
    Row {
        method: "GET",
        path: "/oversight",
        cells: [NONE, FORBIDDEN, SEE_OTHER, FORBIDDEN, FORBIDDEN, SEE_OTHER],
    },
    Row { method: "GET", path: "/oversight/sign-in", cells: [PUBLIC; 6] },
    // Posted without the sign-in form's own token: refused, whoever posts it.
    Row { method: "POST", path: "/oversight/sign-in", cells: [FORBIDDEN; 6] },
    // The identity provider's redirect back: no provider is configured here (with one, the flow
    // and its refusals are tests/tests/oidc_sign_in.rs).
    Row { method: "GET", path: "/oversight/callback", cells: [(404, Sees::Nothing); 6] },
    Row {
        method: "POST",
        path: "/oversight/sign-out",
        cells: [NONE, SEE_OTHER, SEE_OTHER, SEE_OTHER, SEE_OTHER, SEE_OTHER],
    },
    Row { method: "GET", path: "/oversight/teams/{team}", cells: MANAGER_ONLY },
    Row {
        method: "GET",
        path: "/oversight/teams/{team}/workers/{worker}",
        cells: [
            NONE,
            FORBIDDEN,
            (200, Sees::Children(&["case-a"], "worker's children")),
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
        ],
    },
    Row {
        method: "GET",
        path: "/oversight/teams/{team}/queue",
        cells: [
            NONE,
            FORBIDDEN,
            (200, Sees::Children(&["case-a"], "team's submitted records")),
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
        ],
    },
    Row {
        method: "GET",
        path: "/oversight/cases/{case_id}",
        cells: [
            NONE,
            FORBIDDEN,
            (200, Sees::Children(&["case-a"], "the child")),
            FORBIDDEN,
            FORBIDDEN,
            FORBIDDEN,
        ],
    },
    Row {
        method: "GET",
        path: "/oversight/records/{record_id}",
        cells: [NONE, FORBIDDEN, (200, Sees::Record), FORBIDDEN, FORBIDDEN, FORBIDDEN],
    },
    // Posted with no rationale: the manager is told C5 needs one, and nothing is written.
    Row {
        method: "POST",
        path: "/oversight/records/{record_id}/decision",
        cells: [NONE, FORBIDDEN, (422, Sees::Nothing), FORBIDDEN, FORBIDDEN, FORBIDDEN],
    },
    Row { method: "GET", path: "/oversight/board", cells: SENIOR_ONLY },
    Row { method: "GET", path: "/oversight/exports/annex-a.csv", cells: SENIOR_ONLY },
    Row { method: "GET", path: "/oversight/exports/annex-a.xlsx", cells: SENIOR_ONLY },
    Row { method: "GET", path: "/oversight/exports/timeliness.csv", cells: SENIOR_ONLY },
    Row { method: "GET", path: "/api/v1/oversight/annex-a", cells: LISTS },
    Row { method: "GET", path: "/api/v1/oversight/timeliness", cells: LISTS },
];

/// Case-a's attachment: (its hash, the record that refers to it, its bytes).
static ATTACHMENT: OnceLock<(String, String, Vec<u8>)> = OnceLock::new();

const SEE_OTHER: (u16, Sees) = (303, Sees::Nothing);
const OK: (u16, Sees) = (200, Sees::Nothing);
const MANAGER_ONLY: [(u16, Sees); 6] = [NONE, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN];
const SENIOR_ONLY: [(u16, Sees); 6] = [NONE, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK];
const LISTS: [(u16, Sees); 6] = [NONE, FORBIDDEN, FORBIDDEN, OK, FORBIDDEN, OK];

fn is_page(path: &str) -> bool {
    path.starts_with("/oversight")
}

fn child_name(case: &str) -> String {
    format!("Child L{}", case[5..].to_uppercase())
}

fn canary(case: &str) -> String {
    format!("PLANTED-ROLE-MATRIX-{case}")
}

fn cell_text((status, sees): (u16, Sees)) -> String {
    match sees.label() {
        "" => status.to_string(),
        label => format!("{status}: {label}"),
    }
}

/// The request a row sends: a concrete path and body (`record`: case-a's submitted record).
fn request_of(row: &Row, record: &str) -> (String, Option<Vec<u8>>) {
    let form = |s: &str| Some(s.as_bytes().to_vec());
    match row.path {
        "/oversight/sign-in" if row.method == "POST" => {
            (row.path.into(), form("token=tok-mgr&csrf=none"))
        }
        "/oversight/sign-out" => (row.path.into(), form("csrf=")),
        "/oversight/teams/{team}" => ("/oversight/teams/north".into(), None),
        "/oversight/teams/{team}/workers/{worker}" => {
            ("/oversight/teams/north/workers/amara".into(), None)
        }
        "/oversight/teams/{team}/queue" => ("/oversight/teams/north/queue".into(), None),
        "/oversight/cases/{case_id}" => ("/oversight/cases/case-a".into(), None),
        "/oversight/records/{record_id}" => (format!("/oversight/records/{record}"), None),
        "/oversight/records/{record_id}/decision" => {
            (format!("/oversight/records/{record}/decision"), form("decision=authorise&rationale="))
        }
        "/oversight/exports/annex-a.csv" => {
            ("/oversight/exports/annex-a.csv?list=child_in_need".into(), None)
        }
        "/api/v1/oversight/annex-a" => {
            ("/api/v1/oversight/annex-a?list=child_in_need".into(), None)
        }
        "/v1/sync" => {
            let request = SyncRequest {
                version: PROTOCOL_VERSION,
                device: "matrix".into(),
                cursor: 0,
                cursor_tag: 0,
                push: vec![],
                check: vec![],
                response_budget: 1 << 22,
                device_key: None,
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
        "/api/v1/devices/keys/{key}/revoke" => {
            (format!("/api/v1/devices/keys/{}/revoke", "0".repeat(64)), None)
        }
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
        Sees::Nothing | Sees::Children(..) => vec![],
        Sees::Cases(cases) => cases.to_vec(),
        Sees::Everything => all.clone(),
        Sees::Attachment(case) => vec![case],
        Sees::Record => vec!["case-a"],
    };
    if is_page(row.path) {
        // A page shows the children it is about by name and no one else; record text only on
        // the record's own page.
        let children: Vec<&str> = match sees {
            Sees::Children(cases, _) => cases.to_vec(),
            Sees::Record => vec!["case-a"],
            _ => vec![],
        };
        for case in &all {
            let shown = text.contains(&child_name(case));
            assert_eq!(shown, children.contains(case), "{at}: child of {case} shown: {shown}");
            let planted = text.contains(&canary(case));
            assert_eq!(planted, visible.contains(case), "{at}: record text of {case} shown");
        }
        if status >= 400 {
            assert!(text.contains("<h1>"), "{at}: an HTML error page: {text}");
        }
        return;
    }
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
    let mut record = String::new();
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
            // Submitted: in the queue, and the decision row has something to decide on.
            d.store.submit(&id).unwrap();
            record = id;
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
            let (path, body) = request_of(row, &record);
            let (got, bytes) = call(&env, row, method.clone(), &path, token.as_deref(), body).await;
            assert_eq!(got, status, "{} {} as {caller}", row.method, row.path);
            check_content(row, caller, got, sees, &bytes);
            cells += 1;
        }
        // `admin`, the old name of the operator role, has exactly the operator's rights.
        let (path, body) = request_of(row, &record);
        let (got, bytes) = call(&env, row, method, &path, Some("tok-admin"), body).await;
        assert_eq!(got, row.cells[4].0, "{} {} as admin", row.method, row.path);
        check_content(row, "admin", got, row.cells[4].1, &bytes);
    }
    println!("role matrix cells walked: {cells}");
    assert_eq!(cells, MATRIX.len() * CALLERS.len());
}

/// A call as the row's caller makes it: pages and their forms without following redirects (a
/// 303 is the answer), the API as JSON.
async fn call(
    env: &SyncEnv,
    row: &Row,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> (u16, Vec<u8>) {
    if !is_page(row.path) {
        return env.call(method, path, token, body).await;
    }
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut req = client.request(method, format!("{}{path}", env.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/x-www-form-urlencoded").body(b);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
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
