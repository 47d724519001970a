-- Keyset pagination of the webhook lists: by id, and by (updated_at, id) with updatedSince.
CREATE INDEX webhook_subscriptions_list ON webhook_subscriptions (organization_id, id);
CREATE INDEX webhook_subscriptions_updated ON webhook_subscriptions (organization_id, updated_at, id);
CREATE INDEX webhook_deliveries_webhook_updated ON webhook_deliveries (webhook_id, updated_at, id);
