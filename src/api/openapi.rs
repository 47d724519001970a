//! The OpenAPI 3.1 document: the route annotations, plus what every operation shares and the
//! annotations cannot say once — the security scheme, the rate-limit, request-id and idempotency
//! headers, the error responses every layer can produce, the operator endpoints, and the webhook
//! event payloads.

use serde_json::{json, Map, Value};

use crate::events::EventType;

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

fn header(description: &str, schema: Value) -> Value {
    json!({"description": description, "schema": schema})
}

/// Turns the annotated document into the published one.
pub fn finish(doc: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    doc["openapi"] = json!("3.1.0");
    doc["servers"] = json!([{"url": "/", "description": "This server"}]);
    let components = doc["components"].as_object_mut().map(std::mem::take).unwrap_or_default();
    let mut components = Value::Object(components);
    components["securitySchemes"] = json!({
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                   "description": "An API key of the form kv_…, created with `klinivo key create`."}
    });
    components["headers"] = json!({
        "X-RateLimit-Limit": header("Requests allowed per one-minute window for this key", json!({"type": "integer"})),
        "X-RateLimit-Remaining": header("Requests left in the current window", json!({"type": "integer"})),
        "X-RateLimit-Reset": header("Unix time (seconds) when the window resets", json!({"type": "integer"})),
        "X-Request-Id": header("The request's id (yours if you sent a valid one)", json!({"type": "string"})),
        "Retry-After": header("Seconds until the window resets", json!({"type": "integer"})),
        "Idempotent-Replayed": header("`true` when this is the stored response of an earlier request with the same Idempotency-Key", json!({"type": "string", "enum": ["true"]})),
        "Location": header("URL of the created resource", json!({"type": "string"})),
    });
    components["parameters"] = json!({
        "IdempotencyKey": {
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Makes the request safe to retry: a repeat with the same key and the same request replays the first response (kept 24 hours, scoped to the API key); the same key with a different request is 422; while the first is running, 409.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7E]+$"}
        },
        "RequestId": {
            "name": "X-Request-Id", "in": "header", "required": false,
            "description": "Your id for this request; echoed in the response and the logs. An id of letters, digits and `-_.:` up to 128 characters is kept; anything else is replaced by a generated id.",
            "schema": {"type": "string"}
        }
    });
    doc["components"] = components;

    let schemas = doc["components"]["schemas"].clone();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, op) in item.iter_mut() {
                decorate(method, op);
            }
        }
        add_links(paths, &schemas);
        add_operator_endpoints(paths);
    }
    doc["webhooks"] = webhooks(&doc["components"]["schemas"]);
    doc["tags"] = Value::Array(TAGS.iter().map(|(name, d)| json!({"name": name, "description": d})).collect());
    doc["info"]["description"] = json!(INTRO);
    doc
}

/// The tags in reading order, as the docs page and client generators group operations.
pub const TAGS: &[(&str, &str)] = &[
    ("Health", "Check a key: which organization and permissions it has."),
    ("Patients", "Register, find and update patients. `READ_PATIENTS` / `WRITE_PATIENTS`."),
    ("Locations", "The organization's clinics and their time zones. `READ_PROVIDERS`."),
    ("Providers", "Clinicians, their weekly working hours and free slots. `READ_PROVIDERS` / `READ_APPOINTMENTS`."),
    (
        "Appointments",
        "Hold a slot, book, confirm, reschedule, cancel, mark no-show. `READ_APPOINTMENTS` / `WRITE_APPOINTMENTS`.",
    ),
    ("Consultations", "A visit in progress: start, SOAP notes, end. `READ_CONSULTATIONS` / `WRITE_CONSULTATIONS`."),
    ("Prescriptions", "Medications prescribed during consultations. `READ_CONSULTATIONS` / `WRITE_CONSULTATIONS`."),
    ("Intake forms", "Questionnaires a patient fills in before a visit. `READ_PATIENTS` / `WRITE_PATIENTS`."),
    ("Webhooks", "Subscriptions, deliveries, redelivery and recovery. `MANAGE_WEBHOOKS`."),
    ("Events", "The organization's event log (30 days), as webhooks deliver it. `MANAGE_WEBHOOKS`."),
    ("Audit log", "Who read or changed which record, when, from where. `READ_AUDIT_LOG`."),
    ("Operations", "Liveness, readiness, metrics, this document. No key."),
];

