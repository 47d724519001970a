-- The index of the records an entry names besides its own (a list's page, what a record
-- embedded) holds only the entries that name some. Most entries name none (a record read by
-- id), and each of those added a null item to the GIN index: under load its pending list
-- filled with them, every search of the index read through it, and every write paid for it.
-- A search for a record (`resource_ids @> ARRAY[id]`) can only match an entry that has a list,
-- so the partial index serves it as before.
DROP INDEX audit_events_resource_ids;
CREATE INDEX audit_events_resource_ids ON audit_events USING gin (resource_ids) WHERE resource_ids IS NOT NULL;
