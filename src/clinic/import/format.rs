//! The clinic file as written by hand or exported from another system (docs/clinic-import.md).

use serde::{Deserialize, Serialize};

use crate::domain::Address;

/// The whole file. Unknown fields anywhere are rejected, so a typo never passes silently.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClinicFile {
    /// Format version; only 1 exists. Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default)]
    pub locations: Vec<LocationSpec>,
    #[serde(default)]
    pub providers: Vec<ProviderSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationSpec {
    /// Stable identifier within the organization: the same key updates the same location.
    pub key: String,
    pub name: String,
    /// IANA time zone, e.g. `America/New_York`.
    pub timezone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderSpec {
    /// Stable identifier within the organization: the same key updates the same provider.
    pub key: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specialty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Default `true`.
    #[serde(default = "yes")]
    pub active: bool,
    /// Keys of the locations this provider works at: of this file, or imported before.
    #[serde(default)]
    pub locations: Vec<String>,
    /// Weekly working hours, each at one of `locations`, in that location's time zone.
    #[serde(default)]
    pub working_hours: Vec<HoursSpec>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoursSpec {
    /// A key from the provider's `locations`.
    pub location: String,
    /// ISO weekdays this block applies to: 1 = Monday … 7 = Sunday.
    pub weekdays: Vec<u8>,
    /// Local wall-clock time `HH:MM` (24-hour).
    pub start_time: String,
    /// Local wall-clock time `HH:MM`, after `startTime` on the same day.
    pub end_time: String,
}
