//! Child servers of a run (the bare server, `klinivo serve`): started with a parent-death
//! signal so nothing outlives the driver, stopped with SIGTERM when dropped.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BoxError;

pub struct Server {
    pub name: String,
    pub base: String,
    child: Option<Child>,
}

pub fn free_port() -> Result<u16, BoxError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    /// Starts `program` with `envs`, output appended to `log`, and waits until `GET ready_path`
    /// answers 200 on `127.0.0.1:port`.
    pub async fn start(
        name: &str,
        program: &Path,
        args: &[&str],
        envs: &[(&str, String)],
        port: u16,
        ready_path: &str,
        log: &Path,
    ) -> Result<Server, BoxError> {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        // Only what the run sets: no KLINIVO_* of the caller's shell, no `.env` of the repository.
        cmd.env_clear();
        for var in ["PATH", "HOME", "LANG", "TMPDIR"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        if let Some(dir) = log.parent() {
            cmd.current_dir(dir);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        // SAFETY: prctl is async-signal-safe; it runs in the child between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let mut server =
            Server { name: name.to_string(), base: format!("http://127.0.0.1:{port}"), child: Some(child) };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(format!("{name} exited during start-up ({status}); see {}", log.display()).into());
            }
            let ok = client.get(format!("{}{ready_path}", server.base)).send().await;
            if ok.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                server.stop();
                return Err(format!("{name} did not become ready within 60 s; see {}", log.display()).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then up to 30 s for a graceful exit, then SIGKILL.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
