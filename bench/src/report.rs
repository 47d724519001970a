//! The results of a run: one row per measurement, each Klinivo row beside its limit, the table
//! printed at the end and the JSON written to `bench/out/results.json`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::datagen::Seeded;
use crate::load::WrkResult;
use crate::machine::Machine;
use crate::plans::Plan;
use crate::webhooks::PhaseResult;

#[derive(Debug, Clone, Serialize, Default)]
pub struct Row {
    /// Short stable identifier (`bare_select`, `get_patient`, …).
    pub id: String,
    pub name: String,
    pub available: bool,
    pub note: String,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub requests: u64,
    /// Responses with status ≥ 400 (wrk's count), and transport errors.
    pub error_responses: u64,
    pub transport_errors: u64,
    pub statuses: BTreeMap<String, u64>,
    /// Share of responses with the expected status (writes: 201), when counted.
    pub success_rate: Option<f64>,
    /// The limit row this one is compared with, and the ratios (rps: higher is better;
    /// latencies: lower is better, 1.0 = as fast as the limit).
    pub limit: Option<String>,
    pub rps_ratio: Option<f64>,
    pub p50_ratio: Option<f64>,
    pub p99_ratio: Option<f64>,
    pub target: Option<String>,
    pub target_met: Option<bool>,
}

impl Row {
    pub fn measured(id: &str, name: &str, r: &WrkResult, expect: Option<u16>) -> Row {
        let success_rate = expect.and_then(|code| {
            let total: u64 = r.statuses.values().sum();
            (total > 0).then(|| *r.statuses.get(&code.to_string()).unwrap_or(&0) as f64 / total as f64)
        });
        Row {
            id: id.into(),
            name: name.into(),
            available: true,
            rps: r.rps,
            p50_ms: r.p50_us as f64 / 1000.0,
            p90_ms: r.p90_us as f64 / 1000.0,
            p99_ms: r.p99_us as f64 / 1000.0,
            max_ms: r.max_us as f64 / 1000.0,
            requests: r.requests,
            error_responses: r.errors.status,
            transport_errors: r.transport_errors(),
            statuses: r.statuses.clone(),
            success_rate,
            note: if r.errors.status > 0 && expect.is_none() {
                format!("{} responses ≥ 400", r.errors.status)
            } else {
                String::new()
            },
            ..Row::default()
        }
    }

    pub fn unavailable(id: &str, name: &str, why: String) -> Row {
        Row { id: id.into(), name: name.into(), available: false, note: why, ..Row::default() }
    }

    /// Sets the ratios against `limit` (if both were measured).
    pub fn against(mut self, limit: Option<&Row>) -> Row {
        if let Some(l) = limit {
            self.limit = Some(l.id.clone());
            if self.available && l.available && l.rps > 0.0 {
                self.rps_ratio = Some(self.rps / l.rps);
                self.p50_ratio = (l.p50_ms > 0.0).then(|| self.p50_ms / l.p50_ms);
                self.p99_ratio = (l.p99_ms > 0.0).then(|| self.p99_ms / l.p99_ms);
            }
        }
        self
    }

