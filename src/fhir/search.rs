//! Search: the parameters a search may use (and what to do with others, per `Prefer:
//! handling`), FHIR's date prefixes, references and tokens, and the searchset Bundle with its
//! opaque `next` link.

use axum::http::HeaderMap;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};

use super::outcome::operation_outcome;
use crate::http::error::ApiError;

/// `_count` when none is given, and its bounds.
pub const DEFAULT_COUNT: i64 = 50;
pub const MAX_COUNT: i64 = 200;

/// Parameters every search understands.
const COMMON: [&str; 5] = ["_count", "_cursor", "_format", "_id", "_lastUpdated"];
/// The token parameters whose comma-separated values are alternatives; every other parameter
/// takes one value (a comma there is refused rather than matched literally).
const ALTERNATIVES: [&str; 3] = ["gender", "status", "specialty"];
/// Parameters in one search at most.
const MAX_PARAMS: usize = 50;

/// A search's parameters, checked against those its resource type supports.
#[derive(Debug)]
pub struct Params {
    pairs: Vec<(String, String)>,
    pub count: i64,
    pub cursor: Option<String>,
    /// Parameters not supported and ignored (lenient handling): reported in the Bundle.
    pub ignored: Vec<String>,
}

impl Params {
    /// Reads the query string. Unsupported parameters are refused with `Prefer:
    /// handling=strict`, and otherwise ignored with a warning in the Bundle (FHIR's default is
    /// lenient).
    pub fn parse(query: Option<&str>, headers: &HeaderMap, supported: &[&str]) -> Result<Params, ApiError> {
        let strict = headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case("handling=strict"));
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(ApiError::validation("query", "must not contain NUL characters"));
        }
        if pairs.len() > MAX_PARAMS {
            return Err(ApiError::validation("query", format!("at most {MAX_PARAMS} parameters")));
        }
        // A modifier (`family:exact`) changes what a parameter matches: one not supported is
        // refused, whatever the handling, rather than dropped (which would widen the result).
        if let Some((name, _)) = pairs.iter().find(|(k, _)| k.contains(':')) {
            return Err(ApiError::validation(name.clone(), "search modifiers are not supported"));
        }
        if let Some((name, _)) =
            pairs.iter().find(|(k, v)| v.contains(',') && !ALTERNATIVES.contains(&k.as_str()) && !k.starts_with('_'))
        {
            return Err(ApiError::validation(
                name.clone(),
                format!(
                    "takes one value: comma-separated alternatives are supported only for {}",
                    ALTERNATIVES.join(", ")
                ),
            ));
        }
        if let Some((name, _)) = pairs.iter().find(|(k, v)| k == "_id" && v.contains(',')) {
            return Err(ApiError::validation(name.clone(), "takes one id"));
        }
        let mut ignored = Vec::new();
        for (name, _) in &pairs {
            if !COMMON.contains(&name.as_str()) && !supported.contains(&name.as_str()) && !ignored.contains(name) {
                if strict {
                    return Err(ApiError::validation(
                        name.clone(),
                        format!("unknown or unsupported search parameter (supported: {})", all_names(supported)),
                    ));
                }
                ignored.push(name.clone());
            }
        }
        let mut params = Params { pairs, count: DEFAULT_COUNT, cursor: None, ignored };
        if let Some(c) = params.one("_count")? {
            params.count = match c.parse::<i64>() {
                Ok(n) if (1..=MAX_COUNT).contains(&n) => n,
                _ => {
                    return Err(ApiError::validation("_count", format!("must be a whole number from 1 to {MAX_COUNT}")))
                }
            };
        }
        if let Some(f) = params.one("_format")? {
            if !matches!(f, "json" | "application/json" | "application/fhir+json") {
                return Err(ApiError::validation("_format", "only json is served"));
            }
        }
        params.cursor = params.one("_cursor")?.map(str::to_string);
        Ok(params)
    }

    /// The value of a parameter given at most once (a repeat is refused: every search parameter
    /// here takes one value, or a comma-separated list).
    pub fn one(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() && !is_date_param(name) {
            return Err(ApiError::validation(name, "may be given once (use a comma-separated list for alternatives)"));
        }
        Ok(first.map(str::trim).filter(|v| !v.is_empty()))
    }

    /// Every value of a parameter (date parameters may be given twice, for a range).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty()).collect()
    }

    /// The query without the cursor, to build the `self` and `next` links from.
    fn link_query(&self) -> Vec<(&str, &str)> {
        self.pairs.iter().filter(|(k, _)| k != "_cursor").map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    /// `_id`, as a numeric id (a non-numeric one matches nothing: `Some(None)`).
    pub fn id(&self) -> Result<Option<Option<i64>>, ApiError> {
        Ok(self.one("_id")?.map(|v| v.parse::<i64>().ok()))
    }
}

