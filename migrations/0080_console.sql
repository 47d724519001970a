-- The console (Settings → Integrations): the people of a clinic who manage its API keys and
-- webhooks. A person belongs to one organization, as an owner or an admin, and signs in with an
-- email address (unique across organizations: sign-in names no organization) and a password,
-- stored only as an Argon2id hash. Nothing here is PHI.
CREATE TABLE console_users (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id      uuid NOT NULL REFERENCES organizations (id),
    email                text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    role                 text NOT NULL CHECK (role IN ('owner', 'admin')),
    -- NULL until the person follows their set-password link.
    password_hash        text,
    password_changed_at  timestamptz,
    disabled_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    -- Who invited them (NULL: the command line or the demo).
    created_by           bigint REFERENCES console_users (id)
);
CREATE UNIQUE INDEX console_users_email ON console_users (email);
CREATE INDEX console_users_organization ON console_users (organization_id, id);

-- One-time links that let a person set their password: only the token's SHA-256 is stored.
CREATE TABLE console_password_links (
    token_hash  bytea PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX console_password_links_user ON console_password_links (user_id);
CREATE INDEX console_password_links_expiry ON console_password_links (expires_at);

-- Server-side sessions: the cookie carries a random token, the table only its SHA-256. A session
-- ends at sign-out, when its user is disabled or changes password (rows deleted), after
-- `idle_expires_at` without a request, and at `expires_at` whatever happens.
CREATE TABLE console_sessions (
    token_hash       bytea PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    -- Every state-changing form carries this; compared in constant time.
    csrf_token       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    idle_expires_at  timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    client_address   text
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- Failed sign-ins, counted per account (the email as typed, lower-cased, whether or not it
-- exists, so the throttle says nothing about which addresses are accounts) and per client
-- address, in fixed windows. Rows of past windows are purged.
CREATE TABLE console_sign_in_failures (
    subject       text PRIMARY KEY,
    window_start  timestamptz NOT NULL,
    failures      integer NOT NULL
);
CREATE INDEX console_sign_in_failures_window ON console_sign_in_failures (window_start);

-- Console actions are audited beside the API's accesses: the acting person by id (never by
-- email), in place of a key prefix.
ALTER TABLE audit_events ADD COLUMN user_id bigint;
CREATE INDEX audit_events_user ON audit_events (organization_id, user_id, id) WHERE user_id IS NOT NULL;