const INTRO: &str = "The Klinivo public API: patients, providers, locations, schedules, appointments, \
consultations, intake forms and webhooks.

- **Authentication:** send your key in the `X-API-Key` header. Each operation names the \
permission it needs; a key without it gets `403 insufficient_permission`.
- **Errors:** every non-2xx response is `{\"error\": \"<code>\", \"message\": \"…\"}`; \
validation errors add `details` naming each field.
- **Lists:** `limit` (1–200, default 50) and the opaque `cursor` from `nextCursor`, which is \
`null` on the last page. `updatedSince` orders by `(updatedAt, id)` for incremental sync: a \
change is served only after every change made before it has committed (or rolled back), so \
none lands behind a cursor or an `updatedAt` you were given. Resume from the last `updatedAt` \
you received (it comes again; deduplicate on `id`).
- **Retries:** `POST` and `PATCH` accept an `Idempotency-Key`; a repeat replays the first \
response with `Idempotent-Replayed: true`.
- **Rate limits:** per key and minute; every response carries `X-RateLimit-Limit`, \
`X-RateLimit-Remaining` and `X-RateLimit-Reset`, and a `429` adds `Retry-After`.
- **Webhooks:** subscribe to the events under `webhooks`; each delivery is signed \
(`X-Klinivo-Signature`, and the Standard Webhooks headers).
- **FHIR R4:** the same records as FHIR R4 (4.0.1) resources at `/fhir/R4`, under the same \
keys, permissions, rate limits and audit log: Patient (US Core), Practitioner, \
PractitionerRole, Location, Organization, Appointment, Schedule, Slot, Encounter, \
DocumentReference, MedicationRequest and QuestionnaireResponse, read and searched, and the Bulk \
Data `$export` (`Prefer: respond-async`, `_type`, `_since`). `GET /fhir/R4/metadata` (no key) \
is the CapabilityStatement that lists them; errors are OperationOutcomes.";

