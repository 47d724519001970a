//! The throttle on failed sign-ins: per account and per client address, in fixed windows,
//! counted in PostgreSQL so that every instance shares it.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

use crate::domain::Result;

pub const WINDOW: Duration = Duration::minutes(15);
/// Failures of one account (as typed) in a window before its sign-ins are refused.
pub const PER_ACCOUNT: i32 = 5;
/// Failures from one client address (an IPv6 /64 counts as one) in a window.
pub const PER_ADDRESS: i32 = 20;

fn account_subject(email: &str) -> String {
    format!("account:{email}")
}

fn address_subject(address: &str) -> String {
    format!("address:{address}")
}

/// When sign-ins for this account or from this address are allowed again, if they are not now.
pub async fn blocked_until(db: &PgPool, email: &str, address: &str) -> Result<Option<DateTime<Utc>>> {
    let until = sqlx::query_scalar!(
        r#"SELECT max(window_start + make_interval(secs => $4)) AS until
           FROM console_sign_in_failures
           WHERE window_start > now() - make_interval(secs => $4)
             AND ((subject = $1 AND failures >= $2) OR (subject = $3 AND failures >= $5))"#,
        account_subject(email),
        PER_ACCOUNT,
        address_subject(address),
        WINDOW.num_seconds() as f64,
        PER_ADDRESS,
    )
    .fetch_one(db)
    .await?;
    Ok(until)
}

/// Counts one failure against the account and the address.
pub async fn record_failure(db: &PgPool, email: &str, address: &str) -> Result<()> {
    sqlx::query!(
        "INSERT INTO console_sign_in_failures AS f (subject, window_start, failures)
         SELECT s, now(), 1 FROM unnest($1::text[]) AS s
         ON CONFLICT (subject) DO UPDATE
             SET failures = CASE WHEN f.window_start > now() - make_interval(secs => $2) THEN f.failures + 1 ELSE 1 END,
                 window_start = CASE WHEN f.window_start > now() - make_interval(secs => $2) THEN f.window_start ELSE now() END",
        &[account_subject(email), address_subject(address)] as &[String],
        WINDOW.num_seconds() as f64,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A successful sign-in clears its account's count (not its address's).
pub async fn clear_account(db: &PgPool, email: &str) -> Result<()> {
    sqlx::query!("DELETE FROM console_sign_in_failures WHERE subject = $1", account_subject(email))
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes the counts of past windows.
pub async fn purge(db: &PgPool) -> Result<u64> {
    Ok(sqlx::query!(
        "DELETE FROM console_sign_in_failures WHERE window_start <= now() - make_interval(secs => $1)",
        WINDOW.num_seconds() as f64
    )
    .execute(db)
    .await?
    .rows_affected())
}
