-- A list request is audited as one row naming every record it returned (`resource_ids`, in
-- the order returned), rather than one row per listed record. A page of 50 patients was 50
-- rows, each with three index entries: under search load the audit log's writes cost more than
-- the searches themselves (bench/README.md). Rows written before this migration keep their
-- one-row-per-record form; both forms answer `GET /audit-events?resourceId=…`.
ALTER TABLE audit_events ADD COLUMN resource_ids bigint[];

-- "Which requests returned record X": the GIN index finds X inside `resource_ids` (~3 µs per
-- listed id to maintain, against ~9 µs for a row of its own). A small pending list (256 kB,
-- as for patients_search) keeps each merge into the index short, so the audit writer never
-- holds a core for long, and reads of the index never scan a long unsorted list.
CREATE INDEX audit_events_resource_ids ON audit_events USING gin (resource_ids)
    WITH (gin_pending_list_limit = 256);

-- "Entries about record X" for the rows that name one record: by organization and record id,
-- whatever its type (the `resourceId` filter is often given without `resourceType`, which the
-- old index on (organization_id, resource_type, resource_id, id) could not skip), and only
-- for the rows that have one, so that list rows add nothing to it.
CREATE INDEX audit_events_record ON audit_events (organization_id, resource_id, id)
    WHERE resource_id IS NOT NULL;
DROP INDEX audit_events_resource;
