//! Hostile clients: made-up methods, paths and headers must not make the process, its metrics
//! or its logs grow; floods of bad keys must not lock out good ones; a revoked key is refused at
//! once whatever was cached about it.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use klinivo::auth::store;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;
use crate::process::{free_port, klinivo, wait_healthy};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Characters valid in a method, a header name and a path alike.
fn junk(rng: &mut impl Rng, len: usize) -> String {
    const TOKEN: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~!$&'*+";
    (0..len).map(|_| TOKEN[rng.gen_range(0..TOKEN.len())] as char).collect()
}

/// Sends `count` requests with made-up methods, paths and header values over keep-alive
/// connections, and returns the statuses seen.
async fn flood(port: u16, count: usize) -> std::collections::BTreeMap<u16, usize> {
    let mut statuses = std::collections::BTreeMap::new();
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut sent = 0;
    while sent < count {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        for _ in 0..50.min(count - sent) {
            let method = match rng.gen_range(0..4) {
                0 => format!("XKQZ{}", junk(&mut rng, 4000)),
                1 => {
                    let len = rng.gen_range(1..64);
                    junk(&mut rng, len)
                }
                2 => "GET".to_string(),
                _ => "BREW".to_string(),
            };
            let len = rng.gen_range(1..200);
            let path = format!("/{}/{}", junk(&mut rng, len), rng.gen::<u64>());
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: kv_{}\r\nX-Request-Id: {}\r\nX-Forwarded-For: {}\r\n\
                 X-{}: {}\r\nContent-Length: 0\r\n\r\n",
                junk(&mut rng, 42),
                junk(&mut rng, 300),
                junk(&mut rng, 40),
                junk(&mut rng, 30),
                junk(&mut rng, 2000),
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let status = read_response(&mut stream).await;
            *statuses.entry(status).or_insert(0) += 1;
            sent += 1;
        }
    }
    statuses
}

/// Reads one response (headers and a Content-Length body) and returns its status.
async fn read_response(stream: &mut tokio::net::TcpStream) -> u16 {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert!(n == 1, "connection closed mid-response: {:?}", String::from_utf8_lossy(&buf));
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).map(|v| v.trim().parse().unwrap()).unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    head[9..12].parse().unwrap()
}

