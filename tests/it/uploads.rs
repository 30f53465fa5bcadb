//! Uploads and the import log: checks before the body is read, bounded
//! concurrent imports, size caps on fields and records, and a log entry for
//! every import, refused ones included.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::assert_error;
use crate::TestApp;

/// Sends a request head and the start of a body that never finishes, on a
/// raw connection; the response's status line and headers if they arrive
/// within `within`, else `None`. The connection stays open (the body
/// "still uploading") until the returned guard is dropped.
async fn hanging_upload(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    start_of_body: &[u8],
    within: Duration,
) -> (Option<String>, std::net::TcpStream) {
    let addr = app.addr.trim_start_matches("http://").to_string();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100000000\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let body = start_of_body.to_vec();
    actix_web::web::block(move || {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body).unwrap();
        s.set_read_timeout(Some(within)).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&got).to_string();
        ((!text.is_empty()).then_some(text), s)
    })
    .await
    .unwrap()
}

/// Logs `email` in on the login form; returns the session cookie header.
async fn page_session(app: &TestApp, email: &str, password: &str) -> String {
    let client = crate::helpers::cookie_client();
    let resp = app.form_login(&client, email, password, None).await;
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tributary_session="))
        .expect("a session cookie");
    cookie.split(';').next().unwrap().to_string()
}

