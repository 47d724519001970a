-- Every delivery row is written three times (queued, leased, settled), and each write that is
-- not HOT adds an entry to every index of the table: with seven indexes, index maintenance was
-- most of what a delivery cost PostgreSQL. Two of them did no work of their own:
--   * UNIQUE (organization_id, id): nothing references it, and every lookup by id (scoped by
--     organization or not) uses the primary key;
--   * (event_id) beside UNIQUE (webhook_id, event_id): one unique index on (event_id,
--     webhook_id) serves both the one-delivery-per-event rule (ON CONFLICT (webhook_id,
--     event_id) infers it: column order does not matter) and the lookups by event (the cascade
--     from events, recovery's NOT EXISTS).
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_organization_id_id_key;
CREATE UNIQUE INDEX webhook_deliveries_event_webhook ON webhook_deliveries (event_id, webhook_id);
DROP INDEX webhook_deliveries_one_per_event;
DROP INDEX webhook_deliveries_event;

-- The claim takes the oldest due deliveries in (next_attempt_at, id) order, and an event's
-- deliveries to all its subscriptions share one next_attempt_at. With the due index on
-- next_attempt_at alone, each claim sorted a whole group of equal times before its LIMIT could
-- stop it (with a backlog queued in one transaction, 30,000 rows to hand out 64: 19 ms). In
-- claim order, the index scan stops at the LIMIT.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending' AND NOT paused;