#[tokio::test]
async fn made_up_methods_paths_and_headers_leave_memory_metrics_and_logs_bounded() {
    let db_url = fresh_database().await;
    klinivo::db::migrate(&sqlx::PgPool::connect(&db_url).await.unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = klinivo(dir.path())
        .arg("serve")
        .env("DATABASE_URL", &db_url)
        .env("KLINIVO_BIND", format!("127.0.0.1:{port}"))
        .env("KLINIVO_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log_bytes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stderr = child.stderr.take().unwrap();
    let counter = log_bytes.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            counter.fetch_add(line.len() + 1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    wait_healthy(port, &mut child).await;
    let metrics =
        || async { reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap() };

    // Warm up: every kind of request once, so that what follows only repeats them.
    flood(port, 500).await;
    let rss_before = rss_kib(child.id());
    let metrics_before = metrics().await.len();
    let logs_before = log_bytes.load(std::sync::atomic::Ordering::Relaxed);

    let requests = 5_000;
    let statuses = flood(port, requests).await;
    let rss_after = rss_kib(child.id());
    let text = metrics().await;
    let logs_after = log_bytes.load(std::sync::atomic::Ordering::Relaxed);

    assert!(statuses.keys().all(|s| (400..500).contains(s)), "a hostile request got {statuses:?}");
    assert!(statuses.get(&405).is_some_and(|n| *n > requests / 3), "unknown methods must be 405: {statuses:?}");
    assert!(!text.contains("XKQZ") && !text.contains("BREW"), "a client's method became a metrics label");
    assert!(text.len() <= metrics_before + 2_000, "metrics grew from {metrics_before} to {} bytes", text.len());
    // Each request leaves one log line of bounded size (no method, path or header as sent).
    let per_request = (logs_after - logs_before) / requests;
    assert!(per_request < 600, "{per_request} bytes of log per hostile request");
    // 5,000 requests carrying ~20 MB of junk between them: the process must not keep it.
    assert!(rss_after < rss_before + 24 * 1024, "RSS grew from {rss_before} KiB to {rss_after} KiB");
    crate::process::sigterm(&child);
    crate::process::wait_exit(&mut child, Duration::from_secs(30)).await;
}

#[tokio::test]
async fn unknown_methods_are_405_before_any_work() {
    let app = TestApp::spawn().await;
    for method in ["BREW", "TRACE", "PROPFIND", &"XKQZ".repeat(1000)] {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        // No key, on a route that exists: still 405, not 401.
        let r = app.client.request(m, app.url("/api/v1/patients")).send().await.unwrap();
        expect_error(r, 405, "method_not_allowed").await;
    }
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"method="other",status="405""#), "unknown methods are counted as other");
}

#[tokio::test]
async fn malformed_keys_count_for_nothing_and_never_lock_out_a_new_key() {
    let app = TestApp::spawn().await;
    for i in 0..150 {
        let bad = match i % 3 {
            0 => "not-a-key".to_string(),
            1 => format!("kv_{}", "x".repeat(42)), // right shape, wrong checksum
            _ => "kv_short".to_string(),
        };
        let r = app.request_as(&bad, Method::GET, "/health").send().await.unwrap();
        expect_error(r, 401, "invalid_api_key").await;
    }
    let fresh = app.key_with(&[]).await;
    let r = app.request_as(&fresh, Method::GET, "/health").send().await.unwrap();
    assert_eq!(r.status(), 200, "malformed keys locked out a valid key from the same address");
}

/// Well-formed keys unknown to the server (each costs a lookup): these are what is counted. The
/// throttle counts in calendar minutes, so a flood that straddles a minute's end is split between
/// two windows: twice the limit and more puts one of them over it, however the minutes fall.
async fn flood_unknown_keys(app: &TestApp, forwarded_for: &str) -> bool {
    for _ in 0..(2 * klinivo::auth::authenticator::FAILED_AUTH_PER_MINUTE + 10) {
        let bogus = klinivo::auth::keys::generate().secret;
        let r = app.request_as(&bogus, Method::GET, "/health").header("X-Forwarded-For", forwarded_for);
        let r = r.send().await.unwrap();
        if r.status() == 429 {
            return true;
        }
        assert_eq!(r.status(), 401);
    }
    false
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_throttled_on_its_own() {
    let app = TestApp::spawn_with(|c| {
        c.trusted_proxies = klinivo::net::TrustedProxies::parse("127.0.0.1/32").unwrap();
    })
    .await;
    assert!(flood_unknown_keys(&app, "198.51.100.7").await, "the flooding client was never throttled");
    // Another client behind the same proxy, with a key it just created: not affected.
    let fresh = app.key_with(&[klinivo::auth::Permission::ReadPatients]).await;
    let r = app.request_as(&fresh, Method::GET, "/patients").header("X-Forwarded-For", "203.0.113.5").send().await;
    assert_eq!(r.unwrap().status(), 200);
    // The flooding client itself stays throttled, whatever it claims further left.
    let other = app.key_with(&[]).await;
    let r = app.request_as(&other, Method::GET, "/health").header("X-Forwarded-For", "192.0.2.1, 198.51.100.7");
    expect_error(r.send().await.unwrap(), 429, "rate_limit_exceeded").await;
    // The audit log names the forwarded client, not the proxy.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addr: Option<String> = sqlx::query_scalar(
        "SELECT client_address FROM audit_events WHERE resource_type = 'patient' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(addr.as_deref(), Some("203.0.113.5"));
}

#[tokio::test]
async fn without_trusted_proxies_forwarded_for_is_ignored() {
    let app = TestApp::spawn().await;
    // Each request claims another address; the peer is what counts.
    let mut throttled = false;
    for i in 0..(klinivo::auth::authenticator::FAILED_AUTH_PER_MINUTE + 5) {
        let bogus = klinivo::auth::keys::generate().secret;
        let xff = format!("198.51.100.{}", i % 250);
        let r = app.request_as(&bogus, Method::GET, "/health").header("X-Forwarded-For", xff).send().await.unwrap();
        if r.status() == 429 {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "a spoofed X-Forwarded-For escaped the throttle");
}

#[tokio::test]
async fn a_revoked_key_is_401_at_once_even_over_its_limit() {
    let app = TestApp::spawn().await;
    let key = create_key_in(&app.db, app.org_id, &[], Some(2)).await;
    let mut saw_429 = false;
    for _ in 0..4 {
        let r = app.request_as(&key, Method::GET, "/health").send().await.unwrap();
        saw_429 |= r.status() == 429;
    }
    assert!(saw_429, "the key never went over its limit");
    store::revoke_key(&mut *app.db.acquire().await.unwrap(), None, &key[..11]).await.unwrap();
    // The change notification is asynchronous; within a moment (never the rest of the window)
    // the answer must be 401.
    let deadline = std::time::Instant::now() + Duration::from_millis(1500);
    loop {
        let r = app.request_as(&key, Method::GET, "/health").send().await.unwrap();
        if r.status() == 401 {
            break;
        }
        assert_eq!(r.status(), 429);
        assert!(std::time::Instant::now() < deadline, "a revoked key kept getting 429");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And it stays refused on a second instance that never saw it.
    let second = TestApp::spawn_on(app.db_url.clone(), |_| {}).await;
    let r = second.request_as(&key, Method::GET, "/health").send().await.unwrap();
    expect_error(r, 401, "invalid_api_key").await;
    let r = app.request_as(&app.key, Method::POST, "/patients").json(&json!({"firstName": "A", "lastName": "B"}));
    assert_eq!(r.send().await.unwrap().status(), 201);
}
