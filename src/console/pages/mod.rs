//! The console's pages, one module per part of Settings → Integrations.

mod audit;
mod keys;
mod sign_in;
mod users;
mod webhooks;

use askama::Template;
use axum::routing::{get, post};
use axum::Router;

use crate::audit::RecordType;
use crate::console::context::Ctx;
use crate::console::error::PageError;
use crate::console::render::Chrome;
use crate::domain::accounts::Session;
use crate::domain::audit_log::{record_console_action, ConsoleAction};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(sign_in::index))
        .route("/console/", get(sign_in::index))
        .route("/console/sign-in", get(sign_in::sign_in_page).post(sign_in::sign_in))
        .route("/console/sign-out", post(sign_in::sign_out))
        .route("/console/set-password/{token}", get(sign_in::set_password_page).post(sign_in::set_password))
        .route("/console/account", get(sign_in::account))
        .route("/console/account/password", post(sign_in::change_password))
        .route("/console/keys", get(keys::list).post(keys::create))
        .route("/console/keys/new", get(keys::new_form))
        .route("/console/keys/{id}/revoke", get(keys::revoke_form).post(keys::revoke))
        .route("/console/keys/{id}/rotate", get(keys::rotate_form).post(keys::rotate))
        .route("/console/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/console/webhooks/new", get(webhooks::new_form))
        .route("/console/webhooks/{id}", get(webhooks::detail))
        .route("/console/webhooks/{id}/enabled", post(webhooks::set_enabled))
        .route("/console/webhooks/{id}/events", post(webhooks::set_events))
        .route("/console/webhooks/{id}/rotate-secret", post(webhooks::rotate_secret))
        .route("/console/webhooks/{id}/test", post(webhooks::send_test))
        .route("/console/webhooks/{id}/recover", post(webhooks::recover))
        .route("/console/webhooks/{id}/deliveries/{delivery_id}", get(webhooks::delivery))
        .route("/console/webhooks/{id}/deliveries/{delivery_id}/redeliver", post(webhooks::redeliver))
        .route("/console/audit", get(audit::list))
        .route("/console/users", get(users::list).post(users::invite))
        .route("/console/users/{id}/disable", post(users::disable))
        .route("/console/users/{id}/link", post(users::reissue_link))
}

/// Records a console action of the signed-in person, in the action's transaction.
async fn record(
    tx: &mut sqlx::PgConnection,
    session: &Session,
    ctx: &Ctx,
    action: &'static str,
    resource_type: RecordType,
    resource_id: Option<i64>,
    status: u16,
) -> Result<(), PageError> {
    let actor = (session.organization_id, session.user_id);
    record_as(tx, actor, ctx, action, resource_type, resource_id, status).await
}

/// Records a console action of a person (organization, user id), signed in or not yet.
async fn record_as(
    tx: &mut sqlx::PgConnection,
    (organization_id, user_id): (uuid::Uuid, i64),
    ctx: &Ctx,
    action: &'static str,
    resource_type: RecordType,
    resource_id: Option<i64>,
    status: u16,
) -> Result<(), PageError> {
    record_console_action(
        tx,
        ConsoleAction {
            organization_id: Some(organization_id),
            user_id: Some(user_id),
            action,
            resource_type,
            resource_id,
            status,
            request_id: &ctx.request_id,
            client_address: ctx.client_address.as_deref(),
            route: &ctx.route,
        },
    )
    .await?;
    Ok(())
}

/// A secret shown once: a new API key, a webhook's signing secret, a set-password link.
#[derive(Template)]
#[template(path = "console/secret_shown.html")]
struct Shown {
    chrome: Chrome,
    heading: &'static str,
    intro: String,
    secret: String,
    warning: &'static str,
    snippet: &'static str,
    next_href: String,
    next_label: &'static str,
}

/// How to check a delivery's signature: the public docs' Python snippet.
const VERIFY_SNIPPET: &str = r#"import hmac, hashlib

def verify_signature(payload: bytes, header: str, secret: str) -> bool:
    parts = dict(p.split('=', 1) for p in header.split(','))
    timestamp = parts['t']
    signature = parts['v1']
    expected = hmac.new(
        secret.encode(),
        f"{timestamp}.".encode() + payload,
        hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(signature, expected)"#;

impl Shown {
    fn key(chrome: Chrome, heading: &'static str, secret: String) -> Shown {
        Shown {
            chrome,
            heading,
            intro: "Give this key to your integration. It is sent in the X-API-Key header.".into(),
            secret,
            warning: "Copy the key immediately — it will not be shown again.",
            snippet: "",
            next_href: "/console/keys".into(),
            next_label: "Back to API keys",
        }
    }

    fn webhook_secret(chrome: Chrome, heading: &'static str, id: i64, secret: String) -> Shown {
        Shown {
            chrome,
            heading,
            intro: "Copy the signing secret for signature verification.".into(),
            secret,
            warning: "Copy the signing secret now — it will not be shown again.",
            snippet: VERIFY_SNIPPET,
            next_href: format!("/console/webhooks/{id}"),
            next_label: "Open the endpoint",
        }
    }
}
