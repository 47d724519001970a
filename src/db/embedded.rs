//! The embedded default: a private PostgreSQL run from the installed server binaries.
//!
//! Layout under the data directory (mode 0700): `postgres/` (the cluster, 0700), `postgres.log`
//! and `password` (the superuser password), both 0600. Each is created with its mode, never
//! widened afterwards, so there is no moment at which another account could read one; a
//! directory or file left wider by an earlier version is narrowed at start. The server listens
//! on 127.0.0.1 only, on a free port chosen at each start, with password authentication and no
//! Unix socket. It runs as a child of this process and receives SIGINT (fast shutdown) if this
//! process dies. When this process runs as root, PostgreSQL (which refuses root) runs as the
//! `postgres` user if it exists, else `nobody`; that account then owns the data directory (it
//! must reach its cluster inside), while `password` and `postgres.log` stay root's, opened
//! without following symbolic links. If a cluster is already running in the directory (another
//! `klinivo` process), it is reused instead.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rand::distributions::Alphanumeric;
use rand::Rng;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("PostgreSQL server binaries not found: install the PostgreSQL server package (looked for initdb and postgres on PATH and in /usr/lib/postgresql/<version>/bin), or set DATABASE_URL")]
    NotInstalled,
    #[error("{0}")]
    Failed(String),
}

fn fail(message: impl Into<String>) -> EmbeddedError {
    EmbeddedError::Failed(message.into())
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Trade durability for speed (tests only): fsync and synchronous commit off.
    pub ephemeral: bool,
    /// Listen on this port instead of a free one chosen at start.
    pub port: Option<u16>,
    /// `shared_buffers` in MiB instead of initdb's default (the benchmark's
    /// `--shared-buffers-mb`).
    pub shared_buffers_mb: Option<u32>,
}

/// A running private cluster; dropping it (or calling `stop`) shuts down what this process started.
pub struct EmbeddedPostgres {
    url: String,
    admin_url: String,
    child_pid: Option<i32>,
    exited: Option<mpsc::Receiver<()>>,
}

/// Finds `initdb` and `postgres`: on PATH first, else the newest `/usr/lib/postgresql/<v>/bin`.
pub fn find_binaries() -> Result<PathBuf, EmbeddedError> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| EmbeddedError::NotInstalled)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or(EmbeddedError::NotInstalled)
}

/// The unprivileged account PostgreSQL runs as when we are root.
fn run_as() -> Option<(u32, u32, String)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    for name in ["postgres", "nobody"] {
        let cname = std::ffi::CString::new(name).ok()?;
        // SAFETY: getpwnam returns a pointer into static storage or null; read at once.
        let pw = unsafe { libc::getpwnam(cname.as_ptr()) };
        if !pw.is_null() {
            // SAFETY: checked non-null above.
            let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
            return Some((uid, gid, name.to_string()));
        }
    }
    None
}

fn command(bin: &Path, program: &str, user: &Option<(u32, u32, String)>) -> Command {
    let mut cmd = Command::new(bin.join(program));
    if let Some((uid, gid, _)) = user {
        cmd.uid(*uid).gid(*gid);
        // Keep supplementary groups out of it: setgroups needs to be cleared before setuid.
        cmd.env("HOME", "/tmp");
    }
    cmd.env_remove("PGDATA").env("LC_ALL", "C");
    cmd
}

fn free_port() -> Result<u16, EmbeddedError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| fail(format!("no free port: {e}")))?;
    l.local_addr().map(|a| a.port()).map_err(|e| fail(e.to_string()))
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// Reads `postmaster.pid`: the pid and port of a cluster already running in `pgdata`.
fn running_cluster(pgdata: &Path) -> Option<u16> {
    let text = fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let pid: i32 = lines.first()?.trim().parse().ok()?;
    let port: u16 = lines.get(3)?.trim().parse().ok()?;
    pid_alive(pid).then_some(port)
}

