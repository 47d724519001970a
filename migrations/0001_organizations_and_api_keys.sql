-- Organizations (tenants) and the API keys that act for them.
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- updated_at is maintained by the database, never by handlers.
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TABLE organizations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone    text NOT NULL DEFAULT 'UTC',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id        uuid NOT NULL REFERENCES organizations (id),
    name                   text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    key_prefix             text NOT NULL UNIQUE CHECK (length(key_prefix) = 11),
    key_hash               bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    permissions            text[] NOT NULL CHECK (permissions <@ ARRAY[
        'READ_PATIENTS', 'WRITE_PATIENTS', 'READ_APPOINTMENTS', 'WRITE_APPOINTMENTS',
        'READ_PROVIDERS', 'READ_CONSULTATIONS', 'WRITE_CONSULTATIONS', 'MANAGE_WEBHOOKS',
        'READ_AUDIT_LOG']::text[]),
    rate_limit_per_minute  integer CHECK (rate_limit_per_minute > 0),
    expires_at             timestamptz,
    revoked_at             timestamptz,
    last_used_at           timestamptz,
    rotated_from           bigint REFERENCES api_keys (id),
    created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_organization ON api_keys (organization_id, id);
