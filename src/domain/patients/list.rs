//! Listing patients: the filters' rules, and the lists by id and by `(updatedAt, id)`.

use chrono::NaiveDate;
use sqlx::PgPool;
use uuid::Uuid;

use super::model::{Patient, PatientRow};
use super::search;
use super::validate::{is_e164, EMAIL_MAX, EXTERNAL_ID_MAX};
use crate::db::horizon;
use crate::domain::{Error, FieldError, Page, PageRequest, Result};

const Q_MAX: usize = 200;

/// What a list of patients may be narrowed by, as the client sent it: [`list`] checks it.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// Search over name, email and phone, insensitive to case and accents.
    pub q: Option<String>,
    /// Exact email address, case-insensitive.
    pub email: Option<String>,
    /// Exact phone number in E.164.
    pub phone: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub external_id: Option<String>,
}

/// The filters after checking, as the query binds them.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Filters {
    /// `LIKE` patterns on `search_text`, folded like it; a row matches either.
    pub(super) search: Option<String>,
    pub(super) search_word: Option<String>,
    /// For three characters or more, the text itself: the walk looks for it with `strpos`,
    /// which costs half what the equivalent `LIKE '%…%'` does per row.
    pub(super) needle: Option<String>,
    pub(super) email: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) date_of_birth: Option<NaiveDate>,
    pub(super) external_id: Option<String>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl Filters {
    fn check(q: &ListFilter) -> Result<Filters> {
        let mut errors = Vec::new();
        let mut f = Filters { date_of_birth: q.date_of_birth, ..Default::default() };
        if let Some(text) = non_empty(q.q.clone()) {
            if text.chars().count() > Q_MAX {
                errors.push(("q", format!("must be at most {Q_MAX} characters")));
            }
            (f.search, f.search_word, f.needle) = search::patterns(&text);
        }
        f.email = non_empty(q.email.clone());
        if f.email.as_ref().is_some_and(|e| e.chars().count() > EMAIL_MAX) {
            errors.push(("email", format!("must be at most {EMAIL_MAX} characters")));
        }
        f.phone = non_empty(q.phone.clone()).map(|p| {
            // An unencoded `+` arrives as a space, trimmed away above: put it back.
            if p.starts_with(|c: char| c.is_ascii_digit()) {
                format!("+{p}")
            } else {
                p
            }
        });
        if f.phone.as_deref().is_some_and(|p| !is_e164(p)) {
            errors.push(("phone", "must be in E.164 format, such as +14155550123".to_string()));
        }
        f.external_id = non_empty(q.external_id.clone());
        if f.external_id.as_ref().is_some_and(|e| e.chars().count() > EXTERNAL_ID_MAX) {
            errors.push(("externalId", format!("must be at most {EXTERNAL_ID_MAX} characters")));
        }
        if errors.is_empty() {
            Ok(f)
        } else {
            Err(Error::Invalid(errors.into_iter().map(|(field, m)| FieldError::new(field, m)).collect()))
        }
    }
}

/// A page of the organization's patients, by ascending id or, with `updatedSince`, by
/// `(updatedAt, id)` up to the sync horizon. A `q` search without `updatedSince` reads on
/// `generic_reads` ([`crate::db::generic_reads`], see [`search::search`]); every other list on
/// a planned read of `db` ([`crate::db::planned_read`]), as its best plan depends on the
/// filters given.
pub async fn list(
    db: &PgPool,
    generic_reads: &crate::db::direct::DirectPool,
    org: Uuid,
    filter: &ListFilter,
    page: &PageRequest,
) -> Result<Page<Patient>> {
    let f = Filters::check(filter)?;
    if f.search.is_some() && page.updated_since.is_none() {
        let mut read = generic_reads.acquire().await?;
        let rows = search::search(&mut read, org, &f, page).await;
        return Ok(finish(page, read.finish(rows)?));
    }
    let mut read = crate::db::planned_read(db).await?;
    let rows = if let Some(since) = page.updated_since {
        let after_updated = page.after_updated.unwrap_or(since);
        let horizon = horizon::current(&mut read).await?;
        sqlx::query_as!(
            PatientRow,
            r#"SELECT id, external_id, first_name, last_name, date_of_birth, sex, email, phone, address_line1,
                      address_line2, address_city, address_region, address_postal_code, address_country,
                      created_at, updated_at
               FROM patients
               WHERE organization_id = $1
                 AND ($2::text IS NULL OR search_text LIKE $2 OR search_text LIKE $3::text)
                 AND ($4::text IS NULL OR lower(email) = lower($4))
                 AND ($5::text IS NULL OR phone = $5)
                 AND ($6::date IS NULL OR date_of_birth = $6)
                 AND ($7::text IS NULL OR external_id = $7)
                 AND updated_at >= $8 AND (updated_at, id) > ($9, $10) AND updated_at < $12
               ORDER BY updated_at, id
               LIMIT $11"#,
            org,
            f.search,
            f.search_word,
            f.email,
            f.phone,
            f.date_of_birth,
            f.external_id,
            since,
            after_updated,
            page.after_id,
            page.fetch(),
            horizon,
        )
        .fetch_all(&mut *read)
        .await?
    } else {
        sqlx::query_as!(
            PatientRow,
            r#"SELECT id, external_id, first_name, last_name, date_of_birth, sex, email, phone, address_line1,
                      address_line2, address_city, address_region, address_postal_code, address_country,
                      created_at, updated_at
               FROM patients
               WHERE organization_id = $1
                 AND ($2::text IS NULL OR lower(email) = lower($2))
                 AND ($3::text IS NULL OR phone = $3)
                 AND ($4::date IS NULL OR date_of_birth = $4)
                 AND ($5::text IS NULL OR external_id = $5)
                 AND id > $6
               ORDER BY id
               LIMIT $7"#,
            org,
            f.email,
            f.phone,
            f.date_of_birth,
            f.external_id,
            page.after_id,
            page.fetch(),
        )
        .fetch_all(&mut *read)
        .await?
    };
    Ok(finish(page, rows))
}

fn finish(page: &PageRequest, rows: Vec<PatientRow>) -> Page<Patient> {
    let rows: Vec<Patient> = rows.into_iter().map(Patient::from).collect();
    page.finish(rows, |p| (p.id, p.updated_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_filter_tolerates_an_unencoded_plus() {
        let q = ListFilter { phone: Some(" 14155550123".into()), ..Default::default() };
        assert_eq!(Filters::check(&q).unwrap().phone.as_deref(), Some("+14155550123"));
        let q = ListFilter { phone: Some("555-0123".into()), ..Default::default() };
        assert!(Filters::check(&q).is_err());
    }
}
