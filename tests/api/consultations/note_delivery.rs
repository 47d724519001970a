//! `soap_note.signed` and `soap_note.amended` delivered to a webhook receiver, signed, with the
//! note as `GET` returned it then.

use std::time::Duration;

use serde_json::json;

use super::note_lifecycle::{note_path, room};
use super::*;
use crate::webhooks::create_webhook;
use crate::webhooks::receiver::{verify_klinivo, Receiver};

#[tokio::test]
async fn signatures_and_amendments_are_delivered_to_webhooks_with_the_current_version() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (_, secret) = create_webhook(&app, &receiver.url(), &["soap_note.signed", "soap_note.amended"]).await;
    let r = room(&app).await;
    let cid = r.consultation_id;
    let note =
        id(&expect_json(app.post(&format!("/consultations/{cid}/soap-notes"), &json!({"plan": "a"})).await, 201).await);
    let signed =
        expect_json(app.post(&note_path(cid, note, "/sign"), &json!({"providerId": r.provider_id})).await, 200).await;
    let amend = json!({"reason": "Dose corrected", "providerId": r.provider_id, "plan": "b"});
    let amended = expect_json(app.post(&note_path(cid, note, "/amendments"), &amend).await, 201).await;

    let received = receiver.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 2, "only the subscribed types, the draft's creation not among them");
    let mut seen = Vec::new();
    for d in &received {
        assert!(verify_klinivo(&d.body, d.header("x-klinivo-signature"), &secret));
        let event_type = d.header("x-klinivo-event");
        let expected = match event_type {
            "soap_note.signed" => &signed,
            "soap_note.amended" => &amended,
            other => panic!("unexpected {other}"),
        };
        let body = d.json();
        assert_eq!(body["type"], event_type);
        assert_eq!(&body["data"], expected, "data is the note as GET returned it then");
        seen.push(event_type.to_string());
    }
    seen.sort();
    assert_eq!(seen, ["soap_note.amended", "soap_note.signed"]);
    assert_eq!(amended["version"], 2);
}
