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

/// Counts an attempt against the account and the address before its password is checked, and
/// says when attempts are allowed again if either is over its limit (then the password must not
/// be checked). Counting first, in one statement, is what makes the limits hold for attempts sent
/// at the same moment: each sees the others' counts. A success gives its attempt back
/// ([`succeeded`]).
pub async fn reserve(db: &PgPool, email: &str, address: &str) -> Result<Option<DateTime<Utc>>> {
    let rows = sqlx::query!(
        r#"INSERT INTO console_sign_in_failures AS f (subject, window_start, failures)
           SELECT s, now(), 1 FROM unnest($1::text[]) AS s
           ON CONFLICT (subject) DO UPDATE
               SET failures = CASE WHEN f.window_start > now() - make_interval(secs => $2) THEN f.failures + 1 ELSE 1 END,
                   window_start = CASE WHEN f.window_start > now() - make_interval(secs => $2) THEN f.window_start ELSE now() END
           RETURNING subject, failures, window_start + make_interval(secs => $2) AS "until!""#,
        &[account_subject(email), address_subject(address)] as &[String],
        WINDOW.num_seconds() as f64,
    )
    .fetch_all(db)
    .await?;
    let account = account_subject(email);
    Ok(rows
        .into_iter()
        .filter(|r| r.failures > if r.subject == account { PER_ACCOUNT } else { PER_ADDRESS })
        .map(|r| r.until)
        .max())
}

/// A successful sign-in: the account's count is cleared, and the address gets its attempt back.
pub async fn succeeded(db: &PgPool, email: &str, address: &str) -> Result<()> {
    sqlx::query!(
        "WITH gone AS (DELETE FROM console_sign_in_failures WHERE subject = $1)
         UPDATE console_sign_in_failures SET failures = greatest(failures - 1, 0) WHERE subject = $2",
        account_subject(email),
        address_subject(address)
    )
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
