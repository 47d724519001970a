//! What `q` is matched against: a patient's name, email and phone, folded so that case,
//! accents and compatibility forms do not matter (`GARCÍA`, `garcia` and `García` are one).
//! [`fold`] makes both the stored `search_text` and the term, in Rust, so the two are folded
//! alike whatever the database's locale.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

const REFOLD_BATCH: i64 = 1_000;
const REFOLD_EVERY: Duration = Duration::from_secs(60);

/// Folds text for search, character by character (so a substring folds to a substring of the
/// folded whole): compatibility decomposition (`é` → `e` + accent, `ﬁ` → `fi`, full-width
/// forms → ASCII), combining marks dropped, then lower-, upper- and lower-cased again (so that
/// `ẞ`, `ß` and `SS`, `ς` and `Σ` fold alike) and decomposed again, for the marks case mapping
/// brings (`İ`); last, the few Latin letters that Unicode does not decompose but people type
/// without their stroke or as two letters ([`plain_latin`]).
///
/// Changing what it returns changes every stored text: ship it with a migration that sets
/// `search_stale` on every patient, so that they are re-folded ([`refold_stale`]).
pub fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        decompose_compatible(c, |d| {
            if is_combining_mark(d) && d != YPOGEGRAMMENI {
                return;
            }
            for l in d.to_lowercase().flat_map(char::to_uppercase).flat_map(char::to_lowercase) {
                decompose_compatible(l, |m| match m {
                    YPOGEGRAMMENI => out.push('ι'),
                    m if is_combining_mark(m) => {}
                    m => match plain_latin(m) {
                        Some(plain) => out.push_str(plain),
                        None => out.push(m),
                    },
                });
            }
        });
    }
    out
}

/// The Greek iota subscript (`ᾳ` = `α` + it) is a combining mark whose capital is the letter
/// iota (`ᾼ` upper-cases to `ΑΙ`): kept, as the iota it is, so that both cases fold alike.
const YPOGEGRAMMENI: char = '\u{345}';

/// `Søren`, `Łukasz`, `Đorđe`, `Æsa` as typed on a keyboard without those letters.
fn plain_latin(c: char) -> Option<&'static str> {
    Some(match c {
        'ø' => "o",
        'ł' => "l",
        'đ' => "d",
        'ħ' => "h",
        'ŧ' => "t",
        'æ' => "ae",
        'œ' => "oe",
        _ => return None,
    })
}

/// A patient's `search_text`.
pub fn of(first_name: &str, last_name: &str, email: Option<&str>, phone: Option<&str>) -> String {
    fold(&format!("{first_name} {last_name} {} {}", email.unwrap_or(""), phone.unwrap_or("")))
}

/// Folds the text of every patient marked `search_stale` (written before the application
/// folded, or by a writer that does not fold: migrations/0070), in id order and in batches;
/// returns how many. A row changed meanwhile is left to whoever changed it (a writer that folds
/// cleared the mark; one that does not set it again for the next run). `updated_at` is left
/// alone: the patient did not change.
pub async fn refold_stale(db: &PgPool) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    let mut after = 0;
    loop {
        let rows = sqlx::query!(
            "SELECT id, first_name, last_name, email, phone FROM patients
             WHERE search_stale AND id > $1 ORDER BY id LIMIT $2",
            after,
            REFOLD_BATCH,
        )
        .fetch_all(db)
        .await?;
        let Some(last) = rows.last() else { return Ok(total) };
        after = last.id;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let texts: Vec<String> =
            rows.iter().map(|r| of(&r.first_name, &r.last_name, r.email.as_deref(), r.phone.as_deref())).collect();
        let firsts: Vec<String> = rows.iter().map(|r| r.first_name.clone()).collect();
        let lasts: Vec<String> = rows.iter().map(|r| r.last_name.clone()).collect();
        let emails: Vec<Option<String>> = rows.iter().map(|r| r.email.clone()).collect();
        let phones: Vec<Option<String>> = rows.iter().map(|r| r.phone.clone()).collect();
        let mut tx = db.begin().await?;
        sqlx::query!("SET LOCAL klinivo.refolding_search = on").execute(&mut *tx).await?;
        let done = sqlx::query!(
            "UPDATE patients p SET search_text = u.text, search_stale = false
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                  AS u(id, text, first_name, last_name, email, phone)
             WHERE p.id = u.id AND p.search_stale
               AND (p.first_name, p.last_name, p.email, p.phone)
                   IS NOT DISTINCT FROM (u.first_name, u.last_name, u.email, u.phone)",
            &ids,
            &texts,
            &firsts,
            &lasts,
            &emails as &[Option<String>],
            &phones as &[Option<String>],
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        total += done.rows_affected();
        if (rows.len() as i64) < REFOLD_BATCH {
            return Ok(total);
        }
    }
}

/// Re-folds stale patients at start and then every minute, until `stop`.
pub async fn run(db: PgPool, stop: CancellationToken) {
    loop {
        match refold_stale(&db).await {
            Ok(n) if n > 0 => tracing::info!(patients = n, "patients' search text re-folded"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "re-folding patients' search text failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(REFOLD_EVERY) => {}
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_accents_and_compatibility_forms_fold_away() {
        for (text, folded) in [
            ("José García", "jose garcia"),
            ("GARCÍA", "garcia"),
            ("Lucía", "lucia"),
            ("ＧＡＲＣＩＡ", "garcia"),
            ("Straße", "strasse"),
            ("ΟΔΥΣΣΕΥΣ", "οδυσσευσ"),
            ("Οδυσσεύς", "οδυσσευσ"),
            ("İstanbul", "istanbul"),
            ("ﬁnn", "finn"),
            ("Ångström", "angstrom"),
            ("Nguyễn", "nguyen"),
            ("Dvořák", "dvorak"),
            ("Ильич", "ильич"),
            ("Søren Ødegård", "soren odegard"),
            ("ŁUKASZ", "lukasz"),
            ("Đorđević", "dordevic"),
            ("Æbelø", "aebelo"),
            ("Œuvre", "oeuvre"),
            ("Grace Hopper grace@example.test +14155550123", "grace hopper grace@example.test +14155550123"),
        ] {
            assert_eq!(fold(text), folded, "{text}");
        }
    }

    #[test]
    fn every_character_folds_like_its_upper_and_lower_case_and_folding_is_stable() {
        let mut bad = Vec::new();
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let f = fold(&c.to_string());
            if fold(&f) != f {
                bad.push(format!("stable {c:?} {:X} {f:?} {:?}", c as u32, fold(&f)));
            }
            for other in [c.to_uppercase().collect::<String>(), c.to_lowercase().collect::<String>()] {
                if fold(&other) != f {
                    bad.push(format!("case {c:?} {:X} {other:?} {f:?} {:?}", c as u32, fold(&other)));
                }
            }
        }
        assert!(bad.is_empty(), "{}\n{}", bad.len(), bad.join("\n"));
    }
}
