-- Slot holds: a booking widget holds a slot for a few minutes, then books exactly it.
--
-- A live hold must conflict with active appointments and with other live holds, decided by
-- the database as double booking is. An exclusion constraint covers one table and cannot
-- depend on now(), so every slot that is taken has one row in `slot_claims`: one per active
-- (scheduled or confirmed) appointment, kept by a trigger on `appointments` so that every
-- writer (the API, the demo seed, clinic import, the benchmark's generator) stays covered,
-- and one per hold while it is held. Expiry is lazy: before a claim is written, the expired
-- hold claims it overlaps are deleted in the same trigger, so an expired hold never blocks
-- anyone and nothing depends on a sweeper. Two writers after the same expired claim serialise
-- on its row lock, and the exclusion constraint decides between their new claims.

CREATE TABLE appointment_holds (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid NOT NULL,
    provider_id      bigint NOT NULL,
    location_id      bigint NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    -- `expired` is never stored: it is what a `held` hold past `expires_at` reads as.
    status           text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'booked', 'released')),
    appointment_id   bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK ((status = 'booked') = (appointment_id IS NOT NULL)),
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, provider_id, location_id)
        REFERENCES provider_locations (organization_id, provider_id, location_id),
    FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id)
);
CREATE TRIGGER appointment_holds_updated_at BEFORE UPDATE ON appointment_holds
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE slot_claims (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid NOT NULL,
    provider_id      bigint NOT NULL,
    during           tstzrange NOT NULL,
    appointment_id   bigint UNIQUE REFERENCES appointments (id) ON DELETE CASCADE,
    hold_id          bigint UNIQUE REFERENCES appointment_holds (id) ON DELETE CASCADE,
    -- A hold's claim lapses at its hold's expiry; an appointment's has none.
    expires_at       timestamptz,
    CHECK ((appointment_id IS NULL) <> (hold_id IS NULL)),
    CHECK ((hold_id IS NULL) = (expires_at IS NULL)),
    CONSTRAINT slot_claims_no_overlap EXCLUDE USING gist (provider_id WITH =, during WITH &&)
);

-- Deletes the expired hold claims overlapping `p_during`, in id order (two writers locking the
-- same claims in the same order cannot deadlock on them). PL/pgSQL rather than SQL: it keeps
-- its plan for the session, where a SQL function is planned again on every booking.
CREATE FUNCTION slot_claims_expire(p_provider_id bigint, p_during tstzrange) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM slot_claims WHERE id IN (
        SELECT id FROM slot_claims
        WHERE provider_id = p_provider_id AND during && p_during AND expires_at <= now()
        ORDER BY id FOR UPDATE);
END $$;

-- An active appointment claims its slot; any other status gives it back. A write that leaves
-- the status active and the times as they were (confirming) touches nothing.
CREATE FUNCTION appointments_claim_slot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status NOT IN ('scheduled', 'confirmed') THEN
        IF TG_OP = 'UPDATE' AND OLD.status IN ('scheduled', 'confirmed') THEN
            DELETE FROM slot_claims WHERE appointment_id = NEW.id;
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.status IN ('scheduled', 'confirmed')
       AND OLD.provider_id = NEW.provider_id AND OLD.starts_at = NEW.starts_at AND OLD.ends_at = NEW.ends_at THEN
        RETURN NULL;
    END IF;
    PERFORM slot_claims_expire(NEW.provider_id, tstzrange(NEW.starts_at, NEW.ends_at));
    IF TG_OP = 'UPDATE' THEN
        UPDATE slot_claims SET provider_id = NEW.provider_id, during = tstzrange(NEW.starts_at, NEW.ends_at)
        WHERE appointment_id = NEW.id;
        IF FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO slot_claims (organization_id, provider_id, during, appointment_id)
    VALUES (NEW.organization_id, NEW.provider_id, tstzrange(NEW.starts_at, NEW.ends_at), NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER appointments_claim_slot AFTER INSERT OR UPDATE OF status, provider_id, starts_at, ends_at
    ON appointments FOR EACH ROW EXECUTE FUNCTION appointments_claim_slot();

-- A new hold claims its slot until it expires; a hold that is booked or released gives it back;
-- the claim lapses when its hold does, whoever moves the expiry.
CREATE FUNCTION appointment_holds_claim_slot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM slot_claims_expire(NEW.provider_id, tstzrange(NEW.starts_at, NEW.ends_at));
        INSERT INTO slot_claims (organization_id, provider_id, during, hold_id, expires_at)
        VALUES (NEW.organization_id, NEW.provider_id, tstzrange(NEW.starts_at, NEW.ends_at), NEW.id, NEW.expires_at);
    ELSIF NEW.status <> 'held' THEN
        DELETE FROM slot_claims WHERE hold_id = NEW.id;
    ELSIF NEW.expires_at <> OLD.expires_at THEN
        UPDATE slot_claims SET expires_at = NEW.expires_at WHERE hold_id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER appointment_holds_claim_slot AFTER INSERT OR UPDATE OF status, expires_at ON appointment_holds
    FOR EACH ROW EXECUTE FUNCTION appointment_holds_claim_slot();

-- The appointments active before this migration claim their slots (they cannot overlap:
-- `appointments_no_overlap`, which stays, already kept them apart).
INSERT INTO slot_claims (organization_id, provider_id, during, appointment_id)
SELECT organization_id, provider_id, tstzrange(starts_at, ends_at), id
FROM appointments WHERE status IN ('scheduled', 'confirmed');
