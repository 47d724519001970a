//! Running wrk with `bench/wrk/load.lua` and reading the line its `done()` prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::{Deserialize, Serialize};

use crate::BoxError;

/// What one wrk run measured (latencies in microseconds, as wrk reports them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WrkResult {
    pub requests: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    pub errors: WrkErrors,
    /// Responses per status; only the write modes count them.
    #[serde(default)]
    pub statuses: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WrkErrors {
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    /// Responses with a status of 400 or more.
    pub status: u64,
    pub timeout: u64,
}

impl WrkResult {
    pub fn transport_errors(&self) -> u64 {
        self.errors.connect + self.errors.read + self.errors.write + self.errors.timeout
    }
}

#[derive(Debug, Clone)]
pub struct Wrk {
    pub script: PathBuf,
    pub threads: u32,
    pub connections: u32,
    pub duration_s: u64,
    pub warmup_s: u64,
    /// A `/metrics` URL: before each measurement, wait until its `klinivo_audit_queue_entries`
    /// is 0, so that no measurement pays for the audit entries of the one before.
    pub settle: Option<String>,
}

/// One measurement: a URL, the script's mode and arguments, and extra headers.
#[derive(Debug, Clone)]
pub struct Load<'a> {
    pub url: String,
    pub headers: Vec<(&'a str, String)>,
    pub args: Vec<String>,
    /// Run a short unrecorded warm-up first (reads only: writes would consume their inputs).
    pub warmup: bool,
}

pub fn wrk_installed() -> bool {
    std::process::Command::new("wrk").arg("--version").output().is_ok()
}

pub fn wrk_version() -> String {
    std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .ok()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().unwrap_or("").split("Copyright").next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_default()
}

impl Wrk {
    pub async fn run(&self, load: &Load<'_>) -> Result<WrkResult, BoxError> {
        if let Some(metrics) = &self.settle {
            settle(metrics).await;
        }
        if load.warmup && self.warmup_s > 0 {
            self.once(load, self.warmup_s).await?;
        }
        self.once(load, self.duration_s).await
    }

    async fn once(&self, load: &Load<'_>, seconds: u64) -> Result<WrkResult, BoxError> {
        let mut cmd = tokio::process::Command::new("wrk");
        cmd.arg("-t")
            .arg(self.threads.to_string())
            .arg("-c")
            .arg(self.connections.to_string())
            .arg("-d")
            .arg(format!("{seconds}s"))
            .arg("--timeout")
            .arg("10s")
            .arg("-s")
            .arg(&self.script);
        for (name, value) in &load.headers {
            cmd.arg("-H").arg(format!("{name}: {value}"));
        }
        cmd.arg(&load.url).arg("--").args(&load.args);
        let out = cmd.stdin(Stdio::null()).output().await?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().find_map(|l| l.strip_prefix("BENCH_JSON ")).ok_or_else(|| {
            format!(
                "wrk printed no result (exit {}): {} {}",
                out.status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
        Ok(serde_json::from_str(line)?)
    }
}

/// Writes lines to a file under `dir` for a script to read; returns its path.
pub fn write_lines(dir: &Path, name: &str, lines: impl IntoIterator<Item = String>) -> Result<PathBuf, BoxError> {
    let path = dir.join(name);
    let mut text = String::new();
    for l in lines {
        text.push_str(&l);
        text.push('\n');
    }
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percentile of a sorted slice (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Waits (up to two minutes) until the server's audit queue is empty; a server without the
/// gauge is not waited for.
pub async fn settle(metrics: &str) {
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        let Ok(response) = client.get(metrics).send().await else { return };
        let Ok(text) = response.text().await else { return };
        let queued = text
            .lines()
            .find_map(|l| l.strip_prefix("klinivo_audit_queue_entries "))
            .and_then(|v| v.trim().parse::<u64>().ok());
        match queued {
            Some(n) if n > 0 => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            _ => return,
        }
    }
}
