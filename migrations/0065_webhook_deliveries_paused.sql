-- A disabled subscription's pending deliveries wait until it is enabled again. They stayed in
-- the due index, so every claim walked past all of them (joining each to its subscription to
-- find it disabled) before reaching work it could do: with a paused backlog of 190k deliveries
-- a claim took a second, and delivery for every other subscription all but stopped. Paused
-- deliveries are now marked on the row and left out of the due index. The trigger keeps the
-- mark in step with the subscription, whichever statement enables or disables it; a delivery
-- written concurrently with a disable may stay unmarked (the claim still checks the
-- subscription, so it is never sent while disabled; it is only walked past, as all were before).
ALTER TABLE webhook_deliveries ADD COLUMN paused boolean NOT NULL DEFAULT false;

UPDATE webhook_deliveries d SET paused = true
FROM webhook_subscriptions s
WHERE s.id = d.webhook_id AND NOT s.enabled AND d.status = 'pending';

DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending' AND NOT paused;

CREATE FUNCTION webhook_subscriptions_pause_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhook_deliveries SET paused = NOT NEW.enabled
    WHERE webhook_id = NEW.id AND status = 'pending' AND paused = NEW.enabled;
    RETURN NULL;
END $$;

CREATE TRIGGER webhook_subscriptions_enabled_changed AFTER UPDATE OF enabled ON webhook_subscriptions
    FOR EACH ROW WHEN (OLD.enabled IS DISTINCT FROM NEW.enabled)
    EXECUTE FUNCTION webhook_subscriptions_pause_deliveries();
