-- The first steps of a patient search walk the organization's patients in id order and keep
-- those whose `search_text` holds the term (src/api/patients/list.rs). With `search_text` in
-- the index the walk is an index-only scan: measured at 100k patients, 10,000 rows in 6.5 ms
-- instead of 12.4 ms through the table (about 0.3 µs a row with `strpos`, against 1.1 µs).
CREATE INDEX patients_walk ON patients (organization_id, id) INCLUDE (search_text);
