//! Holding a slot, releasing it, and handing it to a booking. The slot's claim is written and
//! deleted by the triggers of migration 0077; what is done here is the hold's own row.

use sqlx::PgConnection;
use uuid::Uuid;

use super::model::AppointmentHold;
use super::validate::NewAppointmentHold;
use crate::domain::appointments::check_references;
use crate::domain::{Error, Result};

/// Holds `input`'s slot for `ttlSeconds`, inside the caller's transaction. Invalid fields and
/// references of another organization (or none) are [`Error::Invalid`]. A slot overlapping an
/// active appointment or a live hold of the provider fails on the exclusion constraint
/// `slot_claims_no_overlap` (the trigger's claim), so of concurrent holds of one slot exactly
/// one wins; expired holds in the way are cleared by the same trigger first.
pub async fn create(conn: &mut PgConnection, org: Uuid, input: &NewAppointmentHold) -> Result<AppointmentHold> {
    let slot = input.validate()?;
    check_references(conn, org, None, slot.provider_id, slot.location_id).await?;
    let hold = sqlx::query_as!(
        AppointmentHold,
        r#"INSERT INTO appointment_holds (organization_id, provider_id, location_id, starts_at, ends_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
           RETURNING id, provider_id, location_id, starts_at, ends_at, expires_at, status AS "status!",
                     appointment_id, created_at"#,
        org,
        slot.provider_id,
        slot.location_id,
        slot.starts_at,
        slot.ends_at,
        slot.ttl_seconds as f64,
    )
    .fetch_one(&mut *conn)
    .await?;
    tracing::info!(hold_id = hold.id, provider_id = hold.provider_id, "slot held");
    Ok(hold)
}

/// Releases a held hold: `released`, its slot free at once (the trigger deletes the claim).
/// A hold already released, or expired, has nothing to release: `Ok` and nothing changes. A
/// booked hold is [`Error::InvalidStateTransition`]: cancel its appointment instead.
pub async fn release(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<()> {
    let released = sqlx::query_scalar!(
        "UPDATE appointment_holds SET status = 'released'
         WHERE organization_id = $1 AND id = $2 AND status = 'held' AND expires_at > now()
         RETURNING id",
        org,
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if released.is_some() {
        tracing::info!(hold_id = id, "hold released");
        return Ok(());
    }
    let status =
        sqlx::query_scalar!("SELECT status FROM appointment_holds WHERE organization_id = $1 AND id = $2", org, id)
            .fetch_optional(&mut *conn)
            .await?;
    match status.as_deref() {
        None => Err(Error::NotFound("Appointment hold")),
        Some("booked") => Err(Error::transition("Cannot release a booked hold; cancel its appointment instead")),
        Some(_) => Ok(()),
    }
}

/// Locks a hold for booking it, in the caller's transaction, and gives its slot up so that the
/// appointment can claim it (a rollback restores the claim). Concurrent bookings of one hold
/// queue on the lock; the first books it and the others find it booked. Not held (booked,
/// released) or past its expiry: [`Error::HoldExpired`].
pub async fn take_for_booking(conn: &mut PgConnection, org: Uuid, id: i64) -> Result<AppointmentHold> {
    let hold = sqlx::query_as!(
        AppointmentHold,
        r#"SELECT id, provider_id, location_id, starts_at, ends_at, expires_at,
                  CASE WHEN status = 'held' AND expires_at <= now() THEN 'expired' ELSE status END AS "status!",
                  appointment_id, created_at
           FROM appointment_holds WHERE organization_id = $1 AND id = $2
           FOR UPDATE"#,
        org,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound("Appointment hold"))?;
    if !hold.is_live() {
        return Err(Error::HoldExpired(format!("The hold is {}; hold the slot again", hold.status)));
    }
    sqlx::query!("DELETE FROM slot_claims WHERE hold_id = $1", id).execute(&mut *conn).await?;
    Ok(hold)
}

/// Marks a hold taken by [`take_for_booking`] as booked as `appointment_id`.
pub async fn mark_booked(conn: &mut PgConnection, org: Uuid, id: i64, appointment_id: i64) -> Result<()> {
    sqlx::query!(
        "UPDATE appointment_holds SET status = 'booked', appointment_id = $3 WHERE organization_id = $1 AND id = $2",
        org,
        id,
        appointment_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
