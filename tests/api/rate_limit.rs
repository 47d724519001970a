//! Rate limiting: per-key fixed windows shared by every instance.

use std::time::Duration;

use axum::routing::get;
use klinivo::auth::permissions::ReadPatients;
use klinivo::auth::Permission;
use klinivo::http::extract::Auth;
use klinivo::AppState;
use reqwest::Method;

use crate::helpers::*;

fn header(r: &reqwest::Response, name: &str) -> i64 {
    r.headers().get(name).unwrap_or_else(|| panic!("missing {name}")).to_str().unwrap().parse().unwrap()
}

async fn limited_key(app: &TestApp, limit: i32) -> String {
    create_key_in(&app.db, app.org_id, &Permission::ALL, Some(limit)).await
}

#[tokio::test]
async fn headers_on_success_and_client_errors() {
    let guarded = axum::Router::<AppState>::new().route("/api/v1/guarded", get(|_: Auth<ReadPatients>| async { "ok" }));
    let app = TestApp::spawn_with_routes(guarded).await;
    let key = limited_key(&app, 10).await;
    let r = app.request_as(&key, Method::GET, "/health").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-limit"), 10);
    assert_eq!(header(&r, "x-ratelimit-remaining"), 9);
    let reset = header(&r, "x-ratelimit-reset");
    let now = chrono::Utc::now().timestamp();
    assert!(reset > now && reset <= now + 60 && reset % 60 == 0, "reset {reset} now {now}");

    // A 403 is still an authenticated response, and counts.
    let weak = create_key_in(&app.db, app.org_id, &[Permission::ReadAppointments], Some(10)).await;
    let r = app.request_as(&weak, Method::GET, "/guarded").send().await.unwrap();
    assert_eq!(header(&r, "x-ratelimit-remaining"), 9);
    expect_error(r, 403, "insufficient_permission").await;
    let r = app.request_as(&key, Method::GET, "/health").send().await.unwrap();
    assert_eq!(header(&r, "x-ratelimit-remaining"), 8);
}

