-- The index of the records an entry names besides its own (a list's page, what a record
-- embedded) holds only the entries that name some. Most entries name none (a record read by
-- id); a full GIN index keeps a null item for each, its pending list fills with them under
-- load, and every search of the index reads through that list. A search for a record
-- (`resource_ids @> ARRAY[id]`) only matches entries that have a list, so the partial index
-- serves it.
DROP INDEX audit_events_resource_ids;
CREATE INDEX audit_events_resource_ids ON audit_events USING gin (resource_ids) WHERE resource_ids IS NOT NULL;
