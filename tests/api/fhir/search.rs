//! Reads and searches: the mapping, the parameters, paging, strict and lenient handling, audit.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::helpers::*;

#[tokio::test]
async fn patients_read_and_search_as_us_core_patients_and_are_audited() {
    let app = TestApp::spawn().await;
    let created = expect_json(
        app.post(
            "/patients",
            &json!({"firstName": "José", "lastName": "García", "dateOfBirth": "1985-12-09", "sex": "male",
                    "email": "jose@example.test", "phone": "+14155550123", "externalId": "EHR-7",
                    "address": {"line1": "1 Main St", "city": "Springfield", "country": "US"}}),
        )
        .await,
        201,
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    expect_json(
        app.post("/patients", &json!({"firstName": "Ada", "lastName": "Lovelace", "sex": "female"})).await,
        201,
    )
    .await;
    let p = fhir_json(fhir(&app, &app.key, &format!("/Patient/{id}")).await, 200).await;
    assert_eq!(p["resourceType"], "Patient");
    assert_eq!(p["id"], id.to_string());
    assert_eq!(p["meta"]["profile"][0], "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient");
    assert!(p["meta"]["versionId"].is_string() && p["meta"]["lastUpdated"].is_string());
    assert_eq!(p["name"][0]["family"], "García");
    assert_eq!(p["gender"], "male");
    assert_eq!(p["birthDate"], "1985-12-09");
    assert!(p["identifier"].as_array().unwrap().iter().any(|i| i["value"] == "EHR-7"));
    assert_eq!(p["address"][0]["line"][0], "1 Main St");

    // Minimal fields: nothing empty is sent.
    let ada = search_all(&app, &app.key, "/Patient?family=love").await;
    assert_eq!(ada.len(), 1);
    assert!(ada[0].get("telecom").is_none() && ada[0].get("birthDate").is_none() && ada[0].get("address").is_none());

    for (query, expected) in [
        ("/Patient?family=garc", 1),
        ("/Patient?family=GARCIA", 1),
        ("/Patient?given=jos", 1),
        ("/Patient?name=ada", 1),
        ("/Patient?gender=female", 1),
        ("/Patient?gender=male,female", 2),
        ("/Patient?birthdate=1985-12-09", 1),
        ("/Patient?birthdate=ge1990-01-01", 0),
        ("/Patient?identifier=EHR-7", 1),
        ("/Patient?identifier=urn:klinivo:external-id|EHR-7", 1),
        ("/Patient?email=jose@example.test", 1),
        ("/Patient?phone=%2B14155550123", 1),
        ("/Patient?_id=999999", 0),
        ("/Patient", 2),
    ] {
        assert_eq!(search_all(&app, &app.key, query).await.len(), expected, "{query}");
    }
    assert_eq!(search_all(&app, &app.key, &format!("/Patient?_id={id}")).await[0]["id"], id.to_string());
    let by_id = search_all(&app, &app.key, &format!("/Patient?identifier=urn:klinivo:patient-id|{id}")).await;
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0]["id"], id.to_string());

    // The read and the searches are in the audit log, with the FHIR routes.
    assert!(
        eventually(Duration::from_secs(5), || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM audit_events WHERE resource_type = 'patient' AND route = 'GET /fhir/R4/Patient/{id}'
                   AND action = 'read' AND resource_id = $1",
            )
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap()
                == 1
        })
        .await
    );
    // One `list` entry per search that showed the patient (written in batches: wait for them).
    assert!(
        eventually(Duration::from_secs(5), || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM audit_events WHERE route = 'GET /fhir/R4/Patient' AND action = 'list' AND $1 = ANY(resource_ids)",
            )
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap()
                >= 12
        })
        .await
    );
}

#[tokio::test]
async fn unknown_parameters_are_ignored_with_a_warning_or_refused_when_strict() {
    let app = demo_app().await;
    let bundle = fhir_json(fhir(&app, &app.key, "/Patient?_count=2&shoe-size=44").await, 200).await;
    let outcome = bundle["entry"].as_array().unwrap().iter().find(|e| e["search"]["mode"] == "outcome").unwrap();
    assert_eq!(outcome["resource"]["issue"][0]["severity"], "warning");
    assert!(outcome["resource"]["issue"][0]["diagnostics"].as_str().unwrap().contains("shoe-size"));
    let strict = app
        .client
        .get(app.url("/fhir/R4/Patient?shoe-size=44"))
        .header("X-API-Key", &app.key)
        .header("Prefer", "handling=strict")
        .send()
        .await
        .unwrap();
    let refused = fhir_json(strict, 400).await;
    assert_eq!(refused["issue"][0]["expression"][0], "shoe-size");
}

