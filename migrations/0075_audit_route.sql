-- Each entry names the request's method and route template (`GET /api/v1/events`, never the
-- concrete path or query, which can carry PHI such as a searched email address). A response
-- that embeds records of other types (a consultation's notes, the records of the event log) is
-- audited with one entry per type, and only the route tells such an entry from a direct read
-- of the record. Entries written before this column have none.
ALTER TABLE audit_events ADD COLUMN route text;
