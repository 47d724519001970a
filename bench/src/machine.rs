//! What machine a run came from, so its figures can be read against another's.

use serde::Serialize;
use sqlx::PgPool;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub postgres: String,
    pub postgres_settings: String,
    pub wrk: String,
    pub klinivo_commit: String,
    /// 1-minute load average when the run started and ended: another job on the box shows here.
    pub load_average_start: String,
    pub load_average_end: String,
    pub started_at: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn load_average() -> String {
    read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The machine's memory in KiB (`MemTotal`), 0 if unknown.
fn memory_kib() -> u64 {
    read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// PostgreSQL's `shared_buffers` for `--shared-buffers-mb`: `mb` itself, or for 0 a quarter of
/// the machine's memory, PostgreSQL's documented starting point for a server of its own, at
/// most 8 GiB and at least 128 MiB (initdb's default).
pub fn shared_buffers_mb(mb: u32) -> u32 {
    if mb > 0 {
        return mb;
    }
    u32::try_from(memory_kib() / 1024 / 4).unwrap_or(u32::MAX).clamp(128, 8192)
}

pub async fn describe(db: &PgPool, repo: &std::path::Path) -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let memory_kib = memory_kib() as f64;
    let postgres: String = sqlx::query_scalar("SELECT version()").fetch_one(db).await.unwrap_or_default();
    let settings: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, setting || coalesce(unit, '') FROM pg_settings
         WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'work_mem')
         ORDER BY name",
    )
    .fetch_all(db)
    .await
    .unwrap_or_default();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(repo)
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    Machine {
        cpu_model,
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        postgres: postgres.split(" on ").next().unwrap_or("").to_string(),
        postgres_settings: settings.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "),
        wrk: crate::load::wrk_version(),
        klinivo_commit: if dirty { format!("{commit} (with uncommitted changes)") } else { commit },
        load_average_start: load_average(),
        load_average_end: String::new(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}
