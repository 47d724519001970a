-- SOAP notes get a lifecycle: a note is written as a draft, changed while it is one, signed by a
-- provider, and corrected only by amendments, each a new signed version. Every version is kept
-- in `soap_note_versions`; `soap_notes` keeps the note's identity (consultation, author,
-- creation) and which version is current. The text lives only in the versions, so nothing can
-- change what a signed note says without leaving the signed version as it was.
--
-- Existing notes become version 1, signed by their author at their creation time: they were
-- final records when they were written, and keeping them editable as drafts would let a
-- clinical record change silently. Their writing key was not recorded (created_by_key_prefix
-- is null).

CREATE TABLE soap_note_versions (
    organization_id        uuid NOT NULL,
    note_id                bigint NOT NULL,
    version                integer NOT NULL CHECK (version >= 1),
    subjective             text,
    objective              text,
    assessment             text,
    plan                   text,
    status                 text NOT NULL CHECK (status IN ('draft', 'signed')),
    signed_by_provider_id  bigint,
    signed_at              timestamptz,
    signed_by_key_prefix   text,
    amendment_reason       text,
    created_by_key_prefix  text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (note_id, version),
    FOREIGN KEY (organization_id, note_id) REFERENCES soap_notes (organization_id, id),
    FOREIGN KEY (organization_id, signed_by_provider_id) REFERENCES providers (organization_id, id),
    -- A signed version names who signed it and when; a draft names neither.
    CONSTRAINT soap_note_versions_signature CHECK (
        (status = 'signed') = (signed_by_provider_id IS NOT NULL AND signed_at IS NOT NULL)
    ),
    -- Only the first version can be a draft; every later one is an amendment with its reason.
    CONSTRAINT soap_note_versions_amendment CHECK (
        (version = 1 AND amendment_reason IS NULL) OR (version > 1 AND amendment_reason IS NOT NULL AND status = 'signed')
    )
);

INSERT INTO soap_note_versions (organization_id, note_id, version, subjective, objective, assessment, plan, status,
                                signed_by_provider_id, signed_at, created_at, updated_at)
SELECT organization_id, id, 1, subjective, objective, assessment, plan, 'signed',
       author_provider_id, created_at, created_at, updated_at
FROM soap_notes;

ALTER TABLE soap_notes
    ADD COLUMN current_version integer NOT NULL DEFAULT 1,
    DROP COLUMN subjective,
    DROP COLUMN objective,
    DROP COLUMN assessment,
    DROP COLUMN plan;

-- The current version exists (checked at commit: a note and its first version are written in
-- one transaction, the note first).
ALTER TABLE soap_notes ADD CONSTRAINT soap_notes_current_version
    FOREIGN KEY (id, current_version) REFERENCES soap_note_versions (note_id, version)
    DEFERRABLE INITIALLY DEFERRED;

-- A signed version is never changed or deleted, whoever asks: the server, a script, a console.
-- A draft may be edited and signed, but not moved to another note or number.
CREATE FUNCTION soap_note_versions_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION USING ERRCODE = 'KL423', MESSAGE = 'SOAP note versions cannot be truncated';
    END IF;
    IF OLD.status = 'signed' THEN
        RAISE EXCEPTION USING ERRCODE = 'KL423',
            MESSAGE = format('version %s of SOAP note %s is signed and cannot be changed or deleted',
                             OLD.version, OLD.note_id);
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.note_id, NEW.version, NEW.organization_id)
                            IS DISTINCT FROM (OLD.note_id, OLD.version, OLD.organization_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'KL423', MESSAGE = 'a SOAP note version keeps its note and number';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    NEW.updated_at = now();
    RETURN NEW;
END
$$;

CREATE TRIGGER soap_note_versions_immutable_when_signed BEFORE UPDATE OR DELETE ON soap_note_versions
    FOR EACH ROW EXECUTE FUNCTION soap_note_versions_guard();
CREATE TRIGGER soap_note_versions_no_truncate BEFORE TRUNCATE ON soap_note_versions
    FOR EACH STATEMENT EXECUTE FUNCTION soap_note_versions_guard();

-- A note's current version only moves forward.
CREATE FUNCTION soap_notes_version_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.current_version < OLD.current_version THEN
        RAISE EXCEPTION USING ERRCODE = 'KL423', MESSAGE = 'a SOAP note''s current version cannot go back';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER soap_notes_version_forward BEFORE UPDATE OF current_version ON soap_notes
    FOR EACH ROW EXECUTE FUNCTION soap_notes_version_forward();
