CREATE TABLE patients (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    external_id         text,
    first_name          text NOT NULL,
    last_name           text NOT NULL,
    date_of_birth       date,
    sex                 text NOT NULL DEFAULT 'unknown' CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    email               text,
    phone               text,
    address_line1       text,
    address_line2       text,
    address_city        text,
    address_region      text,
    address_postal_code text,
    address_country     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- What `q` searches: name, email and phone, lower-cased, trigram-indexed.
    search_text         text GENERATED ALWAYS AS (
        lower(first_name || ' ' || last_name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, ''))
    ) STORED,
    UNIQUE (organization_id, id)
);
CREATE TRIGGER patients_updated_at BEFORE UPDATE ON patients
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE UNIQUE INDEX patients_external_id ON patients (organization_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX patients_search ON patients USING gin (search_text gin_trgm_ops);
CREATE INDEX patients_email ON patients (organization_id, lower(email));
CREATE INDEX patients_phone ON patients (organization_id, phone);
CREATE INDEX patients_date_of_birth ON patients (organization_id, date_of_birth);
CREATE INDEX patients_updated ON patients (organization_id, updated_at, id);
CREATE INDEX patients_organization ON patients (organization_id, id);