#[tokio::test]
async fn past_the_limit_is_429_with_retry_after() {
    let app = TestApp::spawn().await;
    let key = limited_key(&app, 5).await;
    for i in 0..5 {
        let r = app.request_as(&key, Method::GET, "/health").send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(header(&r, "x-ratelimit-remaining"), 4 - i);
    }
    for _ in 0..3 {
        let r = app.request_as(&key, Method::GET, "/health").send().await.unwrap();
        assert_eq!(header(&r, "x-ratelimit-limit"), 5);
        assert_eq!(header(&r, "x-ratelimit-remaining"), 0);
        let retry = header(&r, "retry-after");
        assert!((1..=60).contains(&retry));
        expect_error(r, 429, "rate_limit_exceeded").await;
    }
    // Other keys have their own budget.
    let r = app.get("/health").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_default_limit_comes_from_configuration() {
    let app = TestApp::spawn_with(|c| c.rate_limit_per_minute = 3).await;
    let key = app.key_with(&[Permission::ReadPatients]).await;
    for _ in 0..3 {
        let r = app.request_as(&key, Method::GET, "/health").send().await.unwrap();
        assert_eq!(header(&r, "x-ratelimit-limit"), 3);
        assert_eq!(r.status(), 200);
    }
    let r = app.request_as(&key, Method::GET, "/health").send().await.unwrap();
    expect_error(r, 429, "rate_limit_exceeded").await;
}

#[tokio::test]
async fn two_instances_share_one_budget() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(a.db_url.clone(), |_| {}).await;
    let key = limited_key(&a, 20).await;
    let mut handles = Vec::new();
    for i in 0..30 {
        let app = if i % 2 == 0 { &a } else { &b };
        let req = app.request_as(&key, Method::GET, "/health");
        handles.push(tokio::spawn(async move { req.send().await.unwrap().status().as_u16() }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for h in handles {
        match h.await.unwrap() {
            200 => ok += 1,
            429 => limited += 1,
            s => panic!("unexpected {s}"),
        }
    }
    // Unless the minute turned over mid-burst, exactly 20 pass.
    let turned_over = ok > 20;
    if !turned_over {
        assert_eq!((ok, limited), (20, 10));
    }
}

#[tokio::test]
async fn the_window_resets_at_the_next_minute() {
    let app = TestApp::spawn().await;
    let key = limited_key(&app, 2).await;
    let mut reset = 0;
    for _ in 0..3 {
        let r = app.request_as(&key, Method::GET, "/health").send().await.unwrap();
        reset = header(&r, "x-ratelimit-reset");
    }
    let r = app.request_as(&key, Method::GET, "/health").send().await.unwrap();
    if r.status() == 200 {
        return; // the minute turned over during the burst; nothing left to observe
    }
    assert_eq!(r.status(), 429);
    let wait = reset - chrono::Utc::now().timestamp();
    tokio::time::sleep(Duration::from_millis((wait.max(0) as u64) * 1000 + 300)).await;
    let r = app.request_as(&key, Method::GET, "/health").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-remaining"), 1);
    assert_eq!(header(&r, "x-ratelimit-reset"), reset + 60);
}

#[tokio::test]
async fn failed_authentication_costs_no_budget_and_floods_are_throttled() {
    let app = TestApp::spawn().await;
    let key = limited_key(&app, 50).await;
    // Well-formed keys with valid checksums, unknown to the server: each is one indexed lookup.
    for _ in 0..20 {
        let bogus = klinivo::auth::keys::generate().secret;
        let r = app.request_as(&bogus, Method::GET, "/health").send().await.unwrap();
        expect_error(r, 401, "invalid_api_key").await;
    }
    let counters: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rate_limit_counters").fetch_one(&app.db).await.unwrap();
    assert_eq!(counters, 0, "failed authentications must not create counters");
    let r = app.request_as(&key, Method::GET, "/health").send().await.unwrap();
    assert_eq!(header(&r, "x-ratelimit-remaining"), 49);

    // Past the per-address threshold, unknown keys from the address are turned away without
    // database work; a key that authenticated recently keeps working.
    let mut throttled = false;
    for _ in 0..(klinivo::auth::authenticator::FAILED_AUTH_PER_MINUTE + 5) {
        let bogus = klinivo::auth::keys::generate().secret;
        let r = app.request_as(&bogus, Method::GET, "/health").send().await.unwrap();
        if r.status() == 429 {
            // Until the throttle's minute ends, not a fixed minute from now.
            let retry: i64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            let left = 60 - chrono::Utc::now().timestamp() % 60;
            assert!((1..=60).contains(&retry) && retry <= left + 1, "Retry-After {retry} with {left} s left");
            expect_error(r, 429, "rate_limit_exceeded").await;
            throttled = true;
            break;
        }
        assert_eq!(r.status(), 401);
    }
    assert!(throttled, "a flood of bad keys was never throttled");
    let r = app.request_as(&key, Method::GET, "/health").send().await.unwrap();
    assert_eq!(r.status(), 200, "a known-good key was locked out by someone else's flood");
}

#[tokio::test]
async fn concurrent_requests_share_one_lease() {
    // A large limit is leased to an instance in chunks (here at most a twentieth of the limit:
    // 200). Requests that find the lease used up at the same moment must wait for one new lease:
    // had each taken its own, all but one would be forgotten, counted against the key's budget
    // but never served, and the key would see 429 long before its 4,000.
    let app = TestApp::spawn().await;
    let limit = 4_000;
    let key = limited_key(&app, limit).await;
    loop {
        if chrono::Utc::now().timestamp() % 60 < 45 {
            break; // room for the burst inside one window
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let window = chrono::Utc::now().timestamp() / 60;
    let requests = 3000;
    let limiter = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    let mut handles = Vec::new();
    for _ in 0..requests {
        let req = app.request_as(&key, Method::GET, "/health");
        let permit = limiter.clone().acquire_owned().await.unwrap();
        handles.push(tokio::spawn(async move {
            let status = req.send().await.unwrap().status().as_u16();
            drop(permit);
            status
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), 200);
    }
    if chrono::Utc::now().timestamp() / 60 != window {
        return; // the window turned over mid-burst: the counter started again
    }
    let counted: i32 = sqlx::query_scalar(
        "SELECT c.count FROM rate_limit_counters c JOIN api_keys k ON k.id = c.api_key_id WHERE k.key_prefix = $1",
    )
    .bind(&key[..11])
    .fetch_one(&app.db)
    .await
    .unwrap();
    // Served, plus at most what is left in hand: the last lease, and up to half of the one
    // before it (the next is asked for once half of one is used).
    let lease = limit / 20;
    assert!(
        (requests..=requests + lease * 3 / 2).contains(&counted),
        "{requests} requests served, {counted} counted against the key"
    );
}
