//! Checks a clinic file completely before anything is written, and normalizes it. Every
//! problem is reported with its path in the file (`providers[2].workingHours[0].endTime`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveTime;
use chrono_tz::Tz;

use super::format::{ClinicFile, LocationSpec, ProviderSpec};
use super::Problem;
use crate::domain::Address;

const MAX_KEY: usize = 100;
const MAX_NAME: usize = 200;
const MAX_PERSON_NAME: usize = 100;
const MAX_TEXT: usize = 200;

/// A location ready to write.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidLocation {
    pub key: String,
    pub name: String,
    pub timezone: String,
    pub phone: Option<String>,
    pub address: Address,
}

/// One weekly block, one weekday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ValidHours {
    pub weekday: i16,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// A provider ready to write; `hours` are keyed by location key.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidProvider {
    pub key: String,
    pub first_name: String,
    pub last_name: String,
    pub title: Option<String>,
    pub specialty: Option<String>,
    pub email: Option<String>,
    pub active: bool,
    /// Location keys, in file order, without repeats.
    pub locations: Vec<String>,
    pub hours: Vec<(String, ValidHours)>,
    /// Where this provider is in the file, for error messages.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidClinic {
    pub locations: Vec<ValidLocation>,
    pub providers: Vec<ValidProvider>,
}

