//! The SSRF guard at delivery time: a subscription whose URL points inside (written straight
//! to the database, as if the rules had changed since it was saved) fails with a blocked
//! address, and no request reaches the receiver.

use std::time::Duration;

use serde_json::json;

use super::receiver::Receiver;
use super::*;

#[tokio::test]
async fn internal_destinations_are_blocked_at_delivery_time() {
    let app = TestApp::spawn_with(|c| {
        c.webhook_allow_private = false;
        c.webhook_retry_unit = Duration::from_secs(60);
    })
    .await;
    let receiver = Receiver::start().await;
    let port = receiver.addr.port();
    let cases = [
        // A literal loopback address (never reaches a resolver).
        (format!("http://127.0.0.1:{port}/hook"), "127.0.0.1"),
        (format!("https://[::1]:{port}/hook"), "::1"),
        (format!("https://[::ffff:127.0.0.1]:{port}/hook"), "::ffff:127.0.0.1"),
        // A name that resolves to loopback: refused by the resolver, before connecting.
        (format!("https://localhost:{port}/hook"), ""),
    ];
    let mut ids = Vec::new();
    for (url, _) in &cases {
        ids.push(insert_webhook(&app.db, app.org_id, url, &["patient.created"]).await.0);
    }
    record_event(&app.db, app.org_id, "patient.created", json!({"id": 1})).await;
    for (id, (url, ip)) in ids.iter().zip(&cases) {
        let list = wait_deliveries(&app, *id, 1, Duration::from_secs(10), |d| d["attempts"] == 1).await;
        let error = list[0]["lastError"].as_str().unwrap();
        assert!(error.starts_with("blocked address"), "{url}: {error}");
        assert!(error.contains(ip), "{url}: {error}");
        assert_eq!(list[0]["lastStatusCode"], json!(null));
        assert_eq!(list[0]["status"], "pending");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 0, "a request reached an internal address");
}

#[tokio::test]
async fn a_redirect_to_loopback_is_not_followed() {
    // Private destinations are allowed here so that the first hop is reachable at all; the
    // redirect must still not be followed.
    let app = TestApp::spawn_with(|c| c.webhook_retry_unit = Duration::from_secs(60)).await;
    let inside = Receiver::start().await;
    let redirecting =
        Receiver::answering(super::receiver::Reply::Redirect(format!("http://127.0.0.1:{}/admin", inside.addr.port())))
            .await;
    let (id, _) = create_webhook(&app, &redirecting.url(), &["patient.created"]).await;
    record_event(&app.db, app.org_id, "patient.created", json!({"id": 1})).await;
    let list = wait_deliveries(&app, id, 1, Duration::from_secs(10), |d| d["attempts"] == 1).await;
    assert_eq!(list[0]["lastStatusCode"], 302);
    assert_eq!(redirecting.count(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(inside.count(), 0);
}
