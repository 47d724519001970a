//! Webhooks (MANAGE_WEBHOOKS): subscriptions, their deliveries with the attempt log,
//! redelivery and recovery. The records and their rules are `crate::domain::webhooks`;
//! delivery itself is `crate::delivery`.

pub mod deliveries;
pub mod subscriptions;

use utoipa_axum::router::OpenApiRouter;

use crate::api::route::routes;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    use deliveries::*;
    use subscriptions::*;
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(send_test))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
        .routes(routes!(recover))
}
