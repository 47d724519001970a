//! Hardening: header limits, slow clients, draining on SIGTERM mid-request, and no keys,
//! secrets or PHI in a full run's logs.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;
use crate::process::{free_port, klinivo, sigterm, wait_exit, wait_healthy};

#[tokio::test]
async fn oversized_headers_are_refused() {
    let app = TestApp::spawn().await;
    let huge = "x".repeat(100 * 1024);
    let r = app.client.get(app.url("/healthz")).header("X-Padding", huge).send().await;
    match r {
        Ok(r) => assert_eq!(r.status(), 431),
        Err(e) => assert!(e.is_request() || e.is_connect() || e.to_string().contains("connection"), "{e}"),
    }
    // The server is fine afterwards.
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_slow_client_does_not_hold_a_connection_forever() {
    let app = TestApp::spawn().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    // The server gives up on the headers (timeout) and closes the connection.
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was held for 20 s");
    assert!(started.elapsed() >= Duration::from_secs(5));
    let text = String::from_utf8_lossy(&buf);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test]
async fn client_errors_and_server_errors_carry_no_internals() {
    let app = TestApp::spawn().await;
    let r = app
        .request(Method::POST, "/patients")
        .header("content-type", "application/json")
        .body("{\"firstName\": ")
        .send()
        .await
        .unwrap();
    let body = expect_error(r, 400, "invalid_json").await;
    let text = body.to_string().to_lowercase();
    for leak in ["select ", "insert ", "sqlx", "panicked", "src/"] {
        assert!(!text.contains(leak), "{text}");
    }
    let r = app.get("/patients/1").await;
    assert_eq!(r.headers()["cache-control"], "no-store");
}

/// Starts the real server with debug logging captured (stderr is drained by a thread, so the
/// server never blocks on a full pipe).
async fn logged_server(db_url: &str) -> (std::process::Child, u16, tempfile::TempDir, Logs) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = klinivo(dir.path())
        .arg("serve")
        .env("DATABASE_URL", db_url)
        .env("KLINIVO_BIND", format!("127.0.0.1:{port}"))
        .env("KLINIVO_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("KLINIVO_WEBHOOK_RETRY_UNIT_MS", "100")
        .env("KLINIVO_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = Logs::default();
    let sink = logs.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.0.lock().unwrap().push(line);
        }
    });
    wait_healthy(port, &mut child).await;
    (child, port, dir, logs)
}

#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

#[tokio::test]
async fn a_full_run_logs_no_keys_secrets_or_phi() {
    let db_url = fresh_database().await;
    let admin = TestApp::spawn_on(db_url.clone(), |_| {}).await;
    let key = admin.key.clone();
    let clinic = seed_clinic(&admin.db, admin.org_id).await;
    let (mut child, port, _dir, logs) = logged_server(&db_url).await;
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let client = reqwest::Client::new();
    let call = |method: Method, path: &str, body: Option<Value>| {
        let mut req = client.request(method, format!("{base}{path}")).header("X-API-Key", &key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send()
    };

    // A receiver for the webhook (so deliveries happen and are logged).
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_port = receiver.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = receiver.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n").await;
            });
        }
    });
    let r = call(Method::POST, "/webhooks", Some(json!({"url": format!("http://127.0.0.1:{hook_port}/h"), "events": ["patient.created", "soap_note.created", "intake.completed"]}))).await.unwrap();
    let secret = r.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_string();

    let phi = [
        "Zephyrine",
        "Quaxley",
        "zephy.quax@example.test",
        "+14155550987",
        "Xylophonic cough",
        "Marzipan allergy",
        "742 Evergreen",
    ];
    let r = call(
        Method::POST,
        "/patients",
        Some(json!({"firstName": phi[0], "lastName": phi[1], "email": phi[2], "phone": phi[3],
        "address": {"line1": "742 Evergreen Terrace"}})),
    )
    .await
    .unwrap();
    let patient = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    call(Method::GET, &format!("/patients?q={}", phi[0]), None).await.unwrap();
    call(Method::GET, &format!("/patients?email={}", phi[2]), None).await.unwrap();
    // Invalid input echoing PHI-like values.
    call(
        Method::POST,
        "/patients",
        Some(json!({"firstName": phi[0], "lastName": phi[1], "email": "not-an-email Quaxley"})),
    )
    .await
    .unwrap();
    let booking = json!({"patientId": patient, "providerId": clinic.provider_id, "locationId": clinic.location_id,
                         "startsAt": "2030-01-07T15:00:00Z", "durationMinutes": 30});
    let appointment = call(Method::POST, "/appointments", Some(booking)).await.unwrap().json::<Value>().await.unwrap()
        ["id"]
        .as_i64()
        .unwrap();
    let consultation = call(Method::POST, &format!("/appointments/{appointment}/consultation"), None)
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    call(Method::POST, &format!("/consultations/{consultation}/soap-notes"), Some(json!({"subjective": phi[4]})))
        .await
        .unwrap();
    let form = call(Method::POST, "/intake-forms", Some(json!({"patientId": patient, "formType": "history"})))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    call(Method::POST, &format!("/intake-forms/{form}/start"), None).await.unwrap();
    call(Method::POST, &format!("/intake-forms/{form}/complete"), Some(json!({"answers": {"allergies": phi[5]}})))
        .await
        .unwrap();
    // A wrong key, and a near miss of the right one.
    let mut wrong = key.clone();
    wrong.pop();
    client.get(format!("{base}/health")).header("X-API-Key", wrong).send().await.unwrap();
    // Let a few deliveries fail and retry.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    sigterm(&child);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(40)).await.code(), Some(0));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = logs.0.lock().unwrap().clone();
    let all = logs.join("\n");
    assert!(logs.len() > 20, "suspiciously few log lines: {all}");
    assert!(all.contains("request finished"));
    let secret_body = &secret["whsec_".len()..];
    for needle in [key.as_str(), &key[11..], secret.as_str(), secret_body].into_iter().chain(phi) {
        assert!(!all.contains(needle), "the logs contain {needle:?}");
    }
    let metrics_text = reqwest::get(admin.url("/metrics")).await.unwrap().text().await.unwrap();
    for needle in [&key[..11]].into_iter().chain(phi) {
        assert!(!metrics_text.contains(needle), "metrics contain {needle:?}");
    }
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish() {
    let db_url = fresh_database().await;
    let admin = TestApp::spawn_on(db_url.clone(), |_| {}).await;
    let (mut child, port, _dir, _logs) = logged_server(&db_url).await;
    let body = serde_json::to_vec(&json!({"firstName": "Slow", "lastName": "Upload"})).unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "POST /api/v1/patients HTTP/1.1\r\nHost: x\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        admin.key,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&child);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Still running: it waits for the request in flight; new connections are refused.
    assert!(child.try_wait().unwrap().is_none(), "exited with a request in flight");
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err(), "still accepting after SIGTERM");
    stream.write_all(&body[5..]).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert_eq!(wait_exit(&mut child, Duration::from_secs(40)).await.code(), Some(0));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM patients WHERE last_name = 'Upload'")
        .fetch_one(&admin.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
}
