//! The provider as the API shows it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::pagination::Page;

/// A clinician who sees patients at one or more locations.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    #[schema(example = 3)]
    pub id: i64,
    #[schema(example = "Amelia")]
    pub first_name: String,
    #[schema(example = "Chen")]
    pub last_name: String,
    #[schema(example = "MD")]
    pub title: Option<String>,
    #[schema(example = "Family Medicine")]
    pub specialty: Option<String>,
    #[schema(example = "amelia.chen@example.com")]
    pub email: Option<String>,
    /// The locations this provider works at, ascending.
    #[schema(example = json!([1, 2]))]
    pub location_ids: Vec<i64>,
    /// Inactive providers are listed but have no availability.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// Also moves when the provider's locations or working hours change.
    pub updated_at: DateTime<Utc>,
}

/// One page of providers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderList {
    pub data: Vec<Provider>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl From<Page<Provider>> for ProviderList {
    fn from(page: Page<Provider>) -> Self {
        ProviderList { data: page.data, next_cursor: page.next_cursor }
    }
}
