//! `bench-run`: the whole benchmark in one run (see bench/README.md). Usually started by
//! `bench/run`, which builds the release binaries first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use klinivo::db::embedded::{EmbeddedPostgres, Options};
use klinivo_bench::datagen::{self, SeedOptions, Seeded};
use klinivo_bench::load::{self, Load, Wrk};
use klinivo_bench::procs::{free_port, Server};
use klinivo_bench::report::{self, Results, Row};
use klinivo_bench::{machine, plans, webhooks, BoxError};
use sqlx::PgPool;

#[derive(Parser, Debug, Clone)]
#[command(name = "bench-run", about = "Klinivo's benchmark: the machine's limits and Klinivo's figures, side by side")]
struct Args {
    /// Patients to seed.
    #[arg(long, default_value_t = 100_000)]
    patients: i64,
    /// Appointments to seed.
    #[arg(long, default_value_t = 500_000)]
    appointments: i64,
    /// Weeks ahead that are (half) booked; availability and bookings look there.
    #[arg(long, default_value_t = 26)]
    future_weeks: i64,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Unrecorded seconds before each read measurement.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// wrk connections.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Klinivo's database pool (its default is 20).
    #[arg(long, default_value_t = 20)]
    pool: u32,
    /// The bare server's warm pool (default: 8 per core).
    #[arg(long)]
    bare_pool: Option<u32>,
    /// Measure on a durable PostgreSQL (fsync, synchronous_commit and full_page_writes on), where
    /// every commit waits for the disk. By default they are off, so that the figures show the
    /// software's cost rather than the disk's.
    #[arg(long)]
    durable: bool,
    /// PostgreSQL's `shared_buffers` in MiB (default: initdb's, 128–160 MiB). `0` gives it a
    /// quarter of the machine's memory, at most 8 GiB, as a server of its own is sized.
    #[arg(long)]
    shared_buffers_mb: Option<u32>,
    /// Audit-log entries and events to store before measuring (e.g. 10000000): what a large,
    /// old log costs each request, against a run without.
    #[arg(long, default_value_t = 0)]
    history: i64,
    /// Skip the Express peer (it needs node and npm).
    #[arg(long)]
    skip_peer: bool,
    /// pgbench clients.
    #[arg(long, default_value_t = 8)]
    pgbench_clients: u32,
    /// Seconds of event production per webhook measurement.
    #[arg(long, default_value_t = 10)]
    webhook_duration: u64,
    /// Longest wait for the last deliveries of a webhook measurement, in seconds.
    #[arg(long, default_value_t = 60)]
    webhook_drain: u64,
    /// Subscription counts of the webhook measurements.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    webhook_subscriptions: Vec<u32>,
    /// Where PostgreSQL keeps its data (default: a fresh directory under the system temp dir,
    /// removed at the end).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Keep the data directory (and its PostgreSQL) for inspection.
    #[arg(long)]
    keep_data: bool,
    /// Where results go (default: bench/out).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The repository (default: found from the current directory).
    #[arg(long)]
    repo: Option<PathBuf>,
    /// The klinivo binary (default: next to this one).
    #[arg(long)]
    klinivo: Option<PathBuf>,
    /// The bare server binary (default: next to this one).
    #[arg(long)]
    bare: Option<PathBuf>,
    /// Seed and show the query plans only; no load.
    #[arg(long)]
    plans_only: bool,
    #[arg(long)]
    skip_limits: bool,
    #[arg(long)]
    skip_klinivo: bool,
    #[arg(long)]
    skip_webhooks: bool,
}

fn say(msg: impl AsRef<str>) {
    eprintln!("bench: {}", msg.as_ref());
}

fn find_repo(args: &Args) -> Result<PathBuf, BoxError> {
    if let Some(r) = &args.repo {
        return Ok(r.clone());
    }
    let mut dir = std::env::current_dir()?;
    loop {
        if dir.join("bench/wrk/load.lua").is_file() {
            return Ok(dir);
        }
        if !dir.pop() {
            return Err("cannot find the repository (bench/wrk/load.lua); pass --repo".into());
        }
    }
}

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join(name))).unwrap_or_else(|| PathBuf::from(name))
}

fn pgbench_binary() -> PathBuf {
    if let Ok(dir) = klinivo::db::embedded::find_binaries() {
        if dir.join("pgbench").is_file() {
            return dir.join("pgbench");
        }
    }
    PathBuf::from("pgbench")
}

/// Host, port, user, password and database of a `postgres://user:pw@host:port/db` URL.
fn url_parts(url: &str) -> Option<(String, String, String, String, String)> {
    let rest = url.strip_prefix("postgres://")?;
    let (auth, rest) = rest.split_once('@')?;
    let (user, pw) = auth.split_once(':')?;
    let (hostport, db) = rest.split_once('/')?;
    let (host, port) = hostport.split_once(':')?;
    Some((host.into(), port.into(), user.into(), pw.into(), db.split('?').next()?.into()))
}

