//! The delivery benchmark (not part of the suite; rerun with
//! `cargo test --test api webhooks::bench -- --ignored --nocapture`):
//! - throughput: deliveries per second to a local receiver that answers 200 at once, for a
//!   backlog of events committed in batches;
//! - latency: from the commit of an event to its arrival at the receiver, p50 and p99, for
//!   events committed one at a time.

use std::collections::HashMap;
use std::time::Duration;

use klinivo::events::EventType;
use serde_json::json;
use tokio::time::Instant;

use super::receiver::Receiver;
use super::*;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test]
#[ignore = "benchmark: run on demand"]
async fn delivery_throughput_and_latency() {
    let app = TestApp::spawn_with(|c| c.db_max_connections = 20).await;
    let receiver = Receiver::start().await;
    create_webhook(&app, &receiver.url(), &["patient.created"]).await;
    let data = json!({"id": 1, "firstName": "Grace", "lastName": "Hopper", "email": "grace@example.test"});

    // Throughput: a backlog that becomes visible at once (one commit), drained by the dispatcher.
    let n = 5_000;
    let mut tx = app.db.begin().await.unwrap();
    for _ in 0..n {
        klinivo::events::record(&mut tx, app.org_id, EventType::PatientCreated, &data).await.unwrap();
    }
    let started = Instant::now();
    tx.commit().await.unwrap();
    klinivo::events::wake::notify(&app.db).await.unwrap();
    let committed = started.elapsed();
    receiver.wait_for(n, Duration::from_secs(300)).await;
    let drained = started.elapsed();
    let settled = eventually(Duration::from_secs(60), || async {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'")
            .fetch_one(&app.db)
            .await
            .unwrap();
        done == n as i64
    })
    .await;
    assert!(settled);
    let recorded = started.elapsed();
    eprintln!(
        "throughput: {n} deliveries; backlog committed in {committed:.2?}; all received after {drained:.2?} \
         ({:.0}/s); all recorded as succeeded after {recorded:.2?} ({:.0}/s)",
        n as f64 / drained.as_secs_f64(),
        n as f64 / recorded.as_secs_f64()
    );

    // Latency: one event per transaction, spaced out so each is delivered on its own.
    let m = 500;
    let before = receiver.count();
    let mut commits: HashMap<String, Instant> = HashMap::new();
    for _ in 0..m {
        let mut tx = app.db.begin().await.unwrap();
        let id = klinivo::events::record(&mut tx, app.org_id, EventType::PatientCreated, &data).await.unwrap();
        // Measured from just before COMMIT: an upper bound that includes the commit itself.
        commits.insert(klinivo::events::public_id(id), Instant::now());
        tx.commit().await.unwrap();
        klinivo::events::wake::notify(&app.db).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let received = receiver.wait_for(before + m, Duration::from_secs(60)).await;
    let mut latencies: Vec<Duration> = received[before..]
        .iter()
        .filter_map(|r| commits.get(r.header("x-klinivo-event-id")).map(|c| r.at.saturating_duration_since(*c)))
        .collect();
    latencies.sort();
    assert_eq!(latencies.len(), m);
    eprintln!(
        "latency commit→arrival over {m} events: p50 {:.2?}, p90 {:.2?}, p99 {:.2?}, max {:.2?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        latencies[m - 1]
    );
}
