-- The first steps of a patient search walk the organization's patients in id order and keep
-- those whose `search_text` holds the term. With `search_text` in the index the walk is an
-- index-only scan, which reads far less than the table (bench/README.md, "Patient search").
CREATE INDEX patients_walk ON patients (organization_id, id) INCLUDE (search_text);