/// `list_patients` → `listPatients`: one naming style for generated clients.
fn camel_case(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    let mut upper = false;
    for c in id.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn decorate(method: &str, op: &mut Value) {
    if let Some(id) = op["operationId"].as_str().map(camel_case) {
        op["operationId"] = json!(id);
    }
    // An optional body (`content = Option<T>`) may be left out, but it is never `null`:
    // utoipa's `oneOf [null, T]` would tell clients and fuzzers otherwise.
    if let Some(body) = op.get_mut("requestBody").filter(|b| b.get("required").and_then(Value::as_bool) != Some(true)) {
        if let Some(media) = body.get_mut("content").and_then(Value::as_object_mut) {
            for m in media.values_mut() {
                let inner = m["schema"]["oneOf"].as_array().and_then(|alts| match alts.as_slice() {
                    [a, b] if a == &json!({"type": "null"}) => Some(b.clone()),
                    _ => None,
                });
                if let Some(inner) = inner {
                    m["schema"] = inner;
                }
            }
        }
    }
    let secured = op.get("security").is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty()));
    let writes = matches!(method, "post" | "patch");
    let params = op["parameters"].as_array_mut().map(std::mem::take).unwrap_or_default();
    let mut params = params;
    params.push(json!({"$ref": "#/components/parameters/RequestId"}));
    if secured && writes {
        params.push(json!({"$ref": "#/components/parameters/IdempotencyKey"}));
    }
    op["parameters"] = Value::Array(params);

    if let Some(permission) = op.get("x-permission").and_then(Value::as_str).map(str::to_string) {
        let description = op["description"].as_str().unwrap_or("").to_string();
        op["description"] = json!(format!("{description}\n\n**Permission:** `{permission}`").trim().to_string());
    }

    let responses = op["responses"].as_object_mut().map(std::mem::take).unwrap_or_default();
    let mut responses: Map<String, Value> = responses;
    if secured {
        responses.entry("401").or_insert_with(|| {
            error_response("Missing, invalid, revoked or expired API key (`missing_api_key`, `invalid_api_key`)")
        });
        responses.entry("429").or_insert_with(|| error_response("Rate limit exceeded (`rate_limit_exceeded`)"));
        // The permission is written once, in the operation's `x-permission`.
        if let Some(permission) = op.get("x-permission").and_then(Value::as_str) {
            let text = format!("The key lacks the `{permission}` permission (`insufficient_permission`)");
            responses.entry("403").or_insert_with(|| error_response(&text));
        }
    }
    if writes || method == "put" {
        responses
            .entry("400")
            .or_insert_with(|| error_response("Malformed JSON or invalid fields (`invalid_json`, `validation_error`)"));
        responses.entry("413").or_insert_with(|| error_response("Body over 1 MiB (`payload_too_large`)"));
    }
    if secured && writes {
        responses.entry("409").or_insert_with(|| error_response("Conflict"));
        responses.entry("422").or_insert_with(|| {
            error_response("The Idempotency-Key was used with a different request (`idempotency_key_mismatch`)")
        });
        if let Some(r) = responses.get_mut("409") {
            let d = r["description"].as_str().unwrap_or("").to_string();
            if !d.contains("idempotency_key_in_use") {
                r["description"] = json!(format!(
                    "{d}; or a request with this Idempotency-Key is still running (`idempotency_key_in_use`)"
                ));
            }
        }
    }
    responses.entry("503").or_insert_with(|| {
        error_response("Temporarily unavailable, e.g. the database is unreachable (`service_unavailable`); retry")
    });
    responses
        .entry("500")
        .or_insert_with(|| error_response("Internal error (`internal_error`); details are logged, never returned"));

    for (status, response) in responses.iter_mut() {
        let headers = response["headers"].as_object_mut().map(std::mem::take).unwrap_or_default();
        let mut headers = headers;
        headers.insert("X-Request-Id".into(), json!({"$ref": "#/components/headers/X-Request-Id"}));
        if secured && status != "401" && !status.starts_with('5') {
            for h in ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"] {
                headers.insert(h.into(), json!({"$ref": format!("#/components/headers/{h}")}));
            }
        }
        if status == "429" {
            headers.insert("Retry-After".into(), json!({"$ref": "#/components/headers/Retry-After"}));
        }
        if secured && writes && status.starts_with('2') {
            headers.insert("Idempotent-Replayed".into(), json!({"$ref": "#/components/headers/Idempotent-Replayed"}));
        }
        if status == "201" {
            headers.insert("Location".into(), json!({"$ref": "#/components/headers/Location"}));
        }
        response["headers"] = Value::Object(headers);
    }
    op["responses"] = Value::Object(responses);
}

/// Where each resource lives, and which of its fields fill the path: the id a response carries
/// is the way into every operation on that resource.
type Resource = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

const RESOURCES: &[Resource] = &[
    ("Patient", "/api/v1/patients/{id}", &[("id", "id")]),
    ("Location", "/api/v1/locations/{id}", &[("id", "id")]),
    ("Provider", "/api/v1/providers/{id}", &[("id", "id")]),
    ("Appointment", "/api/v1/appointments/{id}", &[("id", "id")]),
    ("Consultation", "/api/v1/consultations/{id}", &[("id", "id")]),
    ("ConsultationDetail", "/api/v1/consultations/{id}", &[("id", "id")]),
    ("SoapNote", "/api/v1/consultations/{id}/soap-notes/{noteId}", &[("id", "consultationId"), ("noteId", "id")]),
    ("SoapNoteDetail", "/api/v1/consultations/{id}/soap-notes/{noteId}", &[("id", "consultationId"), ("noteId", "id")]),
    ("Prescription", "/api/v1/prescriptions/{id}", &[("id", "id")]),
    ("IntakeForm", "/api/v1/intake-forms/{id}", &[("id", "id")]),
    ("Webhook", "/api/v1/webhooks/{id}", &[("id", "id")]),
    ("WebhookWithSecret", "/api/v1/webhooks/{id}", &[("id", "id")]),
    ("Delivery", "/api/v1/webhooks/{id}/deliveries/{deliveryId}", &[("id", "webhookId"), ("deliveryId", "id")]),
    ("DeliveryDetail", "/api/v1/webhooks/{id}/deliveries/{deliveryId}", &[("id", "webhookId"), ("deliveryId", "id")]),
    ("Event", "/api/v1/events/{id}", &[("id", "id")]),
];

