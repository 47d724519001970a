CREATE TABLE appointments (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id      uuid NOT NULL,
    patient_id           bigint NOT NULL,
    provider_id          bigint NOT NULL,
    location_id          bigint NOT NULL,
    starts_at            timestamptz NOT NULL,
    ends_at              timestamptz NOT NULL,
    status               text NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'confirmed', 'cancelled', 'completed', 'no_show')),
    reason               text,
    cancellation_reason  text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    FOREIGN KEY (organization_id, provider_id, location_id)
        REFERENCES provider_locations (organization_id, provider_id, location_id),
    -- Two active appointments of one provider never overlap: the database decides races.
    CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
        provider_id WITH =, tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (status IN ('scheduled', 'confirmed'))
);
CREATE TRIGGER appointments_updated_at BEFORE UPDATE ON appointments
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE INDEX appointments_provider_starts ON appointments (organization_id, provider_id, starts_at);
CREATE INDEX appointments_patient_starts ON appointments (organization_id, patient_id, starts_at);
CREATE INDEX appointments_location_starts ON appointments (organization_id, location_id, starts_at);
CREATE INDEX appointments_starts ON appointments (organization_id, starts_at);
CREATE INDEX appointments_updated ON appointments (organization_id, updated_at, id);
CREATE INDEX appointments_organization ON appointments (organization_id, id);
