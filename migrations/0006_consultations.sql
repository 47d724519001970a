CREATE TABLE consultations (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid NOT NULL,
    appointment_id   bigint NOT NULL,
    patient_id       bigint NOT NULL,
    provider_id      bigint NOT NULL,
    status           text NOT NULL DEFAULT 'in_progress' CHECK (status IN ('in_progress', 'ended')),
    started_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    -- One consultation per appointment.
    CONSTRAINT consultations_one_per_appointment UNIQUE (appointment_id),
    FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    FOREIGN KEY (organization_id, provider_id) REFERENCES providers (organization_id, id)
);
CREATE TRIGGER consultations_updated_at BEFORE UPDATE ON consultations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE INDEX consultations_patient ON consultations (organization_id, patient_id, id);
CREATE INDEX consultations_provider ON consultations (organization_id, provider_id, id);
CREATE INDEX consultations_updated ON consultations (organization_id, updated_at, id);
CREATE INDEX consultations_organization ON consultations (organization_id, id);

CREATE TABLE soap_notes (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id     uuid NOT NULL,
    consultation_id     bigint NOT NULL,
    author_provider_id  bigint NOT NULL,
    subjective          text,
    objective           text,
    assessment          text,
    plan                text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, consultation_id) REFERENCES consultations (organization_id, id),
    FOREIGN KEY (organization_id, author_provider_id) REFERENCES providers (organization_id, id)
);
CREATE TRIGGER soap_notes_updated_at BEFORE UPDATE ON soap_notes
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE INDEX soap_notes_consultation ON soap_notes (organization_id, consultation_id, id);

CREATE TABLE prescriptions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid NOT NULL,
    consultation_id  bigint NOT NULL,
    patient_id       bigint NOT NULL,
    provider_id      bigint NOT NULL,
    medication_name  text NOT NULL,
    dosage           text NOT NULL,
    route            text,
    frequency        text NOT NULL,
    quantity         integer CHECK (quantity >= 0),
    refills          integer NOT NULL DEFAULT 0 CHECK (refills >= 0),
    instructions     text,
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'discontinued')),
    prescribed_at    timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, consultation_id) REFERENCES consultations (organization_id, id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    FOREIGN KEY (organization_id, provider_id) REFERENCES providers (organization_id, id)
);
CREATE TRIGGER prescriptions_updated_at BEFORE UPDATE ON prescriptions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE INDEX prescriptions_patient ON prescriptions (organization_id, patient_id, id);
CREATE INDEX prescriptions_consultation ON prescriptions (organization_id, consultation_id, id);
CREATE INDEX prescriptions_organization ON prescriptions (organization_id, id);
