-- Per-key request counters for fixed one-minute windows, shared by every instance.
-- UNLOGGED: a crash resets the counters, which at worst grants one extra window.
CREATE UNLOGGED TABLE rate_limit_counters (
    api_key_id    bigint PRIMARY KEY,
    window_start  timestamptz NOT NULL,
    count         integer NOT NULL
);

-- Stored responses of requests sent with an Idempotency-Key, kept 24 hours.
CREATE TABLE idempotency_keys (
    api_key_id         bigint NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    idempotency_key    text NOT NULL,
    request_hash       bytea NOT NULL,
    status_code        smallint NOT NULL,
    response_body      bytea NOT NULL,
    response_location  text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
