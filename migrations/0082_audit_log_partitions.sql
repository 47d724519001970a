-- The audit log in partitions, so that its retention drops whole partitions (a catalog change
-- and the files' removal) rather than deleting rows from a table that only grows: no long
-- deletes, no bloat, no vacuum of what is gone.
--
-- Partitioned by ranges of id, not by time: every list of the log is in ascending id order (the
-- contract's default), and with id ranges a list's ordered scan visits the partitions in that
-- order and stops at its page, while every index keeps its id order. Each calendar month (UTC)
-- has its range of 2^40 ids, starting at (months since January 1970) × 2^40 — below 2^53 for
-- the next six centuries, so every id stays exact in JSON. When a month begins, the server
-- (`audit::partitions`) attaches its partition and moves the id sequence to the start of its
-- range. `audit_event_partitions` records when each range began to be used: every entry of a
-- partition was written before the next range began, which is what retention compares with.
-- Ids increase, but are not consecutive.
CREATE TABLE audit_event_partitions (
    name       text PRIMARY KEY,
    first_id   bigint NOT NULL UNIQUE,
    -- When the id sequence moved into this range ('-infinity' for the entries written before
    -- partitioning); NULL while the partition is only prepared.
    opened_at  timestamptz
);

-- The existing table becomes the first partition, for every id below the current month's
-- range; on a new database it is empty and dropped instead. Its indexes are the ones the
-- partitioned table declares, so attaching it builds nothing: the migration reads the table
-- once (to check its ids) and writes nothing.
DROP TRIGGER audit_events_no_update ON audit_events;
DROP TRIGGER audit_events_no_truncate ON audit_events;
ALTER TABLE audit_events RENAME TO audit_events_initial;
ALTER INDEX audit_events_pkey RENAME TO audit_events_initial_pkey;
ALTER INDEX audit_events_organization RENAME TO audit_events_initial_organization;
ALTER INDEX audit_events_record RENAME TO audit_events_initial_record;
ALTER INDEX audit_events_resource_ids RENAME TO audit_events_initial_resource_ids;
ALTER INDEX audit_events_user RENAME TO audit_events_initial_user;
ALTER TABLE audit_events_initial ALTER COLUMN id DROP IDENTITY;

CREATE SEQUENCE audit_events_id_seq AS bigint;
CREATE TABLE audit_events (
    id               bigint NOT NULL DEFAULT nextval('audit_events_id_seq'),
    organization_id  uuid,
    at               timestamptz NOT NULL,
    key_prefix       text,
    action           text NOT NULL,
    resource_type    text NOT NULL,
    resource_id      bigint,
    status           smallint NOT NULL,
    request_id       text NOT NULL,
    client_address   text,
    resource_ids     bigint[],
    route            text,
    user_id          bigint,
    CONSTRAINT audit_events_action_check
        CHECK (action IN ('read', 'list', 'create', 'update', 'transition', 'denied')),
    CONSTRAINT audit_events_pkey PRIMARY KEY (id)
) PARTITION BY RANGE (id);
ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id;

DO $$
DECLARE
    month  timestamptz := date_trunc('month', now(), 'UTC');
    first  bigint := ((extract(year FROM month AT TIME ZONE 'UTC')::bigint - 1970) * 12
                      + extract(month FROM month AT TIME ZONE 'UTC')::bigint - 1) * 1099511627776;
BEGIN
    IF EXISTS (SELECT 1 FROM audit_events_initial) THEN
        EXECUTE format('ALTER TABLE audit_events ATTACH PARTITION audit_events_initial FOR VALUES FROM (MINVALUE) TO (%s)', first);
        INSERT INTO audit_event_partitions VALUES ('audit_events_initial', -9223372036854775808, '-infinity');
    ELSE
        DROP TABLE audit_events_initial;
    END IF;
    -- This month's partition, opened, and next month's, prepared.
    FOR k IN 0..1 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%s) TO (%s)',
                       'audit_events_' || to_char((month + k * interval '1 month') AT TIME ZONE 'UTC', 'YYYY_MM'),
                       first + k * 1099511627776, first + (k + 1) * 1099511627776);
        INSERT INTO audit_event_partitions
            VALUES ('audit_events_' || to_char((month + k * interval '1 month') AT TIME ZONE 'UTC', 'YYYY_MM'),
                    first + k * 1099511627776, CASE WHEN k = 0 THEN now() END);
    END LOOP;
    PERFORM setval('audit_events_id_seq', first, false);
END $$;

CREATE INDEX audit_events_organization ON audit_events (organization_id, id);
CREATE INDEX audit_events_resource_ids ON audit_events USING gin (resource_ids);
CREATE INDEX audit_events_record ON audit_events (organization_id, resource_id, id)
    WHERE resource_id IS NOT NULL;
CREATE INDEX audit_events_user ON audit_events (organization_id, user_id, id) WHERE user_id IS NOT NULL;

-- Still append-only: the triggers are declared on the partitioned table, and every partition
-- gets them. Retention detaches and drops whole partitions, which no trigger sees.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
