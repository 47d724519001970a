//! Every setting, read once from the environment (and `.env`), validated at start-up.
//!
//! A bad value stops the process with one line naming the variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::net::TrustedProxies;

/// A value that must never be printed (a database URL carries a password).
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`; `None` means the embedded PostgreSQL under `data_dir`.
    pub database_url: Option<Secret<String>>,
    /// `KLINIVO_BIND`, default `127.0.0.1:8080`.
    pub bind: SocketAddr,
    /// `KLINIVO_DATA_DIR`, default `./.klinivo`.
    pub data_dir: PathBuf,
    /// `KLINIVO_RATE_LIMIT_PER_MINUTE`, default 600.
    pub rate_limit_per_minute: u32,
    /// `KLINIVO_WEBHOOK_TIMEOUT_MS`, default 10 000.
    pub webhook_timeout: Duration,
    /// `KLINIVO_WEBHOOK_RETRY_UNIT_MS`, default 60 000.
    pub webhook_retry_unit: Duration,
    /// `KLINIVO_WEBHOOK_ALLOW_PRIVATE`, default false.
    pub webhook_allow_private: bool,
    /// `KLINIVO_DB_MAX_CONNECTIONS`, default 20. On few cores reads alone do better with fewer
    /// connections (less contention for the CPUs), but writes and webhook delivery wait on
    /// commits and lose much of their throughput with fewer (bench/README.md, "Figures behind
    /// the decisions"): 20 is the better default for a mixed load.
    pub db_max_connections: u32,
    /// `KLINIVO_LOG_FORMAT`, default `pretty`.
    pub log_format: LogFormat,
    /// `KLINIVO_TRUSTED_PROXIES`, default none: the proxies whose `X-Forwarded-For` names the
    /// client (`crate::net`).
    pub trusted_proxies: TrustedProxies,
    /// `KLINIVO_PUBLIC_URL`, default none (then `http://localhost:<port>`): the address people
    /// reach the server at, without a path. Set-password links are made from it, and an
    /// `https://` address makes the console's cookies `Secure`.
    pub public_url: Option<String>,
    /// `KLINIVO_FHIR_EXPORT_TTL_HOURS`, default 24: how long a Bulk Data export's files are kept.
    pub fhir_export_ttl: chrono::Duration,
    /// `KLINIVO_AUDIT_RETENTION_DAYS`, default 2192 (six years): entries older than this go, a
    /// month's partition at a time, once its newest entry is that old (`audit::partitions`).
    pub audit_retention: chrono::Duration,
}

impl Config {
    /// The origin people reach the server at: `KLINIVO_PUBLIC_URL`, or this host and port.
    pub fn public_origin(&self) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let ip = self.bind.ip();
                let host =
                    if ip.is_unspecified() || ip.is_loopback() { "localhost".to_string() } else { ip.to_string() };
                let host = if host.contains(':') { format!("[{host}]") } else { host };
                format!("http://{host}:{}", self.bind.port())
            }
        }
    }

    /// Whether people reach the console over HTTPS (its cookies are then `Secure`).
    pub fn serves_https(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./.klinivo"),
            rate_limit_per_minute: 600,
            webhook_timeout: Duration::from_millis(10_000),
            webhook_retry_unit: Duration::from_millis(60_000),
            webhook_allow_private: false,
            db_max_connections: 20,
            log_format: LogFormat::Pretty,
            trusted_proxies: TrustedProxies::default(),
            public_url: None,
            fhir_export_ttl: chrono::Duration::hours(24),
            audit_retention: chrono::Duration::days(crate::audit::partitions::DEFAULT_RETENTION_DAYS.into()),
        }
    }
}