impl ValidClinic {
    /// Location keys providers use that the file does not define (must already exist).
    pub fn external_location_keys(&self) -> BTreeSet<String> {
        let defined: BTreeSet<&str> = self.locations.iter().map(|l| l.key.as_str()).collect();
        self.providers
            .iter()
            .flat_map(|p| p.locations.iter())
            .filter(|k| !defined.contains(k.as_str()))
            .cloned()
            .collect()
    }
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem { path: path.into(), message: message.into() });
    }

    fn key(&mut self, path: &str, key: &str) {
        let ok = (1..=MAX_KEY).contains(&key.len())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            self.problem(path, format!("must be 1 to {MAX_KEY} characters of letters, digits, '-', '_' or '.'"));
        }
    }

    fn required(&mut self, path: &str, value: &str, max: usize) -> String {
        let value = value.trim();
        if value.is_empty() {
            self.problem(path, "must not be empty");
        } else if value.chars().count() > max {
            self.problem(path, format!("must be at most {max} characters"));
        }
        value.to_string()
    }

    fn optional(&mut self, path: &str, value: &Option<String>, max: usize) -> Option<String> {
        let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        if value.chars().count() > max {
            self.problem(path, format!("must be at most {max} characters"));
        }
        Some(value.to_string())
    }

    fn phone(&mut self, path: &str, value: &Option<String>) -> Option<String> {
        let phone = self.optional(path, value, 16)?;
        let digits = phone.strip_prefix('+').unwrap_or("");
        let ok =
            (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0');
        if !ok {
            self.problem(path, "must be an E.164 phone number, e.g. +12125550100");
        }
        Some(phone)
    }

    fn email(&mut self, path: &str, value: &Option<String>) -> Option<String> {
        let email = self.optional(path, value, 254)?;
        let plausible = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && !email.chars().any(char::is_whitespace)
            }
            None => false,
        };
        if !plausible {
            self.problem(path, "must be an email address");
        }
        Some(email)
    }

    fn address(&mut self, path: &str, address: &Option<Address>) -> Address {
        let Some(a) = address else { return Address::default() };
        let country = self.optional(&format!("{path}.country"), &a.country, 2);
        if let Some(c) = &country {
            if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
                self.problem(format!("{path}.country"), "must be an ISO 3166-1 alpha-2 code, e.g. US");
            }
        }
        Address {
            line1: self.optional(&format!("{path}.line1"), &a.line1, MAX_TEXT),
            line2: self.optional(&format!("{path}.line2"), &a.line2, MAX_TEXT),
            city: self.optional(&format!("{path}.city"), &a.city, MAX_TEXT),
            region: self.optional(&format!("{path}.region"), &a.region, MAX_TEXT),
            postal_code: self.optional(&format!("{path}.postalCode"), &a.postal_code, 20),
            country,
        }
    }

    fn location(&mut self, i: usize, spec: &LocationSpec) -> ValidLocation {
        let path = format!("locations[{i}]");
        self.key(&format!("{path}.key"), &spec.key);
        let timezone = spec.timezone.trim().to_string();
        if timezone.parse::<Tz>().is_err() {
            self.problem(
                format!("{path}.timezone"),
                format!("{:?} is not an IANA time zone (e.g. America/New_York)", spec.timezone),
            );
        }
        ValidLocation {
            key: spec.key.clone(),
            name: self.required(&format!("{path}.name"), &spec.name, MAX_NAME),
            timezone,
            phone: self.phone(&format!("{path}.phone"), &spec.phone),
            address: self.address(&format!("{path}.address"), &spec.address),
        }
    }

    fn time(&mut self, path: &str, value: &str) -> Option<NaiveTime> {
        let parsed = if value.len() == 5 { NaiveTime::parse_from_str(value, "%H:%M").ok() } else { None };
        if parsed.is_none() {
            self.problem(path, format!("{value:?} is not a time of day HH:MM (00:00 to 23:59)"));
        }
        parsed
    }

    fn provider(&mut self, i: usize, spec: &ProviderSpec) -> ValidProvider {
        let path = format!("providers[{i}]");
        self.key(&format!("{path}.key"), &spec.key);
        let mut locations: Vec<String> = Vec::new();
        for (j, key) in spec.locations.iter().enumerate() {
            if locations.contains(key) {
                self.problem(format!("{path}.locations[{j}]"), format!("location {key:?} is listed twice"));
            } else {
                locations.push(key.clone());
            }
        }
        let mut hours: Vec<(String, ValidHours, String)> = Vec::new();
        for (j, h) in spec.working_hours.iter().enumerate() {
            let hpath = format!("{path}.workingHours[{j}]");
            if !locations.contains(&h.location) {
                self.problem(
                    format!("{hpath}.location"),
                    format!("location {:?} is not in this provider's locations", h.location),
                );
            }
            if h.weekdays.is_empty() {
                self.problem(format!("{hpath}.weekdays"), "must list at least one weekday (1 = Monday … 7 = Sunday)");
            }
            let mut days = BTreeSet::new();
            for (k, &d) in h.weekdays.iter().enumerate() {
                if !(1..=7).contains(&d) {
                    self.problem(format!("{hpath}.weekdays[{k}]"), "must be 1 (Monday) to 7 (Sunday)");
                } else if !days.insert(d) {
                    self.problem(format!("{hpath}.weekdays[{k}]"), format!("weekday {d} is listed twice"));
                }
            }
            let start = self.time(&format!("{hpath}.startTime"), &h.start_time);
            let end = self.time(&format!("{hpath}.endTime"), &h.end_time);
            let (Some(start), Some(end)) = (start, end) else { continue };
            if end <= start {
                self.problem(format!("{hpath}.endTime"), "must be after startTime (blocks cannot cross midnight)");
                continue;
            }
            for d in days {
                hours.push((h.location.clone(), ValidHours { weekday: d as i16, start, end }, hpath.clone()));
            }
        }
        self.overlaps(&mut hours);
        ValidProvider {
            key: spec.key.clone(),
            first_name: self.required(&format!("{path}.firstName"), &spec.first_name, MAX_PERSON_NAME),
            last_name: self.required(&format!("{path}.lastName"), &spec.last_name, MAX_PERSON_NAME),
            title: self.optional(&format!("{path}.title"), &spec.title, MAX_TEXT),
            specialty: self.optional(&format!("{path}.specialty"), &spec.specialty, MAX_TEXT),
            email: self.email(&format!("{path}.email"), &spec.email),
            active: spec.active,
            locations,
            hours: hours.into_iter().map(|(l, h, _)| (l, h)).collect(),
            path,
        }
    }

    /// Blocks of one provider at one location on one weekday must not overlap (touching is fine).
    fn overlaps(&mut self, hours: &mut [(String, ValidHours, String)]) {
        hours.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        // The block reaching furthest so far in the current (location, weekday) group.
        let mut reach: Option<(&str, i16, NaiveTime, &str)> = None;
        // (block, the block it overlaps, location) → weekdays
        let mut found: BTreeMap<(String, String, String), Vec<i16>> = BTreeMap::new();
        for (location, h, path) in hours.iter() {
            match reach {
                Some((l, d, end, other)) if l == location && d == h.weekday && h.start < end => {
                    found.entry((path.clone(), other.to_string(), l.to_string())).or_default().push(d);
                    if h.end > end {
                        reach = Some((l, d, h.end, path));
                    }
                }
                _ => reach = Some((location, h.weekday, h.end, path)),
            }
        }
        for ((path, other, location), days) in found {
            let days: Vec<String> = days.iter().map(i16::to_string).collect();
            self.problem(path, format!("overlaps {other} at location {location:?} on weekday {}", days.join(", ")));
        }
    }
}

/// Validates and normalizes the whole file; all problems at once.
pub fn validate(file: &ClinicFile) -> Result<ValidClinic, Vec<Problem>> {
    let mut c = Checker { problems: Vec::new() };
    if let Some(v) = file.version.filter(|&v| v != 1) {
        c.problem("version", format!("unsupported version {v}; this server reads version 1"));
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, l) in file.locations.iter().enumerate() {
        if let Some(first) = seen.insert(&l.key, i) {
            c.problem(
                format!("locations[{i}].key"),
                format!("duplicate location key {:?} (also locations[{first}])", l.key),
            );
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, p) in file.providers.iter().enumerate() {
        if let Some(first) = seen.insert(&p.key, i) {
            c.problem(
                format!("providers[{i}].key"),
                format!("duplicate provider key {:?} (also providers[{first}])", p.key),
            );
        }
    }
    let locations = file.locations.iter().enumerate().map(|(i, l)| c.location(i, l)).collect();
    let providers = file.providers.iter().enumerate().map(|(i, p)| c.provider(i, p)).collect();
    if c.problems.is_empty() {
        Ok(ValidClinic { locations, providers })
    } else {
        Err(c.problems)
    }
}
