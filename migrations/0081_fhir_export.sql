-- FHIR Bulk Data export jobs (`/fhir/R4/$export`). A job is kicked off by one API key of one
-- organization and runs in the background in short transactions, type by type, in pages by
-- id; what it writes is the NDJSON of each output file, in parts, with the ids of the clinical
-- records each part shows (downloading a part is audited as a read of them). A job whose runner
-- dies is taken over when its lease lapses, and starts again from its first part. Jobs and
-- their files are deleted when they expire.
CREATE TABLE fhir_export_jobs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id   uuid NOT NULL REFERENCES organizations (id),
    api_key_id        bigint NOT NULL REFERENCES api_keys (id),
    -- `system` ($export) or `patient` (Patient/$export).
    kind              text NOT NULL CHECK (kind IN ('system', 'patient')),
    types             text[] NOT NULL,
    since             timestamptz,
    -- The kick-off request as the client sent it (the manifest repeats it).
    request           text NOT NULL,
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    -- The export shows every record changed before this instant (and at or after `since`).
    transaction_time  timestamptz NOT NULL,
    progress          text,
    error             text,
    lease_until       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    expires_at        timestamptz NOT NULL
);
CREATE INDEX fhir_export_jobs_runnable ON fhir_export_jobs (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX fhir_export_jobs_expiry ON fhir_export_jobs (expires_at);

CREATE TABLE fhir_export_files (
    job_id         uuid NOT NULL REFERENCES fhir_export_jobs (id) ON DELETE CASCADE,
    resource_type  text NOT NULL,
    part           integer NOT NULL,
    resources      integer NOT NULL,
    -- The audit log's record type and ids of what the part shows (empty for non-PHI types).
    record_type    text,
    record_ids     bigint[] NOT NULL DEFAULT '{}',
    ndjson         text NOT NULL,
    PRIMARY KEY (job_id, resource_type, part)
);