impl EmbeddedPostgres {
    /// Initialises the cluster on first use, starts it (or joins a running one), and makes
    /// sure the `klinivo` database exists.
    pub async fn start(data_dir: &Path, options: Options) -> Result<EmbeddedPostgres, EmbeddedError> {
        let bin = find_binaries()?;
        let user = run_as();
        let data_dir = private_data_dir(data_dir, &user)?;
        let pgdata = data_dir.join("postgres");
        let password_file = data_dir.join("password");

        if !pgdata.join("PG_VERSION").is_file() {
            init_cluster(&bin, &data_dir, &pgdata, &password_file, &user)?;
        }
        let mut password = String::new();
        private_file(&password_file, fs::OpenOptions::new().read(true))
            .and_then(|mut f| std::io::Read::read_to_string(&mut f, &mut password))
            .map_err(|e| fail(format!("cannot read {}: {e}", password_file.display())))?;
        let password = password.trim().to_string();
        let url_for = |port: u16, db: &str| format!("postgres://klinivo:{password}@127.0.0.1:{port}/{db}");

        let mut cluster = if let Some(port) = running_cluster(&pgdata) {
            tracing::info!(port, "reusing the PostgreSQL already running in the data directory");
            EmbeddedPostgres {
                url: url_for(port, "klinivo"),
                admin_url: url_for(port, "postgres"),
                child_pid: None,
                exited: None,
            }
        } else {
            let port = match options.port {
                Some(p) => p,
                None => free_port()?,
            };
            let (pid, exited) = spawn_postgres(&bin, &data_dir, &pgdata, port, &user, &options)?;
            EmbeddedPostgres {
                url: url_for(port, "klinivo"),
                admin_url: url_for(port, "postgres"),
                child_pid: Some(pid),
                exited: Some(exited),
            }
        };
        cluster.wait_ready(&data_dir).await?;
        cluster.ensure_database().await?;
        Ok(cluster)
    }

    /// URL of the application database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// URL of the maintenance database (`postgres`), for creating databases.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    async fn wait_ready(&mut self, data_dir: &Path) -> Result<(), EmbeddedError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(exited) = &self.exited {
                if exited.try_recv().is_ok() {
                    let log = fs::read_to_string(data_dir.join("postgres.log")).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(5).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    return Err(fail(format!(
                        "PostgreSQL exited during start-up (log: {}): {}",
                        data_dir.join("postgres.log").display(),
                        tail.join(" | ")
                    )));
                }
            }
            if sqlx::PgPool::connect(&self.admin_url).await.map(drop).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(fail("PostgreSQL did not become ready within 60 s"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn ensure_database(&self) -> Result<(), EmbeddedError> {
        let admin = sqlx::PgPool::connect(&self.admin_url).await.map_err(|e| fail(e.to_string()))?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = 'klinivo'")
            .fetch_optional(&admin)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if exists.is_none() {
            sqlx::query("CREATE DATABASE klinivo").execute(&admin).await.map_err(|e| fail(e.to_string()))?;
        }
        admin.close().await;
        Ok(())
    }

    /// Fast shutdown of the cluster this process started; waits up to 30 s.
    pub fn stop(&mut self) {
        if let Some(pid) = self.child_pid.take() {
            // SAFETY: sending SIGINT to our own child.
            unsafe { libc::kill(pid, libc::SIGINT) };
            if let Some(exited) = self.exited.take() {
                let _ = exited.recv_timeout(Duration::from_secs(30));
            }
        }
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Creates the data directory with mode 0700 (its parents as usual), or narrows an existing one
/// to 0700; as root, hands it to the account PostgreSQL runs as. Returns its canonical path.
fn private_data_dir(data_dir: &Path, user: &Option<(u32, u32, String)>) -> Result<PathBuf, EmbeddedError> {
    let cannot = |e: std::io::Error| fail(format!("cannot create {}: {e}", data_dir.display()));
    if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(cannot)?;
    }
    match fs::DirBuilder::new().mode(0o700).create(data_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(cannot(e)),
    }
    let data_dir = data_dir.canonicalize().map_err(|e| fail(e.to_string()))?;
    if let Some((uid, gid, _)) = user {
        std::os::unix::fs::chown(&data_dir, Some(*uid), Some(*gid)).map_err(|e| fail(e.to_string()))?;
    }
    fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o700)).map_err(|e| fail(e.to_string()))?;
    Ok(data_dir)
}