/// The resource a response body is, and the JSON pointer prefix of the first one in it: a
/// resource itself (`""`), or the first item of a list (`"/data/0"`).
fn produced(response: &Value, schemas: &Value) -> Option<(&'static Resource, &'static str)> {
    let name = |r: &Value| r["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")).map(str::to_string);
    let schema = &response["content"]["application/json"]["schema"];
    let top = name(schema)?;
    let find = |n: &str| RESOURCES.iter().find(|(r, ..)| *r == n);
    if let Some(resource) = find(&top) {
        return Some((resource, ""));
    }
    let item = name(&schemas[&top]["properties"]["data"]["items"])?;
    find(&item).map(|resource| (resource, "/data/0"))
}

/// OpenAPI `links`: from every response that returns a resource (or a page of them) to every
/// operation on that resource — its reads, changes and transitions, and what hangs under it
/// (`/consultations/{id}/soap-notes`). Clients see how the calls chain, and Schemathesis's
/// stateful phase drives real records through their life cycles.
fn add_links(paths: &mut Map<String, Value>, schemas: &Value) {
    let mut targets: Vec<(String, String, Vec<String>)> = Vec::new();
    for (path, item) in paths.iter() {
        let Some(item) = item.as_object() else { continue };
        for op in item.values() {
            if let Some(id) = op["operationId"].as_str() {
                let params = path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).map(str::to_string);
                targets.push((path.clone(), id.to_string(), params.collect()));
            }
        }
    }
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for op in item.values_mut() {
            let from = op["operationId"].as_str().unwrap_or("").to_string();
            let Some(responses) = op["responses"].as_object_mut() else { continue };
            for (status, response) in responses.iter_mut() {
                if !status.starts_with('2') {
                    continue;
                }
                let Some(((_, base, fields), prefix)) = produced(response, schemas) else { continue };
                let mut links = Map::new();
                for (path, id, params) in &targets {
                    let under = path == base || path.starts_with(&format!("{base}/"));
                    let covered = params.iter().all(|p| fields.iter().any(|(name, _)| name == p));
                    if !under || !covered || *id == from {
                        continue;
                    }
                    let parameters: Map<String, Value> = params
                        .iter()
                        .filter_map(|p| fields.iter().find(|(name, _)| name == p))
                        .map(|(name, field)| ((*name).to_string(), json!(format!("$response.body#{prefix}/{field}"))))
                        .collect();
                    links.insert(id.clone(), json!({"operationId": id, "parameters": parameters}));
                }
                if !links.is_empty() {
                    response["links"] = Value::Object(links);
                }
            }
        }
    }
}

