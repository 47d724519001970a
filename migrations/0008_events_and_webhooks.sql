-- The transactional outbox: one row per event, written in the transaction of the change.
CREATE TABLE events (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations (id),
    type             text NOT NULL,
    data             jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX events_organization_created ON events (organization_id, created_at, seq);
CREATE INDEX events_organization_type ON events (organization_id, type, created_at);
CREATE INDEX events_created ON events (created_at);

CREATE TABLE webhook_subscriptions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations (id),
    url              text NOT NULL,
    events           text[] NOT NULL,
    description      text,
    enabled          boolean NOT NULL DEFAULT true,
    -- The signing secret must be kept usable to sign; it is never returned after creation.
    secret           text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id)
);
CREATE TRIGGER webhook_subscriptions_updated_at BEFORE UPDATE ON webhook_subscriptions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE INDEX webhook_subscriptions_organization ON webhook_subscriptions (organization_id) WHERE enabled;

CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid NOT NULL,
    webhook_id       bigint NOT NULL,
    event_id         uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'dead_letter')),
    attempts         integer NOT NULL DEFAULT 0,
    -- Attempts in the current cycle (a redelivery starts a new cycle); drives the backoff.
    cycle_attempts   integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, webhook_id) REFERENCES webhook_subscriptions (organization_id, id) ON DELETE CASCADE
);
CREATE TRIGGER webhook_deliveries_updated_at BEFORE UPDATE ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id   bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt       integer NOT NULL,
    at            timestamptz NOT NULL,
    status_code   integer,
    error         text,
    duration_ms   integer NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);

CREATE TABLE webhook_dead_letters (
    delivery_id       bigint PRIMARY KEY REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    organization_id   uuid NOT NULL,
    webhook_id        bigint NOT NULL,
    event_id          uuid NOT NULL,
    attempts          integer NOT NULL,
    last_status_code  integer,
    last_error        text,
    dead_lettered_at  timestamptz NOT NULL DEFAULT now()
);