#[tokio::test]
async fn paging_is_complete_and_references_resolve() {
    let app = demo_app().await;
    let all = search_all(&app, &app.key, "/Appointment?_count=7").await;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments WHERE organization_id = $1")
        .bind(app.org_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(all.len() as i64, total);
    let mut ids: Vec<&str> = all.iter().map(|a| a["id"].as_str().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "a page repeated an appointment");
    // Every reference of the first appointments resolves within the facade.
    for a in all.iter().take(5) {
        for p in a["participant"].as_array().unwrap() {
            let reference = p["actor"]["reference"].as_str().unwrap();
            let r = fhir_json(fhir(&app, &app.key, &format!("/{reference}")).await, 200).await;
            assert_eq!(format!("{}/{}", r["resourceType"].as_str().unwrap(), r["id"].as_str().unwrap()), reference);
        }
    }
    // Statuses map both ways.
    let cancelled = search_all(&app, &app.key, "/Appointment?status=cancelled").await;
    let in_db: i64 =
        sqlx::query_scalar("SELECT count(*) FROM appointments WHERE organization_id = $1 AND status = 'cancelled'")
            .bind(app.org_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(cancelled.len() as i64, in_db);
    assert!(in_db > 0, "the demo has cancelled appointments");
    assert!(cancelled.iter().all(|a| a["status"] == "cancelled"));
    // Dates: ge and lt bound `start`.
    let first = all.iter().map(|a| a["start"].as_str().unwrap().to_string()).min().unwrap();
    let day = &first[..10];
    let that_day = search_all(&app, &app.key, &format!("/Appointment?date={day}")).await;
    assert!(!that_day.is_empty() && that_day.iter().all(|a| a["start"].as_str().unwrap().starts_with(day)));
    let before = search_all(&app, &app.key, &format!("/Appointment?date=lt{day}")).await;
    assert!(before.is_empty());
}

#[tokio::test]
async fn amended_notes_are_documents_with_their_earlier_versions() {
    let app = demo_app().await;
    let amended: (i64, i32) = sqlx::query_as(
        "SELECT id, current_version FROM soap_notes WHERE organization_id = $1 AND current_version > 1 ORDER BY id LIMIT 1",
    )
    .bind(app.org_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let (note, version) = amended;
    let current = fhir_json(fhir(&app, &app.key, &format!("/DocumentReference/{note}")).await, 200).await;
    assert_eq!(current["status"], "current");
    assert_eq!(current["docStatus"], "amended");
    assert_eq!(current["meta"]["versionId"], version.to_string());
    assert_eq!(current["relatesTo"][0]["code"], "replaces");
    let earlier_ref = current["relatesTo"][0]["target"]["reference"].as_str().unwrap();
    let earlier = fhir_json(fhir(&app, &app.key, &format!("/{earlier_ref}")).await, 200).await;
    assert_eq!(earlier["status"], "superseded");
    let text = |d: &Value| {
        use base64::Engine;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(d["content"][0]["attachment"]["data"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert!(text(&current).starts_with("Subjective:"));
    assert_ne!(text(&current), text(&earlier));
    // A search by encounter shows the current version; an earlier one by its id.
    let encounter = current["context"]["encounter"][0]["reference"].as_str().unwrap();
    let docs = search_all(&app, &app.key, &format!("/DocumentReference?encounter={encounter}")).await;
    assert!(docs.iter().any(|d| d["id"] == note.to_string()));
    assert!(docs.iter().all(|d| d["status"] == "current"));
    let by_id = search_all(&app, &app.key, &format!("/DocumentReference?_id={note}-v1")).await;
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0]["status"], "superseded");
    // A page never holds more matches than asked for, whatever the versions.
    let one =
        fhir_json(fhir(&app, &app.key, &format!("/DocumentReference?encounter={encounter}&_count=1")).await, 200).await;
    assert_eq!(one["entry"].as_array().unwrap().len(), 1);
    // Drafts are preliminary.
    let draft: i64 = sqlx::query_scalar(
        "SELECT n.id FROM soap_notes n JOIN soap_note_versions v ON v.note_id = n.id AND v.version = n.current_version
         WHERE n.organization_id = $1 AND v.status = 'draft' LIMIT 1",
    )
    .bind(app.org_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let d = fhir_json(fhir(&app, &app.key, &format!("/DocumentReference/{draft}")).await, 200).await;
    assert_eq!(d["docStatus"], "preliminary");
}

#[tokio::test]
async fn slots_come_from_the_same_availability_as_the_api() {
    let app = demo_app().await;
    let schedules = search_all(&app, &app.key, "/Schedule").await;
    let schedule = schedules.iter().find(|s| s["active"] == true).unwrap();
    let id = schedule["id"].as_str().unwrap();
    let (provider, location) = id.split_once('-').unwrap();
    let from = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    let to = from + chrono::Duration::days(6);
    let api = expect_json(
        app.get(&format!("/providers/{provider}/availability?from={from}&to={to}&locationId={location}")).await,
        200,
    )
    .await;
    let api_starts: Vec<String> =
        api["data"].as_array().unwrap().iter().map(|s| s["startsAt"].as_str().unwrap().to_string()).collect();
    let slots = search_all(
        &app,
        &app.key,
        &format!(
            "/Slot?schedule=Schedule/{id}&start=ge{from}T00:00:00Z&start=lt{}T00:00:00Z&_count=200",
            to + chrono::Duration::days(1)
        ),
    )
    .await;
    let fhir_starts: Vec<String> = slots.iter().map(|s| s["start"].as_str().unwrap().replace(".000Z", "Z")).collect();
    // The API's local dates and the FHIR range in UTC overlap on the days in between.
    let inner: Vec<&String> = api_starts.iter().filter(|s| fhir_starts.contains(s)).collect();
    assert!(!inner.is_empty());
    assert!(inner.len() * 10 >= api_starts.len() * 8, "{} of {}", inner.len(), api_starts.len());
    let one = fhir_json(fhir(&app, &app.key, &format!("/Slot/{}", slots[0]["id"].as_str().unwrap())).await, 200).await;
    assert_eq!(one["status"], "free");
    let missing = fhir_json(fhir(&app, &app.key, "/Slot?_count=5").await, 400).await;
    assert_eq!(missing["issue"][0]["expression"][0], "schedule");
}
