//! Prometheus metrics: requests by matched route template, method and status, and a latency
//! histogram per route. Labels are route templates (`/api/v1/patients/{id}`), never raw paths.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<HashMap<(String, String, u16), u64>>,
    latency: Mutex<HashMap<(String, String), Histogram>>,
    counters: Mutex<HashMap<&'static str, u64>>,
}

impl Metrics {
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        {
            let mut r = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            *r.entry((route.to_string(), method.to_string(), status)).or_insert(0) += 1;
        }
        let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = l.entry((route.to_string(), method.to_string())).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// Adds to a named counter (webhook deliveries and the like).
    pub fn incr(&self, name: &'static str, by: u64) {
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *c.entry(name).or_insert(0) += by;
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP klinivo_http_requests_total HTTP requests by matched route, method and status.\n");
        out.push_str("# TYPE klinivo_http_requests_total counter\n");
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<_> = requests.iter().collect();
        rows.sort();
        for ((route, method, status), n) in rows {
            let _ = writeln!(
                out,
                "klinivo_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        drop(requests);
        out.push_str("# HELP klinivo_http_request_duration_seconds Request latency by matched route and method.\n");
        out.push_str("# TYPE klinivo_http_request_duration_seconds histogram\n");
        let latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<_> = latency.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        for ((route, method), h) in rows {
            let labels = format!("route=\"{route}\",method=\"{method}\"");
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "klinivo_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}", h.counts[i]);
            }
            let _ = writeln!(out, "klinivo_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "klinivo_http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "klinivo_http_request_duration_seconds_count{{{labels}}} {}", h.count);
        }
        drop(latency);
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<_> = counters.iter().collect();
        rows.sort();
        for (name, n) in rows {
            let _ = writeln!(out, "# TYPE {name} counter\n{name} {n}");
        }
        out
    }
}

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.observe(&route, &method, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}
