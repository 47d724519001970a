//! The metrics registry, Prometheus text format: requests by matched route template, method and
//! status, a latency histogram per route, and the named counters of [`COUNTERS`]. The HTTP layer
//! (`http::layers::request_id`) observes requests; background tasks count into the counters.
//!
//! Every label is drawn from a fixed set, so no client can make the metrics grow: routes are the
//! router's templates (`/api/v1/patients/{id}`; anything unmatched is `unmatched`), methods are
//! `http::layers::method::label`'s, statuses are the server's own.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;

const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// The named counters and what they count, exported (at 0) from the start so that an alert has
/// a series before the first event. `Metrics::incr` takes only these names.
pub const COUNTERS: &[(&str, &str)] = &[
    ("klinivo_webhook_attempts_total", "Webhook delivery attempts made."),
    ("klinivo_webhook_attempts_failed_total", "Webhook delivery attempts that failed."),
    ("klinivo_webhook_deliveries_succeeded_total", "Webhook deliveries that succeeded."),
    ("klinivo_webhook_deliveries_dead_lettered_total", "Webhook deliveries moved to the dead-letter table."),
    ("klinivo_webhook_leases_lost_total", "Webhook deliveries whose lease another dispatcher took over."),
    ("klinivo_webhook_dispatcher_errors_total", "Errors of the webhook dispatcher loop (it retries)."),
    ("klinivo_retention_events_deleted_total", "Expired events deleted by retention."),
    ("klinivo_retention_deliveries_deleted_total", "Succeeded deliveries deleted with their expired events."),
    ("klinivo_retention_idempotency_keys_deleted_total", "Expired stored idempotent responses deleted."),
    ("klinivo_retention_audit_partitions_dropped_total", "Audit log partitions dropped by retention."),
    ("klinivo_auth_throttled_total", "Requests refused by the failed-authentication throttle."),
];

/// What one route template has seen: counts by method and status, latency by method. Looked up
/// by the borrowed template, so observing a request allocates nothing once its route is known.
#[derive(Default)]
struct RouteStats {
    requests: Vec<(&'static str, u16, u64)>,
    latency: Vec<(&'static str, Histogram)>,
}

pub struct Metrics {
    routes: Mutex<HashMap<String, RouteStats>>,
    counters: Mutex<HashMap<&'static str, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            routes: Mutex::default(),
            counters: Mutex::new(COUNTERS.iter().map(|(name, _)| (*name, 0)).collect()),
        }
    }
}

impl Metrics {
    pub fn observe(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let stats = match routes.get_mut(route) {
            Some(stats) => stats,
            None => routes.entry(route.to_string()).or_default(),
        };
        match stats.requests.iter_mut().find(|(m, s, _)| *m == method && *s == status) {
            Some((_, _, n)) => *n += 1,
            None => stats.requests.push((method, status, 1)),
        }
        let h = match stats.latency.iter().position(|(m, _)| *m == method) {
            Some(i) => &mut stats.latency[i].1,
            None => {
                stats.latency.push((method, Histogram::default()));
                &mut stats.latency.last_mut().expect("just pushed").1
            }
        };
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// Adds to one of the [`COUNTERS`].
    pub fn incr(&self, name: &'static str, by: u64) {
        debug_assert!(COUNTERS.iter().any(|(n, _)| *n == name), "undocumented counter {name}");
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *c.entry(name).or_insert(0) += by;
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP klinivo_http_requests_total HTTP requests by matched route, method and status.\n");
        out.push_str("# TYPE klinivo_http_requests_total counter\n");
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<_> = routes
            .iter()
            .flat_map(|(route, stats)| stats.requests.iter().map(move |(m, s, n)| (route, *m, *s, *n)))
            .collect();
        rows.sort();
        for (route, method, status, n) in rows {
            let _ = writeln!(
                out,
                "klinivo_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP klinivo_http_request_duration_seconds Request latency by matched route and method.\n");
        out.push_str("# TYPE klinivo_http_request_duration_seconds histogram\n");
        let mut rows: Vec<_> =
            routes.iter().flat_map(|(route, stats)| stats.latency.iter().map(move |(m, h)| (route, *m, h))).collect();
        rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (route, method, h) in rows {
            let labels = format!("route=\"{route}\",method=\"{method}\"");
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "klinivo_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(out, "klinivo_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "klinivo_http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "klinivo_http_request_duration_seconds_count{{{labels}}} {}", h.count);
        }
        drop(routes);
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<_> = counters.iter().collect();
        rows.sort();
        for (name, n) in rows {
            let help = COUNTERS.iter().find(|(c, _)| c == name).map_or("", |(_, h)| h);
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {n}");
        }
        out
    }
}
