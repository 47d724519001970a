-- The records each entry lists in `resource_ids` (a list's page, the records a response
-- embedded), one row per record: the log's index of those lists, in id order.
--
-- A record's trail (`GET /audit-events?resourceId=`) is the entries naming it in `resource_id`
-- (index audit_events_record) and those listing it here. Both are btrees in entry order, so one
-- statement, planned once, reads a page from the whole log, partition after partition, and stops
-- when the page is full (`domain::audit_log`). The GIN index on the arrays that this replaces
-- found a record's lists but not in order: a page read every list naming the record in each
-- month it looked at, and sorted them.
--
-- Partitioned as the log is, partition for partition: `audit::partitions` prepares, detaches
-- and drops each month's pair together, so retention drops these rows with their entries. Filled
-- by a trigger, so that every writer of the log keeps it, and append-only like the log.
CREATE TABLE audit_event_records (
    organization_id  uuid NOT NULL,
    record_id        bigint NOT NULL,
    entry_id         bigint NOT NULL,
    CONSTRAINT audit_event_records_pkey PRIMARY KEY (organization_id, record_id, entry_id)
) PARTITION BY RANGE (entry_id);

-- One partition for each of the log's, over the same ids.
DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'audit_events'::regclass AND NOT i.inhdetachpending
    LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF audit_event_records %s',
                       'audit_event_records' || substr(p.relname, length('audit_events') + 1), p.bound);
    END LOOP;
END $$;

INSERT INTO audit_event_records (organization_id, record_id, entry_id)
SELECT organization_id, unnest(resource_ids), id FROM audit_events
WHERE resource_ids IS NOT NULL AND organization_id IS NOT NULL
ON CONFLICT DO NOTHING;

CREATE FUNCTION audit_event_records_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_event_records (organization_id, record_id, entry_id)
    SELECT NEW.organization_id, r, NEW.id FROM unnest(NEW.resource_ids) r
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
-- Only entries with a list call it: most entries (a record read by id) name none.
CREATE TRIGGER audit_events_records AFTER INSERT ON audit_events
    FOR EACH ROW WHEN (NEW.resource_ids IS NOT NULL AND NEW.organization_id IS NOT NULL)
    EXECUTE FUNCTION audit_event_records_add();

CREATE TRIGGER audit_event_records_no_update BEFORE UPDATE OR DELETE ON audit_event_records
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_event_records_no_truncate BEFORE TRUNCATE ON audit_event_records
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

DROP INDEX audit_events_resource_ids;
