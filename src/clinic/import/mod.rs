//! `klinivo clinic import`: a clinic file (docs/clinic-import.md) applied in one transaction.
//!
//! Idempotent: locations and providers are matched by `(organization, key)`; a row is written
//! only when something in it differs, and a provider's locations and working hours are replaced
//! only when the set differs, so importing the same file twice changes nothing (not even
//! `updatedAt`). Locations and providers absent from the file are left as they are.

mod apply;
pub mod format;
pub mod validate;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

pub use apply::apply;
pub use format::{ClinicFile, HoursSpec, LocationSpec, ProviderSpec};
pub use validate::{validate, ValidClinic};

/// One thing wrong with a clinic file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Path in the file, e.g. `providers[2].workingHours[0].endTime`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the clinic file is not valid JSON: {0}")]
    Json(String),
    #[error("organization {0} not found")]
    UnknownOrganization(Uuid),
    #[error("the clinic file has {} problem(s); nothing was imported:\n{}", .0.len(), list(.0))]
    Invalid(Vec<Problem>),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
}

impl ImportError {
    /// The problems, when the file was rejected for its content.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ImportError::Invalid(p) => p,
            _ => &[],
        }
    }
}

/// How many rows an import created, changed or left alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// What an import did, and the API ids of the file's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    pub organization_id: Uuid,
    pub locations: Counts,
    /// A provider counts as updated when its fields, locations or working hours changed.
    pub providers: Counts,
    pub location_ids: BTreeMap<String, i64>,
    pub provider_ids: BTreeMap<String, i64>,
}

impl ImportSummary {
    pub fn changed_nothing(&self) -> bool {
        self.locations.created + self.locations.updated + self.providers.created + self.providers.updated == 0
    }
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (l, p) = (self.locations, self.providers);
        write!(
            f,
            "locations: {} created, {} updated, {} unchanged; providers: {} created, {} updated, {} unchanged",
            l.created, l.updated, l.unchanged, p.created, p.updated, p.unchanged
        )
    }
}

/// Parses a clinic file; errors name the line, column and field.
pub fn parse(bytes: &[u8]) -> Result<ClinicFile, ImportError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let file: ClinicFile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if matches!(inner.classify(), serde_json::error::Category::Data) {
            let path = if path == "." { "(top level)".to_string() } else { path };
            ImportError::Invalid(vec![Problem { path, message: inner.to_string() }])
        } else {
            ImportError::Json(inner.to_string())
        }
    })?;
    de.end().map_err(|e| ImportError::Json(e.to_string()))?;
    Ok(file)
}

/// Validates the file, then applies it to the organization in one transaction.
pub async fn import(db: &PgPool, organization_id: Uuid, file: &ClinicFile) -> Result<ImportSummary, ImportError> {
    let clinic = validate(file).map_err(ImportError::Invalid)?;
    let mut tx = db.begin().await?;
    let summary = apply(&mut tx, organization_id, &clinic).await?;
    tx.commit().await?;
    Ok(summary)
}

/// `parse` then `import`.
pub async fn import_json(db: &PgPool, organization_id: Uuid, bytes: &[u8]) -> Result<ImportSummary, ImportError> {
    import(db, organization_id, &parse(bytes)?).await
}
