-- Two transactions that insert overlapping appointments (or holds) at the same instant can each
-- find the other's uncommitted row while checking the exclusion constraint and wait for each
-- other: PostgreSQL breaks the deadlock by aborting one after `deadlock_timeout`, and its client
-- got `503` after a second instead of the `409 slot_unavailable` a lost race is. A writer that
-- is about to take a slot first locks its provider's row (FOR NO KEY UPDATE: foreign-key checks,
-- which take FOR KEY SHARE, are not blocked), so writers of one provider's slots take turns: the
-- second finds the first's committed row, and the constraint refuses it at once. Writes that
-- take no slot (confirming, cancelling, completing, releasing) lock nothing.
CREATE FUNCTION slot_writers_take_turns() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('scheduled', 'confirmed', 'held')
       AND (TG_OP = 'INSERT'
            OR OLD.status NOT IN ('scheduled', 'confirmed', 'held')
            OR OLD.provider_id <> NEW.provider_id
            OR OLD.starts_at <> NEW.starts_at
            OR OLD.ends_at <> NEW.ends_at) THEN
        PERFORM 1 FROM providers WHERE id = NEW.provider_id FOR NO KEY UPDATE;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER appointments_take_turns BEFORE INSERT OR UPDATE OF status, provider_id, starts_at, ends_at
    ON appointments FOR EACH ROW EXECUTE FUNCTION slot_writers_take_turns();
CREATE TRIGGER appointment_holds_take_turns BEFORE INSERT ON appointment_holds
    FOR EACH ROW EXECUTE FUNCTION slot_writers_take_turns();
