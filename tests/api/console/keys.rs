//! API keys and webhooks made in the console: they work in the API, are audited by user id, and
//! another organization's are out of reach.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::browser::*;
use crate::helpers::*;
use klinivo::domain::accounts::users::Role;

#[tokio::test]
async fn a_key_made_in_the_console_works_until_revoked_and_every_step_is_audited() {
    let app = TestApp::spawn().await;
    let (mut browser, user_id, _) = signed_in(&app, app.org_id, Role::Admin).await;
    let form = browser.get("/console/keys/new").await;
    for (name, what) in [
        ("READ_PATIENTS", "List, search, view patients"),
        ("MANAGE_WEBHOOKS", "Webhook subscriptions, deliveries, the event log"),
        ("READ_AUDIT_LOG", "access audit log"),
    ] {
        assert!(form.body.contains(&format!("<label for=\"perm-{name}\">{name}</label>")), "{name}");
        assert!(form.body.contains(what), "{what}");
    }
    let page = browser
        .submit(
            "/console/keys/new",
            "/console/keys",
            &[
                ("name", "EHR sync"),
                ("permissions", "READ_PATIENTS"),
                ("permissions", "READ_APPOINTMENTS"),
                ("rate_limit", "120"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Copy the key immediately — it will not be shown again."));
    let key = page.text_of("secret");
    assert!(klinivo::auth::keys::is_well_formed(&key));

    let health = expect_json(app.request_as(&key, Method::GET, "/health").send().await.unwrap(), 200).await;
    assert_eq!(health["permissions"], serde_json::json!(["READ_PATIENTS", "READ_APPOINTMENTS"]));
    assert_eq!(health["organizationId"], app.org_id.to_string());
    let prefix = &key[..11];
    let listing = browser.get("/console/keys").await;
    assert!(!listing.body.contains(&key), "the secret is shown again");
    assert!(listing.body.contains(&format!("data-key-prefix=\"{prefix}\"")));
    assert!(listing.body.contains("120/min"));
    // "Last used" follows the API's use of the key (written in batches, within seconds).
    assert!(
        eventually(Duration::from_secs(10), || async {
            let page = Browser { cookies: browser.cookies.clone(), ..Browser::new(&app) }.get("/console/keys").await;
            let row = &page.body[page.body.find(&format!("data-key-prefix=\"{prefix}\"")).unwrap()..];
            let row = &row[..row.find("</tr>").unwrap()];
            !row.contains("<td class=\"last-used\">never</td>")
        })
        .await,
        "last used never changed"
    );

    let key_id: i64 = sqlx::query_scalar("SELECT id FROM api_keys WHERE key_prefix = $1")
        .bind(prefix)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let confirm = browser.get(&format!("/console/keys/{key_id}/revoke")).await;
    assert!(confirm.body.contains("Revoke key"));
    let page = browser.post(&format!("/console/keys/{key_id}/revoke"), &[("csrf", &confirm.csrf())]).await;
    assert_eq!(page.status, 303);
    expect_error(app.request_as(&key, Method::GET, "/health").send().await.unwrap(), 401, "invalid_api_key").await;
    let listing = browser.get(&format!("/console/keys?revoked={prefix}")).await;
    assert!(listing.body.contains(&format!("{prefix} is revoked.")));

    // The API's audit log shows the console's actions, by user id and without a key prefix.
    let log = expect_json(app.get(&format!("/audit-events?userId={user_id}&resourceType=api_key")).await, 200).await;
    let entries: Vec<(String, String)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["keyPrefix"], Value::Null);
            assert_eq!(e["userId"], user_id);
            assert_eq!(e["resourceId"], key_id);
            (e["action"].as_str().unwrap().to_string(), e["route"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("create".to_string(), "POST /console/keys".to_string()),
            ("update".to_string(), "POST /console/keys/{id}/revoke".to_string())
        ]
    );
}

#[tokio::test]
async fn rotating_in_the_console_keeps_the_old_key_for_the_grace_period() {
    let app = TestApp::spawn().await;
    let (mut browser, _, _) = signed_in(&app, app.org_id, Role::Admin).await;
    let old = app.key_with(&[klinivo::auth::Permission::ReadProviders]).await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM api_keys WHERE key_prefix = $1")
        .bind(&old[..11])
        .fetch_one(&app.db)
        .await
        .unwrap();
    let path = format!("/console/keys/{id}/rotate");
    let page = browser.submit(&path, &path, &[("grace_hours", "721")]).await;
    assert_eq!(page.status, 400);
    let page = browser.submit(&path, &path, &[("grace_hours", "2")]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let new = page.text_of("secret");
    let health = expect_json(app.request_as(&new, Method::GET, "/health").send().await.unwrap(), 200).await;
    assert_eq!(health["permissions"], serde_json::json!(["READ_PROVIDERS"]));
    expect_json(app.request_as(&old, Method::GET, "/health").send().await.unwrap(), 200).await;
}

#[tokio::test]
async fn another_organizations_keys_and_webhooks_are_not_found() {
    let app = TestApp::spawn().await;
    let (other_org, other_key) = app.other_org().await;
    let other_key_id: i64 = sqlx::query_scalar("SELECT id FROM api_keys WHERE key_prefix = $1")
        .bind(&other_key[..11])
        .fetch_one(&app.db)
        .await
        .unwrap();
    let hook = expect_json(
        app.request_as(&other_key, Method::POST, "/webhooks")
            .json(&serde_json::json!({"url": "http://127.0.0.1:9/hook", "events": ["patient.created"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let hook_id = hook["id"].as_i64().unwrap();
    let (mut ours, _, _) = signed_in(&app, app.org_id, Role::Owner).await;

    let keys = ours.get("/console/keys").await;
    assert!(!keys.body.contains(&other_key[..11]));
    assert!(!ours.get("/console/webhooks").await.body.contains("127.0.0.1:9/hook"));
    for path in [
        format!("/console/webhooks/{hook_id}"),
        format!("/console/keys/{other_key_id}/revoke"),
        format!("/console/keys/{other_key_id}/rotate"),
        format!("/console/webhooks/{hook_id}/deliveries/1"),
    ] {
        assert_eq!(ours.get(&path).await.status, 404, "{path}");
    }
    let csrf = ours.get("/console/keys").await.csrf();
    for path in [
        format!("/console/keys/{other_key_id}/revoke"),
        format!("/console/webhooks/{hook_id}/test"),
        format!("/console/webhooks/{hook_id}/rotate-secret"),
    ] {
        assert_eq!(ours.post(&path, &[("csrf", &csrf)]).await.status, 404, "{path}");
    }
    // The other organization's key still works; its people are not ours either.
    expect_json(app.request_as(&other_key, Method::GET, "/health").send().await.unwrap(), 200).await;
    let theirs = person(&app, other_org, "owner@other.test", Role::Owner).await;
    assert_eq!(ours.post(&format!("/console/users/{theirs}/disable"), &[("csrf", &csrf)]).await.status, 404);
    assert!(!ours.get("/console/users").await.body.contains("owner@other.test"));
}

#[tokio::test]
async fn webhooks_follow_the_apis_rules_and_deliver() {
    let app = TestApp::spawn_with(|c| c.webhook_allow_private = false).await;
    let (mut browser, _, _) = signed_in(&app, app.org_id, Role::Admin).await;
    let page = browser
        .submit(
            "/console/webhooks/new",
            "/console/webhooks",
            &[("url", "http://127.0.0.1:9/hook"), ("events", "patient.created")],
        )
        .await;
    assert_eq!(page.status, 400);
    // The API's own message for the same URL.
    let api = expect_error(
        app.post("/webhooks", &serde_json::json!({"url": "http://127.0.0.1:9/hook", "events": ["patient.created"]}))
            .await,
        400,
        "invalid_webhook_url",
    )
    .await;
    let message = api["message"].as_str().unwrap().replace('\'', "&#x27;").replace('"', "&quot;");
    assert!(page.body.contains(&message), "{message} not in {}", page.body);
    let page =
        browser.submit("/console/webhooks/new", "/console/webhooks", &[("url", "https://example.com/hook")]).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("events: must list at least one event type"), "{}", page.body);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_subscriptions").fetch_one(&app.db).await.unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn no_console_page_shows_phi() {
    let app = TestApp::spawn().await;
    let hook = expect_json(
        app.post("/webhooks", &serde_json::json!({"url": "http://127.0.0.1:9/hook", "events": ["patient.created"]}))
            .await,
        201,
    )
    .await;
    let patient = expect_json(
        app.post(
            "/patients",
            &serde_json::json!({"firstName": "Ada", "lastName": "Lovelace", "dateOfBirth": "1985-12-10",
                                "email": "ada@example.test", "phone": "+14155550199"}),
        )
        .await,
        201,
    )
    .await;
    expect_json(app.get(&format!("/patients/{}", patient["id"])).await, 200).await;
    let hook_id = hook["id"].as_i64().unwrap();
    let delivery: i64 = sqlx::query_scalar("SELECT id FROM webhook_deliveries WHERE webhook_id = $1")
        .bind(hook_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let (mut browser, _, _) = signed_in(&app, app.org_id, Role::Owner).await;
    // Wait for the audit writer, so that the log page has the patient's entries.
    assert!(
        eventually(Duration::from_secs(5), || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM audit_events WHERE resource_type = 'patient'")
                .fetch_one(&app.db)
                .await
                .unwrap()
                >= 2
        })
        .await
    );
    for path in [
        "/console/keys".to_string(),
        "/console/webhooks".to_string(),
        format!("/console/webhooks/{hook_id}"),
        format!("/console/webhooks/{hook_id}/deliveries/{delivery}"),
        "/console/audit".to_string(),
        "/console/users".to_string(),
        "/console/account".to_string(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        for phi in ["Ada", "Lovelace", "ada@example.test", "1985-12-10", "4155550199"] {
            assert!(!page.body.contains(phi), "{path} shows {phi}");
        }
    }
    assert!(browser
        .get("/console/audit?resourceType=patient")
        .await
        .body
        .contains(&format!("patient {}", patient["id"])));
}