async fn log_of(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let (s, log) = app
        .call(
            "GET",
            &format!("/api/v1/accounts/{id}/imports"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{log}");
    log.as_array().unwrap().clone()
}

#[actix_web::test]
async fn the_upload_page_checks_account_and_permission_before_reading_the_body() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Store").await;
    let id = child["id"].as_str().unwrap().to_string();
    let other_token = app.admin("Other").await;
    let other = app.create_child(&other_token, "Theirs").await;
    let other_id = other["id"].as_str().unwrap().to_string();
    app.add_user(
        "viewer@acme.example",
        "look-but-dont-touch",
        "Acme",
        "viewer",
    )
    .await;
    let multipart = (
        "Content-Type",
        "multipart/form-data; boundary=XyZ".to_string(),
    );
    let start = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n";
    // Another organisation's account: 404 while the body is still arriving.
    let admin = page_session(&app, "admin@acme.example", "correct horse").await;
    let (resp, _conn) = hanging_upload(
        &app,
        "POST",
        &format!("/accounts/{other_id}/imports/warehouses"),
        &[multipart.clone(), ("Cookie", admin)],
        start,
        Duration::from_secs(5),
    )
    .await;
    let resp = resp.expect("no answer while the body was still being sent");
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    // A viewer: 403, likewise.
    let viewer = page_session(&app, "viewer@acme.example", "look-but-dont-touch").await;
    let (resp, _conn) = hanging_upload(
        &app,
        "POST",
        &format!("/accounts/{id}/imports/warehouses"),
        &[multipart, ("Cookie", viewer)],
        start,
        Duration::from_secs(5),
    )
    .await;
    let resp = resp.expect("no answer while the body was still being sent");
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
}

#[actix_web::test]
async fn imports_beyond_the_bound_wait_then_answer_429_with_retry_after() {
    let app = TestApp::spawn_with(|c| {
        c.max_concurrent_imports = 1;
        c.import_wait_seconds = 1;
    })
    .await;
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Store").await;
    let id = child["id"].as_str().unwrap().to_string();
    // One import holds the only slot while its body is still arriving.
    let (resp, slow) = hanging_upload(
        &app,
        "PUT",
        &format!("/api/v1/accounts/{id}/warehouses"),
        &[
            ("Content-Type", "application/json".to_string()),
            ("Authorization", format!("Bearer {token}")),
        ],
        b"[{\"id\": \"W1\", ",
        Duration::from_millis(300),
    )
    .await;
    assert!(resp.is_none(), "{resp:?}");
    let started = std::time::Instant::now();
    let resp = app
        .client
        .put(app.url(&format!("/api/v1/accounts/{id}/warehouses")))
        .bearer_auth(&token)
        .json(&json!([{"id": "W2", "name": "Second"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it waits a little first"
    );
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_error(&body, "too_many_requests");
    // The slot is free again once the slow upload goes away.
    drop(slow);
    let mut answered = None;
    for _ in 0..50 {
        let (s, b) = app
            .call(
                "PUT",
                &format!("/api/v1/accounts/{id}/warehouses"),
                Some(&token),
                Some(json!([{"id": "W2", "name": "Second"}])),
            )
            .await;
        if s != 429 {
            answered = Some((s, b));
            break;
        }
    }
    let (s, b) = answered.expect("the slot was never freed");
    assert_eq!(s, 200, "{b}");
    // The refused and the broken-off imports are in the log, failed.
    let log = log_of(&app, &token, &id).await;
    let failed: Vec<&Value> = log.iter().filter(|r| r["status"] == "failed").collect();
    assert!(failed.len() >= 2, "{log:?}");
    assert!(
        failed.iter().any(|r| r["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("MAX_CONCURRENT_IMPORTS")),
        "{log:?}"
    );
}

/// One organisation's imports cannot take every import slot: past its share
/// it gets 429 naming the per-organisation bound, while another
/// organisation's import goes through at once.
#[actix_web::test]
async fn one_organisation_cannot_take_every_import_slot() {
    let app = TestApp::spawn_with(|c| {
        c.max_concurrent_imports = 4;
        c.max_concurrent_imports_per_organisation = 1;
        c.import_wait_seconds = 1;
    })
    .await;
    let token = app.admin("Acme").await;
    let id = app.create_child(&token, "Store").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = app.admin("Other").await;
    let other_id = app.create_child(&other, "Shop").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Acme's one slot is held while a body is still arriving.
    let (resp, slow) = hanging_upload(
        &app,
        "PUT",
        &format!("/api/v1/accounts/{id}/warehouses"),
        &[
            ("Content-Type", "application/json".to_string()),
            ("Authorization", format!("Bearer {token}")),
        ],
        b"[{\"id\": \"W1\", ",
        Duration::from_millis(300),
    )
    .await;
    assert!(resp.is_none(), "{resp:?}");
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/warehouses"),
            Some(&token),
            Some(json!([{"id": "W2", "name": "Second"}])),
        )
        .await;
    assert_eq!(s, 429, "{b}");
    assert_error(&b, "too_many_requests");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MAX_CONCURRENT_IMPORTS_PER_ORGANISATION"),
        "{b}"
    );
    // Another organisation's import does not wait for Acme's.
    let started = std::time::Instant::now();
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{other_id}/warehouses"),
            Some(&other),
            Some(json!([{"id": "W1", "name": "Main"}])),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(started.elapsed() < Duration::from_millis(900));
    drop(slow);
}

#[actix_web::test]
async fn a_huge_csv_cell_or_json_string_is_refused_naming_the_row() {
    let app = TestApp::spawn().await;
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Store").await;
    let id = child["id"].as_str().unwrap().to_string();
    let mut body = b"id,name\nW1,Main\nW2,".to_vec();
    body.resize(body.len() + 100 * 1024 * 1024, b'x');
    body.extend_from_slice(b"\nW3,Last\n");
    let (s, b) = app
        .send_raw(
            "POST",
            &format!("/api/v1/accounts/{id}/imports/warehouses"),
            &token,
            "text/csv",
            body,
        )
        .await;
    assert_eq!(
        s,
        422,
        "{}",
        b.to_string().chars().take(300).collect::<String>()
    );
    assert_error(&b, "invalid_records");
    assert_eq!(b["error"]["details"][0]["row"], 2, "{b}");
    assert_eq!(b["error"]["details"][0]["field"], "name", "{b}");
    assert!(
        b["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("MAX_FIELD_BYTES"),
        "{b}"
    );
    // A cell of many escaped quotes, each run under the cap, is still one
    // cell: capped.
    let mut one_cell = b"id,name\nW1,\"".to_vec();
    for _ in 0..100 {
        one_cell.extend_from_slice(&[b'y'; 50 * 1024]);
        one_cell.extend_from_slice(b"\"\"");
    }
    one_cell.extend_from_slice(b"\"\n");
    let (s, b) = app
        .send_raw(
            "POST",
            &format!("/api/v1/accounts/{id}/imports/warehouses"),
            &token,
            "text/csv",
            one_cell,
        )
        .await;
    assert_eq!(
        s,
        422,
        "{}",
        b.to_string().chars().take(300).collect::<String>()
    );
    assert_eq!(b["error"]["details"][0]["row"], 1, "{b}");
    // JSON alike.
    let mut json_body = br#"[{"id": "W1", "name": "Main"}, {"id": "W2", "name": ""#.to_vec();
    json_body.resize(json_body.len() + 10 * 1024 * 1024, b'z');
    json_body.extend_from_slice(br#""}]"#);
    let (s, b) = app
        .send_raw(
            "PUT",
            &format!("/api/v1/accounts/{id}/warehouses"),
            &token,
            "application/json",
            json_body,
        )
        .await;
    assert_eq!(
        s,
        422,
        "{}",
        b.to_string().chars().take(300).collect::<String>()
    );
    assert_eq!(b["error"]["details"][0]["row"], 2, "{b}");
    // Nothing was written, and each refusal is logged.
    let log = log_of(&app, &token, &id).await;
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log.iter().all(|r| r["status"] == "failed"), "{log:?}");
}

#[cfg(feature = "fault-injection")]
#[actix_web::test]
async fn refused_and_failed_imports_are_logged_with_their_problems() {
    let app = TestApp::spawn_with(|c| c.max_upload_bytes = 1_000).await;
    let token = app.admin("Acme").await;
    let child = app.create_child(&token, "Store").await;
    let id = child["id"].as_str().unwrap().to_string();
    let (s, _) = app
        .send_raw(
            "POST",
            &format!("/api/v1/accounts/{id}/imports/warehouses"),
            &token,
            "text/csv",
            vec![b'a'; 5_000],
        )
        .await;
    assert_eq!(s, 413);
    let (s, _) = app
        .send_raw(
            "PUT",
            &format!("/api/v1/accounts/{id}/warehouses"),
            &token,
            "application/json",
            b"[{\"id\": ".to_vec(),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .send_raw(
            "POST",
            &format!("/api/v1/accounts/{id}/imports/warehouses"),
            &token,
            "multipart/form-data; boundary=B",
            b"--B\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--B--\r\n".to_vec(),
        )
        .await;
    assert_eq!(s, 422);
    // A write that fails inside its transaction: logged failed, and no
    // "succeeded" entry (the log row of a success commits with its data).
    tributary::db::ingest::fault::arm(&id, tributary::db::ingest::fault::Fault::Error);
    let (s, _) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/warehouses"),
            Some(&token),
            Some(json!([{"id": "W1", "name": "Main"}])),
        )
        .await;
    assert_eq!(s, 500);
    tributary::db::ingest::fault::arm(&id, tributary::db::ingest::fault::Fault::Panic);
    let (s, _) = app
        .call(
            "PUT",
            &format!("/api/v1/accounts/{id}/warehouses"),
            Some(&token),
            Some(json!([{"id": "W1", "name": "Main"}])),
        )
        .await;
    assert_eq!(s, 500);
    let log = log_of(&app, &token, &id).await;
    let summary: Vec<(String, String, String)> = log
        .iter()
        .rev()
        .map(|r| {
            (
                r["format"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["problems"][0]["message"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(summary.len(), 5, "{summary:?}");
    assert!(
        summary.iter().all(|(_, status, _)| status == "failed"),
        "{summary:?}"
    );
    assert!(summary[0].2.contains("MAX_UPLOAD_BYTES"), "{summary:?}");
    assert_eq!(summary[1].0, "json");
    assert!(summary[1].2.contains("not valid JSON"), "{summary:?}");
    assert!(summary[2].2.contains("file"), "{summary:?}");
    assert!(summary[3].2.contains("failed on the server"), "{summary:?}");
    assert!(summary[4].2.contains("failed on the server"), "{summary:?}");
}
