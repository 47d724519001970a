//! Practitioner and PractitionerRole (providers, provider × location), Location, Organization.
//! None of them is PHI.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use serde_json::{json, Value};

use super::{base, kept, meta, numeric_id, page_request, reference};
use crate::auth::permissions::ReadProviders;
use crate::domain::locations::{self, Location};
use crate::domain::organizations::{self, Organization};
use crate::domain::providers::{self, ListFilter, Provider};
use crate::domain::search_text::fold;
use crate::fhir::search::{bundle, date_range, reference_id, tokens, Params};
use crate::fhir::Fhir;
use crate::http::error::ApiError;
use crate::http::extract::Auth;
use crate::state::AppState;

fn provider_name(p: &Provider) -> Value {
    let mut name = json!({"use": "official", "family": p.last_name, "given": [p.first_name]});
    if let Some(title) = &p.title {
        name["suffix"] = json!([title]);
    }
    name
}

pub fn practitioner(p: &Provider) -> Value {
    let mut r = json!({
        "resourceType": "Practitioner",
        "id": p.id.to_string(),
        "meta": meta(p.updated_at),
        "identifier": [{"system": "urn:klinivo:provider-id", "value": p.id.to_string()}],
        "active": p.active,
        "name": [provider_name(p)],
    });
    if let Some(email) = &p.email {
        r["telecom"] = json!([{"system": "email", "value": email, "use": "work"}]);
    }
    r
}

/// A provider at one of their locations: id `{providerId}-{locationId}`.
pub fn role(p: &Provider, location_id: i64, org: &uuid::Uuid) -> Value {
    let mut r = json!({
        "resourceType": "PractitionerRole",
        "id": format!("{}-{location_id}", p.id),
        "meta": meta(p.updated_at),
        "active": p.active,
        "practitioner": reference("Practitioner", p.id),
        "organization": reference("Organization", org),
        "location": [reference("Location", location_id)],
    });
    if let Some(s) = &p.specialty {
        r["specialty"] = json!([{"text": s}]);
    }
    r
}

pub fn location(l: &Location, org: &uuid::Uuid) -> Value {
    let mut r = json!({
        "resourceType": "Location",
        "id": l.id.to_string(),
        "meta": meta(l.updated_at),
        "status": "active",
        "name": l.name,
        "mode": "instance",
        "managingOrganization": reference("Organization", org),
    });
    if let Some(a) = super::patient::address(&l.address) {
        r["address"] = a;
    }
    if let Some(phone) = &l.phone {
        r["telecom"] = json!([{"system": "phone", "value": phone, "use": "work"}]);
    }
    r
}

pub fn organization(o: &Organization) -> Value {
    json!({
        "resourceType": "Organization",
        "id": o.id.to_string(),
        "meta": meta(o.created_at),
        "active": true,
        "name": o.name,
    })
}

