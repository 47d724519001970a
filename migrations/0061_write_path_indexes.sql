-- Each of these duplicated, column for column, the unique (organization_id, id) constraint the
-- same table already has for its tenant-scoped foreign keys. Every insert paid for both.
DROP INDEX IF EXISTS patients_organization;
DROP INDEX IF EXISTS appointments_organization;
DROP INDEX IF EXISTS consultations_organization;
DROP INDEX IF EXISTS prescriptions_organization;
DROP INDEX IF EXISTS intake_forms_organization;
DROP INDEX IF EXISTS webhook_subscriptions_list;

-- The trigram index queues new entries in a pending list that every search reads in full until
-- it is merged, by default only once it reaches 4 MB: right after a burst of patient creations
-- searches slow down. A 256 kB list is merged often, in small steps, and keeps the batching that
-- makes inserts cheap (turning it off entirely makes every insert pay for the merge). The
-- measurements: bench/README.md, "Patient search".
ALTER INDEX patients_search SET (gin_pending_list_limit = 256);
