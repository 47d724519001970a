//! `GET /patients`: search, filters and cursor pagination.

use axum::extract::State;
use chrono::NaiveDate;

use crate::auth::permissions::ReadPatients;
use crate::domain::patients::{self, ListFilter, Patient};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Auth, Query};
use crate::http::pagination::{list_query, paged};
use crate::http::response::Records;
use crate::state::AppState;

paged!(PatientList = Patient, "patients");

list_query! {
    pub struct PatientListQuery {
        /// Search over name, email and phone (≤ 200 characters), insensitive to case, accents and
        /// Unicode compatibility forms in any script: `garcia`, `GARCÍA` and `García` all find José
        /// García, and `Lucía` finds Lucia. Three characters or more match anywhere (`ada` finds
        /// Adam and Nadal); one or two characters match the start of a word (`jo` finds John and
        /// Jones, not Bjorn).
        pub q: Option<String>,
        /// Exact email address, case-insensitive.
        pub email: Option<String>,
        /// Exact phone number in E.164 (`+14155550123`; encode `+` as `%2B`).
        pub phone: Option<String>,
        /// Exact date of birth, `YYYY-MM-DD`.
        #[param(value_type = Option<NaiveDate>)]
        #[serde(default, deserialize_with = "crate::http::time::optional_date")]
        pub date_of_birth: Option<NaiveDate>,
        /// Exact externalId.
        pub external_id: Option<String>,
    }
}

impl PatientListQuery {
    fn filter(self) -> ListFilter {
        ListFilter {
            q: self.q,
            email: self.email,
            phone: self.phone,
            date_of_birth: self.date_of_birth,
            external_id: self.external_id,
        }
    }
}

/// List and search patients
///
/// Ordered by ascending id; with `updatedSince`, by `(updatedAt, id)`, so a patient changed
/// while you page moves behind the cursor and comes again rather than being skipped. A change
/// is served only after every change made before it has committed (or rolled back), so none
/// lands behind a cursor or an `updatedAt` you have already been given.
/// Unknown query parameters are a `400`.
#[utoipa::path(
    get,
    path = "/api/v1/patients",
    tag = "Patients",
    params(PatientListQuery),
    responses(
        (status = 200, description = "A page of patients", body = PatientList),
        (status = 400, description = "A bad filter (`validation_error`) or cursor (`invalid_cursor`)", body = ErrorBody),
    )
)]
pub async fn list_patients(
    auth: Auth<ReadPatients>,
    State(state): State<AppState>,
    Query(query): Query<PatientListQuery>,
) -> Result<Records<PatientList>, ApiError> {
    let page = query.page()?;
    let filter = query.filter();
    Ok(Records(patients::list(&state.db, &state.generic_reads, auth.organization_id, &filter, &page).await?))
}