/// Opens a file of the data directory: created with mode 0600, narrowed to 0600 if it was
/// wider, and never through a symbolic link (as root, the directory belongs to another account).
fn private_file(path: &Path, options: &mut fs::OpenOptions) -> std::io::Result<fs::File> {
    let file = options.mode(0o600).custom_flags(libc::O_NOFOLLOW).open(path)?;
    if file.metadata()?.permissions().mode() & 0o077 != 0 {
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

fn init_cluster(
    bin: &Path,
    data_dir: &Path,
    pgdata: &Path,
    password_file: &Path,
    user: &Option<(u32, u32, String)>,
) -> Result<(), EmbeddedError> {
    let password: String = rand::thread_rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect();
    private_file(password_file, fs::OpenOptions::new().write(true).create(true).truncate(true))
        .and_then(|mut f| f.write_all(password.as_bytes()))
        .map_err(|e| fail(format!("cannot write {}: {e}", password_file.display())))?;

    // initdb reads the password from a file the PostgreSQL user can read; removed right after.
    let pwfile = data_dir.join(".initdb-pw");
    let _ = fs::remove_file(&pwfile);
    let written = private_file(&pwfile, fs::OpenOptions::new().write(true).create_new(true)).and_then(|mut f| {
        f.write_all(password.as_bytes())?;
        match user {
            Some((uid, gid, _)) => std::os::unix::fs::fchown(&f, Some(*uid), Some(*gid)),
            None => Ok(()),
        }
    });
    written.map_err(|e| fail(format!("cannot write {}: {e}", pwfile.display())))?;
    let _ = fs::remove_dir_all(pgdata);
    fs::DirBuilder::new().mode(0o700).create(pgdata).map_err(|e| fail(e.to_string()))?;
    if let Some((uid, gid, _)) = user {
        std::os::unix::fs::chown(pgdata, Some(*uid), Some(*gid)).map_err(|e| fail(e.to_string()))?;
    }
    let output = command(bin, "initdb", user)
        .arg("-D")
        .arg(pgdata)
        .args(["-U", "klinivo", "-A", "scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"])
        .arg(format!("--pwfile={}", pwfile.display()))
        .output();
    let _ = fs::remove_file(&pwfile);
    let output = output.map_err(|e| fail(format!("cannot run initdb: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = match user {
            Some((_, _, name)) => format!(
                " (running as root: PostgreSQL runs as the '{name}' user, which must be able to reach {})",
                pgdata.display()
            ),
            None => String::new(),
        };
        let _ = fs::remove_dir_all(pgdata);
        return Err(fail(format!("initdb failed{hint}: {}", stderr.trim())));
    }
    Ok(())
}

fn spawn_postgres(
    bin: &Path,
    data_dir: &Path,
    pgdata: &Path,
    port: u16,
    user: &Option<(u32, u32, String)>,
    options: &Options,
) -> Result<(i32, mpsc::Receiver<()>), EmbeddedError> {
    let log_path = data_dir.join("postgres.log");
    let log = private_file(&log_path, fs::OpenOptions::new().create(true).append(true))
        .map_err(|e| fail(format!("cannot open {}: {e}", log_path.display())))?;
    let log2 = log.try_clone().map_err(|e| fail(e.to_string()))?;
    let mut cmd = command(bin, "postgres", user);
    cmd.arg("-D")
        .arg(pgdata)
        .args(["-p", &port.to_string()])
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=300"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    if options.ephemeral {
        cmd.args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]);
    }
    if let Some(mb) = options.shared_buffers_mb {
        cmd.args(["-c", &format!("shared_buffers={mb}MB")]);
    }
    // SAFETY: prctl is async-signal-safe; it runs in the child between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // The parent-death signal follows the spawning *thread*: spawn from a thread that lives
    // exactly as long as the child.
    let (pid_tx, pid_rx) = mpsc::channel();
    let (exit_tx, exit_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("embedded-postgres".into())
        .spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = pid_tx.send(Ok(child.id() as i32));
                let _ = child.wait();
                let _ = exit_tx.send(());
            }
            Err(e) => {
                let _ = pid_tx.send(Err(e));
            }
        })
        .map_err(|e| fail(e.to_string()))?;
    let pid =
        pid_rx.recv().map_err(|e| fail(e.to_string()))?.map_err(|e| fail(format!("cannot start postgres: {e}")))?;
    Ok((pid, exit_rx))
}
