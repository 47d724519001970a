CREATE TABLE intake_forms (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid NOT NULL,
    patient_id       bigint NOT NULL,
    appointment_id   bigint,
    form_type        text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'started', 'completed')),
    answers          jsonb,
    started_at       timestamptz,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id)
);
CREATE TRIGGER intake_forms_updated_at BEFORE UPDATE ON intake_forms
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE INDEX intake_forms_patient ON intake_forms (organization_id, patient_id, id);
CREATE INDEX intake_forms_appointment ON intake_forms (organization_id, appointment_id, id);
CREATE INDEX intake_forms_updated ON intake_forms (organization_id, updated_at, id);
CREATE INDEX intake_forms_organization ON intake_forms (organization_id, id);
