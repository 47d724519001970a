//! What a response disclosed: the clinical records its body shows, by type and id, handed to
//! the audit layer as a response extension.
//!
//! Handlers serialize typed models, so the ids are taken from the models as the body is made
//! ([`Disclose`], via `http::response::Records`): no second parse of the
//! body, nothing missed in what a record embeds (a consultation's notes and prescriptions), and
//! the list survives whatever later strips the body (axum answers `HEAD` with the `GET`
//! handler and empties the body on the way out). Bodies that exist only as JSON — the event
//! log's `data`, a replayed idempotent response — are read with [`Disclosure::add_json`],
//! which knows the same shapes.

use serde_json::Value;

/// The kinds of record the audit log covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = AuditResourceType)]
pub enum RecordType {
    Patient,
    Appointment,
    Consultation,
    SoapNote,
    Prescription,
    IntakeForm,
    /// A slot hold: no PHI, audited like the appointment it becomes.
    AppointmentHold,
    /// (console) An API key created, revoked or rotated in the console.
    ApiKey,
    /// (console) A webhook subscription changed in the console.
    Webhook,
    /// (console) A webhook delivery queued again from the console.
    WebhookDelivery,
    /// (console) A console user: invited, disabled, a password set or changed.
    ConsoleUser,
    /// (console) A console sign-in (`create`), failed sign-in (`denied`) or sign-out (`update`).
    ConsoleSession,
}

impl RecordType {
    pub const ALL: [RecordType; 12] = [
        RecordType::Patient,
        RecordType::Appointment,
        RecordType::Consultation,
        RecordType::SoapNote,
        RecordType::Prescription,
        RecordType::IntakeForm,
        RecordType::AppointmentHold,
        RecordType::ApiKey,
        RecordType::Webhook,
        RecordType::WebhookDelivery,
        RecordType::ConsoleUser,
        RecordType::ConsoleSession,
    ];

    /// The record a FHIR resource type shows (the facade's clinical resources), if any.
    pub fn of_fhir_type(resource_type: &str) -> Option<RecordType> {
        Some(match resource_type {
            "Patient" => RecordType::Patient,
            "Appointment" => RecordType::Appointment,
            "Encounter" => RecordType::Consultation,
            "DocumentReference" => RecordType::SoapNote,
            "MedicationRequest" => RecordType::Prescription,
            "QuestionnaireResponse" => RecordType::IntakeForm,
            _ => return None,
        })
    }

    /// The name in the audit log (`resourceType`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Patient => "patient",
            RecordType::Appointment => "appointment",
            RecordType::Consultation => "consultation",
            RecordType::SoapNote => "soap_note",
            RecordType::Prescription => "prescription",
            RecordType::IntakeForm => "intake_form",
            RecordType::AppointmentHold => "appointment_hold",
            RecordType::ApiKey => "api_key",
            RecordType::Webhook => "webhook",
            RecordType::WebhookDelivery => "webhook_delivery",
            RecordType::ConsoleUser => "console_user",
            RecordType::ConsoleSession => "console_session",
        }
    }
}

/// The fields in which a record, as the API shows it, embeds records of another type. The
/// typed models say the same in their [`Disclose`] implementations; a unit test of each
/// embedding model holds the two together.
const EMBEDDED: [(&str, RecordType); 2] =
    [("soapNotes", RecordType::SoapNote), ("prescriptions", RecordType::Prescription)];

/// The records one response shows: types in the order first shown, ids in the order shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disclosure {
    groups: Vec<(RecordType, Vec<i64>)>,
    list: bool,
}

/// A response body that shows clinical records (or may: a subscription shows none).
pub trait Disclose {
    fn disclose(&self, to: &mut Disclosure);
}

impl Disclosure {
    pub fn of(body: &impl Disclose) -> Disclosure {
        let mut d = Disclosure::default();
        body.disclose(&mut d);
        d
    }

    pub fn add(&mut self, record_type: RecordType, id: i64) {
        match self.groups.iter_mut().find(|(t, _)| *t == record_type) {
            Some((_, ids)) => ids.push(id),
            None => self.groups.push((record_type, vec![id])),
        }
    }

    /// A page of records: the response is audited as a `list`.
    pub fn add_page<T: Disclose>(&mut self, items: &[T]) {
        self.list = true;
        for item in items {
            item.disclose(self);
        }
    }

    /// Whether the response is a page of records rather than one.
    pub fn is_list(&self) -> bool {
        self.list
    }

    /// Removes and returns the ids of one type (empty if none were shown).
    pub fn take(&mut self, record_type: RecordType) -> Vec<i64> {
        match self.groups.iter().position(|(t, _)| *t == record_type) {
            Some(i) => self.groups.remove(i).1,
            None => Vec::new(),
        }
    }

    /// The types and ids shown, in order.
    pub fn into_groups(self) -> Vec<(RecordType, Vec<i64>)> {
        self.groups
    }

    /// A record of type `record_type` as JSON, as the API shows it: its id and those of the
    /// records it embeds. Anything without an integer `id` shows no record of that type.
    pub fn add_json(&mut self, record_type: RecordType, value: &Value) {
        let Some(record) = value.as_object() else { return };
        if let Some(id) = record.get("id").and_then(Value::as_i64) {
            self.add(record_type, id);
        }
        for (field, embedded) in EMBEDDED {
            for item in record.get(field).and_then(Value::as_array).into_iter().flatten() {
                self.add_json(embedded, item);
            }
        }
    }

    /// A body of stored JSON bytes: one record of `record_type`, or a page of them
    /// (`{"data": [...]}`) when `list`.
    pub fn from_json_body(record_type: RecordType, list: bool, body: &[u8]) -> Disclosure {
        let mut d = Disclosure { list, ..Disclosure::default() };
        let Ok(value) = serde_json::from_slice::<Value>(body) else { return d };
        if list {
            for item in value.get("data").and_then(Value::as_array).into_iter().flatten() {
                d.add_json(record_type, item);
            }
        } else {
            d.add_json(record_type, &value);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_records_name_their_embedded_records() {
        let mut d = Disclosure::default();
        let consultation = json!({"id": 3, "patientId": 9, "soapNotes": [{"id": 5}, {"id": 6}],
                                  "prescriptions": [{"id": 8}]});
        d.add_json(RecordType::Consultation, &consultation);
        assert_eq!(
            d.into_groups(),
            vec![
                (RecordType::Consultation, vec![3]),
                (RecordType::SoapNote, vec![5, 6]),
                (RecordType::Prescription, vec![8])
            ]
        );
    }

    #[test]
    fn stored_bodies_are_read_as_one_record_or_a_page() {
        let page = br#"{"data": [{"id": 1}, {"id": 2}], "nextCursor": null}"#;
        let mut d = Disclosure::from_json_body(RecordType::Patient, true, page);
        assert!(d.is_list());
        assert_eq!(d.take(RecordType::Patient), vec![1, 2]);
        assert_eq!(d.take(RecordType::Patient), Vec::<i64>::new());
        let one = Disclosure::from_json_body(RecordType::Patient, false, br#"{"id": 4}"#);
        assert_eq!(one.into_groups(), vec![(RecordType::Patient, vec![4])]);
        assert!(Disclosure::from_json_body(RecordType::Patient, false, b"not json").into_groups().is_empty());
    }
}