impl Config {
    /// Reads `.env` (if present, without overriding the environment), then the environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        let _ = dotenvy::dotenv();
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any lookup function; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut config = Config::default();
        if let Some(url) = get("DATABASE_URL") {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(err("DATABASE_URL", "must start with postgres:// or postgresql://"));
            }
            config.database_url = Some(Secret::new(url));
        }
        if let Some(v) = get("KLINIVO_BIND") {
            config.bind = v
                .trim()
                .parse()
                .map_err(|_| err("KLINIVO_BIND", &format!("expected host:port such as 127.0.0.1:8080, got {v:?}")))?;
        }
        if let Some(v) = get("KLINIVO_DATA_DIR") {
            config.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("KLINIVO_RATE_LIMIT_PER_MINUTE") {
            config.rate_limit_per_minute = positive("KLINIVO_RATE_LIMIT_PER_MINUTE", &v, 1_000_000_000)? as u32;
        }
        if let Some(v) = get("KLINIVO_WEBHOOK_TIMEOUT_MS") {
            config.webhook_timeout = Duration::from_millis(positive("KLINIVO_WEBHOOK_TIMEOUT_MS", &v, 600_000)?);
        }
        if let Some(v) = get("KLINIVO_WEBHOOK_RETRY_UNIT_MS") {
            config.webhook_retry_unit =
                Duration::from_millis(positive("KLINIVO_WEBHOOK_RETRY_UNIT_MS", &v, 86_400_000)?);
        }
        if let Some(v) = get("KLINIVO_WEBHOOK_ALLOW_PRIVATE") {
            config.webhook_allow_private = match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => return Err(err("KLINIVO_WEBHOOK_ALLOW_PRIVATE", "expected true or false")),
            };
        }
        if let Some(v) = get("KLINIVO_DB_MAX_CONNECTIONS") {
            config.db_max_connections = positive("KLINIVO_DB_MAX_CONNECTIONS", &v, 10_000)? as u32;
        }
        if let Some(v) = get("KLINIVO_LOG_FORMAT") {
            config.log_format = match v.trim() {
                "json" => LogFormat::Json,
                "pretty" => LogFormat::Pretty,
                _ => return Err(err("KLINIVO_LOG_FORMAT", "expected json or pretty")),
            };
        }
        if let Some(v) = get("KLINIVO_TRUSTED_PROXIES") {
            config.trusted_proxies = TrustedProxies::parse(&v).map_err(|m| err("KLINIVO_TRUSTED_PROXIES", &m))?;
        }
        if let Some(v) = get("KLINIVO_PUBLIC_URL") {
            config.public_url = Some(public_url(&v).map_err(|m| err("KLINIVO_PUBLIC_URL", &m))?);
        }
        if let Some(v) = get("KLINIVO_FHIR_EXPORT_TTL_HOURS") {
            config.fhir_export_ttl =
                chrono::Duration::hours(positive("KLINIVO_FHIR_EXPORT_TTL_HOURS", &v, 720)? as i64);
        }
        if let Some(v) = get("KLINIVO_AUDIT_RETENTION_DAYS") {
            config.audit_retention =
                chrono::Duration::days(positive("KLINIVO_AUDIT_RETENTION_DAYS", &v, 36_500)? as i64);
        }
        if let Some(v) = get("RUST_LOG") {
            if !v.trim().is_empty() {
                crate::telemetry::parse_filter(&v)
                    .map_err(|e| err("RUST_LOG", &format!("expected comma-separated target=level directives ({e})")))?;
            }
        }
        Ok(config)
    }
}

fn err(var: &'static str, message: &str) -> ConfigError {
    ConfigError { var, message: message.to_string() }
}

/// `scheme://host[:port]`, http or https, without a path, query or credentials.
fn public_url(value: &str) -> Result<String, String> {
    let problem = || format!("expected an origin such as https://api.example.com, got {value:?}");
    let parsed = url::Url::parse(value.trim()).map_err(|_| problem())?;
    let plain = matches!(parsed.scheme(), "http" | "https")
        && parsed.host_str().is_some()
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.path() == "/"
        && parsed.query().is_none()
        && parsed.fragment().is_none();
    if !plain {
        return Err(problem());
    }
    Ok(parsed.origin().ascii_serialization())
}

fn positive(var: &'static str, value: &str, max: u64) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if n >= 1 && n <= max => Ok(n),
        _ => Err(err(var, &format!("expected a whole number from 1 to {max}, got {value:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_apply_when_unset() {
        let c = with(&[]).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.rate_limit_per_minute, 600);
        assert_eq!(c.webhook_retry_unit, Duration::from_secs(60));
        assert!(c.database_url.is_none());
        assert_eq!(c.audit_retention, chrono::Duration::days(2192));
        assert_eq!(
            with(&[("KLINIVO_AUDIT_RETENTION_DAYS", "400")]).unwrap().audit_retention,
            chrono::Duration::days(400)
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("KLINIVO_BIND", "nope"),
            ("KLINIVO_RATE_LIMIT_PER_MINUTE", "0"),
            ("KLINIVO_WEBHOOK_TIMEOUT_MS", "-5"),
            ("KLINIVO_WEBHOOK_RETRY_UNIT_MS", "abc"),
            ("KLINIVO_WEBHOOK_ALLOW_PRIVATE", "maybe"),
            ("KLINIVO_DB_MAX_CONNECTIONS", "1e3"),
            ("KLINIVO_LOG_FORMAT", "xml"),
            ("KLINIVO_TRUSTED_PROXIES", "10.0.0.0/40"),
            ("KLINIVO_PUBLIC_URL", "https://api.example.com/console"),
            ("KLINIVO_PUBLIC_URL", "ftp://api.example.com"),
            ("KLINIVO_FHIR_EXPORT_TTL_HOURS", "0"),
            ("KLINIVO_AUDIT_RETENTION_DAYS", "0"),
            ("KLINIVO_AUDIT_RETENTION_DAYS", "36501"),
            ("DATABASE_URL", "mysql://x"),
            ("RUST_LOG", "info,[[["),
            ("RUST_LOG", "[request]=debug"),
            ("RUST_LOG", "sqlx=loud"),
            ("RUST_LOG", "info,info and more"),
            ("RUST_LOG", ","),
        ] {
            let e = with(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var);
            assert!(e.to_string().starts_with(&format!("invalid {var}: ")));
        }
    }

    #[test]
    fn log_filters_are_levels_and_targets() {
        for ok in ["info", "info,sqlx=warn", " warn , klinivo::delivery=debug ", "klinivo", "off"] {
            assert!(with(&[("RUST_LOG", ok)]).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn database_url_is_never_printed() {
        let c = with(&[("DATABASE_URL", "postgres://u:hunter2@h/db")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