async fn pgbench(url: &str, clients: u32, seconds: u64, scale: i64, work: &Path) -> Row {
    let name = format!("pgbench -S ({clients} clients, scale {scale})");
    match pgbench_inner(url, clients, seconds, scale, work).await {
        Ok(row) => Row { name, ..row },
        Err(e) => Row::unavailable("pgbench_select", &name, e.to_string()),
    }
}

async fn pgbench_inner(url: &str, clients: u32, seconds: u64, scale: i64, work: &Path) -> Result<Row, BoxError> {
    let (host, port, user, pw, db) = url_parts(url).ok_or("cannot read the database URL")?;
    let bin = pgbench_binary();
    let base = |cmd: &mut tokio::process::Command| {
        cmd.env("PGPASSWORD", &pw).args(["-h", &host, "-p", &port, "-U", &user]);
    };
    let mut init = tokio::process::Command::new(&bin);
    base(&mut init);
    let out = init.args(["-i", "-q", "-s", &scale.to_string(), &db]).output().await?;
    if !out.status.success() {
        return Err(format!("pgbench -i failed: {}", String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    let prefix = work.join("pgbench_log");
    let mut run = tokio::process::Command::new(&bin);
    base(&mut run);
    let out = run
        .args(["-S", "-M", "prepared", "-c", &clients.to_string(), "-j", "2", "-T", &seconds.to_string()])
        .args(["-l", "--sampling-rate=0.05"])
        .arg(format!("--log-prefix={}", prefix.display()))
        .arg(&db)
        .current_dir(work)
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!("pgbench failed: {}", String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    let tps: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or("no tps in pgbench output")?;
    let mut latencies: Vec<f64> = Vec::new();
    for entry in std::fs::read_dir(work)?.flatten() {
        if entry.file_name().to_string_lossy().starts_with("pgbench_log") {
            let text = std::fs::read_to_string(entry.path())?;
            latencies.extend(text.lines().filter_map(|l| l.split_whitespace().nth(2)?.parse::<f64>().ok()));
            std::fs::remove_file(entry.path())?;
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    // Leave the database as the API sees it.
    let mut drop = tokio::process::Command::new(pgbench_binary());
    base(&mut drop);
    let _ = drop.args(["-i", "-I", "d", &db]).output().await;
    Ok(Row {
        id: "pgbench_select".into(),
        available: true,
        rps: tps,
        p50_ms: load::percentile(&latencies, 50.0) / 1000.0,
        p90_ms: load::percentile(&latencies, 90.0) / 1000.0,
        p99_ms: load::percentile(&latencies, 99.0) / 1000.0,
        max_ms: latencies.last().copied().unwrap_or(0.0) / 1000.0,
        requests: (tps * seconds as f64) as u64,
        note: format!("{} sampled transactions", latencies.len()),
        ..Row::default()
    })
}

/// Writes the inputs of the wrk scripts; returns their paths by name.
struct Inputs {
    search: PathBuf,
    audit: PathBuf,
    /// The records given a full page of trail on the empty log (`--history`).
    audit_trail: PathBuf,
    day: PathBuf,
    week: PathBuf,
    slots: PathBuf,
    keys: PathBuf,
    body_1k: PathBuf,
    spare_slot: Option<datagen::Slot>,
}

/// The first page of a patient's audit trail.
fn audit_page(id: i64) -> String {
    format!("/api/v1/audit-events?resourceType=patient&resourceId={id}&limit=50")
}

async fn inputs(db: &PgPool, s: &Seeded, work: &Path, args: &Args) -> Result<Inputs, BoxError> {
    let terms = datagen::search_terms(db, s, 2000).await?;
    let search =
        load::write_lines(work, "search.txt", terms.iter().map(|t| format!("/api/v1/patients?q={}", load::encode(t))))?;
    let audit = load::write_lines(
        work,
        "audit_by_record.txt",
        (0..2000).map(|i| {
            let span = (s.max_patient_id - s.min_patient_id).max(1);
            let id = s.min_patient_id + (i * 7919) % span;
            audit_page(id)
        }),
    )?;
    let audit_trail =
        load::write_lines(work, "audit_trail.txt", klinivo_bench::history::trail_records(s).map(audit_page))?;
    let days = datagen::provider_days(db, s, 2000).await?;
    let day = load::write_lines(
        work,
        "appointments_day.txt",
        days.iter().map(|(p, f, t)| format!("/api/v1/appointments?providerId={p}&from={f}&to={t}")),
    )?;
    let weeks = datagen::provider_weeks(s, 2000);
    let week = load::write_lines(
        work,
        "availability_week.txt",
        weeks.iter().map(|(p, f, t)| format!("/api/v1/providers/{p}/availability?from={f}&to={t}")),
    )?;
    // Enough free slots for the fastest plausible booking rate over the whole measurement.
    let wanted = ((args.duration + 1) * 8_000).max(2_000) as i64;
    let mut free = datagen::free_slots(db, s, wanted + 1).await?;
    let spare_slot = free.pop();
    let slots = load::write_lines(
        work,
        "booking_slots.txt",
        free.iter().map(|x| {
            format!(
                "{},{},{},{},{}",
                x.provider_id,
                x.location_id,
                x.patient_id,
                x.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                x.ends_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        }),
    )?;
    let mut keys = vec![s.key.clone()];
    for i in 1..64 {
        let k = klinivo::auth::store::create_key(
            db,
            klinivo::auth::store::KeySpec {
                organization_id: s.organization_id,
                name: &format!("benchmark {i}"),
                permissions: &klinivo::auth::Permission::ALL,
                expires_at: None,
                rate_limit_per_minute: Some(1_000_000_000),
                rotated_from: None,
            },
        )
        .await?;
        keys.push(k.secret);
    }
    let keys = load::write_lines(work, "keys.txt", keys)?;
    let event = serde_json::json!({"id": "evt_00000000-0000-4000-8000-000000000000", "type": "patient.created",
        "createdAt": "2026-11-28T09:30:00Z", "organizationId": s.organization_id,
        "data": {"id": 1, "externalId": "MRN-00000001", "firstName": "Maria", "lastName": "Garcia",
                 "dateOfBirth": "1984-03-12", "sex": "female", "email": "maria.garcia84@mail.example.com",
                 "phone": "+13125550187", "address": {"line1": "1420 Lake Shore Dr", "line2": "Apt 12",
                 "city": "Chicago", "region": "IL", "postalCode": "60610", "country": "US"},
                 "createdAt": "2026-11-28T09:30:00Z", "updatedAt": "2026-11-28T09:30:00Z",
                 "padding": "x".repeat(500)}});
    let body_1k = work.join("event_1k.json");
    std::fs::write(&body_1k, serde_json::to_vec(&event)?)?;
    Ok(Inputs { search, audit, audit_trail, day, week, slots, keys, body_1k, spare_slot })
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

async fn measure(wrk: &Wrk, id: &str, name: &str, load: Load<'_>, expect: Option<u16>) -> Row {
    say(format!("measuring {name}"));
    match wrk.run(&load).await {
        Ok(r) => Row::measured(id, name, &r, expect),
        Err(e) => Row::unavailable(id, name, e.to_string()),
    }
}

async fn limits(
    args: &Args,
    wrk: &Wrk,
    pg_url: &str,
    seeded: &Seeded,
    work: &Path,
    out: &Path,
) -> Result<Vec<Row>, BoxError> {
    let mut rows = Vec::new();
    say(format!("pgbench -S for {} s", args.duration));
    let scale = (seeded.patients / 100_000).max(1);
    rows.push(pgbench(pg_url, args.pgbench_clients, args.duration, scale, work).await);

    let port = free_port()?;
    let bare_bin = args.bare.clone().unwrap_or_else(|| sibling("bench-bare"));
    let envs = [
        ("DATABASE_URL", pg_url.to_string()),
        ("BENCH_POOL", bare_pool(args).to_string()),
        ("BENCH_ORG", seeded.organization_id.to_string()),
        ("BENCH_KEY_ID", seeded.key_id.to_string()),
    ];
    let addr = format!("127.0.0.1:{port}");
    let bare = Server::start("bench-bare", &bare_bin, &[&addr], &envs, port, "/plain", &out.join("bare.log")).await?;
    let (lo, hi) = (seeded.min_patient_id.to_string(), seeded.max_patient_id.to_string());
    let key = vec![("X-API-Key", seeded.key.clone())];
    let ids = |t: &str| vec!["ids".to_string(), t.to_string(), lo.clone(), hi.clone()];
    let reads: [(&str, &str, Load); 5] = [
        (
            "bare_plain",
            "bare GET /plain (static JSON)",
            Load { url: bare.url("/plain"), headers: vec![], args: vec![], warmup: true },
        ),
        (
            "bare_select",
            "bare GET /select/{id} (one SELECT)",
            Load { url: bare.url("/"), headers: vec![], args: ids("/select/{id}"), warmup: true },
        ),
        (
            "bare_select_direct",
            "bare GET /select-direct/{id} (no release ping)",
            Load { url: bare.url("/"), headers: vec![], args: ids("/select-direct/{id}"), warmup: true },
        ),
        (
            "bare_auth_select",
            "bare GET /auth-select/{id} (key lookup + SELECT)",
            Load { url: bare.url("/"), headers: key.clone(), args: ids("/auth-select/{id}"), warmup: true },
        ),
        (
            "bare_auth_count_select",
            "bare GET /auth-count-select/{id} (auth+count + SELECT)",
            Load { url: bare.url("/"), headers: key.clone(), args: ids("/auth-count-select/{id}"), warmup: true },
        ),
    ];
    for (id, name, l) in reads {
        rows.push(measure(wrk, id, name, l, None).await);
    }
    let insert = |path: &str| Load {
        url: bare.url("/"),
        headers: vec![],
        args: vec!["patient".into(), path.into()],
        warmup: false,
    };
    rows.push(measure(wrk, "bare_insert", "bare POST /insert (one INSERT)", insert("/insert"), Some(201)).await);
    rows.push(
        measure(wrk, "bare_tx3", "bare POST /tx3 (INSERT+event+idempotency, 1 tx)", insert("/tx3"), Some(201)).await,
    );
    rows.push(
        measure(
            wrk,
            "bare_same_sql_patients",
            "bare POST /patients' own SQL, 1 tx (no stack)",
            insert("/same-sql/patients"),
            Some(201),
        )
        .await,
    );
    drop(bare);
    if !args.skip_peer {
        rows.push(express_peer(args, wrk, pg_url, seeded, out).await);
    }
    Ok(rows)
}

fn bare_pool(args: &Args) -> u32 {
    args.bare_pool.unwrap_or_else(|| 8 * std::thread::available_parallelism().map_or(2, |n| n.get() as u32))
}

/// The peer: Express 5 + pg (bench/express), one worker per core, answering the same one-SELECT.
async fn express_peer(args: &Args, wrk: &Wrk, pg_url: &str, seeded: &Seeded, out: &Path) -> Row {
    const ID: &str = "express_select";
    const NAME: &str = "Express 5 + pg GET /select/{id} (one SELECT, peer)";
    let repo = match find_repo(args) {
        Ok(r) => r,
        Err(e) => return Row::unavailable(ID, NAME, e.to_string()),
    };
    let dir = repo.join("bench/express");
    if !dir.join("node_modules/express").is_dir() {
        return Row::unavailable(
            ID,
            NAME,
            "bench/express has no node_modules (bench/run installs them with npm ci)".into(),
        );
    }
    let Some(node) = which("node") else {
        return Row::unavailable(ID, NAME, "node is not installed".into());
    };
    let port = match free_port() {
        Ok(p) => p,
        Err(e) => return Row::unavailable(ID, NAME, e.to_string()),
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
    let envs = [
        ("DATABASE_URL", pg_url.to_string()),
        ("BENCH_BIND", format!("127.0.0.1:{port}")),
        ("BENCH_ORG", seeded.organization_id.to_string()),
        ("BENCH_POOL", (bare_pool(args) / cores).max(2).to_string()),
        ("BENCH_WORKERS", cores.to_string()),
        ("NODE_ENV", "production".to_string()),
    ];
    let script = s(&dir.join("server.js"));
    let peer =
        match Server::start("express peer", &node, &[&script], &envs, port, "/plain", &out.join("express.log")).await {
            Ok(p) => p,
            Err(e) => return Row::unavailable(ID, NAME, e.to_string()),
        };
    let (lo, hi) = (seeded.min_patient_id.to_string(), seeded.max_patient_id.to_string());
    let load = Load {
        url: peer.url("/"),
        headers: vec![],
        args: vec!["ids".into(), "/select/{id}".into(), lo, hi],
        warmup: true,
    };
    measure(wrk, ID, NAME, load, None).await
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(program)).find(|p| p.is_file()))
}

/// One request before the load: is the endpoint there and answering as the contract says?
async fn precheck(client: &reqwest::Client, req: reqwest::RequestBuilder, expect: u16) -> Result<(), String> {
    let _ = client;
    match req.send().await {
        Ok(r) if r.status().as_u16() == expect => Ok(()),
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            let body: String = body.chars().take(160).collect();
            Err(if status == reqwest::StatusCode::NOT_FOUND && body.contains("not_found") {
                format!("not built yet on this branch (HTTP 404: {body})")
            } else {
                format!("pre-check answered HTTP {status}, expected {expect}: {body}")
            })
        }
        Err(e) => Err(format!("pre-check failed: {e}")),
    }
}

fn find<'a>(rows: &'a [Row], id: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.id == id)
}

async fn klinivo_rows(
    db: &PgPool,
    args: &Args,
    wrk: &Wrk,
    api: &Server,
    seeded: &Seeded,
    inputs: &Inputs,
    limits: &[Row],
) -> Vec<Row> {
    let client = reqwest::Client::new();
    let key = seeded.key.clone();
    let h = || vec![("X-API-Key", key.clone())];
    let mid = (seeded.min_patient_id + seeded.max_patient_id) / 2;
    let first_line = |p: &Path| std::fs::read_to_string(p).ok().and_then(|t| t.lines().next().map(str::to_string));
    let (lo, hi) = (seeded.min_patient_id.to_string(), seeded.max_patient_id.to_string());
    let get = |path: String| client.get(api.url(&path)).header("X-API-Key", &key);
    let mut rows = Vec::new();

    let plain = find(limits, "bare_plain");
    let select = find(limits, "bare_select");
    let insert = find(limits, "bare_insert");
    let same_sql = find(limits, "bare_same_sql_patients");
    let peer = find(limits, "express_select");
    let p99_under = |ms: f64| move |r: &Row| Some(r.p99_ms <= ms);

    rows.push(
        measure(
            wrk,
            "healthz",
            "GET /healthz (no auth, no rate limit)",
            Load { url: api.url("/healthz"), headers: vec![], args: vec![], warmup: true },
            None,
        )
        .await
        .against(plain),
    );
    rows.push(
        measure(
            wrk,
            "health",
            "GET /api/v1/health (auth + rate limit, 1 key)",
            Load { url: api.url("/api/v1/health"), headers: h(), args: vec![], warmup: true },
            None,
        )
        .await
        .against(select)
        .target("≥1.5× req/s", |r| Some(r.rps_ratio? >= 1.5)),
    );
    rows.push(
        measure(
            wrk,
            "health_64_keys",
            "GET /api/v1/health (auth + rate limit, 64 keys)",
            Load {
                url: api.url("/api/v1/health"),
                headers: h(),
                args: vec!["keys".into(), s(&inputs.keys)],
                warmup: true,
            },
            None,
        )
        .await
        .against(select),
    );

    // GET /patients/{id}
    let ids = vec!["ids".to_string(), "/api/v1/patients/{id}".into(), lo.clone(), hi.clone()];
    let row = match precheck(&client, get(format!("/api/v1/patients/{mid}")), 200).await {
        Err(e) => Row::unavailable("get_patient", "GET /api/v1/patients/{id}", e),
        Ok(()) => {
            measure(
                wrk,
                "get_patient",
                "GET /api/v1/patients/{id}",
                Load { url: api.url("/"), headers: h(), args: ids.clone(), warmup: true },
                None,
            )
            .await
        }
    };
    let versus_peer =
        Row { id: "get_patient_vs_peer".into(), name: format!("{} (vs. the peer)", row.name), ..row.clone() };
    rows.push(
        row.against(select)
            .target("≥0.7× req/s, p99 ≤1.5×", |r| Some(r.rps_ratio? >= 0.7 && r.p99_ratio? <= 1.5)),
    );
    if peer.is_some() {
        rows.push(versus_peer.against(peer).target("≥2× req/s", |r| Some(r.rps_ratio? >= 2.0)));
    }
    if rows.last().is_some_and(|r| r.available) {
        let mut with_keys = ids.clone();
        with_keys.push(s(&inputs.keys));
        rows.push(
            measure(
                wrk,
                "get_patient_64_keys",
                "GET /api/v1/patients/{id} (64 keys)",
                Load { url: api.url("/"), headers: h(), args: with_keys, warmup: true },
                None,
            )
            .await
            .against(select),
        );
    }

    // Reads driven by generated paths.
    type PathLoad<'a> = (&'a str, &'a str, &'a PathBuf, Option<(&'a str, f64)>);
    let paths: [PathLoad; 4] = [
        ("search", "GET /api/v1/patients?q=… (search)", &inputs.search, Some(("p99 ≤ 20 ms", 20.0))),
        ("audit_by_record", "GET /api/v1/audit-events?resourceId=…", &inputs.audit, None),
        ("appointments_day", "GET /api/v1/appointments?providerId&from&to (1 day)", &inputs.day, None),
        (
            "availability_week",
            "GET /api/v1/providers/{id}/availability (1 week)",
            &inputs.week,
            Some(("p99 ≤ 20 ms", 20.0)),
        ),
    ];
    for (id, name, file, target) in paths {
        if id == "audit_by_record" {
            analyze_audit_log(db).await;
        }
        let row = match first_line(file) {
            None => Row::unavailable(id, name, "no input lines".into()),
            Some(path) => match precheck(&client, get(path), 200).await {
                Err(e) => Row::unavailable(id, name, e),
                Ok(()) => {
                    measure(
                        wrk,
                        id,
                        name,
                        Load { url: api.url("/"), headers: h(), args: vec!["paths".into(), s(file)], warmup: true },
                        None,
                    )
                    .await
                }
            },
        };
        let row = row.against(select);
        let (Some((text, ms)), true) = (target, row.available && row.rps >= 2.0) else {
            rows.push(row);
            continue;
        };
        // Closed-loop saturation measures capacity, and its latency is mostly queueing (64
        // connections waiting on 2 cores: even the bare one-SELECT's p99 is tens of ms). The
        // latency target is measured at a fixed rate of half the capacity just measured.
        let rate = (row.rps / 2.0).round().max(1.0);
        rows.push(row);
        let mut fixed = vec!["rate".to_string(), rate.to_string(), wrk.connections.to_string()];
        fixed.extend(["paths".to_string(), s(file)]);
        let half = measure(
            wrk,
            &format!("{id}_half_load"),
            &format!("{name} at {rate} req/s (half its max)"),
            Load { url: api.url("/"), headers: h(), args: fixed, warmup: true },
            None,
        )
        .await;
        rows.push(half.against(select).target(text, p99_under(ms)));
    }
    if args.history > 0 {
        // The records given a trail on the empty log: a page of 50 there and here.
        analyze_audit_log(db).await;
        let load =
            Load { url: api.url("/"), headers: h(), args: vec!["paths".into(), s(&inputs.audit_trail)], warmup: true };
        rows.push(measure(wrk, AUDIT_FULL_PAGE, AUDIT_FULL_PAGE_NAME, load, None).await.against(select));
    }

    // POST /patients with a fresh Idempotency-Key each.
    let body = serde_json::json!({"firstName": "Ada", "lastName": "Benchmark", "dateOfBirth": "1980-02-29", "sex": "female",
        "email": "ada.benchmark@mail.example.com", "phone": "+12125550100",
        "address": {"line1": "1 Main St", "city": "New York", "region": "NY", "postalCode": "10001", "country": "US"}});
    let pre = client
        .post(api.url("/api/v1/patients"))
        .header("X-API-Key", &key)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&body);
    let name = "POST /api/v1/patients (Idempotency-Key each)";
    let row = match precheck(&client, pre, 201).await {
        Err(e) => Row::unavailable("post_patient", name, e),
        Ok(()) => {
            measure(
                wrk,
                "post_patient",
                name,
                Load {
                    url: api.url("/"),
                    headers: h(),
                    args: vec!["patient".into(), "/api/v1/patients".into()],
                    warmup: false,
                },
                Some(201),
            )
            .await
        }
    };
    rows.push(row.against(same_sql).target("≥0.7× req/s", |r| Some(r.rps_ratio? >= 0.7)));

    // Booking at distinct free slots.
    let name = "POST /api/v1/appointments (booking, free slots)";
    let row = match &inputs.spare_slot {
        None => Row::unavailable("booking", name, "no free slots found".into()),
        Some(x) => {
            let body = serde_json::json!({"patientId": x.patient_id, "providerId": x.provider_id, "locationId": x.location_id,
                "startsAt": x.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "endsAt": x.ends_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "reason": "Follow-up visit"});
            let pre = client
                .post(api.url("/api/v1/appointments"))
                .header("X-API-Key", &key)
                .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                .json(&body);
            match precheck(&client, pre, 201).await {
                Err(e) => Row::unavailable("booking", name, e),
                Ok(()) => {
                    let a =
                        vec!["book".into(), "/api/v1/appointments".into(), s(&inputs.slots), args.threads.to_string()];
                    measure(
                        wrk,
                        "booking",
                        name,
                        Load { url: api.url("/"), headers: h(), args: a, warmup: false },
                        Some(201),
                    )
                    .await
                }
            }
        }
    };
    rows.push(row.against(insert));
    rows
}

async fn webhook_section(
    args: &Args,
    wrk: &Wrk,
    db_url: &str,
    api: &Server,
    seeded: &Seeded,
    inputs: &Inputs,
    limits: &mut Vec<Row>,
) -> report::Webhooks {
    let (receiver, port) = match webhooks::Receiver::start().await {
        Ok(r) => r,
        Err(e) => return report::Webhooks { available: false, note: format!("receiver: {e}"), phases: vec![] },
    };
    let direct = Load {
        url: format!("http://127.0.0.1:{port}/limit"),
        headers: vec![],
        args: vec!["static".into(), "POST".into(), s(&inputs.body_1k)],
        warmup: true,
    };
    limits.push(measure(wrk, "receiver_direct", "webhook receiver: direct 1 KB POSTs", direct, None).await);
    let producers = match klinivo::db::connect(db_url, 64).await {
        Ok(p) => p,
        Err(e) => return report::Webhooks { available: false, note: format!("database: {e}"), phases: vec![] },
    };
    let bench = webhooks::Bench {
        db: &producers,
        api_base: api.base.clone(),
        key: seeded.key.clone(),
        org: seeded.organization_id,
        receiver,
        receiver_port: port,
    };
    let result = webhooks::measure(
        &bench,
        &args.webhook_subscriptions,
        1000.0,
        10_000.0,
        Duration::from_secs(args.webhook_duration),
        Duration::from_secs(args.webhook_drain),
    )
    .await;
    match result {
        Ok((available, note, phases)) => report::Webhooks { available, note, phases },
        Err(e) => report::Webhooks { available: false, note: e.to_string(), phases: vec![] },
    }
}

async fn run(args: Args) -> Result<(), BoxError> {
    let repo = find_repo(&args)?;
    let out = args.out.clone().unwrap_or_else(|| repo.join("bench/out"));
    let work = out.join("work");
    std::fs::create_dir_all(&work)?;
    if !args.plans_only && !load::wrk_installed() {
        return Err("wrk is not installed: apt-get install -y wrk".into());
    }
    let wrk = Wrk {
        script: repo.join("bench/wrk/load.lua"),
        threads: args.threads,
        connections: args.connections,
        duration_s: args.duration,
        warmup_s: args.warmup,
        settle: None,
    };
    let temp = args.data_dir.is_none();
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("klinivo-bench-{}", std::process::id())));
    say(format!("starting PostgreSQL in {}", data_dir.display()));
    // CPU-bound by default: no commit waits for the disk (see `--durable`).
    let mut pg = EmbeddedPostgres::start(
        &data_dir,
        Options {
            ephemeral: !args.durable,
            port: None,
            shared_buffers_mb: args.shared_buffers_mb.map(klinivo_bench::machine::shared_buffers_mb),
        },
    )
    .await?;
    let result = run_with_db(&args, &repo, &out, &work, &wrk, pg.url()).await;
    pg.stop();
    if temp && !args.keep_data {
        let _ = std::fs::remove_dir_all(&data_dir);
    } else {
        say(format!("data kept in {}", data_dir.display()));
    }
    result
}

/// Migrates with the klinivo binary under test (its migrations are the ones its server expects
/// to find), or with this build's when only plans are wanted or the binary is missing.
async fn migrate(args: &Args, pg_url: &str, db: &PgPool) -> Result<(), BoxError> {
    let bin = args.klinivo.clone().unwrap_or_else(|| sibling("klinivo"));
    if args.plans_only || !bin.is_file() {
        klinivo::db::migrate(db).await?;
        return Ok(());
    }
    let out = tokio::process::Command::new(&bin)
        .arg("migrate")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", pg_url)
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .output()
        .await?;
    if !out.status.success() {
        return Err(format!("{} migrate failed: {}", bin.display(), String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    Ok(())
}

/// Before a read of the audit log is measured: the measurements before it wrote tens of
/// thousands of entries in seconds into a month's partition that had none, and PostgreSQL plans
/// on statistics that autovacuum brings up to date within its minute (`autovacuum_naptime`) —
/// the benchmark writes a month's entries faster than that.
async fn analyze_audit_log(db: &PgPool) {
    if let Err(e) = sqlx::query("ANALYZE audit_events").execute(db).await {
        say(format!("ANALYZE audit_events failed: {e}"));
    }
}

/// `klinivo serve` (release build) on the benchmark's database, as production runs it.
async fn start_klinivo(args: &Args, pg_url: &str, work: &Path, log: &Path) -> Result<Server, BoxError> {
    let port = free_port()?;
    let bin = args.klinivo.clone().unwrap_or_else(|| sibling("klinivo"));
    let envs = [
        ("DATABASE_URL", pg_url.to_string()),
        ("KLINIVO_BIND", format!("127.0.0.1:{port}")),
        ("KLINIVO_RATE_LIMIT_PER_MINUTE", "1000000000".to_string()),
        ("KLINIVO_LOG_FORMAT", "json".to_string()),
        ("RUST_LOG", "info".to_string()),
        ("KLINIVO_WEBHOOK_ALLOW_PRIVATE", "true".to_string()),
        ("KLINIVO_DB_MAX_CONNECTIONS", args.pool.to_string()),
        ("KLINIVO_DATA_DIR", s(&work.join("klinivo-data"))),
    ];
    say("starting klinivo serve");
    Server::start("klinivo serve", &bin, &["serve"], &envs, port, "/readyz", log).await
}

/// The audit read of records whose page is full on the empty log too (`history::trails`).
const AUDIT_FULL_PAGE: &str = "audit_full_page";
const AUDIT_FULL_PAGE_NAME: &str = "GET /api/v1/audit-events?resourceId=… (a full page on both)";

/// With `--history`: what grows with the log — a record's read (its audit entry), a record's
/// audit trail, a create (its entry and its event) — measured on the empty log, before the
/// history is stored, so that one run prints both figures.
async fn empty_log_rows(
    db: &PgPool,
    args: &Args,
    wrk: &Wrk,
    pg_url: &str,
    seeded: &Seeded,
    inputs: &Inputs,
    work: &Path,
    out: &Path,
) -> Result<Vec<Row>, BoxError> {
    let api = start_klinivo(args, pg_url, work, &out.join("klinivo-empty-log.log")).await?;
    let wrk = Wrk { settle: Some(api.url("/metrics")), ..wrk.clone() };
    let h = vec![("X-API-Key", seeded.key.clone())];
    let (lo, hi) = (seeded.min_patient_id.to_string(), seeded.max_patient_id.to_string());
    say("measuring on the empty log");
    let loads = [
        (
            "get_patient",
            "GET /api/v1/patients/{id}",
            vec!["ids".into(), "/api/v1/patients/{id}".into(), lo, hi],
            true,
            None,
        ),
        (
            "audit_by_record",
            "GET /api/v1/audit-events?resourceId=…",
            vec!["paths".into(), s(&inputs.audit)],
            true,
            None,
        ),
        (AUDIT_FULL_PAGE, AUDIT_FULL_PAGE_NAME, vec!["paths".into(), s(&inputs.audit_trail)], true, None),
        (
            "post_patient",
            "POST /api/v1/patients (Idempotency-Key each)",
            vec!["patient".into(), "/api/v1/patients".into()],
            false,
            Some(201),
        ),
    ];
    let mut rows = Vec::new();
    for (id, name, load_args, warmup, expect) in loads {
        if id == AUDIT_FULL_PAGE {
            klinivo_bench::history::trails(db, seeded).await?;
        }
        if id == "audit_by_record" || id == AUDIT_FULL_PAGE {
            analyze_audit_log(db).await;
        }
        let load = Load { url: api.url("/"), headers: h.clone(), args: load_args, warmup };
        rows.push(measure(&wrk, id, name, load, expect).await);
    }
    drop(api);
    Ok(rows)
}

async fn run_with_db(
    args: &Args,
    repo: &Path,
    out: &Path,
    work: &Path,
    wrk: &Wrk,
    pg_url: &str,
) -> Result<(), BoxError> {
    let db = klinivo::db::connect(pg_url, 10).await?;
    migrate(args, pg_url, &db).await?;
    let machine = machine::describe(&db, repo).await;
    say(format!("seeding {} patients and {} appointments", args.patients, args.appointments));
    let opts = SeedOptions {
        patients: args.patients,
        appointments: args.appointments,
        future_weeks: args.future_weeks,
        ..SeedOptions::default()
    };
    let seeded = datagen::seed(&db, &opts).await?;
    say(format!(
        "seeded in {:.1} s: {} patients, {} appointments",
        seeded.seconds, seeded.patients, seeded.appointments
    ));
    let mut empty_log = Vec::new();
    if args.history > 0 {
        if !args.plans_only && !args.skip_klinivo {
            let inputs = inputs(&db, &seeded, work, args).await?;
            empty_log = empty_log_rows(&db, args, wrk, pg_url, &seeded, &inputs, work, out).await?;
        }
        say(format!("storing {} audit entries and {} events", args.history, args.history));
        let seconds = klinivo_bench::history::seed(&db, &seeded, args.history).await?;
        say(format!("history stored in {seconds:.0} s"));
    }
    let plans = plans::explain_all(&db, &seeded).await?;
    std::fs::write(out.join("plans.txt"), plans::render(&plans))?;
    let mut results = Results {
        machine,
        config: report::Config {
            duration_s: args.duration,
            warmup_s: args.warmup,
            connections: args.connections,
            wrk_threads: args.threads,
            pool_size: args.pool,
            bare_pool_size: bare_pool(args),
            durable: args.durable,
            history: args.history,
            pgbench_clients: args.pgbench_clients,
            webhook_duration_s: args.webhook_duration,
        },
        seed: Some(seeded.clone()),
        limits: vec![],
        klinivo: vec![],
        empty_log,
        webhooks: report::Webhooks::default(),
        plans,
    };
    if args.plans_only || args.skip_webhooks {
        results.webhooks.note = "not measured (--plans-only or --skip-webhooks)".into();
    }
    if !args.plans_only {
        let inputs = inputs(&db, &seeded, work, args).await?;
        if !args.skip_limits {
            results.limits = limits(args, wrk, pg_url, &seeded, work, out).await?;
        }
        if !args.skip_klinivo || !args.skip_webhooks {
            let api = start_klinivo(args, pg_url, work, &out.join("klinivo.log")).await?;
            if !args.skip_klinivo {
                let wrk = Wrk { settle: Some(api.url("/metrics")), ..wrk.clone() };
                results.klinivo = klinivo_rows(&db, args, &wrk, &api, &seeded, &inputs, &results.limits).await;
            }
            if !args.skip_webhooks {
                load::settle(&api.url("/metrics")).await;
                results.webhooks =
                    webhook_section(args, wrk, pg_url, &api, &seeded, &inputs, &mut results.limits).await;
            }
            drop(api);
        }
    }
    results.machine.load_average_end = machine::load_average();
    let table = report::table(&results);
    std::fs::write(out.join("results.json"), serde_json::to_vec_pretty(&results)?)?;
    std::fs::write(out.join("results.txt"), &table)?;
    println!("{table}");
    say(format!("results in {}", out.join("results.json").display()));
    db.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
