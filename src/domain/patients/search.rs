//! Patient search (`q` without `updatedSince`): the patterns a term becomes, and the steps that
//! find a page of matches whatever the term's frequency.

use sqlx::PgConnection;
use uuid::Uuid;

use super::list::Filters;
use super::model::PatientRow;
use crate::domain::{PageRequest, Result};

/// How many patients (in id order after the cursor) the first step looks at: enough to tell a
/// common term from a rare one, few enough that a rare term (most searches: a full name, an
/// email, phone digits, most surnames) loses little on it before the index answers.
const SEARCH_PREFIX_ROWS: i64 = 300;
/// Matches in that prefix from which walking further beats the trigram index. A walk needs
/// about `fetch / density` rows, each far cheaper than one match found through the index over
/// the whole organization; the two cost the same at a density of about one percent for an
/// organization of 100,000 patients, and five matches in 300 rows sends the common terms to the
/// walk while rarely walking for a rare one. The per-row and per-match costs, and the comparison
/// with a larger prefix, are in bench/README.md ("Figures behind the decisions").
const SEARCH_DENSE_MATCHES: i64 = 5;
/// The longest walk before the index takes over.
const SEARCH_WALK_MAX_ROWS: i64 = 20_000;

/// `LIKE` patterns for `q` over `search_text` (`first last email phone`, folded), with `%`, `_`
/// and `\` in the text escaped, and the needle the walk looks for; none for a term that folds
/// to nothing (only combining marks). The term is folded first, by the same function as the
/// stored text, and escaped after (folding can make a `%` of `％`). Three characters or more: a
/// substring match, which the trigram index serves (`%text%`, needle `text`). Fewer: a trigram
/// index cannot narrow a substring of one or two characters, so they match the start of a word
/// instead (`jo%` or `% jo%`, no needle), which it can.
pub(super) fn patterns(q: &str) -> (Option<String>, Option<String>, Option<String>) {
    let text = crate::domain::search_text::fold(q).split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return (None, None, None);
    }
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    if text.chars().count() >= 3 {
        (Some(format!("%{escaped}%")), None, Some(text))
    } else {
        (Some(format!("{escaped}%")), Some(format!("% {escaped}%")), None)
    }
}