fn add_operator_endpoints(paths: &mut Map<String, Value>) {
    let plain = |id: &str, summary: &str, description: &str, ok: Value| {
        json!({"get": {
            "tags": ["Operations"], "operationId": id, "summary": summary, "description": description, "security": [],
            "parameters": [{"$ref": "#/components/parameters/RequestId"}],
            "responses": ok
        }})
    };
    let status_body = |example: &str| json!({"application/json": {"schema": {"type": "object", "properties": {"status": {"type": "string", "example": example}}, "required": ["status"]}}});
    paths.insert(
        "/healthz".into(),
        plain(
            "liveness",
            "Liveness",
            "The process is alive. No key needed.",
            json!({"200": {"description": "Alive", "content": status_body("ok")}}),
        ),
    );
    paths.insert(
        "/readyz".into(),
        plain(
            "readiness",
            "Readiness",
            "The database is reachable and migrated. No key needed.",
            json!({
                "200": {"description": "Ready", "content": status_body("ready")},
                "503": error_response("Not ready (`service_unavailable`)")
            }),
        ),
    );
    paths.insert("/metrics".into(), plain("metrics", "Prometheus metrics", "Requests by route template and status, latency histograms, webhook counters. No key needed.", json!({
        "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}
    })));
    paths.insert(
        "/api/v1/openapi.json".into(),
        plain(
            "getOpenApiDocument",
            "This document",
            "The OpenAPI 3.1 document. No key needed.",
            json!({
                "200": {"description": "The document", "content": {"application/json": {"schema": {"type": "object"}}}}
            }),
        ),
    );
    paths.insert(
        "/docs".into(),
        plain(
            "docsPage",
            "API reference page",
            "Renders this document for people; served entirely by this server. No key needed.",
            json!({
                "200": {"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
            }),
        ),
    );
}

/// The resource schema each event carries in `data`.
fn data_schema(event: EventType, schemas: &Value) -> Value {
    let name = match event {
        EventType::PatientCreated | EventType::PatientUpdated => "Patient",
        EventType::ConsultationEnded => "ConsultationDetail",
        EventType::SoapNoteCreated | EventType::SoapNoteSigned | EventType::SoapNoteAmended => "SoapNoteDetail",
        EventType::IntakeStarted | EventType::IntakeCompleted => "IntakeForm",
        EventType::WebhookTest => "Webhook",
        _ => "Appointment",
    };
    if !name.is_empty() && schemas.get(name).is_some() {
        json!({"$ref": format!("#/components/schemas/{name}")})
    } else {
        json!({"type": "object", "description": "The resource as its GET endpoint returns it"})
    }
}

fn webhooks(schemas: &Value) -> Value {
    let mut out = Map::new();
    for event in EventType::ALL {
        let name = event.as_str();
        let summary = match event {
            EventType::PatientCreated => "A patient was registered",
            EventType::PatientUpdated => "A patient's details changed",
            EventType::AppointmentScheduled => "An appointment was booked",
            EventType::AppointmentConfirmed => "An appointment was confirmed",
            EventType::AppointmentCompleted => "An appointment was completed (its consultation ended)",
            EventType::AppointmentCancelled => "An appointment was cancelled",
            EventType::AppointmentNoShow => "The patient did not arrive",
            EventType::AppointmentRescheduled => "An appointment moved to another time",
            EventType::ConsultationEnded => "A provider finished a consultation",
            EventType::SoapNoteCreated => "A SOAP note was written (a draft, or signed at once)",
            EventType::SoapNoteSigned => "A SOAP note was signed (`data`: its signed version)",
            EventType::SoapNoteAmended => "A signed SOAP note was amended (`data`: its new current version)",
            EventType::IntakeStarted => "A patient started an intake form",
            EventType::IntakeCompleted => "A patient completed an intake form",
            EventType::WebhookTest => "Sent only by POST /webhooks/{id}/test",
        };
        let hdr = |n: &str, d: &str| json!({"name": n, "in": "header", "required": true, "description": d, "schema": {"type": "string"}});
        out.insert(name.into(), json!({"post": {
            "summary": summary,
            "description": "Delivered as an HTTP POST with the event as the body. Verify `X-Klinivo-Signature` (`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + \".\" + body)>`) or the Standard Webhooks headers; answer 2xx within the timeout. Failed deliveries are retried after 1, 2, 4, 8 and 16 minutes, then dead-lettered. Delivery is at least once: deduplicate on the event id.",
            "parameters": [
                hdr("X-Klinivo-Signature", "t=<unix seconds of this attempt>,v1=<hex HMAC-SHA256 of t + \".\" + body, keyed with the whole secret>"),
                hdr("X-Klinivo-Event", "The event type"),
                hdr("X-Klinivo-Event-Id", "evt_<uuid>: deduplicate on it"),
                hdr("X-Klinivo-Delivery-Id", "The delivery's id"),
                hdr("X-Klinivo-Attempt", "1 for the first attempt"),
                hdr("webhook-id", "Standard Webhooks: the event id"),
                hdr("webhook-timestamp", "Standard Webhooks: the same t"),
                hdr("webhook-signature", "Standard Webhooks: v1,<base64 HMAC-SHA256(base64-decoded secret after whsec_, id + \".\" + t + \".\" + body)>")
            ],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["id", "type", "createdAt", "organizationId", "data"],
                "properties": {
                    "id": {"type": "string", "example": "evt_6c1f0e56-2d7b-4a4e-9a53-1c1a0f6f3f1e"},
                    "type": {"type": "string", "const": name},
                    "createdAt": {"type": "string", "format": "date-time"},
                    "organizationId": {"type": "string", "format": "uuid"},
                    "data": data_schema(event, schemas)
                }
            }}}},
            "responses": {"200": {"description": "Any 2xx acknowledges the delivery"}}
        }}));
    }
    Value::Object(out)
}
