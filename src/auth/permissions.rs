//! The permissions of the contract: one enum whose names are the contract's strings.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Permission {
    ReadPatients,
    WritePatients,
    ReadAppointments,
    WriteAppointments,
    ReadProviders,
    ReadConsultations,
    WriteConsultations,
    ManageWebhooks,
    ReadAuditLog,
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Permission::ReadPatients,
        Permission::WritePatients,
        Permission::ReadAppointments,
        Permission::WriteAppointments,
        Permission::ReadProviders,
        Permission::ReadConsultations,
        Permission::WriteConsultations,
        Permission::ManageWebhooks,
        Permission::ReadAuditLog,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadPatients => "READ_PATIENTS",
            Permission::WritePatients => "WRITE_PATIENTS",
            Permission::ReadAppointments => "READ_APPOINTMENTS",
            Permission::WriteAppointments => "WRITE_APPOINTMENTS",
            Permission::ReadProviders => "READ_PROVIDERS",
            Permission::ReadConsultations => "READ_CONSULTATIONS",
            Permission::WriteConsultations => "WRITE_CONSULTATIONS",
            Permission::ManageWebhooks => "MANAGE_WEBHOOKS",
            Permission::ReadAuditLog => "READ_AUDIT_LOG",
        }
    }

    /// What the permission grants, in the contract's words (the console shows it beside its box).
    pub fn description(self) -> &'static str {
        match self {
            Permission::ReadPatients => "List, search, view patients; list and view intake forms",
            Permission::WritePatients => "Create and update patients; create, start and complete intake forms",
            Permission::ReadAppointments => "List, view appointments; provider schedules and availability",
            Permission::WriteAppointments => "Create, cancel, confirm, reschedule appointments; mark no-show",
            Permission::ReadProviders => "List and view providers and locations",
            Permission::ReadConsultations => "View consultations, SOAP notes and prescriptions",
            Permission::WriteConsultations => "Start and end consultations, write SOAP notes and prescriptions",
            Permission::ManageWebhooks => "Webhook subscriptions, deliveries, the event log",
            Permission::ReadAuditLog => "The organization's access audit log",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Parses the CLI's `P1,P2` or `all`; the error names the unknown permission.
    pub fn parse_list(list: &str) -> Result<Vec<Permission>, String> {
        if list.trim() == "all" {
            return Ok(Permission::ALL.to_vec());
        }
        let mut out = Vec::new();
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match Permission::parse(part) {
                Some(p) if !out.contains(&p) => out.push(p),
                Some(_) => {}
                None => {
                    let known: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
                    return Err(format!("unknown permission {part:?}; known: {} (or all)", known.join(", ")));
                }
            }
        }
        if out.is_empty() {
            return Err("at least one permission is required".into());
        }
        out.sort();
        Ok(out)
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Marker types naming one permission, for the `Auth<P>` extractor.
pub trait RequiredPermission: Send + Sync + 'static {
    /// `None` means any valid key.
    const PERMISSION: Option<Permission>;
}

macro_rules! marker {
    ($($name:ident => $perm:expr),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl RequiredPermission for $name {
            const PERMISSION: Option<Permission> = $perm;
        }
    )*};
}

marker! {
    AnyKey => None,
    ReadPatients => Some(Permission::ReadPatients),
    WritePatients => Some(Permission::WritePatients),
    ReadAppointments => Some(Permission::ReadAppointments),
    WriteAppointments => Some(Permission::WriteAppointments),
    ReadProviders => Some(Permission::ReadProviders),
    ReadConsultations => Some(Permission::ReadConsultations),
    WriteConsultations => Some(Permission::WriteConsultations),
    ManageWebhooks => Some(Permission::ManageWebhooks),
    ReadAuditLog => Some(Permission::ReadAuditLog),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_parse() {
        for p in Permission::ALL {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn parse_list_accepts_all_and_rejects_unknown() {
        assert_eq!(Permission::parse_list("all").unwrap().len(), 9);
        assert_eq!(
            Permission::parse_list("READ_PATIENTS, READ_PATIENTS,MANAGE_WEBHOOKS").unwrap(),
            vec![Permission::ReadPatients, Permission::ManageWebhooks]
        );
        let e = Permission::parse_list("READ_PATIENTS,READ_EVERYTHING").unwrap_err();
        assert!(e.contains("READ_EVERYTHING"));
        assert!(Permission::parse_list("").is_err());
    }
}