fn all_names(supported: &[&str]) -> String {
    COMMON.iter().chain(supported).copied().filter(|n| *n != "_cursor").collect::<Vec<_>>().join(", ")
}

fn is_date_param(name: &str) -> bool {
    matches!(name, "_lastUpdated" | "date" | "start" | "birthdate")
}

/// A half-open interval of instants: `from` included, `to` excluded.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Range {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl Range {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }

    pub fn is_open(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

/// The instants a FHIR date or dateTime value covers: `2026`, `2026-03`, `2026-03-14` (UTC
/// days), or a dateTime with its offset (to the second).
fn covered(value: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        let t = t.with_timezone(&Utc);
        return Some((t, t + Duration::seconds(1)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let start = Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?);
        return Some((start, start + Duration::days(1)));
    }
    let parts: Vec<&str> = value.split('-').collect();
    let year: i32 = parts.first()?.parse().ok().filter(|_| parts[0].len() == 4)?;
    match parts.len() {
        1 => {
            let start = NaiveDate::from_ymd_opt(year, 1, 1)?;
            let end = NaiveDate::from_ymd_opt(year + 1, 1, 1)?;
            Some((
                Utc.from_utc_datetime(&start.and_hms_opt(0, 0, 0)?),
                Utc.from_utc_datetime(&end.and_hms_opt(0, 0, 0)?),
            ))
        }
        2 => {
            let month: u32 = parts[1].parse().ok().filter(|_| parts[1].len() == 2)?;
            let start = NaiveDate::from_ymd_opt(year, month, 1)?;
            let next = if month == 12 {
                NaiveDate::from_ymd_opt(year + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(year, month + 1, 1)?
            };
            let _ = start.year();
            Some((
                Utc.from_utc_datetime(&start.and_hms_opt(0, 0, 0)?),
                Utc.from_utc_datetime(&next.and_hms_opt(0, 0, 0)?),
            ))
        }
        _ => None,
    }
}

/// The range the values of a date parameter select, each with an optional prefix (`eq`, `ge`,
/// `gt`, `le`, `lt`; none is `eq`); several values narrow it (`date=ge2026-01-01&date=lt2026-02-01`).
pub fn date_range(name: &str, values: &[&str]) -> Result<Range, ApiError> {
    let mut range = Range::default();
    for value in values {
        let (prefix, rest) = match value.get(..2) {
            Some(p @ ("eq" | "ge" | "gt" | "le" | "lt")) => (p, &value[2..]),
            Some("ne" | "sa" | "eb" | "ap") => {
                return Err(ApiError::validation(name, "only the prefixes eq, ge, gt, le and lt are supported"))
            }
            _ => ("eq", *value),
        };
        let (start, end) = covered(rest).ok_or_else(|| {
            ApiError::validation(
                name,
                "must be a FHIR date or dateTime (2026-03-14, 2026-03-14T09:00:00Z), with an optional prefix",
            )
        })?;
        let (from, to) = match prefix {
            "eq" => (Some(start), Some(end)),
            "ge" => (Some(start), None),
            "gt" => (Some(end), None),
            "le" => (None, Some(end)),
            _ => (None, Some(start)),
        };
        if let Some(f) = from {
            range.from = Some(range.from.map_or(f, |r| r.max(f)));
        }
        if let Some(t) = to {
            range.to = Some(range.to.map_or(t, |r| r.min(t)));
        }
    }
    Ok(range)
}

/// A reference parameter's id: `Patient/12`, or `12` alone. `None` when it names another type
/// or no number (it then matches nothing).
pub fn reference_id(value: &str, resource_type: &str) -> Option<i64> {
    let id = match value.split_once('/') {
        Some((t, id)) if t == resource_type => id,
        Some(_) => return None,
        None => value,
    };
    id.parse().ok()
}

/// A token parameter's values: `a,b` is either; `system|code` keeps the code.
pub fn tokens(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|t| t.rsplit_once('|').map(|(_, c)| c).unwrap_or(t).trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// A searchset Bundle: the entries (each with its `fullUrl` and `search.mode`), `self` and `next`
/// links, and a warning entry naming the parameters that were ignored.
pub fn bundle(
    base: &str,
    resource_type: &str,
    params: &Params,
    resources: Vec<Value>,
    next_cursor: Option<String>,
) -> Value {
    let link = |cursor: Option<&str>| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params.link_query() {
            s.append_pair(k, v);
        }
        if let Some(c) = cursor {
            s.append_pair("_cursor", c);
        }
        let q = s.finish();
        if q.is_empty() {
            format!("{base}/{resource_type}")
        } else {
            format!("{base}/{resource_type}?{q}")
        }
    };
    let mut links = vec![json!({"relation": "self", "url": link(params.cursor.as_deref())})];
    if let Some(next) = &next_cursor {
        links.push(json!({"relation": "next", "url": link(Some(next))}));
    }
    let mut entries: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let url = format!(
                "{base}/{}/{}",
                r["resourceType"].as_str().unwrap_or(resource_type),
                r["id"].as_str().unwrap_or("")
            );
            json!({"fullUrl": url, "resource": r, "search": {"mode": "match"}})
        })
        .collect();
    if !params.ignored.is_empty() {
        let issues: Vec<(String, Option<String>)> = params
            .ignored
            .iter()
            .map(|p| (format!("The search parameter {p} is not supported and was ignored"), Some(p.clone())))
            .collect();
        entries.push(
            json!({"resource": operation_outcome("warning", "not-supported", &issues), "search": {"mode": "outcome"}}),
        );
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": super::resources::instant(Utc::now()),
        "link": links,
    });
    // FHIR JSON has no empty arrays: an empty page has no `entry`.
    if !entries.is_empty() {
        bundle["entry"] = json!(entries);
    }
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn date_prefixes_make_half_open_ranges() {
        let r = date_range("date", &["ge2026-03-01", "lt2026-04"]).unwrap();
        assert_eq!(r.from, Some(t("2026-03-01T00:00:00Z")));
        assert_eq!(r.to, Some(t("2026-04-01T00:00:00Z")));
        let day = date_range("date", &["2026-03-14"]).unwrap();
        assert!(day.contains(t("2026-03-14T23:59:59Z")) && !day.contains(t("2026-03-15T00:00:00Z")));
        let le = date_range("date", &["le2026-03-14"]).unwrap();
        assert!(le.contains(t("2026-03-14T12:00:00Z")) && !le.contains(t("2026-03-15T00:00:00Z")));
        let gt = date_range("date", &["gt2026-03-14T09:00:00+01:00"]).unwrap();
        assert_eq!(gt.from, Some(t("2026-03-14T08:00:01Z")));
        assert!(date_range("date", &["ne2026"]).is_err());
        assert!(date_range("date", &["March"]).is_err());
        assert_eq!(date_range("date", &["2026"]).unwrap().to, Some(t("2027-01-01T00:00:00Z")));
        assert_eq!(date_range("date", &["2026-12"]).unwrap().to, Some(t("2027-01-01T00:00:00Z")));
    }

    #[test]
    fn references_and_tokens() {
        assert_eq!(reference_id("Patient/12", "Patient"), Some(12));
        assert_eq!(reference_id("12", "Patient"), Some(12));
        assert_eq!(reference_id("Practitioner/12", "Patient"), None);
        assert_eq!(tokens("booked, cancelled"), ["booked", "cancelled"]);
        assert_eq!(tokens("http://hl7.org/fhir/administrative-gender|female"), ["female"]);
    }
}
