//! `klinivo key rotate` and `klinivo key revoke`: what they do, and what they say they did.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

use super::{klinivo, stdout_lines};
use crate::helpers::fresh_database;

struct Cli {
    url: String,
    dir: tempfile::TempDir,
    db: PgPool,
}

struct Run {
    ok: bool,
    stdout: Vec<String>,
    stderr: String,
}

impl Cli {
    async fn new() -> Cli {
        let url = fresh_database().await;
        let db = klinivo::db::connect(&url, 2).await.unwrap();
        Cli { url, dir: tempfile::tempdir().unwrap(), db }
    }

    fn run(&self, args: &[&str]) -> Run {
        let out = klinivo(self.dir.path()).args(args).env("DATABASE_URL", &self.url).output().unwrap();
        Run {
            ok: out.status.success(),
            stdout: stdout_lines(&out),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    /// A new key of a new organization; returns the key.
    fn key(&self, expires_in_days: Option<&str>) -> String {
        let org = self.run(&["org", "create", "--name", "Keys Clinic"]).stdout[0].clone();
        let mut args = vec!["key", "create", "--org", &org, "--name", "sync", "--permissions", "READ_PATIENTS"];
        if let Some(days) = expires_in_days {
            args.extend(["--expires-in-days", days]);
        }
        let run = self.run(&args);
        assert!(run.ok, "{}", run.stderr);
        run.stdout[0].clone()
    }

    /// Rotates; returns the new key and what was said on stderr.
    fn rotate(&self, prefix_or_id: &str, grace_hours: &str) -> (String, String) {
        let run = self.run(&["key", "rotate", prefix_or_id, "--grace-hours", grace_hours]);
        assert!(run.ok, "{}", run.stderr);
        assert_eq!(run.stdout.len(), 1, "stdout is the new key alone: {:?}", run.stdout);
        assert!(klinivo::auth::keys::is_well_formed(&run.stdout[0]));
        (run.stdout[0].clone(), run.stderr)
    }

    /// `(id, expires_at)` of a key.
    async fn stored(&self, key: &str) -> (i64, Option<DateTime<Utc>>) {
        sqlx::query_as("SELECT id, expires_at FROM api_keys WHERE key_prefix = $1")
            .bind(&key[..11])
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn rotating_again_during_the_grace_period_keeps_the_original_expiry() {
    let cli = Cli::new().await;
    let a = cli.key(Some("30"));
    let (a_id, a_expiry) = cli.stored(&a).await;
    let a_expiry = a_expiry.unwrap();
    assert!(a_expiry > Utc::now() + Duration::days(29));

    let (b, said) = cli.rotate(&a[..11], "1");
    let (b_id, b_expiry) = cli.stored(&b).await;
    assert_eq!(b_expiry, Some(a_expiry));
    let (_, a_grace) = cli.stored(&a).await;
    let a_grace = a_grace.unwrap();
    assert!(a_grace < Utc::now() + Duration::minutes(61) && a_grace > Utc::now() + Duration::minutes(59));
    assert!(said.contains(&format!("replaced {} (id {a_id}) with {} (id {b_id})", &a[..11], &b[..11])), "{said}");
    assert!(said.contains(&format!("{} keeps working until {}", &a[..11], rfc3339(a_grace))), "{said}");
    assert!(said.contains(&format!("{} expires at {}, as {} did", &b[..11], rfc3339(a_expiry), &a[..11])), "{said}");
    assert!(!said.contains(&b[11..]), "the secret is not on stderr");

    // Again, by id, while `a` is in its grace period: the original expiry, not the hour left.
    let (c, said) = cli.rotate(&a_id.to_string(), "24");
    assert_eq!(cli.stored(&c).await.1, Some(a_expiry));
    assert!(said.contains("before it was first rotated"), "{said}");
    // A longer grace does not lengthen the first one.
    assert_eq!(cli.stored(&a).await.1, Some(a_grace));
    assert!(said.contains(&format!("{} keeps working until {}", &a[..11], rfc3339(a_grace))), "{said}");

    // A key that never expires: neither do its replacements.
    let n = cli.key(None);
    let (m, said) = cli.rotate(&n[..11], "1");
    assert!(said.contains(&format!("{} never expires", &m[..11])), "{said}");
    let (o, _) = cli.rotate(&n[..11], "1");
    assert_eq!(cli.stored(&o).await.1, None);
    assert!(cli.stored(&n).await.1.is_some(), "the rotated key expires after its grace");
}

#[tokio::test]
async fn revoked_and_expired_keys_are_refused_rotation_and_revoking_twice_says_so() {
    let cli = Cli::new().await;
    let key = cli.key(None);
    let (id, _) = cli.stored(&key).await;

    let first = cli.run(&["key", "revoke", &key[..11]]);
    assert!(first.ok, "{}", first.stderr);
    assert!(first.stderr.contains(&format!("revoked {}", &key[..11])), "{}", first.stderr);
    let revoked_at: DateTime<Utc> =
        sqlx::query_scalar("SELECT revoked_at FROM api_keys WHERE id = $1").bind(id).fetch_one(&cli.db).await.unwrap();
    // Twice, by id: not an error, and not "not found"; the time stays the first one.
    let second = cli.run(&["key", "revoke", &id.to_string()]);
    assert!(second.ok, "{}", second.stderr);
    let said = format!("{} was already revoked at {}; nothing changed", &key[..11], rfc3339(revoked_at));
    assert!(second.stderr.contains(&said), "{}", second.stderr);
    assert!(second.stdout.is_empty());
    let unknown = cli.run(&["key", "revoke", "kv_nosuchk"]);
    assert!(!unknown.ok && unknown.stderr.contains("no key with prefix or id"), "{}", unknown.stderr);

    let refused = cli.run(&["key", "rotate", &key[..11]]);
    assert!(!refused.ok && refused.stdout.is_empty());
    assert!(
        refused.stderr.contains("was revoked at") && refused.stderr.contains("cannot be rotated"),
        "{}",
        refused.stderr
    );

    // No grace: the old key stops at once, and then cannot be rotated again.
    let other = cli.key(Some("30"));
    let (_, said) = cli.rotate(&other[..11], "0");
    assert!(said.contains(&format!("{} no longer works", &other[..11])), "{said}");
    let refused = cli.run(&["key", "rotate", &other[..11]]);
    assert!(!refused.ok && refused.stderr.contains("expired at"), "{}", refused.stderr);
}