pub async fn read_practitioner(
    auth: Auth<ReadProviders>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Fhir, ApiError> {
    let p = providers::get(&state.reads, auth.organization_id, numeric_id(&id, "Practitioner")?).await?;
    Ok(Fhir::plain(practitioner(&p)))
}

/// A page of providers narrowed by `filter`, `_id` and `_lastUpdated`.
async fn providers_page(
    state: &AppState,
    org: uuid::Uuid,
    params: &Params,
    filter: ListFilter,
) -> Result<(Vec<Provider>, Option<String>), ApiError> {
    let last_updated = date_range("_lastUpdated", &params.all("_lastUpdated"))?;
    let (rows, next) = match params.id()? {
        Some(Some(id)) => (super::found(providers::get(&state.reads, org, id).await)?.into_iter().collect(), None),
        Some(None) => (vec![], None),
        None => kept(providers::list(&state.db, org, &filter, &page_request(params, &last_updated)?).await?, |_| true),
    };
    Ok((rows.into_iter().filter(|p| last_updated.contains(p.updated_at)).collect(), next))
}

pub async fn search_practitioners(
    auth: Auth<ReadProviders>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Fhir, ApiError> {
    let params = Params::parse(uri.query(), &headers, &super::supported("Practitioner"))?;
    let name = params.one("name")?.map(fold);
    let (rows, next) = providers_page(&state, auth.organization_id, &params, ListFilter::default()).await?;
    let resources = rows
        .iter()
        .filter(|p| {
            name.as_ref().is_none_or(|n| fold(&p.first_name).starts_with(n) || fold(&p.last_name).starts_with(n))
        })
        .map(practitioner)
        .collect();
    Ok(Fhir::plain(bundle(&base(&state), "Practitioner", &params, resources, next)))
}

/// `{providerId}-{locationId}`.
fn pair_id(id: &str) -> Option<(i64, i64)> {
    let (a, b) = id.split_once('-')?;
    Some((super::canonical(a)?, super::canonical(b)?))
}

pub async fn read_role(
    auth: Auth<ReadProviders>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Fhir, ApiError> {
    let (provider_id, location_id) = pair_id(&id).ok_or(ApiError::NotFound("PractitionerRole"))?;
    let p = providers::get(&state.reads, auth.organization_id, provider_id).await?;
    if !p.location_ids.contains(&location_id) {
        return Err(ApiError::NotFound("PractitionerRole"));
    }
    Ok(Fhir::plain(role(&p, location_id, &auth.organization_id)))
}

pub async fn search_roles(
    auth: Auth<ReadProviders>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Fhir, ApiError> {
    let params = Params::parse(uri.query(), &headers, &super::supported("PractitionerRole"))?;
    let practitioner = params.one("practitioner")?.map(|v| reference_id(v, "Practitioner"));
    let location = params.one("location")?.map(|v| reference_id(v, "Location"));
    let specialty = params.one("specialty")?.map(|v| tokens(v).iter().map(|t| fold(t)).collect::<Vec<_>>());
    // `_id` names a role (`3-1`): its provider is searched, its location kept.
    let role_id = params.one("_id")?.map(pair_id);
    let org = auth.organization_id;
    let (rows, next) = match (role_id, practitioner) {
        (Some(None), _) | (_, Some(None)) => (vec![], None),
        (Some(Some((p, _))), _) | (None, Some(Some(p))) => {
            (super::found(providers::get(&state.reads, org, p).await)?.into_iter().collect(), None)
        }
        (None, None) => {
            let filter = ListFilter { location_id: location.flatten(), active: None };
            let last_updated = date_range("_lastUpdated", &params.all("_lastUpdated"))?;
            kept(providers::list(&state.db, org, &filter, &page_request(&params, &last_updated)?).await?, |_| true)
        }
    };
    let last_updated = date_range("_lastUpdated", &params.all("_lastUpdated"))?;
    let mut resources = Vec::new();
    for p in rows.iter().filter(|p| last_updated.contains(p.updated_at)) {
        if specialty.as_ref().is_some_and(|s| !p.specialty.as_deref().is_some_and(|ps| s.contains(&fold(ps)))) {
            continue;
        }
        for l in &p.location_ids {
            let wanted_location = match location {
                Some(Some(id)) => id == *l,
                Some(None) => false,
                None => true,
            };
            let wanted_role = match role_id {
                Some(Some((_, id))) => id == *l,
                _ => true,
            };
            if wanted_location && wanted_role {
                resources.push(role(p, *l, &org));
            }
        }
    }
    Ok(Fhir::plain(bundle(&base(&state), "PractitionerRole", &params, resources, next)))
}

pub async fn read_location(
    auth: Auth<ReadProviders>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Fhir, ApiError> {
    let l = locations::get(&state.reads, auth.organization_id, numeric_id(&id, "Location")?).await?;
    Ok(Fhir::plain(location(&l, &auth.organization_id)))
}

pub async fn search_locations(
    auth: Auth<ReadProviders>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Fhir, ApiError> {
    let params = Params::parse(uri.query(), &headers, &super::supported("Location"))?;
    let last_updated = date_range("_lastUpdated", &params.all("_lastUpdated"))?;
    let name = params.one("name")?.map(fold);
    let org = auth.organization_id;
    let (rows, next) = match params.id()? {
        Some(Some(id)) => (super::found(locations::get(&state.reads, org, id).await)?.into_iter().collect(), None),
        Some(None) => (vec![], None),
        None => kept(locations::list(&state.db, org, &page_request(&params, &last_updated)?).await?, |_| true),
    };
    let resources = rows
        .iter()
        .filter(|l| last_updated.contains(l.updated_at))
        .filter(|l| name.as_ref().is_none_or(|n| fold(&l.name).contains(n.as_str())))
        .map(|l| location(l, &org))
        .collect();
    Ok(Fhir::plain(bundle(&base(&state), "Location", &params, resources, next)))
}

pub async fn read_organization(
    auth: Auth<ReadProviders>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Fhir, ApiError> {
    if id != auth.organization_id.to_string() {
        return Err(ApiError::NotFound("Organization"));
    }
    let o = organizations::get(&state.db, auth.organization_id).await?;
    Ok(Fhir::plain(organization(&o)))
}

pub async fn search_organizations(
    auth: Auth<ReadProviders>,
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Fhir, ApiError> {
    let params = Params::parse(uri.query(), &headers, &super::supported("Organization"))?;
    let last_updated = date_range("_lastUpdated", &params.all("_lastUpdated"))?;
    let o = organizations::get(&state.db, auth.organization_id).await?;
    let wanted = params.one("_id")?.is_none_or(|id| id == o.id.to_string())
        && last_updated.contains(o.created_at)
        && params.cursor.is_none();
    let resources = if wanted { vec![organization(&o)] } else { vec![] };
    Ok(Fhir::plain(bundle(&base(&state), "Organization", &params, resources, None)))
}
