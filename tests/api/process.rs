//! The real binary: configuration errors, the CLI's stdout contracts, the embedded default,
//! and SIGTERM; the embedded PostgreSQL's files; key rotation and revocation.

mod data_dir;
mod keys;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_klinivo");

/// The binary with a clean environment: no inherited DATABASE_URL or KLINIVO_* settings, run
/// from an empty directory (so no `.env` is read).
pub fn klinivo(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env_clear();
    for var in ["PATH", "HOME", "TMPDIR", "USER", "LANG"] {
        if let Ok(v) = std::env::var(var) {
            cmd.env(var, v);
        }
    }
    cmd.env("RUST_LOG", "info");
    cmd
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub async fn wait_healthy(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let client = reqwest::Client::new();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early: {status}");
        }
        if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/healthz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "server never became healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `GET /api/v1/health` with `key` answers 200 on `port`. Only our server knows the
/// key: the port was picked free and bound later, and in between another test's server may have
/// held it for a moment (and answered `wait_healthy`), so this polls rather than asks once.
pub async fn answers_for_key(port: u16, key: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let client = reqwest::Client::new();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early: {status}");
        }
        let url = format!("http://127.0.0.1:{port}/api/v1/health");
        if let Ok(r) = client.get(url).header("X-API-Key", key).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the server never answered for its key");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn sigterm(child: &Child) {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

pub async fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "process did not exit in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[tokio::test]
async fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("KLINIVO_BIND", "not-an-address"),
        ("KLINIVO_RATE_LIMIT_PER_MINUTE", "lots"),
        ("KLINIVO_LOG_FORMAT", "xml"),
        ("KLINIVO_WEBHOOK_ALLOW_PRIVATE", "sometimes"),
    ] {
        let out = klinivo(dir.path()).arg("serve").env(var, value).output().unwrap();
        assert!(!out.status.success(), "{var} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(var), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[tokio::test]
async fn cli_prints_only_ids_and_keys_on_stdout() {
    let db_url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| klinivo(dir.path()).args(args).env("DATABASE_URL", &db_url).output().unwrap();

    let out = run(&["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());

    let out = run(&["org", "create", "--name", "Northside Clinic", "--timezone", "Europe/Berlin"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1);
    let org = uuid::Uuid::parse_str(&lines[0]).expect("stdout is the organization id");

    let out = run(&[
        "key",
        "create",
        "--org",
        &lines[0],
        "--name",
        "EHR sync",
        "--permissions",
        "READ_PATIENTS,READ_APPOINTMENTS",
        "--rate-limit",
        "100",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1);
    let key = lines[0].clone();
    assert!(klinivo::auth::keys::is_well_formed(&key), "{key}");

    let app = TestApp::spawn_on(db_url.clone(), |_| {}).await;
    let r = app.request_as(&key, reqwest::Method::GET, "/health").send().await.unwrap();
    let body = expect_json(r, 200).await;
    assert_eq!(body["organizationId"], org.to_string());
    assert_eq!(body["permissions"], serde_json::json!(["READ_PATIENTS", "READ_APPOINTMENTS"]));

    let out = run(&["key", "list", "--org", &org.to_string()]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains(&key[..11]) && !listing.contains(&key[11..]), "{listing}");

    // Errors: unknown permission, unknown organization, bad arguments — each clear, exit ≠ 0.
    let out = run(&["key", "create", "--org", &org.to_string(), "--name", "x", "--permissions", "READ_EVERYTHING"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("READ_EVERYTHING"));
    assert!(out.stdout.is_empty());
    let stranger = uuid::Uuid::new_v4().to_string();
    let out = run(&["key", "create", "--org", &stranger, "--name", "x", "--permissions", "all"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    let out = run(&["key", "create", "--org", "not-a-uuid", "--name", "x", "--permissions", "all"]);
    assert!(!out.status.success());
    let out = run(&["org", "create", "--name", "X", "--timezone", "Mars/Olympus"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Mars/Olympus"));

    // Rotate: a new key, the old one still valid during the grace period; revoke: refused at once.
    let out = run(&["key", "rotate", &key[..11], "--grace-hours", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rotated = stdout_lines(&out)[0].clone();
    assert_ne!(rotated, key);
    for k in [&key, &rotated] {
        let r = app.request_as(k, reqwest::Method::GET, "/health").send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let out = run(&["key", "revoke", &key[..11]]);
    assert!(out.status.success());
    let refused = eventually(Duration::from_secs(3), || async {
        app.request_as(&key, reqwest::Method::GET, "/health").send().await.unwrap().status() == 401
    })
    .await;
    assert!(refused, "a revoked key is still accepted");
    let out = run(&["key", "revoke", "kv_nosuchk"]);
    assert!(!out.status.success());
}

#[tokio::test]
async fn sigterm_stops_the_server_and_exits_zero() {
    let db_url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = klinivo(dir.path())
        .arg("serve")
        .env("DATABASE_URL", &db_url)
        .env("KLINIVO_BIND", format!("127.0.0.1:{port}"))
        .env("KLINIVO_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain stderr while the server runs, so it never blocks on a full pipe.
    let stderr = child.stderr.take().unwrap();
    let reader =
        std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<String>>());
    wait_healthy(port, &mut child).await;
    // Requests in flight while the signal arrives still complete.
    let client = reqwest::Client::new();
    let mut inflight = Vec::new();
    for _ in 0..50 {
        let c = client.clone();
        inflight.push(tokio::spawn(async move {
            c.get(format!("http://127.0.0.1:{port}/readyz")).send().await.map(|r| r.status().as_u16())
        }));
    }
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(40)).await;
    assert_eq!(status.code(), Some(0));
    for h in inflight {
        // Either answered fully, or refused before being accepted; never a broken response.
        if let Ok(code) = h.await.unwrap() {
            assert_eq!(code, 200);
        }
    }
    let logs = reader.join().unwrap();
    assert!(logs.iter().any(|l| l.contains("shutdown complete")), "{logs:?}");
    for line in &logs {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not a JSON log line: {line}");
    }
}

#[tokio::test]
async fn serve_without_database_url_runs_its_own_postgres() {
    let dir = tempfile::tempdir().unwrap();
    // The unprivileged PostgreSQL account must be able to reach the data directory.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let start = || {
        let mut child = klinivo(dir.path())
            .arg("serve")
            .env("KLINIVO_DATA_DIR", &data_dir)
            .env("KLINIVO_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Drained by a thread, so that the server never blocks on a full pipe.
        let stderr = child.stderr.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        (child, lines)
    };

    let (mut first, first_err) = start();
    wait_healthy(port, &mut first).await;
    // Like every command that creates a key, serve prints the key alone on stdout.
    let mut stdout = BufReader::new(first.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let key = line.trim().to_string();
    assert!(klinivo::auth::keys::is_well_formed(&key), "stdout is not the key alone: {line:?}");
    answers_for_key(port, &key, &mut first).await;
    sigterm(&first);
    assert_eq!(wait_exit(&mut first, Duration::from_secs(40)).await.code(), Some(0));
    assert!(!data_dir.join("postgres/postmaster.pid").exists(), "PostgreSQL was left running");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "", "stdout holds more than the key");
    let banner = first_err.lock().unwrap().clone();
    // The banner and the example are for people, on stderr; logs piped away carry no colours.
    assert!(banner.contains(&format!("curl -H \"X-API-Key: $KEY\" http://localhost:{port}/api/v1/health")), "{banner}");
    assert!(!banner.contains(&key), "the key was printed on stderr too");
    assert!(!banner.contains('\u{1b}'), "colour codes in logs that are not on a terminal");
    // Beside the key, the demo clinic's console owner and a one-time link to set its password.
    assert!(banner.contains("owner@demo.klinivo.test"), "{banner}");
    assert!(banner.contains(&format!("http://localhost:{port}/console/set-password/")), "{banner}");

    // Second start: same data, no new key, and the organizations are named.
    let (mut second, second_err) = start();
    wait_healthy(port, &mut second).await;
    answers_for_key(port, &key, &mut second).await;
    sigterm(&second);
    assert_eq!(wait_exit(&mut second, Duration::from_secs(40)).await.code(), Some(0));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut second.stdout.take().unwrap(), &mut rest).unwrap();
    assert!(!rest.contains("kv_"), "a second key was printed: {rest}");
    let org = banner.split_whitespace().find_map(|w| uuid::Uuid::parse_str(w).ok()).expect("the banner names the org");
    assert!(second_err.lock().unwrap().contains(&org.to_string()), "a restart does not name the demo organization");
}
