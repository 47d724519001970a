-- Append-only access audit log: who read or changed which record, when, with which outcome.
CREATE TABLE audit_events (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid,
    at               timestamptz NOT NULL,
    key_prefix       text,
    action           text NOT NULL CHECK (action IN ('read', 'list', 'create', 'update', 'transition', 'denied')),
    resource_type    text NOT NULL,
    resource_id      bigint,
    status           smallint NOT NULL,
    request_id       text NOT NULL,
    client_address   text
);
CREATE INDEX audit_events_organization ON audit_events (organization_id, id);
CREATE INDEX audit_events_resource ON audit_events (organization_id, resource_type, resource_id, id);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END $$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
