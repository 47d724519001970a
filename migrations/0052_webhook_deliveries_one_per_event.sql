-- One delivery per (subscription, event): recovery can run concurrently without queueing an
-- event twice for the same subscription.
CREATE UNIQUE INDEX webhook_deliveries_one_per_event ON webhook_deliveries (webhook_id, event_id);
