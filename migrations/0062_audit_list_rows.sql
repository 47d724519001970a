-- A list request is audited as one row naming every record it returned (`resource_ids`, in
-- the order returned), rather than one row per listed record: a page of 50 patients was 50
-- rows, each with three index entries, and under search load the audit log's writes cost more
-- than the searches themselves. Rows written before this migration keep their one-row-per-record
-- form; both forms answer `GET /audit-events?resourceId=…`.
ALTER TABLE audit_events ADD COLUMN resource_ids bigint[];

-- "Which requests returned record X": the GIN index finds X inside `resource_ids`. Its
-- pending list (PostgreSQL's default 4 MB) takes insertions as they come and merges them into
-- the index in bulk. The size matters because the same records are listed again and again (the
-- first page of a common search): each merge rewrites the last index page of every record in
-- it, so a smaller list costs more per listed id (bench/README.md, "Audited lists").
CREATE INDEX audit_events_resource_ids ON audit_events USING gin (resource_ids);

-- "Entries about record X" for the rows that name one record: by organization and record id,
-- whatever its type (the `resourceId` filter is often given without `resourceType`, which the
-- old index on (organization_id, resource_type, resource_id, id) could not skip), and only
-- for the rows that have one, so that list rows add nothing to it.
CREATE INDEX audit_events_record ON audit_events (organization_id, resource_id, id)
    WHERE resource_id IS NOT NULL;
DROP INDEX audit_events_resource;
