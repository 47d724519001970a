//! Which record a PHI route reads or changes, and how, from its method and route template. This
//! names the entry of a denied or failed request, whose response shows nothing; what a
//! successful response showed comes from the response itself (`disclosure`).

use axum::http::Method;

use crate::audit::disclosure::RecordType;

/// What a route does to which kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub resource_type: RecordType,
    pub action: &'static str,
    /// The id is in the path (`{id}` of the audited resource) rather than in the response.
    pub id_from_path: bool,
}

fn resource(segment: &str) -> Option<RecordType> {
    Some(match segment {
        "patients" => RecordType::Patient,
        "appointments" => RecordType::Appointment,
        "appointment-holds" => RecordType::AppointmentHold,
        "consultation" | "consultations" => RecordType::Consultation,
        "soap-notes" => RecordType::SoapNote,
        "prescriptions" => RecordType::Prescription,
        "intake-forms" => RecordType::IntakeForm,
        _ => return None,
    })
}

/// Classifies a route template such as `/api/v1/appointments/{id}/confirm`. `HEAD` runs the
/// `GET` handler and is audited as that `GET`: its `Content-Length` alone tells a record exists.
pub fn classify(method: &Method, template: &str) -> Option<Target> {
    let method = if method == Method::HEAD { &Method::GET } else { method };
    if let Some(fhir) = template.strip_prefix("/fhir/R4/") {
        // Reads and searches only. A DocumentReference id may name an earlier version of a note
        // (`7-v1`): the note is found from the response, not the path.
        return match (method, fhir.split('/').collect::<Vec<_>>().as_slice()) {
            (&Method::GET, [t]) => {
                Some(Target { resource_type: RecordType::of_fhir_type(t)?, action: "list", id_from_path: false })
            }
            (&Method::GET, [t, _]) => Some(Target {
                resource_type: RecordType::of_fhir_type(t)?,
                action: "read",
                id_from_path: *t != "DocumentReference",
            }),
            _ => None,
        };
    }
    let rest = template.strip_prefix("/api/v1/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let is_param = |s: &str| s.starts_with('{');
    let t = |resource_type, action, id_from_path| Some(Target { resource_type, action, id_from_path });
    match (method, parts.as_slice()) {
        (&Method::GET, [coll]) => t(resource(coll)?, "list", false),
        (&Method::POST, [coll]) => t(resource(coll)?, "create", false),
        (&Method::GET, [coll, id]) if is_param(id) => t(resource(coll)?, "read", true),
        (&Method::PATCH, [coll, id]) if is_param(id) => t(resource(coll)?, "update", true),
        // Releasing a hold: a change of its state.
        (&Method::DELETE, [coll, id]) if is_param(id) => t(resource(coll)?, "transition", true),
        (&Method::GET, [coll, id, sub]) if is_param(id) => {
            resource(coll)?;
            t(resource(sub)?, "list", false)
        }
        (&Method::POST, [coll, id, sub]) if is_param(id) => {
            let parent = resource(coll)?;
            match resource(sub) {
                Some(child) => t(child, "create", false),
                None => t(parent, "transition", true),
            }
        }
        (&Method::GET, [coll, id, sub, sub_id]) if is_param(id) && is_param(sub_id) => {
            resource(coll)?;
            t(resource(sub)?, "read", false)
        }
        // A record under its parent (a consultation's note): the record's id is the second
        // parameter, so it is taken from the response.
        (&Method::PATCH, [coll, id, sub, sub_id]) if is_param(id) && is_param(sub_id) => {
            resource(coll)?;
            t(resource(sub)?, "update", false)
        }
        (&Method::POST, [coll, id, sub, sub_id, action]) if is_param(id) && is_param(sub_id) => {
            resource(coll)?;
            let child = resource(sub)?;
            // An amendment writes the record's next version; anything else moves its state.
            t(child, if *action == "amendments" { "update" } else { "transition" }, false)
        }
        _ => None,
    }
}

/// The id in the path: the first `{…}` segment of the template is the audited record's (or
/// its parent's).
pub fn path_id(template: &str, path: &str) -> Option<i64> {
    let index = template.split('/').position(|s| s.starts_with('{'))?;
    path.split('/').nth(index)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(method: Method, template: &str) -> Option<(&'static str, &'static str)> {
        classify(&method, template).map(|t| (t.resource_type.as_str(), t.action))
    }

    #[test]
    fn routes_map_to_resources_and_actions() {
        assert_eq!(c(Method::GET, "/api/v1/patients"), Some(("patient", "list")));
        assert_eq!(c(Method::GET, "/api/v1/patients/{id}"), Some(("patient", "read")));
        assert_eq!(c(Method::POST, "/api/v1/patients"), Some(("patient", "create")));
        assert_eq!(c(Method::PATCH, "/api/v1/patients/{id}"), Some(("patient", "update")));
        assert_eq!(c(Method::POST, "/api/v1/appointments/{id}/confirm"), Some(("appointment", "transition")));
        assert_eq!(c(Method::POST, "/api/v1/appointments/{id}/consultation"), Some(("consultation", "create")));
        assert_eq!(c(Method::POST, "/api/v1/consultations/{id}/end"), Some(("consultation", "transition")));
        assert_eq!(c(Method::GET, "/api/v1/consultations/{id}/soap-notes"), Some(("soap_note", "list")));
        assert_eq!(c(Method::POST, "/api/v1/consultations/{id}/prescriptions"), Some(("prescription", "create")));
        assert_eq!(c(Method::POST, "/api/v1/intake-forms/{id}/complete"), Some(("intake_form", "transition")));
        assert_eq!(c(Method::POST, "/api/v1/appointment-holds"), Some(("appointment_hold", "create")));
        assert_eq!(c(Method::GET, "/api/v1/appointment-holds/{id}"), Some(("appointment_hold", "read")));
        assert_eq!(c(Method::DELETE, "/api/v1/appointment-holds/{id}"), Some(("appointment_hold", "transition")));
        assert_eq!(c(Method::DELETE, "/api/v1/webhooks/{id}"), None);
        assert_eq!(c(Method::PATCH, "/api/v1/consultations/{id}/soap-notes/{noteId}"), Some(("soap_note", "update")));
        let sign = "/api/v1/consultations/{id}/soap-notes/{noteId}/sign";
        assert_eq!(c(Method::POST, sign), Some(("soap_note", "transition")));
        let amend = "/api/v1/consultations/{id}/soap-notes/{noteId}/amendments";
        assert_eq!(c(Method::POST, amend), Some(("soap_note", "update")));
        assert_eq!(c(Method::GET, "/api/v1/providers"), None);
        assert_eq!(c(Method::GET, "/api/v1/webhooks/{id}"), None);
        assert_eq!(c(Method::GET, "/api/v1/health"), None);
    }

    #[test]
    fn head_is_audited_as_get() {
        assert_eq!(c(Method::HEAD, "/api/v1/patients/{id}"), Some(("patient", "read")));
        assert_eq!(c(Method::HEAD, "/api/v1/patients"), Some(("patient", "list")));
        assert_eq!(c(Method::HEAD, "/api/v1/consultations/{id}/soap-notes/{noteId}"), Some(("soap_note", "read")));
    }

    #[test]
    fn the_path_id_is_the_first_parameter() {
        assert_eq!(path_id("/api/v1/patients/{id}", "/api/v1/patients/42"), Some(42));
        assert_eq!(path_id("/api/v1/appointments/{id}/confirm", "/api/v1/appointments/7/confirm"), Some(7));
        assert_eq!(path_id("/api/v1/patients/{id}", "/api/v1/patients/abc"), None);
    }
}