    pub fn target(mut self, text: &str, met: impl FnOnce(&Row) -> Option<bool>) -> Row {
        self.target = Some(text.into());
        self.target_met = if self.available { met(&self) } else { None };
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub duration_s: u64,
    pub warmup_s: u64,
    pub connections: u32,
    pub wrk_threads: u32,
    pub pool_size: u32,
    pub bare_pool_size: u32,
    /// fsync, synchronous_commit and full_page_writes on (every commit waits for the disk);
    /// off, the run is CPU-bound.
    pub durable: bool,
    /// Audit-log entries and events stored before measuring (`--history`).
    pub history: i64,
    pub pgbench_clients: u32,
    pub webhook_duration_s: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Webhooks {
    pub available: bool,
    pub note: String,
    pub phases: Vec<PhaseResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub machine: Machine,
    pub config: Config,
    pub seed: Option<Seeded>,
    pub limits: Vec<Row>,
    pub klinivo: Vec<Row>,
    /// With `--history`: the rows that grow with the log, measured on the empty log first.
    pub empty_log: Vec<Row>,
    pub webhooks: Webhooks,
    pub plans: Vec<Plan>,
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(r: Option<f64>) -> String {
    r.map(|v| format!("{v:.2}×")).unwrap_or_else(|| "-".into())
}

fn row_line(r: &Row, with_limit: bool) -> String {
    if !r.available {
        return format!("  {:<56} not available: {}", r.name, r.note);
    }
    let mut line = format!("  {:<56} {:>9} {:>8} {:>8}", r.name, num(r.rps), num(r.p50_ms), num(r.p99_ms));
    if with_limit {
        line.push_str(&format!(
            " {:>7} {:>7} {:>7}  {:<22}",
            ratio(r.rps_ratio),
            ratio(r.p50_ratio),
            ratio(r.p99_ratio),
            r.limit.clone().unwrap_or_default()
        ));
        if let Some(t) = &r.target {
            let verdict = match r.target_met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "?",
            };
            line.push_str(&format!(" {t} [{verdict}]"));
        }
    }
    if let Some(s) = r.success_rate {
        line.push_str(&format!("  ({:.1} % expected status)", s * 100.0));
    }
    if !r.note.is_empty() {
        line.push_str(&format!("  ({})", r.note));
    }
    line
}

fn index_summary(p: &Plan) -> String {
    if !p.indexes.is_empty() {
        p.indexes.join(", ")
    } else if p.text.contains("Insert on") {
        "(an INSERT: index and constraint checks are not plan nodes)".into()
    } else {
        "no index".into()
    }
}

/// The human-readable table.
pub fn table(res: &Results) -> String {
    let m = &res.machine;
    let mut out = String::new();
    out.push_str(&format!(
        "Klinivo benchmark, {} (klinivo {})\nmachine: {}, {} cores, {} GiB; kernel {}; {} ({}); {}\nload average at start {} / end {}\n",
        m.started_at,
        m.klinivo_commit,
        m.cpu_model,
        m.cores,
        m.memory_gib,
        m.kernel,
        m.postgres,
        m.postgres_settings,
        m.wrk,
        m.load_average_start,
        m.load_average_end
    ));
    let c = &res.config;
    out.push_str(&format!(
        "mode: {}\n",
        if c.durable {
            "durable (fsync, synchronous_commit, full_page_writes on: commits wait for the disk)"
        } else {
            "CPU-bound (fsync, synchronous_commit, full_page_writes off: the software's cost, not the disk's)"
        }
    ));
    if c.history > 0 {
        out.push_str(&format!(
            "history: {} audit-log entries and {} events stored before measuring\n",
            c.history, c.history
        ));
    }
    out.push_str(&format!(
        "wrk: {} connections, {} threads, {} s per measurement (+{} s warm-up for reads); pool {} connections (bare server: {}, warm)\n",
        c.connections, c.wrk_threads, c.duration_s, c.warmup_s, c.pool_size, c.bare_pool_size
    ));
    if let Some(s) = &res.seed {
        out.push_str(&format!(
            "seed: {} patients, {} appointments ({} .. {}), 20 providers, 3 locations, in {:.0} s\n",
            s.patients, s.appointments, s.first_day, s.last_day, s.seconds
        ));
    }
    out.push_str(&format!("\nLIMITS{:<52} {:>9} {:>8} {:>8}\n", "", "req/s", "p50 ms", "p99 ms"));
    for r in &res.limits {
        out.push_str(&row_line(r, false));
        out.push('\n');
    }
    out.push_str(&format!(
        "\nKLINIVO{:<51} {:>9} {:>8} {:>8} {:>7} {:>7} {:>7}  {:<22} target\n",
        "", "req/s", "p50 ms", "p99 ms", "×req/s", "×p50", "×p99", "limit"
    ));
    for r in &res.klinivo {
        out.push_str(&row_line(r, true));
        out.push('\n');
    }
    if !res.empty_log.is_empty() {
        out.push_str(&format!(
            "\nCOST AS THE LOG GROWS (empty log, then {} audit entries and {} events){:<2} {:>9} {:>8} {:>8}   {:>9} {:>8} {:>8}  {:>8}\n",
            res.config.history, res.config.history, "", "req/s", "p50 ms", "p99 ms", "req/s", "p50 ms", "p99 ms", "req/s"
        ));
        for before in &res.empty_log {
            let Some(after) = res.klinivo.iter().find(|r| r.id == before.id && r.available) else { continue };
            if !before.available {
                continue;
            }
            out.push_str(&format!(
                "  {:<62} {:>9} {:>8} {:>8}   {:>9} {:>8} {:>8}  {:>+7.0}%\n",
                before.name,
                num(before.rps),
                num(before.p50_ms),
                num(before.p99_ms),
                num(after.rps),
                num(after.p50_ms),
                num(after.p99_ms),
                (after.rps / before.rps - 1.0) * 100.0
            ));
        }
    }
    out.push_str("\nWEBHOOKS (commit → arrival at a local receiver that answers 200 at once)\n");
    if !res.webhooks.available {
        out.push_str(&format!("  not available: {}\n", res.webhooks.note));
    }
    if !res.webhooks.phases.is_empty() {
        out.push_str(&format!(
            "  {:>5} {:>9} {:>9} {:>8} {:>9} {:>9} {:>13} {:>8} {:>8} {:>8}\n",
            "subs",
            "target/s",
            "events/s",
            "events",
            "expected",
            "delivered",
            "deliveries/s",
            "p50 ms",
            "p99 ms",
            "max ms"
        ));
        for p in &res.webhooks.phases {
            out.push_str(&format!(
                "  {:>5} {:>9} {:>9} {:>8} {:>9} {:>9} {:>13} {:>8} {:>8} {:>8}{}\n",
                p.subscriptions,
                num(p.target_events_per_s),
                num(p.events_per_s),
                p.events,
                p.expected_deliveries,
                p.delivered,
                num(p.deliveries_per_s),
                num(p.p50_ms),
                num(p.p99_ms),
                num(p.max_ms),
                if p.note.is_empty() { String::new() } else { format!("  ({})", p.note) }
            ));
        }
        if !res.webhooks.note.is_empty() && res.webhooks.available {
            out.push_str(&format!("  {}\n", res.webhooks.note));
        }
    }
    if !res.plans.is_empty() {
        out.push_str("\nQUERY PLANS at the seeded size (full plans in bench/out/plans.txt)\n");
        for p in &res.plans {
            out.push_str(&format!(
                "  {:<44} {:>8.3} ms  {}{}\n",
                p.name,
                p.execution_ms,
                index_summary(p),
                if p.seq_scans.is_empty() { String::new() } else { format!("  SEQ SCAN {}", p.seq_scans.join(", ")) }
            ));
            out.push_str(&format!("  {:<44} {}\n", "", p.arguments));
        }
    }
    out
}