/// A page of `q` matches in id order, in steps whose cost does not hang on the planner's
/// guess of how common the term is (a sampled estimate that is often off by 2–3× for names):
///
/// 1. Walk the next [`SEARCH_PREFIX_ROWS`] patients in id order and keep the matches. A very
///    common term (`son`, `jo`) fills the page here in about a tenth of a millisecond.
/// 2. A term matching at least [`SEARCH_DENSE_MATCHES`] of them (`james`, one patient in 25)
///    walks on, about three times as far as needed to fill the page, up to
///    [`SEARCH_WALK_MAX_ROWS`]; the walk stops as soon as the page is full.
/// 3. Otherwise (or if that did not fill the page) the term is rare: take every match after
///    the cursor from the trigram index and keep the first page (`ORDER BY id + 0` and
///    `id + 0 > cursor` keep the planner from using the primary key instead: walking it, which
///    for a term in a few hundred rows reads tens of thousands of them, or intersecting the
///    matches with every id after the cursor). Only the ids are sorted; the page's rows are
///    read by primary key afterwards (sorting every match's full row was a quarter of this
///    step's cost for a term in 1 % of patients).
///
/// Each step has one right plan whatever the term, so they run on cached generic plans
/// ([`crate::db::generic_reads`]) and are never planned per request.
///
/// `bench/src/plans.rs` copies the walk's and step 3's SQL to show their plans at the seeded
/// size: keep it in step.
///
/// `search_text` is folded when stored and the patterns are made of the folded term
/// ([`crate::domain::search_text::fold`], one definition, whatever the database's locale), so they are
/// compared with `LIKE`, half the cost of `ILIKE` per row.
pub(super) async fn search(
    conn: &mut PgConnection,
    org: Uuid,
    f: &Filters,
    page: &PageRequest,
) -> Result<Vec<PatientRow>> {
    let fetch = page.fetch();
    let mut walked = walk(&mut *conn, org, f, page, SEARCH_PREFIX_ROWS).await?;
    let found = walked.len() as i64;
    if found < fetch && found >= SEARCH_DENSE_MATCHES {
        // Dense enough that walking on is cheaper than the index: about (fetch/found)× as far
        // again fills the page; three times that leaves room for a term thinning out.
        let rows = (3 * fetch * SEARCH_PREFIX_ROWS / found).min(SEARCH_WALK_MAX_ROWS);
        walked = walk(&mut *conn, org, f, page, rows).await?;
    }
    if walked.len() as i64 == fetch {
        return Ok(walked);
    }
    Ok(sqlx::query_as!(
        PatientRow,
        r#"SELECT p.id, external_id, first_name, last_name, date_of_birth, sex, email, phone, address_line1,
                  address_line2, address_city, address_region, address_postal_code, address_country,
                  created_at, updated_at
           FROM (SELECT id FROM patients
                 WHERE organization_id = $1
                   AND (search_text LIKE $2 OR search_text LIKE $3::text)
                   AND ($4::text IS NULL OR lower(email) = lower($4))
                   AND ($5::text IS NULL OR phone = $5)
                   AND ($6::date IS NULL OR date_of_birth = $6)
                   AND ($7::text IS NULL OR external_id = $7)
                   AND id + 0 > $8
                 ORDER BY id + 0
                 LIMIT $9) m
           JOIN patients p ON p.organization_id = $1 AND p.id = m.id
           ORDER BY p.id"#,
        org,
        f.search,
        f.search_word,
        f.email,
        f.phone,
        f.date_of_birth,
        f.external_id,
        page.after_id,
        page.fetch(),
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// The matches among the next `rows` patients in id order after the cursor.
///
/// The walk reads `patients_walk` (`(organization_id, id) INCLUDE (search_text)`) alone, an
/// index-only scan, and reads the table only for the matches, one primary-key lookup each. Two
/// things steer the (generic) plan there: the row comparison on `(organization_id, id)` (with
/// `id > cursor` the planner walked the primary key, reading every row from the table, at
/// twice the cost), and the lateral sub-select for the row (as a plain join, the filters'
/// `$n IS NULL OR …` made the planner expect one row and join a sequential scan of the table).
async fn walk(
    conn: &mut PgConnection,
    org: Uuid,
    f: &Filters,
    page: &PageRequest,
    rows: i64,
) -> Result<Vec<PatientRow>> {
    Ok(sqlx::query_as!(
        PatientRow,
        r#"SELECT p.id, external_id, first_name, last_name, date_of_birth, sex, email, phone, address_line1,
                  address_line2, address_city, address_region, address_postal_code, address_country,
                  created_at, updated_at
           FROM (SELECT id, search_text FROM patients
                 WHERE organization_id = $1 AND (organization_id, id) > ($1, $8)
                 ORDER BY organization_id, id
                 LIMIT $10) w
           CROSS JOIN LATERAL (
                 SELECT * FROM patients p
                 WHERE p.organization_id = $1 AND p.id = w.id
                   AND ($4::text IS NULL OR lower(email) = lower($4))
                   AND ($5::text IS NULL OR phone = $5)
                   AND ($6::date IS NULL OR date_of_birth = $6)
                   AND ($7::text IS NULL OR external_id = $7)
                 OFFSET 0) p
           WHERE CASE WHEN $11::text IS NOT NULL THEN strpos(w.search_text, $11) > 0
                      ELSE w.search_text LIKE $2 OR w.search_text LIKE $3::text
                 END
           ORDER BY w.id
           LIMIT $9"#,
        org,
        f.search,
        f.search_word,
        f.email,
        f.phone,
        f.date_of_birth,
        f.external_id,
        page.after_id,
        page.fetch(),
        rows,
        f.needle,
    )
    .fetch_all(&mut *conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_escape_and_switch_on_length() {
        assert_eq!(patterns("Ada"), (Some("%ada%".into()), None, Some("ada".into())));
        assert_eq!(patterns("  Grace   HOPPER "), (Some("%grace hopper%".into()), None, Some("grace hopper".into())));
        assert_eq!(patterns("GARCÍA"), (Some("%garcia%".into()), None, Some("garcia".into())));
        assert_eq!(patterns("Jö"), (Some("jo%".into()), Some("% jo%".into()), None));
        assert_eq!(patterns("５０％"), (Some("%50\\%%".into()), None, Some("50%".into())));
        assert_eq!(patterns("\u{301}\u{308}"), (None, None, None));
        assert_eq!(patterns("jo"), (Some("jo%".into()), Some("% jo%".into()), None));
        assert_eq!(patterns("50%_\\x"), (Some("%50\\%\\_\\\\x%".into()), None, Some("50%_\\x".into())));
        assert_eq!(patterns("%"), (Some("\\%%".into()), Some("% \\%%".into()), None));
    }
}
